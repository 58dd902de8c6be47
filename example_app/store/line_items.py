"""Line items: ``POST /store/carts/<id>/line-items`` (``variant_id``, ``quantity``), and
``POST`` (``quantity``; 0 removes) or ``DELETE /store/carts/<id>/line-items/<line_id>``.

Each change holds the cart's row lock before it reads the line it changes, so simultaneous
changes under different keys apply one after the other: two adds of one variant add up."""

from __future__ import annotations

from typing import Any

from flask import abort

from flask_idempotency import idempotent

from ..cart_changes import MAX_QUANTITY, add_variant, changed, set_quantity
from ..extensions import db
from ..problems import problem
from ..responses import cart_json
from .blueprint import store
from .inputs import integer, json_object, required_string
from .lookups import cart_or_404, line_item_of, open_for_change, variant_or_404


@store.post("/carts/<cart_id>/line-items")
@idempotent
def add_line_item(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    payload = json_object({"variant_id", "quantity"})
    variant_id = required_string(payload, "variant_id")
    quantity = integer(payload, "quantity", minimum=1, maximum=MAX_QUANTITY)
    variant = variant_or_404(variant_id)

    open_for_change(cart)
    add_variant(cart, variant, quantity)
    return {"cart": cart_json(changed(cart))}


@store.post("/carts/<cart_id>/line-items/<line_id>")
@idempotent
def update_line_item(cart_id: str, line_id: str) -> Any:
    cart = cart_or_404(cart_id)
    payload = json_object({"quantity"})
    quantity = integer(payload, "quantity", minimum=0, maximum=MAX_QUANTITY)

    open_for_change(cart)
    item = line_item_of(cart, line_id)
    if item is not None:
        set_quantity(item, quantity)
    elif quantity > 0:
        # Medusa's answer; setting 0 of a line that is gone already holds.
        abort(problem(400, "Could not find the line item"))
    return {"cart": cart_json(changed(cart))}


@store.delete("/carts/<cart_id>/line-items/<line_id>")
@idempotent
def delete_line_item(cart_id: str, line_id: str) -> Any:
    cart = cart_or_404(cart_id)

    open_for_change(cart)
    item = line_item_of(cart, line_id)
    # A line that is gone already is not an error, as in Medusa: the cart is as asked.
    if item is not None:
        db.session.delete(item)
    return {"cart": cart_json(changed(cart))}
