"""Orders: ``GET /store/orders/<id>`` and ``GET /store/orders/cart/<cart_id>``."""

from __future__ import annotations

from typing import Any

from ..responses import order_json
from .blueprint import store
from .lookups import order_of_cart_or_404, order_or_404


@store.get("/orders/<order_id>")
def get_order(order_id: str) -> Any:
    return {"order": order_json(order_or_404(order_id))}


@store.get("/orders/cart/<cart_id>")
def get_order_of_cart(cart_id: str) -> Any:
    return {"order": order_json(order_of_cart_or_404(cart_id))}
