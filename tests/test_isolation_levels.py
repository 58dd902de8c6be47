"""Medusa's transaction controls: a stage, a view or a work_stage runs at the isolation level it
asks for, never a weaker one, its serialization failures rerun; and a service bound to a
caller's session leaves the commit to the caller."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request
from sqlalchemy.orm import Mapped, Session, mapped_column

from flask_idempotency import (
    ConfigurationError,
    IdempotencyKeyNotFound,
    LockLost,
    RecoveryPoint,
    StageError,
    idempotent,
    stage,
)
from flask_idempotency.isolation import IsolationLevel
from tests.helpers import headers, stored_keys
from tests.ledger_app import db, idempotency


class OnCall(db.Model):  # type: ignore[name-defined, misc]
    """Two doctors on call; the rule: at least one stays on call."""

    id: Mapped[int] = mapped_column(primary_key=True)
    on_call: Mapped[bool]


def engine_default_level(app: Flask) -> str:
    with app.app_context(), db.engine.connect() as connection:
        return str(connection.default_isolation_level)


def another_level(app: Flask) -> IsolationLevel:
    """A level the database offers that is not its engine's default."""
    return "READ UNCOMMITTED" if engine_default_level(app) == "SERIALIZABLE" else "SERIALIZABLE"


def current_level() -> str:
    return str(db.session.connection().get_isolation_level())


def test_a_stage_runs_at_its_level_and_the_connection_goes_back_afterwards(app: Flask) -> None:
    level = another_level(app)
    default = engine_default_level(app)
    seen: dict[str, str] = {}

    @app.post("/levelled")
    @idempotent
    def levelled() -> Any:
        with stage("checked", isolation_level=level) as checked:
            if checked.pending:
                seen["in the stage"] = current_level()
        seen["after the stage"] = current_level()
        return {"ok": True}

    assert app.test_client().post("/levelled", json={}, headers=headers("l")).status_code == 200
    assert seen == {"in the stage": level, "after the stage": default}
    with app.app_context():
        pooled = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]  # type: ignore[attr-defined]
        try:
            assert {connection.get_isolation_level() for connection in pooled} <= {default}
        finally:
            for connection in pooled:
                connection.close()


def test_a_views_level_covers_every_stage_and_the_final_commit(app: Flask) -> None:
    level = another_level(app)
    seen: list[str] = []

    @app.post("/whole-view")
    @idempotent(isolation_level=level)
    def whole_view() -> Any:
        seen.append(current_level())
        with stage("first") as first:
            if first.pending:
                seen.append(current_level())
        seen.append(current_level())
        with stage("second") as second:
            if second.pending:
                seen.append(current_level())
        seen.append(current_level())  # the final commit's transaction
        return {"ok": True}

    assert app.test_client().post("/whole-view", json={}, headers=headers("v")).status_code == 200
    assert seen == [level] * 5


def test_a_stage_asked_at_a_level_after_the_view_read_still_runs_at_it(app: Flask) -> None:
    """Never weaker than asked: the view's read-only transaction is ended, not reused."""
    level = another_level(app)
    seen: dict[str, Any] = {}
    with app.app_context():
        db.session.add(OnCall(id=1, on_call=True))
        db.session.commit()

    @app.post("/read-first")
    @idempotent
    def read_first() -> Any:
        doctor = db.session.get(OnCall, 1)
        assert doctor is not None
        with stage("off_call", isolation_level=level) as off_call:
            if off_call.pending:
                seen["level"] = current_level()
                doctor.on_call = False  # the object read before the stage is still usable
        return {"on_call": doctor.on_call}

    response = app.test_client().post("/read-first", json={}, headers=headers("r"))

    assert (response.status_code, response.json) == (200, {"on_call": False})
    assert seen == {"level": level}


# PostgreSQL and MariaDB offer all four levels.
@pytest.mark.parametrize("database_kind", ["sqlite"])
def test_a_level_the_database_does_not_offer_is_refused_before_anything_runs(app: Flask) -> None:
    runs: Counter[str] = Counter()

    @app.post("/unoffered-view")
    @idempotent(isolation_level="REPEATABLE READ")
    def unoffered_view() -> Any:
        runs["view"] += 1
        return {}

    @app.post("/unoffered-stage")
    @idempotent
    def unoffered_stage() -> Any:
        with stage("repeatable", isolation_level="READ COMMITTED") as repeatable:
            if repeatable.pending:
                runs["stage"] += 1
        return {}

    client = app.test_client()
    assert client.post("/unoffered-view", json={}, headers=headers("a")).status_code == 500
    assert client.post("/unoffered-stage", json={}, headers=headers("b")).status_code == 500
    assert runs == Counter()
    # The view's key was never claimed; the stage's was released where it started.
    assert [(key.idempotency_key, key.locked_at) for key in stored_keys(app)] == [("b", None)]


def test_a_level_is_one_of_the_four_names() -> None:
    with pytest.raises(ConfigurationError, match="isolation_level must be one of"):
        idempotent(isolation_level="SNAPSHOT")  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="isolation_level must be one of"):
        idempotency.protect(
            Flask(__name__),
            isolation_level="serializable",  # type: ignore[arg-type]
        )


def skewing_view(app: Flask, level: IsolationLevel, together: threading.Barrier) -> Counter[str]:
    """Each request reads that both doctors are on call, and takes its own off call: fine
    alone, a write skew when two run side by side below SERIALIZABLE."""
    attempts: Counter[str] = Counter()
    reads_overlap = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0] != "sqlite"

    @app.post("/off-call/<int:doctor>")
    @idempotent
    def off_call(doctor: int) -> Any:
        attempts[request.path] += 1
        first_attempt = attempts[request.path] == 1
        if first_attempt:
            together.wait(timeout=30)  # both at the stage's door, nothing locked
        with stage("off_call", isolation_level=level) as leave:
            if leave.pending:
                on_call = db.session.scalar(
                    sa.select(sa.func.count()).select_from(OnCall).where(OnCall.on_call)
                )
                if first_attempt and reads_overlap:
                    # Both have read before either writes. (SQLite's SERIALIZABLE stage holds
                    # the write lock from its start, so there the second waits to read.)
                    together.wait(timeout=30)
                if on_call == 2:
                    db.session.execute(
                        sa.update(OnCall).where(OnCall.id == doctor).values(on_call=False)
                    )
        return {"doctor": doctor}

    return attempts


@pytest.fixture
def two_doctors(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        db.session.add_all([OnCall(id=1, on_call=True), OnCall(id=2, on_call=True)])
        db.session.commit()
    yield app


def on_call_after_both(app: Flask, level: IsolationLevel) -> tuple[int, list[int], Counter[str]]:
    attempts = skewing_view(app, level, threading.Barrier(2))

    def take_off(doctor: int) -> int:
        return (
            app.test_client()
            .post(f"/off-call/{doctor}", json={}, headers=headers(f"doctor-{doctor}"))
            .status_code
        )

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(take_off, (1, 2)))
    with app.app_context():
        on_call = db.session.scalar(
            sa.select(sa.func.count()).select_from(OnCall).where(OnCall.on_call)
        )
    return int(on_call or 0), statuses, attempts


def test_serializable_stages_prevent_the_write_skew_and_rerun_the_loser(two_doctors: Flask) -> None:
    on_call, statuses, attempts = on_call_after_both(two_doctors, "SERIALIZABLE")

    assert statuses == [200, 200]
    assert on_call == 1
    if two_doctors.config["SQLALCHEMY_DATABASE_URI"].startswith(("postgresql", "mysql")):
        # One of them hit the serialization failure (or deadlock) and ran again.
        assert sorted(attempts.values()) == [1, 2]


# SQLite offers no READ COMMITTED.
@pytest.mark.parametrize("database_kind", ["postgresql", "mariadb"])
def test_read_committed_stages_show_the_skew_the_level_prevents(two_doctors: Flask) -> None:
    on_call, statuses, _ = on_call_after_both(two_doctors, "READ COMMITTED")

    assert statuses == [200, 200]
    assert on_call == 0


def test_work_stage_runs_its_callback_at_the_level_asked(app: Flask) -> None:
    level = another_level(app)
    seen: list[str] = []
    with app.app_context():
        service = idempotency.service
        key = service.initialize_request("ws", "POST", {}, "/ws")

        def callback(session: Session) -> RecoveryPoint:
            seen.append(str(session.connection().get_isolation_level()))
            return RecoveryPoint("levelled")

        service.work_stage(key, callback, isolation_level=level)
        assert service.retrieve("ws").recovery_point == "levelled"
    assert seen == [level]


# A real serialization failure on demand, from one thread: PostgreSQL's snapshot gives one.
@pytest.mark.parametrize("database_kind", ["postgresql"])
def test_work_stage_reruns_its_callback_after_a_serialization_failure(app: Flask) -> None:
    calls: list[int] = []
    with app.app_context():
        db.session.add(OnCall(id=1, on_call=True))
        db.session.commit()
        service = idempotency.service
        key = service.initialize_request("retry", "POST", {}, "/retry")

        def callback(session: Session) -> RecoveryPoint:
            calls.append(1)
            session.scalar(sa.select(OnCall.on_call).where(OnCall.id == 1))
            if len(calls) == 1:
                # Another transaction changes the row after this one's snapshot was taken.
                with db.engine.begin() as other:
                    other.execute(sa.update(OnCall).values(on_call=False))
            session.execute(sa.update(OnCall).values(on_call=True))
            return RecoveryPoint("after_conflict")

        service.work_stage(key, callback, isolation_level="SERIALIZABLE")
        assert service.retrieve("retry").recovery_point == "after_conflict"
    assert len(calls) == 2


def test_a_bound_service_leaves_the_commit_to_the_caller(app: Flask) -> None:
    with app.app_context():
        service = idempotency.service
        with Session(db.engine) as session:
            bound = service.with_transaction(session)
            bound.create({"idempotency_key": "rolled-back"})
            claimed = bound.initialize_request("claimed-then-rolled-back", "POST", {}, "/x")
            assert claimed.lock_token is not None
            session.rollback()
        for name in ("rolled-back", "claimed-then-rolled-back"):
            with pytest.raises(IdempotencyKeyNotFound):
                service.retrieve(name)

        with Session(db.engine) as session:
            bound = service.with_transaction(session)
            key = bound.initialize_request("kept", "POST", {}, "/x")
            bound.work_stage(key, lambda s: RecoveryPoint("done_in_caller_transaction"))
            session.commit()
        db.session.rollback()  # a fresh snapshot: MariaDB's REPEATABLE READ kept the old one
        assert service.retrieve("kept").recovery_point == "done_in_caller_transaction"


def test_a_bound_services_fence_still_holds(app: Flask) -> None:
    with app.app_context():
        service = idempotency.service
        with Session(db.engine) as session:
            bound = service.with_transaction(session)
            key = bound.initialize_request("fenced", "POST", {}, "/x")
            key.lock_token = "taken-over-meanwhile"
            with pytest.raises(LockLost):
                bound.work_stage(key, lambda s: RecoveryPoint("never"))
            with pytest.raises(StageError, match="begin your session's transaction"):
                bound.work_stage(
                    key, lambda s: RecoveryPoint("never"), isolation_level="SERIALIZABLE"
                )
            session.rollback()
