"""Running a stage's transaction at the isolation level it asks for, never a weaker one.

Medusa runs each phase of a request through ``atomicPhase_(work, isolation)``; cart completion
asks for ``SERIALIZABLE``. Here a stage (``stage(name, isolation_level=...)``), a whole view
(``@idempotent(isolation_level=...)``: every stage and the final commit) or a ``work_stage``
names the level with SQLAlchemy's names. The transaction is begun at that level on the session's
connection, and SQLAlchemy puts the connection back to the engine's level when it returns to
the pool, so a pooled connection never keeps a stage's level.

A level can only be set before a transaction begins. Medusa's fault was to ask for it on a
transaction already open, where it is silently not applied. Here, when the view has read
something before the stage (its writes outside stages are refused anyway, see stage.py), that
read-only transaction is rolled back first (the ORM reloads what it loaded, in the stage's
transaction), so the stage never runs at another level than the one asked for.

SQLite offers ``SERIALIZABLE`` (its default) and ``READ UNCOMMITTED``. Python's sqlite3 begins
a transaction only at the first write, so two stages could both read before either writes: a
``SERIALIZABLE`` stage on SQLite begins with ``BEGIN IMMEDIATE``, taking the write lock before
its first read, as serializability needs.
"""

from __future__ import annotations

import sqlite3
from typing import Literal, get_args

from sqlalchemy.orm import Session

from .errors import ConfigurationError

IsolationLevel = Literal["SERIALIZABLE", "REPEATABLE READ", "READ COMMITTED", "READ UNCOMMITTED"]
ISOLATION_LEVELS: tuple[str, ...] = get_args(IsolationLevel)

# What each dialect offers of the levels above (SQLAlchemy also offers AUTOCOMMIT, which is
# not a transaction's level at all).
_OFFERED = {
    "postgresql": frozenset(ISOLATION_LEVELS),
    "mysql": frozenset(ISOLATION_LEVELS),
    "mariadb": frozenset(ISOLATION_LEVELS),
    "sqlite": frozenset({"SERIALIZABLE", "READ UNCOMMITTED"}),
}


def checked_level(level: object, where: str) -> IsolationLevel | None:
    """``level`` if it is one of the four names (or None), else ``ConfigurationError``."""
    if level is None or level in ISOLATION_LEVELS:
        return level  # type: ignore[return-value]
    raise ConfigurationError(
        f"{where}: isolation_level must be one of {', '.join(ISOLATION_LEVELS)}, not {level!r}"
    )


def check_offered(level: IsolationLevel, dialect_name: str, where: str) -> None:
    """Refuse, before anything runs, a level the database does not offer."""
    offered = _OFFERED.get(dialect_name, frozenset())
    if level not in offered:
        raise ConfigurationError(
            f"{where}: {dialect_name} does not offer the isolation level {level}; it offers "
            f"{', '.join(sorted(offered)) or 'none of the standard levels'}"
        )


def begin_at(session: Session, level: IsolationLevel) -> None:
    """Begin the session's next transaction at ``level``. The session must have no
    transaction open (the caller ends a read-only one first)."""
    connection = session.connection(execution_options={"isolation_level": level})
    if level == "SERIALIZABLE" and connection.dialect.name == "sqlite":
        _begin_immediate(connection.connection.driver_connection)


def _begin_immediate(driver_connection: sqlite3.Connection | None) -> None:
    legacy = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)
    if (
        driver_connection is not None
        and getattr(driver_connection, "autocommit", legacy) == legacy
        and driver_connection.isolation_level is not None
        and not driver_connection.in_transaction
    ):
        driver_connection.execute("BEGIN IMMEDIATE")
