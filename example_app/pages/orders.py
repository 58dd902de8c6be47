"""``GET /orders/<id>``: a placed order, as the confirmation links to it."""

from __future__ import annotations

from flask import render_template
from werkzeug.exceptions import HTTPException

from ..store.lookups import order_or_404
from .blueprint import pages
from .refusals import refusal_of, refusal_page


@pages.get("/orders/<order_id>")
def order(order_id: str) -> str | tuple[str, int]:
    try:
        placed = order_or_404(order_id)
    except HTTPException as error:
        return refusal_page(refusal_of(error))
    return render_template("order.html", order=placed, cart=placed.cart)
