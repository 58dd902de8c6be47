"""``POST /store/carts/<id>/complete``: the staged completion, answering
``{"type": "order", "data": order}``."""

from __future__ import annotations

from typing import Any

from flask_idempotency import idempotent

from .. import completion
from ..responses import order_json
from .blueprint import store
from .lookups import cart_or_404


@store.post("/carts/<cart_id>/complete")
@idempotent
def complete_cart(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    # A cart completed before, under any key, answers with its order: never a second one.
    order = completion.existing_order(cart)
    if order is not None:
        return {"type": "order", "data": order_json(order)}
    if not cart.items:
        return completion.empty_cart(cart)
    return completion.complete(cart)
