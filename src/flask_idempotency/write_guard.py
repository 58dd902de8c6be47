"""Refusing database writes that would repeat work a retry must not repeat, and transaction
control that would split a view's work from the key's progress.

One listener on every engine looks at each statement about to be sent. While a request holds a
key it reports writes to that request's ``StageTracker``, which refuses a write inside a stage
that already completed (before the statement reaches the database) and remembers writes made
outside any stage. The extension's own statements carry an execution option and pass.

A write is known first from SQLAlchemy's own record of what it compiled: an insert, update or
delete (with or without CTEs and ``RETURNING``), or a statement with a CTE that is one.
SQLAlchemy does not look into what it holds only as text (``text()``, ``exec_driver_sql()``,
``from_statement()``), so the SQL is read as well (see ``sql_text``). On SQLite a write sent
outside a transaction first opens one, which Python's sqlite3 does not do for ``WITH ...``.

Two session listeners refuse a view's own ``commit()`` and ``rollback()`` with ``StageError``:
the extension commits each stage and the response together with the key's progress, and a
commit or rollback of the view's would record work as done that is not, or commit work a retry
repeats. Savepoints (``begin_nested()``) stay the view's to commit and roll back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.expression import UpdateBase

from .errors import StageError
from .internal import INTERNAL_OPTION, TRANSACTION_CONTROL_INFO
from .sql_text import sql_writes, syntax_of

_WHAT_TO_DO_INSTEAD = (
    "let the extension commit (it commits the view's writes with its response), use stage() "
    "for a step that must commit on its own, or db.session.begin_nested() for a savepoint you "
    "can roll back"
)
COMMIT_REFUSED = (
    "commit() inside an @idempotent view would commit work apart from the key's progress, and "
    f"a retry would run it again; {_WHAT_TO_DO_INSTEAD}"
)
ROLLBACK_REFUSED = (
    "rollback() inside an @idempotent view undoes work the key would then record as done; to "
    "give up, raise (the extension rolls back and a retry resumes); otherwise "
    f"{_WHAT_TO_DO_INSTEAD}"
)


class WriteObserver(Protocol):
    def observe_write(self) -> None: ...


def execution_writes(context: Any, statement: str) -> bool:
    """Whether the statement of this execution context writes to the database."""
    if context.isinsert or context.isupdate or context.isdelete:
        return True
    ctes = getattr(context.compiled, "ctes", None) or ()
    if any(isinstance(getattr(cte, "element", None), UpdateBase) for cte in ctes):
        return True
    # SQLAlchemy does not look inside text: text(), text().columns(), from_statement(text())
    # and exec_driver_sql() reach here as a select or as no kind at all.
    return sql_writes(statement, syntax_of(context.dialect.name))


# The StageTracker of the key held by the code running in this context: an @idempotent view
# or an idempotent_function. A context variable, not the request, so that code outside any
# request is guarded too, and each thread or task sees only its own.
_active_observer: ContextVar[WriteObserver | None] = ContextVar(
    "flask_idempotency_stage_tracker", default=None
)


@contextmanager
def observing(observer: WriteObserver) -> Iterator[None]:
    """Report this context's writes to ``observer`` while the block runs."""
    token = _active_observer.set(observer)
    try:
        yield
    finally:
        _active_observer.reset(token)


def active_observer() -> WriteObserver | None:
    return _active_observer.get()


def _before_cursor_execute(
    connection: Any,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    observer = active_observer()
    if observer is None or context is None:
        return
    if context.execution_options.get(INTERNAL_OPTION):
        return
    if execution_writes(context, statement):
        observer.observe_write()
        _open_pysqlite_transaction(connection)


def _open_pysqlite_transaction(connection: Any) -> None:
    """Make sure a write joins the transaction the extension will commit.

    Python's sqlite3 opens a transaction by itself only before a statement whose first word is
    INSERT, UPDATE, DELETE or REPLACE: ``WITH ... UPDATE`` sent outside a transaction would
    commit at once, apart from its stage, and be repeated by a retry.
    """
    if connection.dialect.driver != "pysqlite":
        return
    driver_connection = connection.connection.driver_connection
    legacy = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)
    if (
        getattr(driver_connection, "autocommit", legacy) == legacy
        and driver_connection.isolation_level is not None
        and not driver_connection.in_transaction
    ):
        # As sqlite3 itself would: "BEGIN", or "BEGIN IMMEDIATE" when the app asked for it.
        driver_connection.execute(f"BEGIN {driver_connection.isolation_level}")


def _controlled_by_a_view(session: Session) -> bool:
    return not session.info.get(TRANSACTION_CONTROL_INFO) and active_observer() is not None


def _before_commit(session: Session) -> None:
    # A savepoint's release fires this too, while it is still the innermost transaction; the
    # outermost transaction's commit comes after every savepoint is released.
    if not session.in_nested_transaction() and _controlled_by_a_view(session):
        raise StageError(COMMIT_REFUSED)


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # There is no event before a rollback: this one follows it. A savepoint rolled back, or
    # the inner transaction of a flush that failed, has a parent and is left alone.
    if previous_transaction.parent is None and _controlled_by_a_view(session):
        raise StageError(ROLLBACK_REFUSED)


def install() -> None:
    """Listen on every engine and every session, once per process."""
    for target, name, listener in (
        (Engine, "before_cursor_execute", _before_cursor_execute),
        (Session, "before_commit", _before_commit),
        (Session, "after_soft_rollback", _after_soft_rollback),
    ):
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
