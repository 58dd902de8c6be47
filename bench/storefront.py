"""Driving the example storefront for (e): carts with a line item, ready to complete.

It speaks Medusa's store API (``POST /store/carts`` -> ``{"cart": {"id"}}``, products with
``variants``, line items by ``variant_id``), and also the storefront's earlier one (line items
by ``product_id``). When the storefront cannot be set up, (e) is left out with the reason.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from .apps import create_storefront


class StorefrontUnavailable(Exception):
    pass


def completion_path(cart_id: str) -> str:
    return f"/store/carts/{cart_id}/complete"


class Storefront:
    """The storefront on one database and key table, seeded, with a test client to make
    carts."""

    def __init__(self, database_url: str, table_name: str) -> None:
        try:
            self.app: Flask = create_storefront(database_url, table_name)
            with self.app.app_context():
                self.app.extensions["sqlalchemy"].create_all()
            seeded = self.app.test_cli_runner().invoke(args=["seed"])
            if seeded.exit_code != 0:
                raise StorefrontUnavailable(f"flask seed failed: {seeded.output}")
            self.client: FlaskClient = self.app.test_client()
            self.line_item = self._line_item()
        except StorefrontUnavailable:
            raise
        except Exception as error:
            raise StorefrontUnavailable(f"{type(error).__name__}: {error}") from error

    @property
    def engine(self) -> Any:
        with self.app.app_context():
            return self.app.extensions["sqlalchemy"].engine

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.open(path, method=method, json=body)
        if response.status_code != 200:
            raise StorefrontUnavailable(
                f"{method} {path} answered {response.status_code}: {response.get_data(True)[:300]}"
            )
        return response.get_json()

    def _line_item(self) -> dict[str, Any]:
        products = self._json("GET", "/store/products")["products"]
        if not products:
            raise StorefrontUnavailable("the seeded storefront lists no products")
        product = products[0]
        if product.get("variants"):
            return {"variant_id": product["variants"][0]["id"], "quantity": 1}
        return {"product_id": product["id"], "quantity": 1}

    def new_cart(self) -> str:
        """A cart with one line item; its completion is what (e) measures."""
        cart_id: str = self._json("POST", "/store/carts", {})["cart"]["id"]
        self._json("POST", f"/store/carts/{cart_id}/line-items", self.line_item)
        return cart_id

    def close(self) -> None:
        with self.app.app_context():
            self.app.extensions["sqlalchemy"].session.remove()
            for engine in self.app.extensions["sqlalchemy"].engines.values():
                engine.dispose()
