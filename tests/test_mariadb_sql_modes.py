"""The MariaDB claim means the same under any sql_mode a server may be configured with.

By default MariaDB evaluates ``ON DUPLICATE KEY UPDATE`` assignments left to right, each seeing
the ones before it; ``SIMULTANEOUS_ASSIGNMENT`` makes each see the row as it was, and ``ORACLE``
changes the dialect of much else. Each claim outcome is exercised under each mode.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import update

from tests.helpers import charges, effects, headers, stored_keys
from tests.ledger_app import db, idempotency

SQL_MODES = ["SIMULTANEOUS_ASSIGNMENT", "ORACLE", "ANSI"]


@pytest.fixture(params=SQL_MODES)
def moded_app(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Flask:
    mode = request.param
    return make_app(
        SQLALCHEMY_ENGINE_OPTIONS={
            "connect_args": {
                "init_command": f"SET SESSION sql_mode = CONCAT(@@sql_mode, ',{mode}')"
            }
        }
    )


def age_keys(app: Flask, **ages: timedelta) -> None:
    """Move the keys' times back, as the database's clock moving forward would."""
    with app.app_context():
        model = idempotency.model
        for key in db.session.scalars(db.select(model)):
            for name, age in ages.items():
                if getattr(key, name) is not None:
                    setattr(key, name, getattr(key, name) - age)
        db.session.commit()


@pytest.mark.parametrize("database_kind", ["mariadb"])
def test_every_claim_outcome_holds_under_the_sql_mode(moded_app: Flask) -> None:
    app = moded_app
    client = app.test_client()
    with app.app_context():
        mode = db.session.connection().exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
    assert any(name in str(mode) for name in SQL_MODES)

    # A new key runs; its retry replays; another body under it is refused.
    first = client.post("/charges", json={"amount": 3}, headers=headers("k"))
    replay = client.post("/charges", json={"amount": 3}, headers=headers("k"))
    mismatch = client.post("/charges", json={"amount": 4}, headers=headers("k"))
    assert first.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.data == first.data
    assert mismatch.status_code == 422
    assert charges(app) == 1

    # An expired key starts afresh.
    age_keys(app, expires_at=timedelta(days=2), created_at=timedelta(days=2))
    fresh = client.post("/charges", json={"amount": 4}, headers=headers("k"))
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    assert charges(app) == 2

    # A failed attempt is resumed; a stale lock is taken over; a live one is not.
    failed = client.post("/orders/o1", headers=headers("order", **{"X-Fail-At": "charged"}))
    assert failed.status_code == 500
    with app.app_context():
        model = idempotency.model
        db.session.execute(
            update(model)
            .where(model.idempotency_key == "order")
            .values(lock_token="dead-worker", locked_at=model.created_at)
        )
        db.session.commit()
    assert client.post("/orders/o1", headers=headers("order")).status_code == 409
    age_keys(app, locked_at=timedelta(hours=1))
    resumed = client.post("/orders/o1", headers=headers("order"))
    assert resumed.status_code == 200
    assert effects(app, "o1") == {"reserved": 1, "charged": 1, "shipped": 1}
    key = next(key for key in stored_keys(app) if key.idempotency_key == "order")
    assert key.recovery_point == "finished" and key.locked_at is None
