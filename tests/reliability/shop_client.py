"""A plain HTTP client for the storefront under a real server, and the ledger checks."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from example_app.extensions import db, idempotency
from example_app.models import LineItem, Order, PaymentAuthorization, TaxLine
from tests.served import Reply, call


class Shop:
    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        return call(self.port, method, path, body, headers)

    def new_cart(self, *items: tuple[str, int]) -> str:
        cart_id: str = self.call("POST", "/store/carts").json()["cart"]["id"]
        for product_id, quantity in items:
            reply = self.call(
                "POST",
                f"/store/carts/{cart_id}/line-items",
                {"product_id": product_id, "quantity": quantity},
            )
            assert reply.status == 200, reply
        return cart_id

    def complete(self, cart_id: str, key: str, **headers: str) -> Reply:
        return self.call(
            "POST", f"/store/carts/{cart_id}/complete", headers={"Idempotency-Key": key, **headers}
        )


def duplicated_effects(app: Flask, cart_ids: list[str]) -> int:
    """Effects beyond one per cart: orders and payment authorizations beyond the first, and
    tax lines beyond one per line item."""
    with app.app_context():

        def counts(model: Any) -> dict[str, int]:
            rows = db.session.execute(
                select(model.cart_id, func.count())
                .where(model.cart_id.in_(cart_ids))
                .group_by(model.cart_id)
            )
            return {cart_id: number for cart_id, number in rows}

        orders, payments, tax_lines = counts(Order), counts(PaymentAuthorization), counts(TaxLine)
        items = counts(LineItem)
        db.session.remove()
    return sum(
        max(0, orders.get(cart, 0) - 1)
        + max(0, payments.get(cart, 0) - 1)
        + max(0, tax_lines.get(cart, 0) - items.get(cart, 0))
        for cart in cart_ids
    )


def orders_of(app: Flask, cart_id: str) -> int:
    with app.app_context():
        number = db.session.scalar(
            select(func.count()).select_from(Order).where(Order.cart_id == cart_id)
        )
        db.session.remove()
    return int(number or 0)


def locks_left(app: Flask) -> int:
    with app.app_context():
        model = idempotency.model
        number = db.session.scalar(
            select(func.count()).select_from(model).where(model.locked_at.is_not(None))
        )
        db.session.remove()
    return int(number or 0)


def stored_key_count(app: Flask) -> int:
    with app.app_context():
        number = db.session.scalar(select(func.count()).select_from(idempotency.model))
        db.session.remove()
    return int(number or 0)
