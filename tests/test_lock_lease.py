"""A live request keeps its key: each stage renews the lock, and lock ages and expiry are
judged by the database's clock, never by the clock of the app server that asks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask

from flask_idempotency import idempotent, stage
from tests.helpers import charges, effects, headers, stored_keys
from tests.ledger_app import Effect, Gate, db

pytestmark = pytest.mark.concurrency

STAGES = ("reserved", "charged", "shipped")
STAGE_SECONDS = 0.6


def test_a_request_longer_than_the_lock_timeout_keeps_its_lock_while_each_stage_is_shorter(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_LOCK_TIMEOUT=1)
    in_last_stage = threading.Event()

    @app.post("/slow/<ref>")
    @idempotent
    def slow(ref: str) -> dict[str, str]:
        for name in STAGES:
            with stage(name) as step:
                if step.pending:
                    if name == STAGES[-1]:
                        in_last_stage.set()
                    # The stage's work: shorter than the lock timeout, as the README asks.
                    time.sleep(STAGE_SECONDS)
                    db.session.add(Effect(order_ref=ref, stage=name))
        return {"order": ref}

    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        first = pool.submit(app.test_client().post, "/slow/o1", headers=headers("long"))
        assert in_last_stage.wait(30)
        # Past the lock timeout since the claim, but not since the last stage committed.
        time.sleep(max(0.0, started + 1.3 - time.monotonic()))
        duplicate = app.test_client().post("/slow/o1", headers=headers("long"))
        original = first.result()

    assert duplicate.status_code == 409
    assert original.status_code == 200
    assert effects(app, "o1") == {name: 1 for name in STAGES}


def test_an_app_server_whose_clock_runs_ahead_cannot_take_over_a_live_request(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    other_server = make_app()
    gate = Gate()
    app.config["GATES"]["charged"] = gate

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(app.test_client().post, "/orders/o1", headers=headers("skewed"))
        assert gate.entered.wait(30)
        # Ten minutes ahead: far past the 90 s lock timeout by this server's clock.
        ahead = datetime.now(UTC) + timedelta(minutes=10)
        with time_machine.travel(ahead, tick=True):
            duplicate = other_server.test_client().post("/orders/o1", headers=headers("skewed"))
        gate.release.set()
        original = first.result()

    assert duplicate.status_code == 409
    assert original.status_code == 200
    assert effects(app, "o1") == {name: 1 for name in STAGES}


def test_an_app_server_whose_clock_runs_ahead_still_replays_a_key_that_has_not_expired(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_KEY_TTL=60)
    other_server = make_app(IDEMPOTENCY_KEY_TTL=60)
    original = app.test_client().post("/charges", json={"amount": 5}, headers=headers("k"))

    with time_machine.travel(datetime.now(UTC) + timedelta(hours=1), tick=True):
        retry = other_server.test_client().post(
            "/charges", json={"amount": 5}, headers=headers("k")
        )

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == original.data
    assert charges(app) == 1


def test_timestamps_come_from_the_database_clock(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDEMPOTENCY_KEY_TTL=60)
    with time_machine.travel(datetime(2001, 1, 1, tzinfo=UTC), tick=True):
        app.test_client().post("/charges", json={"amount": 5}, headers=headers("k"))

    [key] = stored_keys(app)
    assert key.created_at.year > 2001
    assert key.expires_at - key.created_at == timedelta(seconds=60)
