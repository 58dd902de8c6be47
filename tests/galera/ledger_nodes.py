"""The ledger app (tests/ledger_app.py) once per Galera node, all on one database: a request
sent to ``apps[N - 1]`` runs on node N. And what the tests read back from the database."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from flask_idempotency import IdempotencyKey
from flask_idempotency.database_clock import DatabaseClock
from tests.ledger_app import Charge, Gate, db, idempotency


def post(app: Flask, path: str, key: str, **kwargs: Any) -> TestResponse:
    headers = {"Idempotency-Key": key, **kwargs.pop("headers", {})}
    return app.test_client().post(path, headers=headers, **kwargs)


def hold(app: Flask, gate_name: str) -> Gate:
    """Requests to ``app`` stop at ``gate(gate_name)`` in the view until the test releases
    them."""
    gate = Gate()
    app.config["GATES"][gate_name] = gate
    return gate


def key_row(app: Flask, key: str) -> IdempotencyKey:
    with app.app_context():
        model = idempotency.model
        row: IdempotencyKey = db.session.scalars(
            select(model).where(model.idempotency_key == key)
        ).one()
        db.session.remove()
    return row


def charges_noted(app: Flask, note: str) -> int:
    with app.app_context():
        number = db.session.scalar(
            select(func.count()).select_from(Charge).where(Charge.note == note)
        )
        db.session.remove()
    return int(number or 0)


def locked_keys(app: Flask) -> int:
    with app.app_context():
        model = idempotency.model
        number = db.session.scalar(
            select(func.count()).select_from(model).where(model.locked_at.is_not(None))
        )
        db.session.remove()
    return int(number or 0)


def age_lock(app: Flask, key: str, seconds: float) -> None:
    """Move the key's lock ``seconds`` into the past by the database's clock, its holder and
    token unchanged: to every node it now looks held by a request that outlived the lock
    timeout."""
    with app.app_context():
        model = idempotency.model
        clock = DatabaseClock(db.engine.dialect.name)
        db.session.execute(
            update(model)
            .where(model.idempotency_key == key)
            .values(locked_at=clock.later_by(-seconds))
        )
        db.session.commit()
        db.session.remove()


def is_problem(response: TestResponse, status: int, name: str) -> bool:
    return (
        response.status_code == status
        and response.mimetype == "application/problem+json"
        and name in str(response.json.get("type") if response.json else "")
    )
