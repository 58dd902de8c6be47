"""The storefront on each database of the matrix, seeded, with fault injection on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from example_app import create_app
from example_app.extensions import db
from example_app.models import Order, Payment, TaxLine
from example_app.seed import seed_demo
from tests.served import serve

# Seeded ids (example_app/seed.py).
EUROPE, NORTH_AMERICA = "reg_europe", "reg_north_america"
TSHIRT_M, HOODIE_L, MUG = "variant_tshirt_m", "variant_hoodie_l", "variant_mug"
# Prices in EUR, the default region's currency, and Europe's tax rate in basis points.
PRICES = {TSHIRT_M: 2500, HOODIE_L: 5500, MUG: 1200}
EUROPE_TAX = 2000
EUROPE_STANDARD, EUROPE_EXPRESS = "so_europe_standard", "so_europe_express"
EUROPE_STANDARD_PRICE = 800


def build_storefront(database_url: str, **config: Any) -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            # Unhandled exceptions become 500 responses, as in production.
            "PROPAGATE_EXCEPTIONS": False,
            "STOREFRONT_FAULTS": True,
            **config,
        }
    )


@contextmanager
def seeded_storefront(database_url: str, **config: Any) -> Iterator[Flask]:
    """The storefront with its tables created and seeded; dropped again at the end."""
    storefront = build_storefront(database_url, **config)
    with storefront.app_context():
        db.create_all()
        seed_demo()
        db.session.remove()
    try:
        yield storefront
    finally:
        with storefront.app_context():
            db.session.remove()
            # Pooled connections may have been killed by a test; drop on fresh ones.
            for engine in db.engines.values():
                engine.dispose()
            db.drop_all()
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    with seeded_storefront(database_url) as storefront:
        yield storefront


@pytest.fixture
def storefront_server(app: Flask, database_url: str, tmp_path: Path) -> Iterator[int]:
    """The port of ``gunicorn -w 4 "example_app:create_app()"`` on this test's seeded
    database, with fault injection on."""
    with serve(
        "example_app:create_app()",
        tmp_path,
        FLASK_SQLALCHEMY_DATABASE_URI=database_url,
        FLASK_STOREFRONT_FAULTS="true",
    ) as served:
        yield served.port


def new_cart(client: FlaskClient, *items: tuple[str, int], **cart: Any) -> str:
    """A cart (in the default region unless ``region_id`` says otherwise) with ``items``,
    as (variant id, quantity), added one request each."""
    created = client.post("/store/carts", json=cart)
    assert created.status_code == 200, created.json
    cart_id: str = created.json["cart"]["id"]  # type: ignore[index]
    for variant_id, quantity in items:
        response = client.post(
            f"/store/carts/{cart_id}/line-items",
            json={"variant_id": variant_id, "quantity": quantity},
        )
        assert response.status_code == 200, response.json
    return cart_id


def cart_of(client: FlaskClient, cart_id: str) -> dict[str, Any]:
    response = client.get(f"/store/carts/{cart_id}")
    assert response.status_code == 200, response.json
    cart: dict[str, Any] = response.json["cart"]  # type: ignore[index]
    return cart


def audit(client: FlaskClient, cart_id: str) -> dict[str, int]:
    response = client.get(f"/admin/carts/{cart_id}/audit")
    assert response.status_code == 200
    result: dict[str, int] = response.json  # type: ignore[assignment]
    return result


def completed(lines: int) -> dict[str, int]:
    """The audit of a cart of ``lines`` line items, completed once: one shipping method, a tax
    line per line item and for the shipping, one payment, one order."""
    return {
        "line_items": lines,
        "shipping_methods": 1,
        "tax_lines": lines + 1,
        "payments": 1,
        "orders": 1,
    }


def assert_order_adds_up(app: Flask, cart_id: str) -> None:
    """The cart's order, as the database holds it: its tax total is the sum of its tax lines,
    its total is what the payment authorized, and the parts add up to the total."""
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.cart_id == cart_id))
        assert order is not None
        tax_lines = db.session.scalar(
            select(func.sum(TaxLine.amount)).where(TaxLine.cart_id == cart_id)
        )
        payment = db.session.scalar(select(Payment).where(Payment.cart_id == cart_id))
        assert payment is not None
        assert order.tax_total == tax_lines
        assert order.total == payment.amount
        assert order.total == order.subtotal + order.shipping_total + order.tax_total
        db.session.remove()
