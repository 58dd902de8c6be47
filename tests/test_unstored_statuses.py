"""Answers that mean "come back later" are not stored: the retry runs again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, request

from flask_idempotency import idempotent, stage
from tests.helpers import charges, effects, headers, stored_keys
from tests.ledger_app import Effect, db


def test_an_unstored_status_rolls_back_releases_the_key_and_the_retry_runs(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_UNSTORED_STATUSES=[409, 503])
    client = app.test_client()

    busy = client.post("/charges?teapot=1", json={"amount": 3}, headers=headers("k"))

    assert busy.status_code == 503
    assert busy.headers["Idempotency-Key"] == "k"
    assert charges(app) == 0
    [key] = stored_keys(app)
    assert key.response_code is None and key.locked_at is None
    again = client.post("/charges?teapot=1", json={"amount": 3}, headers=headers("k"))
    assert again.status_code == 503 and "Idempotent-Replayed" not in again.headers


def test_an_unstored_status_after_a_stage_keeps_the_stage_and_the_retry_resumes(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(IDEMPOTENCY_UNSTORED_STATUSES=[409])

    @app.post("/busy/<ref>")
    @idempotent
    def busy(ref: str) -> Any:
        with stage("reserved") as reserved:
            if reserved.pending:
                db.session.add(Effect(order_ref=ref, stage="reserved"))
        db.session.add(Effect(order_ref=ref, stage="finished"))
        if request.headers.get("X-Busy"):
            return {"detail": "come back later"}, 409
        return {"order": ref}

    client = app.test_client()
    first = client.post("/busy/o1", headers=headers("k", **{"X-Busy": "1"}))
    assert first.status_code == 409
    assert effects(app, "o1") == {"reserved": 1}

    done = client.post("/busy/o1", headers=headers("k"))
    assert done.status_code == 200
    assert effects(app, "o1") == {"reserved": 1, "finished": 1}
    assert client.post("/busy/o1", headers=headers("k")).headers["Idempotent-Replayed"] == "true"


def test_by_default_every_status_is_stored(client: Any, app: Flask) -> None:
    client.post("/charges?teapot=1", json={"amount": 3}, headers=headers("k"))
    retry = client.post("/charges?teapot=1", json={"amount": 3}, headers=headers("k"))

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(app) == 1


@pytest.mark.parametrize("value", ["409", [409, "503"], [99], [True]])
def test_unstored_statuses_must_be_status_codes(
    make_app: Callable[..., Flask], value: object
) -> None:
    with pytest.raises((TypeError, ValueError), match="IDEMPOTENCY_UNSTORED_STATUSES"):
        make_app(IDEMPOTENCY_UNSTORED_STATUSES=value)
