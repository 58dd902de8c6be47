"""What idempotency costs in SQL statements, counted as they reach the database.

The floor is one statement to claim a key and one to store the result; a replay needs one
read; each stage one statement to move the recovery point with the stage's writes. The key is
read first, so that a replay is that indexed read alone and locks nothing. On PostgreSQL the
read also inserts a new key already claimed, so a first request meets the floor; elsewhere it
spends that read besides the claim and the stored result.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import event

from flask_idempotency import idempotent, stage
from tests.helpers import headers
from tests.ledger_app import db

# (first request, replay, per stage), beyond the view's own statements: the costs reached,
# pinned so that a change which adds a statement is noticed.
BUDGET = {"postgresql": (2, 1, 1), "mariadb": (3, 1, 1), "sqlite": (3, 1, 1)}


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def staged_app(app: Flask) -> Flask:
    @app.post("/staged")
    @idempotent
    def staged() -> dict[str, int]:
        # Stages that do no writes of their own, so every statement counted is overhead.
        count = int(request.args.get("stages", "0"))
        for number in range(count):
            with stage(f"stage-{number}"):
                pass
        return {"stages": count}

    return app


def test_statements_per_first_request_replay_and_stage(
    staged_app: Flask, database_kind: str
) -> None:
    client = staged_app.test_client()
    first_limit, replay_limit, stage_limit = BUDGET[database_kind]

    with counted(staged_app) as first:
        client.post("/staged", headers=headers("budget"))
    with counted(staged_app) as replay:
        response = client.post("/staged", headers=headers("budget"))
    assert response.headers["Idempotent-Replayed"] == "true"
    with counted(staged_app) as with_stages:
        client.post("/staged?stages=3", headers=headers("budget-stages"))

    per_stage = (len(with_stages) - len(first)) / 3
    print(
        f"\n{database_kind}: first request {len(first)}, replay {len(replay)}, "
        f"per stage {per_stage:g} statements"
    )
    assert len(first) <= first_limit, first
    assert len(replay) <= replay_limit, replay
    assert per_stage <= stage_limit, with_stages


def test_the_views_own_statements_are_all_that_is_added(app: Flask, database_kind: str) -> None:
    client = app.test_client()
    with counted(app) as unkeyed_overhead:
        client.post("/text", headers=headers("no-writes"))
    with counted(app) as charge:
        client.post("/charges", json={"amount": 3}, headers=headers("one-insert"))

    # /charges adds exactly one INSERT of its own.
    assert len(charge) == len(unkeyed_overhead) + 1
