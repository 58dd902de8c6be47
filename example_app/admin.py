"""Read-only admin views: enough to see that nothing was done twice."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import func, select

from .extensions import db
from .models import Cart, Order, PaymentAuthorization, TaxLine, is_identifier
from .problems import problem

admin = Blueprint("admin", __name__, url_prefix="/admin")


@admin.get("/carts/<cart_id>/audit")
def audit_cart(cart_id: str) -> Any:
    if not is_identifier(cart_id) or db.session.get(Cart, cart_id) is None:
        return problem(404, f"No cart {cart_id!r}.")

    def rows(model: Any) -> int:
        return int(db.session.scalar(select(func.count()).where(model.cart_id == cart_id)) or 0)

    return {
        "orders": rows(Order),
        "payment_authorizations": rows(PaymentAuthorization),
        "tax_lines": rows(TaxLine),
    }
