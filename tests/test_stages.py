"""stage(): each stage commits atomically with its recovery point, and a retry resumes."""

from __future__ import annotations

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from flask_idempotency import StageError, idempotent, stage
from tests.helpers import effects, headers, stored_keys
from tests.ledger_app import Effect, db

STAGES = ("reserved", "charged", "shipped")


@pytest.mark.parametrize("failing_stage", STAGES)
def test_a_failed_stage_rolls_back_and_the_retry_resumes_without_repeating_earlier_stages(
    client: FlaskClient, app: Flask, failing_stage: str
) -> None:
    failed = client.post("/orders/o1", headers=headers("order", **{"X-Fail-At": failing_stage}))
    assert failed.status_code == 500
    assert failed.headers["Idempotency-Key"] == "order"

    done_before = STAGES[: STAGES.index(failing_stage)]
    assert effects(app, "o1") == {name: 1 for name in done_before}
    [key] = stored_keys(app)
    assert key.recovery_point == (done_before[-1] if done_before else "started")
    assert key.completed_stages == list(done_before)
    assert key.locked_at is None

    resumed = client.post("/orders/o1", headers=headers("order"))
    assert resumed.status_code == 200
    assert "Idempotent-Replayed" not in resumed.headers
    assert effects(app, "o1") == {name: 1 for name in STAGES}

    replayed = client.post("/orders/o1", headers=headers("order"))
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.data == resumed.data
    assert effects(app, "o1") == {name: 1 for name in STAGES}
    [key] = stored_keys(app)
    assert key.recovery_point == "finished"


def _fail_when_asked(after: str) -> None:
    if request.headers.get("X-Fail-After") == after:
        raise RuntimeError(f"failure injected after {after}")


def test_a_completed_stage_that_writes_without_checking_fails_loudly(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/careless")
    @idempotent
    def careless() -> dict[str, bool]:
        with stage("first"):
            db.session.add(Effect(order_ref="careless", stage="first"))
        _fail_when_asked("first")
        return {"ok": True}

    assert (
        client.post("/careless", headers=headers("c", **{"X-Fail-After": "first"})).status_code
        == 500
    )
    assert effects(app, "careless") == {"first": 1}

    retry = client.post("/careless", headers=headers("c"))
    assert retry.status_code == 500
    assert effects(app, "careless") == {"first": 1}


def test_a_completed_stage_whose_write_reaches_the_database_is_refused_before_it_runs(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/careless-flush")
    @idempotent
    def careless_flush() -> dict[str, bool]:
        with stage("first"):
            db.session.execute(Effect.__table__.insert().values(order_ref="flush", stage="first"))
        _fail_when_asked("first")
        return {"ok": True}

    errors: list[BaseException] = []

    @app.errorhandler(StageError)
    def record(error: StageError) -> tuple[str, int]:
        errors.append(error)
        return "stage misuse", 500

    client.post("/careless-flush", headers=headers("c", **{"X-Fail-After": "first"}))
    assert client.post("/careless-flush", headers=headers("c")).status_code == 500
    assert [type(error) for error in errors] == [StageError]
    assert effects(app, "flush") == {"first": 1}


def test_stages_entered_in_another_order_on_a_retry_raise(app: Flask, client: FlaskClient) -> None:
    @app.post("/reordered")
    @idempotent
    def reordered() -> dict[str, bool]:
        for name in request.headers["X-Order"].split(","):
            with stage(name) as step:
                if step.pending:
                    db.session.add(Effect(order_ref="reordered", stage=name))
            _fail_when_asked(name)
        return {"ok": True}

    first = client.post(
        "/reordered", headers=headers("r", **{"X-Order": "a,b", "X-Fail-After": "a"})
    )
    assert first.status_code == 500
    assert client.post("/reordered", headers=headers("r", **{"X-Order": "b,a"})).status_code == 500
    assert effects(app, "reordered") == {"a": 1}

    # In the recorded order the retry resumes.
    assert client.post("/reordered", headers=headers("r", **{"X-Order": "a,b"})).status_code == 200
    assert effects(app, "reordered") == {"a": 1, "b": 1}


def test_a_stage_entered_twice_or_with_a_reserved_name_raises(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/twice")
    @idempotent
    def twice() -> dict[str, bool]:
        for name in request.headers["X-Order"].split(","):
            with stage(name):
                pass
        return {"ok": True}

    assert client.post("/twice", headers=headers("t1", **{"X-Order": "a,a"})).status_code == 500
    assert (
        client.post("/twice", headers=headers("t2", **{"X-Order": "finished"})).status_code == 500
    )
    assert client.post("/twice", headers=headers("t3", **{"X-Order": "a,b"})).status_code == 200


def test_writes_outside_a_stage_before_a_stage_raise_instead_of_repeating(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/unstaged")
    @idempotent
    def unstaged() -> dict[str, bool]:
        db.session.add(Effect(order_ref="unstaged", stage="outside"))
        if request.headers.get("X-Flush"):
            db.session.flush()
        with stage("inside"):
            pass
        return {"ok": True}

    assert client.post("/unstaged", headers=headers("u1")).status_code == 500
    assert client.post("/unstaged", headers=headers("u2", **{"X-Flush": "1"})).status_code == 500
    assert effects(app, "unstaged") == {}


def test_writes_after_the_last_stage_commit_with_the_response(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/tail")
    @idempotent
    def tail() -> dict[str, bool]:
        with stage("only") as step:
            if step.pending:
                db.session.add(Effect(order_ref="tail", stage="only"))
        db.session.add(Effect(order_ref="tail", stage="finished-part"))
        return {"ok": True}

    assert client.post("/tail", headers=headers("tail")).status_code == 200
    assert client.post("/tail", headers=headers("tail")).headers["Idempotent-Replayed"] == "true"
    assert effects(app, "tail") == {"only": 1, "finished-part": 1}


def test_stage_outside_an_idempotent_view_raises(app: Flask) -> None:
    with (
        app.test_request_context(),
        pytest.raises(RuntimeError, match="@idempotent"),
        stage("anything"),
    ):
        pass
