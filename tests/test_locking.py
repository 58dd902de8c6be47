"""Concurrent requests with one key, in real threads against the real database."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, update
from werkzeug.test import TestResponse

from tests.helpers import charges, effects, headers, stored_keys
from tests.ledger_app import Gate, db, idempotency

pytestmark = pytest.mark.concurrency


def post(app: Flask, path: str, key: str, **kwargs: Any) -> TestResponse:
    return app.test_client().post(path, headers=headers(key), **kwargs)


def hold(app: Flask, gate_name: str) -> Gate:
    gate = Gate()
    app.config["GATES"][gate_name] = gate
    return gate


def wait_until(condition: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def backdate_lock(app: Flask, seconds: float) -> None:
    """Make the key's lock look as old as if its holder had died ``seconds`` ago."""
    with app.app_context():
        model = idempotency.model
        [key] = db.session.scalars(db.select(model)).all()
        assert key.locked_at is not None
        db.session.execute(
            update(model)
            .where(model.id == key.id)
            .values(locked_at=key.locked_at - timedelta(seconds=seconds))
        )
        db.session.commit()


def test_a_duplicate_while_the_first_is_in_flight_gets_409_with_retry_after(app: Flask) -> None:
    gate = hold(app, "charge")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, app, "/charges", "dup", json={"amount": 10})
        assert gate.entered.wait(10)

        duplicate = post(app, "/charges", "dup", json={"amount": 10})
        assert duplicate.status_code == 409
        assert duplicate.mimetype == "application/problem+json"
        assert int(duplicate.headers["Retry-After"]) >= 1
        assert duplicate.headers["Idempotency-Key"] == "dup"

        gate.release.set()
        assert first.result().status_code == 201

    retry = post(app, "/charges", "dup", json={"amount": 10})
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


def test_a_duplicate_can_wait_for_the_first_and_get_its_response(app: Flask) -> None:
    gate = hold(app, "waits")
    # The threads that looked the key up (a claim, or the read before it), one entry a look.
    lookups: list[int] = []
    with app.app_context():
        engine = db.engine

    def count_lookups(*args: Any) -> None:
        statement: str = args[2].lstrip().upper()
        if "IDEMPOTENCY_KEY" in statement and statement.startswith(("INSERT", "WITH", "SELECT")):
            lookups.append(threading.get_ident())

    event.listen(engine, "before_cursor_execute", count_lookups)
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, app, "/waits", "w")
            assert gate.entered.wait(10)
            first_thread = set(lookups)
            waiting = pool.submit(post, app, "/waits", "w")
            # The duplicate has found the key in flight at least twice before the first finishes.
            wait_until(
                lambda: sum(ident not in first_thread for ident in lookups) >= 2,
                "the duplicate polled twice",
            )
            gate.release.set()
            assert first.result().status_code == 200
            waited = waiting.result()
    finally:
        event.remove(engine, "before_cursor_execute", count_lookups)

    assert waited.status_code == 200
    assert waited.headers["Idempotent-Replayed"] == "true"
    assert waited.data == first.result().data
    assert charges(app) == 1


def test_a_duplicate_that_waits_too_long_gets_409(make_app: Any) -> None:
    app = make_app(IDEMPOTENCY_WAIT=0.2)
    gate = hold(app, "charge")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, app, "/charges", "slow", json={"amount": 1})
        assert gate.entered.wait(10)
        assert post(app, "/charges", "slow", json={"amount": 1}).status_code == 409
        gate.release.set()
        assert first.result().status_code == 201


def test_a_dead_holders_lock_blocks_until_the_lock_timeout_then_the_retry_resumes(
    app: Flask,
) -> None:
    # The first attempt commits "reserved" and fails; then we make it look as if a worker
    # had claimed the key again and died without unlocking it.
    client = app.test_client()
    client.post("/orders/o1", headers=headers("dead", **{"X-Fail-At": "charged"}))
    with app.app_context():
        model = idempotency.model
        db.session.execute(update(model).values(locked_at=utcnow(), lock_token="dead-worker"))
        db.session.commit()
    backdate_lock(app, 1)  # a fresh lock: well within the 90 s timeout

    assert client.post("/orders/o1", headers=headers("dead")).status_code == 409

    backdate_lock(app, 3600)
    resumed = client.post("/orders/o1", headers=headers("dead"))
    assert resumed.status_code == 200
    assert effects(app, "o1") == {"reserved": 1, "charged": 1, "shipped": 1}


def test_a_holder_that_lost_its_lock_cannot_commit_and_the_work_happens_once(app: Flask) -> None:
    gate = hold(app, "charged")
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(post, app, "/orders/o2", "fenced")
        assert gate.entered.wait(10)  # "reserved" is committed; "charged" is under way
        backdate_lock(app, 3600)  # the slow holder outlived the lock timeout
        app.config["GATES"] = {}

        takeover = post(app, "/orders/o2", "fenced")
        assert takeover.status_code == 200

        gate.release.set()
        late = slow.result()

    assert late.status_code == 409
    assert late.mimetype == "application/problem+json"
    assert effects(app, "o2") == {"reserved": 1, "charged": 1, "shipped": 1}
    replay = post(app, "/orders/o2", "fenced")
    assert replay.data == takeover.data


def test_concurrent_duplicates_run_once(app: Flask) -> None:
    threads = 16
    start = threading.Barrier(threads)

    def attempt(_: int) -> TestResponse:
        start.wait(timeout=10)
        return post(app, "/charges", "crowd", json={"amount": 42})

    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(attempt, range(threads)))

    outcomes = Counter(
        "replayed" if r.headers.get("Idempotent-Replayed") else r.status_code for r in responses
    )
    assert outcomes[201] == 1, outcomes
    assert set(outcomes) <= {201, 409, "replayed"}, outcomes
    assert charges(app) == 1

    original = next(
        r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    )
    for _ in range(3):
        assert post(app, "/charges", "crowd", json={"amount": 42}).data == original.data


def test_many_keys_with_duplicates_each_run_exactly_once(app: Flask) -> None:
    keys = [f"key-{number}" for number in range(60)]
    requests = [key for key in keys for _ in range(3)]

    def attempt(key: str) -> TestResponse:
        return post(app, "/charges", key, json={"amount": 1})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(attempt, requests))

    assert {r.status_code for r in responses} <= {201, 409}
    assert charges(app) == len(keys)
    assert all(key.response_code == 201 and key.locked_at is None for key in stored_keys(app))


def test_simultaneous_requests_with_one_key_and_different_bodies_run_one_and_refuse_the_rest(
    app: Flask,
) -> None:
    threads = 8
    start = threading.Barrier(threads)

    def attempt(amount: int) -> TestResponse:
        start.wait(timeout=10)
        return post(app, "/charges", "contested", json={"amount": amount})

    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(attempt, range(1, threads + 1)))

    statuses = Counter(response.status_code for response in responses)
    # Whoever lost the race to insert still has its fingerprint checked: 422, never a replay
    # of someone else's different request.
    assert statuses[201] == 1, statuses
    assert set(statuses) <= {201, 422}, statuses
    assert charges(app) == 1
