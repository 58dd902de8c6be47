"""When the database fails: 503 problem+json, never a traceback; keys stay retryable; deadlocks
are rerun."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request
from sqlalchemy import update

from flask_idempotency import idempotent
from tests.conftest import SERVER_KINDS, server_url
from tests.helpers import charges, headers, stored_keys
from tests.ledger_app import Charge, Gate, create_app, db

UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-directory/ledger.sqlite",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/ledger",
    "mariadb": "mysql+pymysql://root@127.0.0.1:1/ledger",
}


@pytest.mark.parametrize("kind", UNREACHABLE)
def test_an_unreachable_database_gives_503_problem_with_the_key(kind: str, tmp_path: Path) -> None:
    app = create_app(UNREACHABLE[kind], tmp_path)

    response = app.test_client().post("/charges", json={"amount": 1}, headers=headers("k"))

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Idempotency-Key"] == "k"
    assert b"Traceback" not in response.data


def kill_connections(kind: str, database: str) -> int:
    """Kill every server connection to ``database``, as an administrator would."""
    admin = sa.create_engine(server_url(kind), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            if kind == "postgresql":
                killed = connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :database AND pid <> pg_backend_pid()"
                    ),
                    {"database": database},
                ).all()
                return len(killed)
            others = connection.execute(
                sa.text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = :database AND id <> CONNECTION_ID()"
                ),
                {"database": database},
            ).all()
            for (connection_id,) in others:
                connection.exec_driver_sql(f"KILL {int(connection_id)}")
            return len(others)
    finally:
        admin.dispose()


# SQLite has no server connection to kill.
@pytest.mark.parametrize("database_kind", SERVER_KINDS)
def test_a_connection_killed_mid_request_gives_503_and_the_retry_succeeds_once(
    app: Flask, database_kind: str, database_url: str
) -> None:
    gate = Gate()
    app.config["GATES"]["charge"] = gate
    client = app.test_client()
    with app.app_context():
        # Open a pooled connection for the view to pick up after the kill.
        db.session.execute(sa.text("SELECT 1"))
        db.session.remove()

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            app.test_client().post, "/charges", json={"amount": 9}, headers=headers("killed")
        )
        assert gate.entered.wait(10)
        assert kill_connections(database_kind, sa.make_url(database_url).database or "") >= 1
        app.config["GATES"] = {}
        gate.release.set()
        failed = first.result()

    assert failed.status_code == 503
    assert failed.mimetype == "application/problem+json"
    assert failed.headers["Idempotency-Key"] == "killed"
    assert charges(app) == 0
    [key] = stored_keys(app)
    assert key.locked_at is None and key.response_code is None

    retry = client.post("/charges", json={"amount": 9}, headers=headers("killed"))
    assert retry.status_code == 201
    assert (
        client.post("/charges", json={"amount": 9}, headers=headers("killed")).headers[
            "Idempotent-Replayed"
        ]
        == "true"
    )
    assert charges(app) == 1


def deadlocking_transfers(app: Flask) -> list[str]:
    """Two requests, "1-2" and "2-1", that update two rows in opposite orders; on their first
    attempt each waits until both hold their first row, so the database sees a deadlock."""
    both_hold_their_first_row = threading.Barrier(2, timeout=10)
    attempts: list[str] = []

    @app.post("/transfer")
    @idempotent
    def transfer() -> dict[str, str]:
        order = request.args["order"]
        first, second = (int(part) for part in order.split("-"))
        attempts.append(order)
        db.session.execute(
            update(Charge).where(Charge.id == first).values(amount=Charge.amount + 1)
        )
        if attempts.count(order) == 1:
            both_hold_their_first_row.wait()
        db.session.execute(
            update(Charge).where(Charge.id == second).values(amount=Charge.amount + 1)
        )
        return {"done": order}

    with app.app_context():
        db.session.add_all([Charge(id=1, amount=0), Charge(id=2, amount=0)])
        db.session.commit()
    return attempts


def send_transfers(app: Flask) -> list[Any]:
    def send(order: str) -> Any:
        return app.test_client().post(f"/transfer?order={order}", headers=headers(order))

    with ThreadPoolExecutor(2) as pool:
        # Not "1,2": a comma in a bare key reads as the key header sent twice (a 400).
        return list(pool.map(send, ["1-2", "2-1"]))


# SQLite has a single writer at a time, and so no deadlocks.
@pytest.mark.parametrize("database_kind", SERVER_KINDS)
def test_a_deadlock_between_two_requests_is_rerun_and_both_succeed_once(
    app: Flask, database_kind: str
) -> None:
    attempts = deadlocking_transfers(app)

    responses = send_transfers(app)

    assert [response.status_code for response in responses] == [200, 200]
    # One of the two was chosen as the deadlock victim, rolled back, and run again.
    assert len(attempts) == 3
    with app.app_context():
        assert sorted(db.session.scalars(sa.select(Charge.amount))) == [2, 2]


@pytest.mark.parametrize("database_kind", SERVER_KINDS)
def test_a_deadlock_with_no_retries_left_gives_503_and_the_key_stays_retryable(
    make_app: Any, database_kind: str
) -> None:
    app = make_app(IDEMPOTENCY_DATABASE_RETRIES=0)
    attempts = deadlocking_transfers(app)

    responses = send_transfers(app)

    assert sorted(response.status_code for response in responses) == [200, 503]
    victim = next(response for response in responses if response.status_code == 503)
    assert victim.mimetype == "application/problem+json"
    order = victim.headers["Idempotency-Key"]  # each transfer used its order as its key
    retried = app.test_client().post(f"/transfer?order={order}", headers=headers(order))
    assert retried.status_code == 200
    assert len(attempts) == 3
    with app.app_context():
        assert sorted(db.session.scalars(sa.select(Charge.amount))) == [2, 2]


def test_a_database_error_that_is_no_outage_is_a_500_and_the_key_stays_retryable(
    app: Flask,
) -> None:
    # A CHECK violation: MariaDB reports it as an OperationalError, yet it is a bug, not an outage.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE positive (n INTEGER CHECK (n > 0))"))

    @app.post("/negative")
    @idempotent
    def negative() -> dict[str, bool]:
        db.session.execute(sa.text("INSERT INTO positive (n) VALUES (-1)"))
        return {"inserted": True}

    try:
        client = app.test_client()
        first = client.post("/negative", headers=headers("check"))
        again = client.post("/negative", headers=headers("check"))
        assert (first.status_code, again.status_code) == (500, 500)
        [key] = stored_keys(app)
        assert key.locked_at is None and key.response_code is None
    finally:
        with app.app_context():
            db.session.remove()
            with db.engine.begin() as connection:
                connection.execute(sa.text("DROP TABLE positive"))
