"""Shipping: ``GET /store/shipping-options/<cart_id>`` and
``POST /store/carts/<id>/shipping-methods`` (``option_id``)."""

from __future__ import annotations

from typing import Any

from flask import abort

from flask_idempotency import idempotent

from ..cart_changes import changed, choose_shipping
from ..problems import NOT_ALLOWED, problem
from ..responses import cart_json, shipping_option_json
from .blueprint import store
from .inputs import json_object, required_string
from .lookups import cart_or_404, open_for_change, shipping_option_or_404


@store.get("/shipping-options/<cart_id>")
def list_cart_shipping_options(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    return {"shipping_options": [shipping_option_json(o) for o in cart.region.shipping_options]}


@store.post("/carts/<cart_id>/shipping-methods")
@idempotent
def add_shipping_method(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    payload = json_object({"option_id"})
    option = shipping_option_or_404(required_string(payload, "option_id"))

    open_for_change(cart)
    if option.region_id != cart.region_id:
        abort(
            problem(
                400,
                f"Shipping option {option.id} is not available in the cart's region.",
                medusa_type=NOT_ALLOWED,
            )
        )
    choose_shipping(cart, option)
    return {"cart": cart_json(changed(cart))}
