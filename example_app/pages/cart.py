"""The cart: ``POST /cart/items`` (the products page's "Add to cart") and ``GET /cart``."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..cart_changes import MAX_QUANTITY, add_variant
from ..store.inputs import integer
from ..store.lookups import open_for_change, variant_or_404
from ..totals import cart_totals
from .blueprint import pages
from .form_fields import form_number, form_text
from .products import products_page
from .refusals import Refusal, committed
from .shopper_cart import cart_to_add_to, open_cart, remember_cart


def add_from_form() -> str:
    """Adds the form's variant to the shopper's cart, as ``POST /store/carts/<id>/line-items``
    does; the cart's id."""
    variant = variant_or_404(form_text("variant_id"))
    quantity = integer(
        {"quantity": form_number("quantity")}, "quantity", minimum=1, maximum=MAX_QUANTITY
    )
    cart = cart_to_add_to()
    open_for_change(cart)
    add_variant(cart, variant, quantity)
    return cart.id


@pages.post("/cart/items")
def add_to_cart() -> Response | tuple[str, int]:
    outcome = committed(add_from_form)
    if isinstance(outcome, Refusal):
        return products_page(error=outcome.message), outcome.status
    remember_cart(outcome)
    return redirect(url_for("pages.cart"), 303)


@pages.get("/cart")
def cart() -> str:
    shopper_cart = open_cart()
    if shopper_cart is None or not shopper_cart.items:
        return render_template("cart.html", cart=None)
    return render_template("cart.html", cart=shopper_cart, totals=cart_totals(shopper_cart))
