"""What every page's template may use: the number of items in the shopper's cart (for the
header), money as the shopper reads it, and order numbers.

The review page's script shows money and order numbers the same way (static/checkout.js), so
the confirmation it shows reads like the order page."""

from __future__ import annotations

from typing import Any

from .blueprint import pages
from .shopper_cart import open_cart

CURRENCY_SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£"}
# Orders here have no sequential number (Medusa's display_id): the first characters of the
# order id's random part stand in for it, short enough to read out on the phone.
DISPLAY_ID_LENGTH = 8


@pages.app_template_filter("money")
def money(amount: int, currency_code: str) -> str:
    """``2500, "eur"`` as ``€25.00``: amounts are in the currency's smallest unit."""
    whole, cents = divmod(abs(amount), 100)
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency_code.lower())
    if symbol is None:
        return f"{sign}{currency_code.upper()} {whole:,}.{cents:02d}"
    return f"{sign}{symbol}{whole:,}.{cents:02d}"


@pages.app_template_filter("display_id")
def display_id(order_id: str) -> str:
    """``order_3d60048ef8fd...`` as ``3D60048E``."""
    return order_id.removeprefix("order_")[:DISPLAY_ID_LENGTH].upper()


@pages.context_processor
def shopper_context() -> dict[str, Any]:
    cart = open_cart()
    return {"cart_quantity": sum(item.quantity for item in cart.items) if cart else 0}
