"""Payment sessions: ``POST /store/carts/<id>/payment-sessions`` (one per provider of the
region: "manual") and ``POST /store/carts/<id>/payment-session`` (``provider_id``)."""

from __future__ import annotations

from typing import Any

from flask import abort

from flask_idempotency import idempotent

from ..cart_changes import changed, create_payment_sessions, select_payment_session
from ..models import PAYMENT_PROVIDERS
from ..problems import NOT_ALLOWED, problem
from ..responses import cart_json
from .blueprint import store
from .inputs import json_object, required_string
from .lookups import cart_or_404, open_for_change


@store.post("/carts/<cart_id>/payment-sessions")
@idempotent
def add_payment_sessions(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)

    open_for_change(cart)
    create_payment_sessions(cart)
    return {"cart": cart_json(changed(cart))}


@store.post("/carts/<cart_id>/payment-session")
@idempotent
def set_payment_session(cart_id: str) -> Any:
    cart = cart_or_404(cart_id)
    payload = json_object({"provider_id"})
    provider_id = required_string(payload, "provider_id")
    if provider_id not in PAYMENT_PROVIDERS:
        abort(
            problem(
                400, "The payment method is not available in this region", medusa_type=NOT_ALLOWED
            )
        )

    open_for_change(cart)
    select_payment_session(cart, provider_id)
    return {"cart": cart_json(changed(cart))}
