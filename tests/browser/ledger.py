"""What the served storefront wrote for a cart and a key, read from its database."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from example_app.extensions import db, idempotency
from example_app.models import Cart, Order, TaxLine


def order_ids(app: Flask, cart_id: str) -> list[str]:
    """The cart's orders."""
    with app.app_context():
        found = list(db.session.scalars(select(Order.id).where(Order.cart_id == cart_id)))
        db.session.remove()
    return found


def tax_line_ids(app: Flask, cart_id: str) -> set[str]:
    with app.app_context():
        found = set(db.session.scalars(select(TaxLine.id).where(TaxLine.cart_id == cart_id)))
        db.session.remove()
    return found


def completion_started(app: Flask, cart_id: str) -> bool:
    """Whether the first completion stage has committed for the cart."""
    with app.app_context():
        started = db.session.scalar(select(Cart.completion_started_at).where(Cart.id == cart_id))
        db.session.remove()
    return started is not None


def recovery_point(app: Flask, key: str) -> str | None:
    """The recovery point of the key (the page's keys are uuids: one row whatever the scope)."""
    with app.app_context():
        model = idempotency.model
        point = db.session.scalar(select(model.recovery_point).where(model.idempotency_key == key))
        db.session.remove()
    return point
