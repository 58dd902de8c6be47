"""The shopper's cart, named by ``session["cart_id"]`` in Flask's signed session cookie.

A completed cart is forgotten the next time a page looks for the shopper's cart: its order is
placed, so the next "Add to cart" starts a new cart. The server cannot know when the review
page's script has shown the order, but it does know when the cart is completed.
"""

from __future__ import annotations

from typing import Any

from flask import abort, session

from ..extensions import db
from ..models import Cart, Region, is_identifier
from ..problems import problem
from ..store.lookups import default_region

CART_ID = "cart_id"
# The demo's carts have no address columns: the details form's address is kept beside the cart
# id, for the review page to show.
SHIPPING_ADDRESS = "shipping_address"


def session_cart() -> Cart | None:
    """The cart the session names, in whatever state; None if it names none that exists."""
    cart_id = session.get(CART_ID)
    return db.session.get(Cart, cart_id) if is_identifier(cart_id) else None


def forget_cart() -> None:
    session.pop(CART_ID, None)
    session.pop(SHIPPING_ADDRESS, None)


def open_cart() -> Cart | None:
    """The session's cart while its order is not placed yet."""
    cart = session_cart()
    if cart is not None and cart.completed_at is not None:
        forget_cart()
        return None
    return cart


def remember_cart(cart_id: str) -> None:
    if session.get(CART_ID) != cart_id:
        forget_cart()
        session[CART_ID] = cart_id


def shopper_region() -> Region | None:
    """The region prices are shown in: the cart's, or the one a new cart would get."""
    cart = open_cart()
    return cart.region if cart is not None else default_region()


def cart_to_add_to() -> Cart:
    """The shopper's open cart, or a new one in the default region, as ``POST /store/carts``
    makes it when given no region."""
    cart = open_cart()
    if cart is not None:
        return cart
    region = default_region()
    if region is None:
        abort(problem(400, "A region is required to create a cart"))
    cart = Cart(region_id=region.id)
    db.session.add(cart)
    db.session.flush()
    return cart


def shipping_address() -> dict[str, Any]:
    address = session.get(SHIPPING_ADDRESS)
    return address if isinstance(address, dict) else {}
