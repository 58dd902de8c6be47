"""``GET /checkout``: the details form; ``POST /checkout``: the details set on the cart as the
store API sets them (email, shipping method, payment sessions with the manual provider
selected), then on to ``/checkout/review``."""

from __future__ import annotations

from flask import redirect, render_template, session, url_for
from werkzeug.wrappers import Response

from ..cart_changes import changed, choose_shipping, create_payment_sessions, select_payment_session
from ..models import PAYMENT_PROVIDERS, Cart
from ..store.lookups import open_for_change
from .blueprint import pages
from .checkout_form import CheckoutDetails, chosen_option, initial_details, sent_details
from .checkout_state import elsewhere
from .countries import countries_of
from .refusals import Refusal, committed
from .shopper_cart import SHIPPING_ADDRESS, session_cart, shipping_address

MANUAL_PROVIDER = PAYMENT_PROVIDERS[0]


def details_page(cart: Cart, details: CheckoutDetails, error: str | None = None) -> str:
    return render_template(
        "checkout.html",
        cart=cart,
        details=details,
        countries=countries_of(cart.region),
        error=error,
    )


def save_details(cart: Cart, details: CheckoutDetails) -> None:
    """What ``POST /store/carts/<id>``, ``.../shipping-methods``, ``.../payment-sessions`` and
    ``.../payment-session`` do, in one transaction."""
    option = chosen_option(cart, details.values["option_id"])
    assert option is not None, "sent_details() checked it"
    open_for_change(cart)
    cart.email = details.values["email"]
    choose_shipping(cart, option)
    create_payment_sessions(changed(cart))
    select_payment_session(changed(cart), MANUAL_PROVIDER)


@pages.get("/checkout")
def checkout() -> Response | str:
    cart = session_cart()
    redirection = elsewhere(cart, step="details")
    if redirection is not None:
        return redirection
    assert cart is not None
    return details_page(cart, initial_details(cart, shipping_address()))


@pages.post("/checkout")
def submit_details() -> Response | tuple[str, int]:
    cart = session_cart()
    redirection = elsewhere(cart, step="details")
    if redirection is not None:
        return redirection
    assert cart is not None
    details = sent_details(cart)
    if details.errors:
        return details_page(cart, details), 400
    outcome = committed(lambda: save_details(cart, details))
    if isinstance(outcome, Refusal):
        return details_page(cart, details, error=outcome.message), outcome.status
    session[SHIPPING_ADDRESS] = details.address
    return redirect(url_for("pages.review"), 303)
