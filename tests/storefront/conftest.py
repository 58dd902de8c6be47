"""The storefront on each database of the matrix, seeded, with fault injection on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from example_app import create_app
from example_app.extensions import db
from example_app.seed import seed_products


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
        seed_products()
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


def new_cart(client: FlaskClient, *items: tuple[str, int]) -> str:
    cart = client.post("/store/carts").json
    assert cart is not None
    cart_id: str = cart["cart"]["id"]
    for product_id, quantity in items:
        response = client.post(
            f"/store/carts/{cart_id}/line-items",
            json={"product_id": product_id, "quantity": quantity},
        )
        assert response.status_code == 200, response.json
    return cart_id


def audit(client: FlaskClient, cart_id: str) -> dict[str, int]:
    response = client.get(f"/admin/carts/{cart_id}/audit")
    assert response.status_code == 200
    result: dict[str, int] = response.json  # type: ignore[assignment]
    return result
