"""Putting a key's row into a state a test needs, with the database's own clock."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import update

from flask_idempotency.database_clock import DatabaseClock
from tests.ledger_app import db, idempotency


def lock_as_dead_worker(app: Flask, seconds_ago: float) -> None:
    """Make every unfinished key look held by a worker that died ``seconds_ago`` (by the
    database's clock), as a SIGKILL between a claim and its commit leaves it."""
    with app.app_context():
        model = idempotency.model
        clock = DatabaseClock(db.engine.dialect.name)
        db.session.execute(
            update(model)
            .where(model.response_code.is_(None))
            .values(locked_at=clock.later_by(-seconds_ago), lock_token="dead-worker")
        )
        db.session.commit()
