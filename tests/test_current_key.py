"""``current_key`` tells a view which key it holds, under which scope, and how far the key
has come, e.g. to pass the key on to a payment provider as its own idempotency key."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request

from flask_idempotency import current_key, idempotent, stage
from tests.helpers import headers
from tests.ledger_app import Effect, db


def register_checkout(app: Flask, seen: list[dict[str, Any]]) -> None:
    @app.post("/checkout/<ref>")
    @idempotent
    def checkout(ref: str) -> Any:
        seen.append(
            {
                "key": current_key.key,
                "scope": current_key.scope,
                "at": current_key.recovery_point,
                "resumed": current_key.resumed,
            }
        )
        with stage("reserved") as reserved:
            if reserved.pending:
                db.session.add(Effect(order_ref=ref, stage="reserved"))
        seen.append(
            {"after_stage": current_key.recovery_point, "done": current_key.completed_stages}
        )
        if request.headers.get("X-Crash"):
            raise RuntimeError("crash after the stage")
        return {"provider_key": f"{current_key.key}:charge"}


def test_a_view_reads_its_key_scope_and_recovery_point(app: Flask) -> None:
    seen: list[dict[str, Any]] = []
    register_checkout(app, seen)
    auth = {"Authorization": "Basic Ym9iOnNlY3JldA=="}  # bob:secret

    response = app.test_client().post("/checkout/c1", json={}, headers=headers("pay-1", **auth))

    assert response.json == {"provider_key": "pay-1:charge"}
    assert seen == [
        {"key": "pay-1", "scope": "basic:bob", "at": "started", "resumed": False},
        {"after_stage": "reserved", "done": ["reserved"]},
    ]


def test_a_retry_sees_that_it_resumes_after_the_committed_stage(app: Flask) -> None:
    seen: list[dict[str, Any]] = []
    register_checkout(app, seen)
    client = app.test_client()

    crashed = client.post("/checkout/c2", json={}, headers=headers("pay-2", **{"X-Crash": "1"}))
    retried = client.post("/checkout/c2", json={}, headers=headers("pay-2"))

    assert (crashed.status_code, retried.status_code) == (500, 200)
    assert seen[2] == {"key": "pay-2", "scope": "anonymous", "at": "reserved", "resumed": True}


def test_current_key_outside_a_protected_view_says_where_it_can_be_used(app: Flask) -> None:
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="@idempotent view"):
        _ = current_key.key
