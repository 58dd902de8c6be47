"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from flask_idempotency import IdempotencyKey
from tests.ledger_app import Charge, Effect, db, idempotency


def count(app: Flask, model: Any, **filters: Any) -> int:
    with app.app_context():
        statement = select(func.count()).select_from(model).filter_by(**filters)
        return int(db.session.scalar(statement) or 0)


def charges(app: Flask) -> int:
    return count(app, Charge)


def effects(app: Flask, order_ref: str) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Effect.stage, func.count())
            .where(Effect.order_ref == order_ref)
            .group_by(Effect.stage)
        ).all()
        return {stage: number for stage, number in rows}


def stored_keys(app: Flask) -> list[IdempotencyKey]:
    with app.app_context():
        model = idempotency.model
        return list(db.session.scalars(select(model).order_by(model.id)))


def headers(key: str | None = None, **extra: str) -> dict[str, str]:
    result = {"Idempotency-Key": key} if key is not None else {}
    result.update(extra)
    return result
