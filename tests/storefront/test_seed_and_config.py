"""Seeding twice adds nothing twice; the app factory reads FLASK_* environment variables."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from example_app import create_app
from example_app.extensions import db
from example_app.models import Product
from example_app.seed import DEMO_PRODUCTS


def test_seeding_twice_adds_the_products_once(app: Flask) -> None:
    runner = app.test_cli_runner()

    again = runner.invoke(args=["seed"])

    assert again.exit_code == 0
    assert f"Added 0 demo products ({len(DEMO_PRODUCTS)} already there)" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Product)) == len(DEMO_PRODUCTS)


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite:///:memory:")
    monkeypatch.setenv("FLASK_IDEMPOTENCY_LOCK_TIMEOUT", "30")
    monkeypatch.setenv("FLASK_STOREFRONT_FAULTS", "true")

    app = create_app()

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///:memory:"
    assert app.extensions["idempotency"].settings.lock_timeout == 30
    assert app.config["STOREFRONT_FAULTS"] is True


def test_the_default_database_is_a_sqlite_file_in_the_instance_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASK_SQLALCHEMY_DATABASE_URI", raising=False)

    app = create_app()

    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/instance/storefront.sqlite")
