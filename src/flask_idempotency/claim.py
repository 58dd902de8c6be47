"""Claiming a key, in statements built once per table and dialect.

A claim inserts the key already locked, or locks an existing key that may be worked on: one
that is unlocked and unfinished with the same fingerprint (a retry resuming), one whose lock is
older than the lock timeout (a dead holder), or one that has expired (it starts afresh). Every
claim writes a new ``lock_token``, so the caller learns from the token in the row it gets back
whether it holds the key, and otherwise what state the key is in.

A replay must cost no more than one indexed read, so the key is read first, with the database's
verdict on whether it may be claimed, and a key that may not be is only read, never locked. On
PostgreSQL that first statement also inserts a new key already claimed (``INSERT ... ON
CONFLICT DO NOTHING`` in a CTE, which locks nothing when the key is there), so a first request
is claimed in one statement too. A key that is there and claimable (or, elsewhere, absent) is
claimed in one atomic statement that decides again, since another request may have claimed it
since the read: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`` on PostgreSQL and
SQLite, ``INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING`` on MariaDB (10.5+).

Statements are built once with bound parameters (see ``CLAIM_PARAMETERS``) and every time in
them is the database's (see database_clock.py); SQLAlchemy then compiles each once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Table,
    and_,
    bindparam,
    case,
    exists,
    literal,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

from .database_clock import DatabaseClock
from .model import STARTED

# The parameters a claim is run with; "ttl" and "stale" are clock offsets (DatabaseClock.offset):
# the key's time to live, and minus the lock timeout.
CLAIM_PARAMETERS = (
    "scope",
    "idempotency_key",
    "request_method",
    "request_params",
    "request_host",
    "request_path",
    "fingerprint",
    "lock_token",
    "ttl",
    "stale",
)
# The label of the read's verdict: may this key be claimed now?
CLAIMABLE = "claimable"


@dataclass(frozen=True)
class ClaimStatements:
    """What claiming a key takes on one dialect."""

    # Runs first: the key's row with the database's CLAIMABLE verdict. A replay, a 409 or a 422
    # is decided by it alone, and so, on PostgreSQL, is a new key, which it inserts already
    # claimed. The claim runs only when the key is there but claimable, or absent elsewhere.
    read: Executable
    # Returns the key's row after the claim: claimed (its lock_token is the caller's) or not.
    claim: Executable
    # True when the claim may return no row (an upsert whose WHERE refused a row that another
    # request claimed since the read): the read then tells what the key is.
    may_return_nothing: bool


def claim_statements(table: Table, dialect_name: str) -> ClaimStatements:
    clock = DatabaseClock(dialect_name)
    if dialect_name == "postgresql":
        claim = _on_conflict(postgresql.insert, table, clock)
        return ClaimStatements(_insert_or_read(table, clock), claim, may_return_nothing=True)
    if dialect_name in ("mysql", "mariadb"):
        return ClaimStatements(_read(table, clock), _mysql(table, clock), may_return_nothing=False)
    if dialect_name == "sqlite":
        claim = _on_conflict(sqlite.insert, table, clock)
        return ClaimStatements(_read(table, clock), claim, may_return_nothing=True)
    raise NotImplementedError(f"flask-idempotency does not support the {dialect_name} dialect")


# Columns a claim sets anew when the key has expired; the lock columns are set on every claim.
_RESET_COLUMNS = (
    "created_at",
    "request_method",
    "request_params",
    "request_host",
    "request_path",
    "fingerprint",
    "recovery_point",
    "completed_stages",
    "response_code",
    "response_body",
    "response_bytes",
    "response_headers",
    "response_kept",
)


def _new_row(table: Table, clock: DatabaseClock) -> dict[str, ColumnElement[Any]]:
    """The values of a newly claimed key, as bound parameters and the database's clock."""

    def parameter(name: str) -> ColumnElement[Any]:
        return bindparam(name, type_=table.c[name].type)

    now = clock.now()
    return {
        "scope": parameter("scope"),
        "idempotency_key": parameter("idempotency_key"),
        "created_at": now,
        "expires_at": clock.later("ttl"),
        "locked_at": now,
        "lock_token": parameter("lock_token"),
        "request_method": parameter("request_method"),
        "request_params": parameter("request_params"),
        "request_host": parameter("request_host"),
        "request_path": parameter("request_path"),
        "fingerprint": parameter("fingerprint"),
        "recovery_point": literal(STARTED, table.c.recovery_point.type),
        "completed_stages": literal([], table.c.completed_stages.type),
        "response_code": null(),
        "response_body": null(),
        "response_bytes": null(),
        "response_headers": null(),
        "response_kept": true(),
    }


def _identifies(table: Table) -> Sequence[ColumnElement[bool]]:
    return (
        table.c.scope == bindparam("scope", type_=table.c.scope.type),
        table.c.idempotency_key == bindparam("idempotency_key", type_=table.c.idempotency_key.type),
    )


def _expired(columns: Any, clock: DatabaseClock) -> ColumnElement[bool]:
    return columns.expires_at <= clock.now()  # type: ignore[no-any-return]


def _claimable(columns: Any, clock: DatabaseClock) -> ColumnElement[bool]:
    """Whether the key whose columns these are may be claimed now."""
    lock_free = or_(columns.locked_at.is_(None), columns.locked_at < clock.later("stale"))
    resumable = and_(
        ~_expired(columns, clock),
        columns.response_code.is_(None),
        columns.fingerprint == bindparam("fingerprint", type_=columns.fingerprint.type),
    )
    return and_(lock_free, or_(_expired(columns, clock), resumable))


def _read(table: Table, clock: DatabaseClock) -> Executable:
    return select(*table.c, _claimable(table.c, clock).label(CLAIMABLE)).where(*_identifies(table))


def _insert_or_read(table: Table, clock: DatabaseClock) -> Executable:
    """PostgreSQL: a new key inserted already claimed, or else the key as read. ``ON CONFLICT
    DO NOTHING`` takes no lock and writes nothing when the key is there, so for a replay this is
    the read, at the cost of an index probe; a first request is claimed in this one statement.
    A key committed by another request after this statement's snapshot is neither inserted nor
    seen: no row comes back, and the caller goes on to the claim."""
    inserted = (
        postgresql.insert(table)
        .values(_new_row(table, clock))
        .on_conflict_do_nothing(index_elements=[table.c.scope, table.c.idempotency_key])
        .returning(*table.c, true().label(CLAIMABLE))
        .cte("inserted")
    )
    existing = select(*table.c, _claimable(table.c, clock).label(CLAIMABLE)).where(
        *_identifies(table), ~exists(select(inserted.c.id))
    )
    return select(*inserted.c).union_all(existing)


def _assignments(
    table: Table, proposed: Any, clock: DatabaseClock
) -> dict[str, ColumnElement[Any]]:
    """For PostgreSQL and SQLite, which evaluate every assignment against the row as it was:
    the lock always, the rest only when the key had expired."""
    expired = _expired(table.c, clock)
    assignments: dict[str, ColumnElement[Any]] = {
        "lock_token": proposed.lock_token,
        "locked_at": proposed.locked_at,
        "expires_at": case((expired, proposed.expires_at), else_=table.c.expires_at),
    }
    for column in _RESET_COLUMNS:
        assignments[column] = case((expired, proposed[column]), else_=table.c[column])
    return assignments


def _on_conflict(insert: Any, table: Table, clock: DatabaseClock) -> Executable:
    """PostgreSQL's and SQLite's upsert, which take the key only where it is claimable."""
    upsert = insert(table).values(_new_row(table, clock))
    statement: Executable = upsert.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.idempotency_key],
        set_=_assignments(table, upsert.excluded, clock),
        where=_claimable(table.c, clock),
    ).returning(*table.c)
    return statement


def _mysql(table: Table, clock: DatabaseClock) -> Executable:
    # By default MariaDB evaluates ON DUPLICATE KEY UPDATE assignments left to right, each
    # seeing the ones before it; under sql_mode=SIMULTANEOUS_ASSIGNMENT each sees the row as it
    # was. The statement must mean the same either way. The lock token is assigned first, from
    # the row as it was. Every later assignment asks "does this claim take the key?" as
    # "the token is already ours (assigned before me) or the row as it was is claimable": in
    # simultaneous mode the first half is never true and the second is the decision itself; in
    # left-to-right mode, when the key was taken, the first half is true, and when it was not,
    # nothing earlier changed, so the second half still reads the row as it was. expires_at
    # comes last because the others ask whether the row had expired.
    upsert = mysql.insert(table).values(_new_row(table, clock))
    proposed = upsert.inserted
    token = bindparam("lock_token", type_=table.c.lock_token.type)
    taken = or_(table.c.lock_token == token, _claimable(table.c, clock))
    restart = and_(taken, _expired(table.c, clock))
    assignments: list[tuple[str, ColumnElement[Any]]] = [
        ("lock_token", case((_claimable(table.c, clock), token), else_=table.c.lock_token)),
        ("locked_at", case((taken, proposed.locked_at), else_=table.c.locked_at)),
    ]
    for column in _RESET_COLUMNS:
        assignments.append((column, case((restart, proposed[column]), else_=table.c[column])))
    assignments.append(
        ("expires_at", case((restart, proposed.expires_at), else_=table.c.expires_at))
    )
    return upsert.on_duplicate_key_update(assignments).returning(*table.c)
