"""``GET /checkout/review``: the order as it will be placed, and the Place order button, whose
script (static/checkout.js) completes the cart through ``POST /store/carts/<id>/complete``."""

from __future__ import annotations

from flask import render_template, url_for
from werkzeug.wrappers import Response

from ..totals import cart_totals
from .blueprint import pages
from .checkout_state import elsewhere
from .shopper_cart import session_cart, shipping_address


@pages.get("/checkout/review")
def review() -> Response | str:
    cart = session_cart()
    redirection = elsewhere(cart, step="review")
    if redirection is not None:
        return redirection
    assert cart is not None
    return render_template(
        "review.html",
        cart=cart,
        totals=cart_totals(cart),
        address=shipping_address(),
        complete_url=url_for("store.complete_cart", cart_id=cart.id),
    )
