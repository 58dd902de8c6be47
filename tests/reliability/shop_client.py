"""A plain HTTP client for the storefront under a real server, and the ledger checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from example_app.extensions import db, idempotency
from example_app.models import LineItem, Order, Payment, ShippingMethod, TaxLine
from tests.served import Reply, call


class Shop:
    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        return call(self.port, method, path, body, headers)

    def new_cart(self, *items: tuple[str, int]) -> str:
        """A cart in the default region with ``items``: (variant id, quantity)."""
        cart_id: str = self.call("POST", "/store/carts").json()["cart"]["id"]
        for variant_id, quantity in items:
            reply = self.add(cart_id, variant_id, quantity)
            assert reply.status == 200, reply
        return cart_id

    def add(self, cart_id: str, variant_id: str, quantity: int, key: str | None = None) -> Reply:
        return self.call(
            "POST",
            f"/store/carts/{cart_id}/line-items",
            {"variant_id": variant_id, "quantity": quantity},
            {} if key is None else {"Idempotency-Key": key},
        )

    def complete(self, cart_id: str, key: str, **headers: str) -> Reply:
        return self.call(
            "POST", f"/store/carts/{cart_id}/complete", headers={"Idempotency-Key": key, **headers}
        )

    def audit(self, cart_id: str) -> dict[str, int]:
        counts: dict[str, int] = self.call("GET", f"/admin/carts/{cart_id}/audit").json()
        return counts


def outcomes(replies: Iterable[Reply]) -> Counter[str | int]:
    """How many replies had each status, replays counted apart, for failure messages."""
    return Counter("replayed" if reply.replayed else reply.status for reply in replies)


def the_one_original(replies: list[Reply], status: int = 200) -> Reply:
    """Of the replies to duplicates of one request sent at once, the one that ran the view.

    Every other reply is a 409 problem (it arrived while the original was in flight) or a replay
    of the original's status and bytes (it arrived after). Which of the two each duplicate gets
    depends on how the machine schedules them, so that is not asserted; that exactly one ran
    and every other answer is one of those two is."""
    ran = [reply for reply in replies if not reply.replayed and reply.status != 409]
    assert len(ran) == 1 and ran[0].status == status, outcomes(replies)
    [original] = ran
    for reply in replies:
        if reply.replayed:
            assert (reply.status, reply.body) == (original.status, original.body), reply
        elif reply is not original:
            assert_in_flight(reply)
    return original


def assert_in_flight(reply: Reply) -> None:
    """A 409 that says the key is held by a request in flight, and when to retry."""
    assert reply.status == 409, reply
    assert reply.headers["Content-Type"] == "application/problem+json", reply
    assert b"request-in-flight" in reply.body, reply
    assert int(reply.headers["Retry-After"]) >= 1, reply


def duplicated_effects(app: Flask, cart_ids: list[str]) -> int:
    """Effects beyond one per cart: orders and payments beyond the first, shipping methods
    beyond one, and tax lines beyond one per line item and shipping method."""
    with app.app_context():

        def counts(model: Any) -> dict[str, int]:
            rows = db.session.execute(
                select(model.cart_id, func.count())
                .where(model.cart_id.in_(cart_ids))
                .group_by(model.cart_id)
            )
            return {cart_id: number for cart_id, number in rows}

        orders, payments, tax_lines = counts(Order), counts(Payment), counts(TaxLine)
        items, shipping = counts(LineItem), counts(ShippingMethod)
        db.session.remove()
    return sum(
        max(0, orders.get(cart, 0) - 1)
        + max(0, payments.get(cart, 0) - 1)
        + max(0, shipping.get(cart, 0) - 1)
        + max(0, tax_lines.get(cart, 0) - items.get(cart, 0) - shipping.get(cart, 0))
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
