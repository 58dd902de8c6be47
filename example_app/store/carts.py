"""Carts: ``POST /store/carts``, ``GET`` and ``POST /store/carts/<id>`` (email, region)."""

from __future__ import annotations

from typing import Any

from flask import abort

from flask_idempotency import idempotent

from ..cart_changes import MAX_QUANTITY, add_variant, change_region, changed
from ..extensions import db
from ..models import Cart
from ..problems import problem
from ..responses import cart_json
from .blueprint import store
from .inputs import email, integer, invalid, json_object, required_string, string
from .lookups import cart_or_404, default_region, open_for_change, region_or_404, variant_or_404

# The most lines one request may create a cart with.
MAX_ITEMS = 100


@store.post("/carts")
@idempotent
def create_cart() -> Any:
    payload = json_object({"region_id", "items"})
    region_id = string(payload, "region_id", required=False)
    items = payload.get("items", [])
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        invalid(f"items must be a list of at most {MAX_ITEMS} line items")
    lines = []
    for item in items:
        if not isinstance(item, dict) or set(item) - {"variant_id", "quantity"}:
            invalid('each of items must be {"variant_id": ..., "quantity": ...}')
        variant = variant_or_404(required_string(item, "variant_id"))
        lines.append((variant, integer(item, "quantity", minimum=1, maximum=MAX_QUANTITY)))
    region = region_or_404(region_id) if region_id is not None else default_region()
    if region is None:
        abort(problem(400, "A region is required to create a cart"))

    # A new cart: no one else can see it before this request commits, so no lock is needed.
    cart = Cart(region_id=region.id)
    db.session.add(cart)
    db.session.flush()
    for variant, quantity in lines:
        add_variant(cart, variant, quantity)
        db.session.flush()
    return {"cart": cart_json(changed(cart))}


@store.get("/carts/<cart_id>")
def get_cart(cart_id: str) -> Any:
    return {"cart": cart_json(cart_or_404(cart_id))}


@store.post("/carts/<cart_id>")
@idempotent
def update_cart(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    payload = json_object({"email", "region_id"})
    new_email = email(payload)
    region_id = string(payload, "region_id", required=False)
    region = region_or_404(region_id) if region_id is not None else None

    open_for_change(cart)
    if new_email is not None:
        cart.email = new_email
    if region is not None and region.id != cart.region_id:
        change_region(cart, region)
    return {"cart": cart_json(changed(cart))}
