"""Signals tell receivers what happened to a key, and log lines tell operators, without ever
giving away a whole key or a credential."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask

from flask_idempotency import IdempotencyKey, signals
from tests.helpers import headers
from tests.key_rows import lock_as_dead_worker
from tests.ledger_app import Gate

ALL_SIGNALS = {
    "key_created": signals.key_created,
    "request_replayed": signals.request_replayed,
    "request_conflicted": signals.request_conflicted,
    "key_mismatched": signals.key_mismatched,
    "stage_completed": signals.stage_completed,
    "lock_taken_over": signals.lock_taken_over,
}


@contextmanager
def heard(app: Flask) -> Iterator[list[tuple[str, str, str | None]]]:
    """Every signal the app sends meanwhile: (signal, key, stage)."""
    events: list[tuple[str, str, str | None]] = []
    lock = threading.Lock()
    receivers = []
    for name, signal in ALL_SIGNALS.items():

        def receive(
            sender: Flask, *, key: IdempotencyKey, stage: str | None = None, _name: str = name
        ) -> None:
            assert sender is app
            assert isinstance(key, IdempotencyKey)
            with lock:
                events.append((_name, key.idempotency_key, stage))

        receivers.append(receive)
        signal.connect(receive, sender=app)
    try:
        yield events
    finally:
        for receive, signal in zip(receivers, ALL_SIGNALS.values(), strict=True):
            signal.disconnect(receive, sender=app)


def post(app: Flask, path: str, key: str, **extra: str) -> int:
    body: dict[str, Any] = {"amount": 5}
    return app.test_client().post(path, json=body, headers=headers(key, **extra)).status_code


def test_created_replayed_and_mismatched_keys_are_signalled(app: Flask) -> None:
    with heard(app) as events:
        assert post(app, "/charges", "sig-1") == 201
        assert post(app, "/charges", "sig-1") == 201
        assert (
            app.test_client()
            .post("/charges", json={"amount": 6}, headers=headers("sig-1"))
            .status_code
            == 422
        )

    assert events == [
        ("key_created", "sig-1", None),
        ("request_replayed", "sig-1", None),
        ("key_mismatched", "sig-1", None),
    ]


def test_each_stage_that_commits_is_signalled_once_with_its_name(app: Flask) -> None:
    with heard(app) as events:
        assert post(app, "/orders/o-1", "stages", **{"X-Fail-At": "charged"}) == 500
        assert post(app, "/orders/o-1", "stages") == 200

    assert events == [
        ("key_created", "stages", None),
        ("stage_completed", "stages", "reserved"),
        # The retry resumes: no key_created, and "reserved" is not signalled again.
        ("stage_completed", "stages", "charged"),
        ("stage_completed", "stages", "shipped"),
    ]


def test_a_duplicate_in_flight_is_signalled_as_conflicted(app: Flask) -> None:
    gate = Gate()
    app.config["GATES"]["charge"] = gate
    with heard(app) as events, ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, app, "/charges", "busy")
        assert gate.entered.wait(10)
        assert post(app, "/charges", "busy") == 409
        gate.release.set()
        assert first.result() == 201

    assert events == [("key_created", "busy", None), ("request_conflicted", "busy", None)]


def test_taking_over_a_dead_workers_key_is_signalled_and_logged_as_a_warning(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    assert post(app, "/orders/o-2", "orphan", **{"X-Fail-At": "charged"}) == 500
    lock_as_dead_worker(app, seconds_ago=10 * 60)

    with heard(app) as events, caplog.at_level(logging.WARNING, logger="flask_idempotency"):
        assert post(app, "/orders/o-2", "orphan") == 200

    assert events[0] == ("lock_taken_over", "orphan", None)
    [warning] = [r for r in caplog.records if "took over" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "'reserved'" in warning.getMessage()


def test_log_lines_never_hold_a_whole_key_or_a_credential(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    key = "order-4f1c2b9e-very-secret-key"
    bearer = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0"
    basic = {"Authorization": "Basic YWxpY2U6d29uZGVybGFuZA=="}  # alice:wonderland
    with caplog.at_level(logging.DEBUG, logger="flask_idempotency"):
        for auth in ({"Authorization": bearer}, basic):
            assert post(app, "/orders/o-3", key, **auth, **{"X-Fail-At": "charged"}) == 500
            assert post(app, "/orders/o-3", key, **auth) == 200
            assert post(app, "/orders/o-3", key, **auth) == 200
            assert post(app, "/charges", key, **auth) == 422

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "order-" in logged  # the key's start, to correlate lines
    for secret in (key, "eyJhbGciOiJIUzI1NiJ9", "alice", "wonderland", "YWxpY2U6"):
        assert secret not in logged
