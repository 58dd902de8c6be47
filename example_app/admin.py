"""Read-only admin views: enough to see that nothing was done twice."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import func, select

from .extensions import db
from .models import Cart, LineItem, Order, Payment, ShippingMethod, TaxLine, is_identifier
from .problems import problem

admin = Blueprint("admin", __name__, url_prefix="/admin")

COUNTED = {
    "line_items": LineItem,
    "shipping_methods": ShippingMethod,
    "tax_lines": TaxLine,
    "payments": Payment,
    "orders": Order,
}


@admin.get("/carts/<cart_id>/audit")
def audit_cart(cart_id: str) -> Any:
    """How many of each row the cart has: a completed cart has one payment, one order, and
    one tax line per line item and shipping method."""
    if not is_identifier(cart_id) or db.session.get(Cart, cart_id) is None:
        return problem(404, f"Cart with {cart_id} was not found")

    def rows(model: Any) -> int:
        return int(db.session.scalar(select(func.count()).where(model.cart_id == cart_id)) or 0)

    return {name: rows(model) for name, model in COUNTED.items()}
