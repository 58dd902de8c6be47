"""The write guard sees a write however it is written, and a view cannot commit or roll back the
transaction the extension commits with the key's progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import delete, event, insert, select, text, update

from flask_idempotency import StageError, idempotent, stage
from flask_idempotency.sql_text import sql_writes, syntax_of
from tests.conftest import DATABASES
from tests.helpers import effects, headers, stored_keys
from tests.ledger_app import Effect, db

# The order_ref of the rows every careless write below inserts, changes or deletes.
REF = "guarded"
# Core statements on the table itself, apart from the ORM.
effect = Effect.__table__


def orm_flush() -> None:
    db.session.add(Effect(order_ref=REF, stage="again"))
    db.session.flush()


def core_insert() -> None:
    db.session.execute(insert(effect).values(order_ref=REF, stage="again"))


def core_insert_returning() -> None:
    db.session.execute(insert(effect).values(order_ref=REF, stage="again").returning(effect.c.id))


def core_update() -> None:
    db.session.execute(update(effect).where(effect.c.order_ref == REF).values(stage="again"))


def core_update_with_cte() -> None:
    ids = select(effect.c.id).where(effect.c.order_ref == REF).cte("ids")
    db.session.execute(
        update(effect).where(effect.c.id.in_(select(ids.c.id))).values(stage="again")
    )


def core_delete() -> None:
    db.session.execute(delete(effect).where(effect.c.order_ref == REF))


def core_delete_with_cte() -> None:
    ids = select(effect.c.id).where(effect.c.order_ref == REF).cte("ids")
    db.session.execute(delete(effect).where(effect.c.id.in_(select(ids.c.id))))


def core_delete_returning() -> None:
    db.session.execute(delete(effect).where(effect.c.order_ref == REF).returning(effect.c.id))


def orm_update() -> None:
    db.session.execute(update(Effect).where(Effect.order_ref == REF).values(stage="again"))


def text_after_a_block_comment() -> None:
    db.session.execute(
        text("/* audit */ UPDATE effect SET stage = 'again' WHERE order_ref = :ref"), {"ref": REF}
    )


def text_after_a_line_comment() -> None:
    db.session.execute(text("-- note\nDELETE FROM effect WHERE order_ref = :ref"), {"ref": REF})


def text_with_cte() -> None:
    db.session.execute(
        text(
            "WITH ids AS (SELECT id FROM effect WHERE order_ref = :ref) "
            "UPDATE effect SET stage = 'again' WHERE id IN (SELECT id FROM ids)"
        ),
        {"ref": REF},
    )


def driver_sql() -> None:
    db.session.connection().exec_driver_sql(
        "INSERT INTO effect (order_ref, stage) VALUES ('guarded', 'again')"
    )


def data_modifying_cte() -> None:
    changed = (
        update(effect)
        .where(effect.c.order_ref == REF)
        .values(stage="again")
        .returning(effect.c.id)
        .cte("changed")
    )
    db.session.execute(select(changed.c.id)).all()


def data_modifying_cte_as_text() -> None:
    db.session.execute(
        text(
            "WITH changed AS (UPDATE effect SET stage = 'again' WHERE order_ref = :ref "
            "RETURNING id) SELECT id FROM changed"
        ),
        {"ref": REF},
    ).all()


WRITES: dict[str, Callable[[], None]] = {
    write.__name__: write
    for write in (
        orm_flush,
        orm_update,
        core_insert,
        core_insert_returning,
        core_update,
        core_update_with_cte,
        core_delete,
        core_delete_with_cte,
        core_delete_returning,
        text_after_a_block_comment,
        text_after_a_line_comment,
        text_with_cte,
        driver_sql,
        data_modifying_cte,
        data_modifying_cte_as_text,
    )
}
POSTGRESQL_ONLY = {data_modifying_cte.__name__, data_modifying_cte_as_text.__name__}
# MariaDB accepts WITH before SELECT and INSERT ... SELECT only: these never run there.
REFUSED_BY_MARIADB = {
    core_update_with_cte.__name__,
    core_delete_with_cte.__name__,
    text_with_cte.__name__,
}
EVERYWHERE = sorted(set(WRITES) - POSTGRESQL_ONLY)


def seed_a_row(app: Flask) -> None:
    """A row for the writes to change, committed before any request."""
    with app.app_context():
        db.session.add(Effect(order_ref=REF, stage="seeded"))
        db.session.commit()


def rows(app: Flask) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(Effect.stage).where(Effect.order_ref == REF)))


@pytest.fixture
def stage_errors(app: Flask) -> list[StageError]:
    errors: list[StageError] = []

    @app.errorhandler(StageError)
    def record(error: StageError) -> tuple[str, int]:
        errors.append(error)
        return "stage misuse", 500

    return errors


@pytest.fixture
def sent_to_database(app: Flask) -> Iterator[list[str]]:
    """The statements the database executed, from the start of the test."""
    sent: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *context: Any) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", record)
    yield sent
    event.remove(engine, "after_cursor_execute", record)


@pytest.fixture
def write_in_a_completed_stage(app: Flask) -> None:
    @app.post("/completed/<form>")
    @idempotent
    def completed(form: str) -> dict[str, bool]:
        with stage("seeded") as seeded:
            if seeded.pending:
                db.session.add(Effect(order_ref=REF, stage="seeded"))
            else:
                WRITES[form]()
        if request.headers.get("X-Fail"):
            raise RuntimeError("failure injected after the stage")
        return {"ok": True}


def check_refused_in_a_completed_stage(
    app: Flask,
    client: FlaskClient,
    form: str,
    stage_errors: list[StageError],
    sent_to_database: list[str],
) -> None:
    first = client.post(f"/completed/{form}", headers=headers(form, **{"X-Fail": "1"}))
    assert first.status_code == 500
    assert rows(app) == ["seeded"]
    sent_to_database.clear()

    assert client.post(f"/completed/{form}", headers=headers(form)).status_code == 500
    sent_by_the_retry = list(sent_to_database)
    assert [type(error) for error in stage_errors] == [StageError]
    assert "already completed" in str(stage_errors[0])
    assert not [statement for statement in sent_by_the_retry if "effect" in statement.lower()]
    assert rows(app) == ["seeded"]
    [key] = stored_keys(app)
    assert key.completed_stages == ["seeded"]
    assert key.locked_at is None


@pytest.mark.parametrize("form", EVERYWHERE)
@pytest.mark.usefixtures("write_in_a_completed_stage")
def test_a_write_in_a_completed_stage_is_refused_before_it_reaches_the_database(
    app: Flask,
    client: FlaskClient,
    form: str,
    stage_errors: list[StageError],
    sent_to_database: list[str],
) -> None:
    check_refused_in_a_completed_stage(app, client, form, stage_errors, sent_to_database)


@pytest.mark.parametrize("database_kind", ["postgresql"])
@pytest.mark.parametrize("form", sorted(POSTGRESQL_ONLY))
@pytest.mark.usefixtures("write_in_a_completed_stage")
def test_a_data_modifying_cte_in_a_completed_stage_is_refused_on_postgresql(
    app: Flask,
    client: FlaskClient,
    database_kind: str,
    form: str,
    stage_errors: list[StageError],
    sent_to_database: list[str],
) -> None:
    check_refused_in_a_completed_stage(app, client, form, stage_errors, sent_to_database)


def runs_on(database_kind: str, form: str) -> bool:
    """Whether the database accepts the statement at all: only PostgreSQL runs an UPDATE
    inside a CTE, and MariaDB accepts no WITH before UPDATE or DELETE."""
    if form in POSTGRESQL_ONLY:
        return database_kind == "postgresql"
    return not (form in REFUSED_BY_MARIADB and database_kind == "mariadb")


@pytest.mark.parametrize(
    ("database_kind", "form"),
    [(kind, form) for kind in DATABASES for form in sorted(WRITES) if runs_on(kind, form)],
)
def test_a_write_before_a_stage_outside_any_stage_is_counted_and_the_stage_raises(
    app: Flask, client: FlaskClient, database_kind: str, form: str, stage_errors: list[StageError]
) -> None:
    seed_a_row(app)

    @app.post("/unstaged/<form>")
    @idempotent
    def unstaged(form: str) -> dict[str, bool]:
        WRITES[form]()
        with stage("after"):
            pass
        return {"ok": True}

    assert client.post(f"/unstaged/{form}", headers=headers(form)).status_code == 500
    assert [type(error) for error in stage_errors] == [StageError]
    assert "outside any stage" in str(stage_errors[0])
    assert rows(app) == ["seeded"]
    [key] = stored_keys(app)
    assert (key.recovery_point, key.locked_at) == ("started", None)


# MariaDB accepts no WITH before UPDATE or DELETE.
@pytest.mark.parametrize("database_kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("form", [core_update_with_cte.__name__, text_with_cte.__name__])
def test_a_write_that_begins_with_with_rolls_back_with_its_failed_stage(
    app: Flask, client: FlaskClient, database_kind: str, form: str
) -> None:
    seed_a_row(app)

    @app.post("/fails/<form>")
    @idempotent
    def fails(form: str) -> dict[str, bool]:
        with stage("changed") as changed:
            if changed.pending:
                WRITES[form]()
                if request.headers.get("X-Fail"):
                    raise RuntimeError("failure injected after the write")
        return {"ok": True}

    failed = client.post(f"/fails/{form}", headers=headers(form, **{"X-Fail": "1"}))
    assert failed.status_code == 500
    assert rows(app) == ["seeded"]
    [key] = stored_keys(app)
    assert (key.completed_stages, key.locked_at) == ([], None)

    assert client.post(f"/fails/{form}", headers=headers(form)).status_code == 200
    assert rows(app) == ["again"]


def test_select_for_update_in_a_completed_stage_is_a_read(app: Flask, client: FlaskClient) -> None:
    @app.post("/locks")
    @idempotent
    def locks() -> dict[str, int]:
        with stage("seeded") as seeded:
            if seeded.pending:
                db.session.add(Effect(order_ref=REF, stage="seeded"))
            locked = db.session.scalars(
                select(Effect).where(Effect.order_ref == REF).with_for_update()
            ).all()
        if request.headers.get("X-Fail"):
            raise RuntimeError("failure injected after the stage")
        return {"locked": len(locked)}

    assert client.post("/locks", headers=headers("locks", **{"X-Fail": "1"})).status_code == 500
    resumed = client.post("/locks", headers=headers("locks"))
    assert resumed.status_code == 200
    assert resumed.json == {"locked": 1}


# The view's own commit() and rollback() ------------------------------------------------------


def test_commit_in_a_view_is_refused_nothing_is_committed_and_a_retry_runs(
    app: Flask, client: FlaskClient, stage_errors: list[StageError]
) -> None:
    @app.post("/commits")
    @idempotent
    def commits() -> dict[str, bool]:
        db.session.add(Effect(order_ref="commits", stage="charged"))
        if request.headers.get("X-Commit"):
            db.session.commit()
        return {"ok": True}

    refused = client.post("/commits", headers=headers("c", **{"X-Commit": "1"}))
    assert refused.status_code == 500
    [error] = stage_errors
    assert "let the extension commit" in str(error)
    assert "stage()" in str(error)
    assert "begin_nested()" in str(error)
    assert effects(app, "commits") == {}
    [key] = stored_keys(app)
    assert (key.recovery_point, key.locked_at, key.response_code) == ("started", None, None)

    retried = client.post("/commits", headers=headers("c"))
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers
    assert effects(app, "commits") == {"charged": 1}


@pytest.mark.parametrize("with_savepoint_open", [False, True])
def test_commit_inside_a_stage_is_refused_and_the_stage_commits_nothing(
    app: Flask, client: FlaskClient, stage_errors: list[StageError], with_savepoint_open: bool
) -> None:
    @app.post("/commits-in-stage")
    @idempotent
    def commits_in_stage() -> dict[str, bool]:
        with stage("reserved") as reserved:
            if reserved.pending:
                db.session.add(Effect(order_ref="commits", stage="reserved"))
                if with_savepoint_open:
                    db.session.begin_nested()
                    db.session.add(Effect(order_ref="commits", stage="in-savepoint"))
                db.session.commit()
        return {"ok": True}

    assert client.post("/commits-in-stage", headers=headers("c")).status_code == 500
    assert [type(error) for error in stage_errors] == [StageError]
    assert effects(app, "commits") == {}
    [key] = stored_keys(app)
    assert (key.recovery_point, key.completed_stages, key.locked_at) == ("started", [], None)


def test_rollback_in_a_stage_is_refused_so_the_stage_is_not_recorded_as_done(
    app: Flask, client: FlaskClient, stage_errors: list[StageError]
) -> None:
    @app.post("/rolls-back")
    @idempotent
    def rolls_back() -> dict[str, bool]:
        with stage("charged") as charged:
            if charged.pending:
                db.session.add(Effect(order_ref="rolls-back", stage="charged"))
                db.session.flush()
                if request.headers.get("X-Roll-Back"):
                    db.session.rollback()
        return {"ok": True}

    refused = client.post("/rolls-back", headers=headers("r", **{"X-Roll-Back": "1"}))
    assert refused.status_code == 500
    [error] = stage_errors
    assert "begin_nested()" in str(error)
    [key] = stored_keys(app)
    assert (key.recovery_point, key.completed_stages, key.locked_at) == ("started", [], None)
    assert effects(app, "rolls-back") == {}

    retried = client.post("/rolls-back", headers=headers("r"))
    assert retried.status_code == 200
    assert effects(app, "rolls-back") == {"charged": 1}


def test_a_savepoint_rolled_back_inside_a_stage_undoes_only_its_own_writes(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/savepoints")
    @idempotent
    def savepoints() -> dict[str, bool]:
        with stage("charged") as charged:
            if charged.pending:
                db.session.add(Effect(order_ref="savepoints", stage="kept"))
                with db.session.begin_nested():
                    db.session.add(Effect(order_ref="savepoints", stage="released"))
                try:
                    with db.session.begin_nested():
                        db.session.add(Effect(order_ref="savepoints", stage="undone"))
                        db.session.flush()
                        raise LookupError("the step this savepoint guards failed")
                except LookupError:
                    pass
                savepoint = db.session.begin_nested()
                db.session.add(Effect(order_ref="savepoints", stage="undone"))
                db.session.flush()
                savepoint.rollback()
        return {"ok": True}

    response = client.post("/savepoints", headers=headers("s"))
    assert response.status_code == 200
    assert effects(app, "savepoints") == {"kept": 1, "released": 1}
    [key] = stored_keys(app)
    assert key.completed_stages == ["charged"]


def test_a_view_without_idempotent_commits_as_it_likes(app: Flask, client: FlaskClient) -> None:
    @app.post("/plain")
    def plain() -> dict[str, bool]:
        db.session.add(Effect(order_ref="plain", stage="committed"))
        db.session.commit()
        db.session.add(Effect(order_ref="plain", stage="rolled-back"))
        db.session.rollback()
        return {"ok": True}

    assert client.post("/plain").status_code == 200
    assert effects(app, "plain") == {"committed": 1}


# Reading SQL text ----------------------------------------------------------------------------

WRITING_SQL = [
    "INSERT INTO effect (stage) VALUES ('x')",
    "insert into effect (stage) values ('x') returning id",
    "/* audit */ UPDATE effect SET stage = 'x'",
    "-- note\nDELETE FROM effect",
    "/* one */ -- two\n  /* three */ delete from effect",
    "  (INSERT INTO effect (stage) VALUES ('x'))",
    "WITH ids AS (SELECT id FROM effect) UPDATE effect SET stage = 'x' "
    "WHERE id IN (SELECT id FROM ids)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
    "INSERT INTO effect (id) SELECT i FROM n",
    "WITH changed AS (UPDATE effect SET stage = 'x' RETURNING id) SELECT id FROM changed",
    "WITH gone AS MATERIALIZED (DELETE FROM effect RETURNING id) SELECT count(*) FROM gone",
    "WITH a AS (SELECT 1), b AS (INSERT INTO effect (stage) VALUES ('x') RETURNING id) SELECT 1",
    "SELECT 1; DELETE FROM effect",
    'UPDATE "effect" SET stage = 1',
    'TRUNCATE "effect"',
    "REPLACE INTO effect (id, stage) VALUES (1, 'x')",
    "MERGE INTO effect USING source ON effect.id = source.id WHEN MATCHED THEN DELETE",
]
READING_SQL = [
    "SELECT * FROM effect",
    "SELECT * FROM effect WHERE id IN (1, 2) FOR UPDATE",
    "SELECT * FROM effect FOR NO KEY UPDATE SKIP LOCKED",
    "WITH ids AS (SELECT id FROM effect) SELECT * FROM effect WHERE id IN (SELECT id FROM ids)",
    "WITH ids AS (SELECT id FROM effect) SELECT * FROM ids FOR UPDATE",
    "SELECT 'UPDATE effect SET stage = 1' AS text",
    "SELECT 1 /* ; DELETE FROM effect */",
    "SELECT 1 -- ; DELETE FROM effect",
    'SELECT "update", "delete" FROM effect',
    "SELECT effect.update FROM effect",
    "SELECT replace(stage, 'a', 'b') FROM effect",
    "SELECT (REPLACE(stage, 'a', 'b')) FROM effect",
    "SELECT 'it''s (DELETE FROM effect' FROM effect",
    "SAVEPOINT sa_savepoint_1",
    "ROLLBACK TO SAVEPOINT sa_savepoint_1",
    "",
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mariadb"])
@pytest.mark.parametrize("sql", WRITING_SQL)
def test_sql_text_that_writes(sql: str, dialect: str) -> None:
    assert sql_writes(sql, syntax_of(dialect))


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mariadb"])
@pytest.mark.parametrize("sql", READING_SQL)
def test_sql_text_that_reads(sql: str, dialect: str) -> None:
    assert not sql_writes(sql, syntax_of(dialect))


@pytest.mark.parametrize(
    ("sql", "dialect", "writes"),
    [
        # MySQL: a backslash escapes a quote, '#' starts a comment, /*! ... */ is run.
        ("SELECT 'it\\'s' ; UPDATE effect SET stage = 1", "mariadb", True),
        ("SELECT 1 # ; UPDATE effect SET stage = 1", "mariadb", False),
        ("/*!50000 UPDATE effect SET stage = 1 */", "mariadb", True),
        ("SELECT `update` FROM effect", "mariadb", False),
        # PostgreSQL: comments nest; $$ and E'' quote.
        ("/* a /* b */ ; UPDATE effect SET stage = 1 */ SELECT 1", "postgresql", False),
        ("/* a /* b */ ; UPDATE effect SET stage = 1", "mariadb", True),
        ("SELECT $$ ; UPDATE effect SET stage = 1 $$", "postgresql", False),
        ("SELECT $body$ ; DELETE FROM effect $body$", "postgresql", False),
        ("SELECT E'it\\'s ; DELETE FROM effect'", "postgresql", False),
        # SQLite: brackets quote a name.
        ("SELECT [update] FROM effect", "sqlite", False),
    ],
)
def test_sql_text_in_each_dialects_own_syntax(sql: str, dialect: str, writes: bool) -> None:
    assert sql_writes(sql, syntax_of(dialect)) is writes
