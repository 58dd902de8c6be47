"""Database trouble is a 503, never a 500 or a leak: lock and statement timeouts, a node that is
not ready, and what the extension logs about them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import exc

from flask_idempotency import idempotent
from flask_idempotency.database_errors import is_retryable, is_unavailable
from tests.helpers import charges, effects, headers, stored_keys
from tests.ledger_app import db, idempotency

# Unique strings that must never appear in a log line.
KEY = f"key-{uuid.uuid4()}"
TOKEN = f"token-{uuid.uuid4()}"
NOTE = f"note-{uuid.uuid4()}"
BODY = {"amount": 7, "note": NOTE}
HEADERS = headers(KEY, Authorization=f"Bearer {TOKEN}")
REQUEST: dict[str, Any] = {"json": BODY, "headers": HEADERS}


def timeout_options(database_kind: str) -> dict[str, Any]:
    """Engine options that make lock waits and statements give up quickly."""
    if database_kind == "postgresql":
        return {"connect_args": {"options": "-c lock_timeout=200 -c statement_timeout=500"}}
    return {
        "connect_args": {
            "init_command": "SET SESSION innodb_lock_wait_timeout=1, max_statement_time=0.5"
        }
    }


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything logged, tracebacks included, as one text."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        formatter = logging.Formatter()
        return "\n".join(formatter.format(record) for record in caplog.records)

    yield text


def assert_nothing_private_in(log: str, app: Flask) -> None:
    [key] = stored_keys(app)
    for private in (KEY, TOKEN, NOTE, key.scope):
        assert private not in log


@pytest.mark.parametrize("database_kind", ["postgresql", "mariadb"])
def test_a_lock_wait_timeout_at_the_claim_is_a_503_and_the_retry_resumes(
    make_app: Callable[..., Flask], database_kind: str, logged: Callable[[], str]
) -> None:
    app = make_app(
        IDEMPOTENCY_DATABASE_RETRIES=1, SQLALCHEMY_ENGINE_OPTIONS=timeout_options(database_kind)
    )
    client = app.test_client()
    # A first attempt that failed in its second stage leaves the key for its retry to claim.
    failing = {**HEADERS, "X-Fail-At": "charged"}
    failed = client.post("/orders/o1", json=BODY, headers=failing)
    # Another transaction holds the key's row, as a long-running maintenance job might.
    with app.app_context(), db.engine.connect() as holder:
        holder.execute(sa.select(idempotency.model.id).with_for_update()).all()

        blocked = client.post("/orders/o1", **REQUEST)

    assert failed.status_code == 500
    assert blocked.status_code == 503
    assert blocked.mimetype == "application/problem+json"
    assert blocked.headers["Retry-After"] == "1"
    resumed = client.post("/orders/o1", **REQUEST)
    assert resumed.status_code == 200
    assert effects(app, "o1") == {"reserved": 1, "charged": 1, "shipped": 1}
    assert "answering 503" in logged()
    assert_nothing_private_in(logged(), app)


def test_a_replay_is_not_blocked_by_a_transaction_holding_the_keys_row(
    make_app: Callable[..., Flask], database_kind: str
) -> None:
    app = make_app()
    client = app.test_client()
    original = client.post("/charges", **REQUEST)
    with app.app_context(), db.engine.connect() as holder:
        holding = sa.select(idempotency.model.id)
        if database_kind != "sqlite":
            holding = holding.with_for_update()
        holder.execute(holding).all()

        replay = client.post("/charges", **REQUEST)

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.data == original.data


@pytest.mark.parametrize("database_kind", ["postgresql", "mariadb"])
def test_a_statement_timeout_in_the_view_is_a_503_and_the_key_is_released(
    make_app: Callable[..., Flask], database_kind: str, logged: Callable[[], str]
) -> None:
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS=timeout_options(database_kind))
    sleep = "SELECT pg_sleep(5)" if database_kind == "postgresql" else "SELECT SLEEP(5)"

    @app.post("/report")
    @idempotent
    def report() -> dict[str, bool]:
        db.session.execute(sa.text(sleep))
        return {"done": True}

    response = app.test_client().post("/report", **REQUEST)

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    [key] = stored_keys(app)
    assert key.locked_at is None and key.response_code is None
    assert_nothing_private_in(logged(), app)


def refuse_new_keys(database_kind: str) -> str:
    """DDL with which the database refuses the extension's claim, as a bad migration might."""
    if database_kind == "sqlite":
        return (
            "CREATE TRIGGER refuse_keys BEFORE INSERT ON idempotency_key "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    return "ALTER TABLE idempotency_key ADD CONSTRAINT refuse_keys CHECK (request_method = 'NONE')"


def test_an_error_in_the_claim_is_a_500_whose_log_holds_no_key_scope_or_params(
    make_app: Callable[..., Flask], database_kind: str, logged: Callable[[], str]
) -> None:
    # The app does not hide parameters: the extension must not rely on it.
    app = make_app()
    with app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql(refuse_new_keys(database_kind))

    response = app.test_client().post("/charges", **REQUEST)

    assert response.status_code == 500
    log = logged()
    assert "KeyStorageError" in log
    for private in (KEY, TOKEN, NOTE, "sha256:", "Bearer"):
        assert private not in log
    assert charges(app) == 0


def mariadb_error(number: int, message: str) -> exc.OperationalError:
    return exc.OperationalError("SELECT 1", {}, pymysql.err.OperationalError(number, message))


def test_a_galera_node_that_is_not_ready_is_unavailable_and_not_rerun_on_it() -> None:
    not_ready = mariadb_error(1047, "WSREP has not yet prepared node for application use")

    assert is_unavailable(not_ready)
    assert not is_retryable(not_ready)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (1213, "Deadlock found when trying to get lock; try restarting transaction"),
        (1205, "Lock wait timeout exceeded; try restarting transaction"),
    ],
)
def test_conflicts_and_lock_timeouts_are_rerun_then_unavailable(number: int, message: str) -> None:
    error = mariadb_error(number, message)

    assert is_retryable(error)
    assert is_unavailable(error)
