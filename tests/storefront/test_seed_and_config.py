"""Seeding twice adds nothing twice; the app factory reads FLASK_* environment variables and
sets the storefront's idempotency settings."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from example_app import create_app
from example_app.extensions import db
from example_app.models import MoneyAmount, Product, ProductVariant, Region, ShippingOption
from example_app.seed import demo_rows
from flask_idempotency import RequestInFlight

# What medusa-js waits, in all, before its last try with maxRetries 4, after a request whose
# answer never came: 0.5 s, then each 409 in flight's Retry-After (it honours the header; its
# own 1.5, 3.5 and 7.5 s apply only to answers without one).
MEDUSA_JS_RETRY_WAIT = 0.5 + 3 * (RequestInFlight.retry_after_seconds or 0)


def test_seeding_twice_adds_the_demo_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    rows = len(list(demo_rows()))

    again = runner.invoke(args=["seed"])

    assert again.exit_code == 0
    assert f"Added 0 demo rows ({rows} already there)" in again.output
    with app.app_context():
        counts = [
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Region, ShippingOption, Product, ProductVariant, MoneyAmount)
        ]
        db.session.remove()
    assert counts == [2, 4, 3, 6, 12]


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite:///:memory:")
    monkeypatch.setenv("FLASK_IDEMPOTENCY_LOCK_TIMEOUT", "30")
    monkeypatch.setenv("FLASK_IDEMPOTENCY_UNSTORED_STATUSES", "[503]")
    monkeypatch.setenv("FLASK_STOREFRONT_FAULTS", "true")

    app = create_app()

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///:memory:"
    settings = app.extensions["idempotency"].settings
    assert settings.lock_timeout == 30
    assert settings.unstored_statuses == {503}
    assert app.config["STOREFRONT_FAULTS"] is True


def test_a_killed_workers_key_is_free_again_within_medusa_js_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASK_IDEMPOTENCY_LOCK_TIMEOUT", raising=False)

    settings = (
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).extensions["idempotency"].settings
    )

    # Well under: the last retry comes after the lock lapsed, with a second and more to spare.
    assert MEDUSA_JS_RETRY_WAIT == 3.5
    assert settings.lock_timeout == 2
    assert settings.lock_timeout + 1 < MEDUSA_JS_RETRY_WAIT


def test_come_back_later_answers_are_not_stored_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_IDEMPOTENCY_UNSTORED_STATUSES", raising=False)

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    overridden = create_app(
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "IDEMPOTENCY_UNSTORED_STATUSES": []}
    )

    assert app.extensions["idempotency"].settings.unstored_statuses == {409, *range(500, 600)}
    assert overridden.extensions["idempotency"].settings.unstored_statuses == set()


def test_the_default_database_is_a_sqlite_file_in_the_instance_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASK_SQLALCHEMY_DATABASE_URI", raising=False)

    app = create_app()

    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/instance/storefront.sqlite")
