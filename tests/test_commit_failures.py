"""A COMMIT that fails: the key says what the database committed, never what Python hoped.

Each test makes a stage's COMMIT (or the final one, with the response) really fail on the
database: on SQLite a second connection holds a read lock, so the writer's COMMIT times out
with "database is locked"; on PostgreSQL a bystander's SERIALIZABLE transaction makes a write
skew with the stage, so the stage's COMMIT fails with 40001; on PostgreSQL and MariaDB the
connection is killed as it commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection, make_url

from flask_idempotency import idempotent, stage
from tests.helpers import effects, headers, stored_keys
from tests.ledger_app import Effect, db

STAGES = ("reserved", "charged", "shipped")
# Where a COMMIT is made to fail: one of the stages, or the final commit with the response.
COMMITS = ("charged", "finish")


def committed_before(at: str) -> tuple[str, ...]:
    """The stages committed before the COMMIT that fails at ``at``."""
    return STAGES[: STAGES.index(at)] if at in STAGES else STAGES


class Interference:
    """Does something to the database from outside the request, once: when the view reaches
    the chosen point, at the COMMIT that follows it (after the key's update was sent)."""

    def __init__(self, at: str, app: Flask) -> None:
        self.at = at
        self.armed = False
        self.fired = False
        with app.app_context():
            event.listen(db.engine, "commit", self.on_commit)

    def __call__(self, point: str) -> None:
        if point == self.at and not self.fired:
            self.armed = True
            self.prepare()

    def on_commit(self, connection: Connection) -> None:
        if self.armed:
            self.armed = False
            self.fired = True
            self.fire()

    def prepare(self) -> None:
        """Runs in the view, on the request's own session, when the point is reached."""

    def fire(self) -> None:
        raise NotImplementedError


def register_fragile_view(app: Flask, interfere: Callable[[str], None]) -> None:
    """Three stages, then a final write; each stage reads the ledger before writing to it."""

    @app.post("/fragile/<ref>")
    @idempotent
    def fragile(ref: str) -> dict[str, str]:
        for name in STAGES:
            with stage(name) as step:
                if step.pending:
                    db.session.scalar(select(func.count()).select_from(Effect))
                    db.session.add(Effect(order_ref=ref, stage=name))
                    db.session.flush()
                    interfere(name)
        db.session.scalar(select(func.count()).select_from(Effect))
        db.session.add(Effect(order_ref=ref, stage="finish"))
        db.session.flush()
        interfere("finish")
        return {"order": ref}


class SqliteReadLock(Interference):
    """A second connection that starts reading and keeps its read lock until the request's
    COMMIT has failed on it."""

    def __init__(self, at: str, app: Flask, path: str) -> None:
        super().__init__(at, app)
        self.path = path
        self.reader: sqlite3.Connection | None = None

    def fire(self) -> None:
        self.reader = sqlite3.connect(self.path, isolation_level=None)
        self.reader.execute("BEGIN")
        self.reader.execute("SELECT count(*) FROM effect").fetchone()

    def let_go(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class PostgresqlWriteSkew(Interference):
    """A bystander's SERIALIZABLE transaction that reads and writes what the stage reads and
    writes, and commits first: the stage is then the pivot of a dangerous structure and
    PostgreSQL cancels it at its COMMIT (40001)."""

    def __init__(self, at: str, app: Flask, url: str) -> None:
        super().__init__(at, app)
        self.url = url

    def fire(self) -> None:
        with psycopg.connect(self.url) as bystander:
            bystander.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            bystander.execute("SELECT count(*) FROM effect").fetchone()
            bystander.execute("INSERT INTO effect (order_ref, stage) VALUES ('bystander', 'x')")
            bystander.commit()


def libpq_url(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


@pytest.fixture
def fragile_app(
    make_app: Callable[..., Flask], database_kind: str, database_url: str, request: Any
) -> Iterator[tuple[Flask, Interference]]:
    at, retries = request.param
    if database_kind == "sqlite":
        # A short busy timeout: the COMMIT gives up quickly instead of waiting five seconds.
        app = make_app(
            IDEMPOTENCY_DATABASE_RETRIES=retries,
            SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.2}},
        )
        interference: Interference = SqliteReadLock(at, app, make_url(database_url).database or "")
    elif database_kind == "postgresql":
        app = make_app(
            IDEMPOTENCY_DATABASE_RETRIES=retries,
            SQLALCHEMY_ENGINE_OPTIONS={"isolation_level": "SERIALIZABLE", "pool_size": 5},
        )
        interference = PostgresqlWriteSkew(at, app, libpq_url(database_url))
    else:
        raise AssertionError(f"no COMMIT-time conflict is made on {database_kind}")
    register_fragile_view(app, interference)
    if isinstance(interference, SqliteReadLock):
        reader = interference
        with app.app_context():
            # Once the COMMIT has failed on the read lock, the reader goes away.
            event.listen(db.engine, "handle_error", lambda context: reader.let_go())
    yield app, interference
    if isinstance(interference, SqliteReadLock):
        interference.let_go()


@pytest.mark.parametrize("database_kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("fragile_app", [(at, 3) for at in COMMITS], indirect=True, ids=COMMITS)
def test_a_failed_commit_is_resumed_from_the_last_committed_stage(
    fragile_app: tuple[Flask, Interference],
) -> None:
    app, interference = fragile_app
    client = app.test_client()

    response = client.post("/fragile/o1", headers=headers("order"))

    assert interference.fired
    assert response.status_code == 200, response.data
    assert effects(app, "o1") == {name: 1 for name in (*STAGES, "finish")}
    [key] = stored_keys(app)
    assert (key.recovery_point, key.completed_stages) == ("finished", list(STAGES))
    assert key.locked_at is None
    replay = client.post("/fragile/o1", headers=headers("order"))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.data == response.data


@pytest.mark.parametrize("database_kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("fragile_app", [(at, 0) for at in COMMITS], indirect=True, ids=COMMITS)
def test_a_failed_commit_without_retries_left_is_a_503_with_the_key_released_where_it_was(
    fragile_app: tuple[Flask, Interference],
) -> None:
    app, interference = fragile_app
    client = app.test_client()

    failed = client.post("/fragile/o1", headers=headers("order"))

    assert interference.fired
    assert failed.status_code == 503
    assert failed.mimetype == "application/problem+json"
    committed = committed_before(interference.at)
    assert effects(app, "o1") == {name: 1 for name in committed}
    [key] = stored_keys(app)
    assert key.completed_stages == list(committed)
    assert key.recovery_point == committed[-1]
    assert key.locked_at is None and key.response_code is None

    resumed = client.post("/fragile/o1", headers=headers("order"))
    assert resumed.status_code == 200
    assert effects(app, "o1") == {name: 1 for name in (*STAGES, "finish")}


class KilledAtCommit(Interference):
    """Kills the request's own connection as it sends COMMIT."""

    def __init__(self, at: str, app: Flask, kill: Callable[[Any], None], own_id: str) -> None:
        super().__init__(at, app)
        self.own_id = own_id
        self.kill = kill

    def prepare(self) -> None:
        self.victim = db.session.connection().exec_driver_sql(self.own_id).scalar()

    def fire(self) -> None:
        self.kill(self.victim)


def killer_for(database_kind: str, database_url: str) -> tuple[Callable[[Any], None], str]:
    if database_kind == "postgresql":

        def kill_postgresql(pid: Any) -> None:
            with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        return kill_postgresql, "SELECT pg_backend_pid()"
    url = make_url(database_url)

    def kill_mariadb(thread_id: Any) -> None:
        admin = pymysql.connect(
            host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
        )
        with admin:
            admin.cursor().execute(f"KILL {int(thread_id)}")

    return kill_mariadb, "SELECT CONNECTION_ID()"


@pytest.mark.parametrize("database_kind", ["postgresql", "mariadb"])
@pytest.mark.parametrize("at", COMMITS)
def test_a_connection_killed_at_commit_is_a_503_and_the_retry_does_everything_once(
    make_app: Callable[..., Flask], database_kind: str, database_url: str, at: str
) -> None:
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True})
    kill, own_id = killer_for(database_kind, database_url)
    interference = KilledAtCommit(at, app, kill, own_id)
    register_fragile_view(app, interference)
    client = app.test_client()

    failed = client.post("/fragile/o1", headers=headers("order"))

    assert interference.fired
    assert failed.status_code == 503
    committed = committed_before(at)
    assert effects(app, "o1") == {name: 1 for name in committed}
    [key] = stored_keys(app)
    assert key.completed_stages == list(committed)
    # The database could still be told: the key is released, not left to lapse.
    assert key.locked_at is None and key.response_code is None

    resumed = client.post("/fragile/o1", headers=headers("order"))
    assert resumed.status_code == 200
    assert effects(app, "o1") == {name: 1 for name in (*STAGES, "finish")}
