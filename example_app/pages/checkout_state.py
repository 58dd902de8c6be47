"""Where a checkout page sends a shopper whose cart is not at that step: no cart or an empty
one to the cart page, a completed one to its order, one being completed to the review page
(its details are fixed now, and Place order finishes what was started)."""

from __future__ import annotations

from flask import redirect, url_for
from werkzeug.wrappers import Response

from ..completion import existing_order
from ..models import Cart


def elsewhere(cart: Cart | None, *, step: str) -> Response | None:
    """The redirect for a shopper at ``step`` (``"details"`` or ``"review"``), or None when
    the cart is at that step."""
    if cart is None or not cart.items:
        return redirect(url_for("pages.cart"), 303)
    order = existing_order(cart) if cart.completed_at is not None else None
    if order is not None:
        return redirect(url_for("pages.order", order_id=order.id), 303)
    if step == "details" and cart.completion_started_at is not None:
        return redirect(url_for("pages.review"), 303)
    if step == "review" and not cart.shipping_methods and cart.completion_started_at is None:
        return redirect(url_for("pages.checkout"), 303)
    return None
