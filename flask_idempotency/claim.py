"""Claiming a key in one atomic statement.

A claim inserts the key already locked, or locks an existing key that may be worked on: one
that is unlocked and unfinished with the same fingerprint (a retry resuming), one whose lock is
older than the lock timeout (a dead holder), or one that has expired (it starts afresh). Every
claim writes a new ``lock_token``; the statement hands back the row either way, so the caller
learns from the token whether it holds the key and otherwise what state the key is in, with no
second round trip where the dialect allows:

- PostgreSQL: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` inside a CTE, unioned with a plain
  read of the row for when the ``WHERE`` refused it.
- MariaDB/MySQL: ``INSERT ... ON DUPLICATE KEY UPDATE`` with conditional assignments, which
  always returns the row (MariaDB 10.5+ ``RETURNING``).
- SQLite: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING``, followed by a read of
  the row when the ``WHERE`` refused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Table,
    and_,
    case,
    exists,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

from .database_clock import database_now
from .model import STARTED


@dataclass(frozen=True)
class ClaimRequest:
    scope: str
    idempotency_key: str
    request_method: str
    request_params: Any
    request_path: str
    fingerprint: str
    lock_token: str
    lock_timeout: timedelta
    key_ttl: timedelta
    # Whose clock and SQL the statement speaks: times come from the database (database_clock).
    dialect_name: str

    def new_row(self) -> dict[str, Any]:
        now = database_now(self.dialect_name)
        return {
            "scope": self.scope,
            "idempotency_key": self.idempotency_key,
            "created_at": now,
            "expires_at": database_now(self.dialect_name, self.key_ttl),
            "locked_at": now,
            "lock_token": self.lock_token,
            "request_method": self.request_method,
            "request_params": self.request_params,
            "request_path": self.request_path,
            "fingerprint": self.fingerprint,
            "recovery_point": STARTED,
            "completed_stages": [],
            "response_code": None,
            "response_body": None,
            "response_bytes": None,
            "response_headers": None,
        }


@dataclass(frozen=True)
class ClaimStatement:
    statement: Executable
    # True when the statement may return no row and the row must then be read separately.
    may_need_read: bool


# Columns a claim sets anew when the key has expired; the lock columns are set on every claim.
_RESET_COLUMNS = (
    "created_at",
    "request_method",
    "request_params",
    "request_path",
    "fingerprint",
    "recovery_point",
    "completed_stages",
    "response_code",
    "response_body",
    "response_bytes",
    "response_headers",
)


def claim_statement(table: Table, claim: ClaimRequest) -> ClaimStatement:
    dialect_name = claim.dialect_name
    if dialect_name == "postgresql":
        return ClaimStatement(_postgresql(table, claim), may_need_read=False)
    if dialect_name in ("mysql", "mariadb"):
        return ClaimStatement(_mysql(table, claim), may_need_read=False)
    if dialect_name == "sqlite":
        return ClaimStatement(_sqlite(table, claim), may_need_read=True)
    raise NotImplementedError(f"flask-idempotency does not support the {dialect_name} dialect")


def read_statement(table: Table, claim: ClaimRequest) -> Executable:
    return select(*table.c).where(*_identifies(table, claim))


def _identifies(table: Table, claim: ClaimRequest) -> Sequence[ColumnElement[bool]]:
    return (table.c.scope == claim.scope, table.c.idempotency_key == claim.idempotency_key)


def _expired(table: Table, claim: ClaimRequest) -> ColumnElement[bool]:
    return table.c.expires_at <= database_now(claim.dialect_name)


def _claimable(table: Table, claim: ClaimRequest) -> ColumnElement[bool]:
    stale_before = database_now(claim.dialect_name, -claim.lock_timeout)
    lock_free = or_(table.c.locked_at.is_(None), table.c.locked_at < stale_before)
    resumable = and_(
        ~_expired(table, claim),
        table.c.response_code.is_(None),
        table.c.fingerprint == claim.fingerprint,
    )
    return and_(lock_free, or_(_expired(table, claim), resumable))


def _new_value(table: Table, claim: ClaimRequest, column: str) -> ColumnElement[Any]:
    value = claim.new_row()[column]
    if value is None:
        return null()
    if isinstance(value, ColumnElement):
        return value
    return literal(value, table.c[column].type)


def _upsert_assignments(table: Table, claim: ClaimRequest) -> dict[str, ColumnElement[Any]]:
    # PostgreSQL and SQLite evaluate every assignment against the row as it was.
    expired = _expired(table, claim)
    assignments: dict[str, ColumnElement[Any]] = {
        "lock_token": literal(claim.lock_token),
        "locked_at": _new_value(table, claim, "locked_at"),
        "expires_at": case(
            (expired, _new_value(table, claim, "expires_at")), else_=table.c.expires_at
        ),
    }
    for column in _RESET_COLUMNS:
        assignments[column] = case(
            (expired, _new_value(table, claim, column)), else_=table.c[column]
        )
    return assignments


def _postgresql(table: Table, claim: ClaimRequest) -> Executable:
    upsert = postgresql.insert(table).values(claim.new_row())
    claimed = (
        upsert.on_conflict_do_update(
            index_elements=[table.c.scope, table.c.idempotency_key],
            set_=_upsert_assignments(table, claim),
            where=_claimable(table, claim),
        )
        .returning(*table.c)
        .cte("claimed")
    )
    # When the WHERE refuses the row, the CTE is empty and the plain read supplies the row.
    # That read sees the statement's snapshot, so in the rare race where the row was committed
    # after the snapshot it finds nothing, and the caller runs the claim again.
    unclaimed = select(*table.c).where(*_identifies(table, claim), ~exists(select(claimed.c.id)))
    return select(*claimed.c).union_all(unclaimed)


def _sqlite(table: Table, claim: ClaimRequest) -> Executable:
    upsert = sqlite.insert(table).values(claim.new_row())
    return upsert.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.idempotency_key],
        set_=_upsert_assignments(table, claim),
        where=_claimable(table, claim),
    ).returning(*table.c)


def _mysql(table: Table, claim: ClaimRequest) -> Executable:
    # By default MariaDB evaluates ON DUPLICATE KEY UPDATE assignments left to right, each
    # seeing the ones before it; under sql_mode=SIMULTANEOUS_ASSIGNMENT each sees the row as it
    # was. The statement must mean the same either way. The lock token is assigned first, from
    # the row as it was. Every later assignment asks "does this claim take the key?" as
    # "the token is already ours (assigned before me) or the row as it was is claimable": in
    # simultaneous mode the first half is never true and the second is the decision itself; in
    # left-to-right mode, when the key was taken, the first half is true, and when it was not,
    # nothing earlier changed, so the second half still reads the row as it was. expires_at
    # comes last because the others ask whether the row had expired.
    taken = or_(table.c.lock_token == claim.lock_token, _claimable(table, claim))
    restart = and_(taken, _expired(table, claim))
    assignments: list[tuple[str, ColumnElement[Any]]] = [
        (
            "lock_token",
            case((_claimable(table, claim), literal(claim.lock_token)), else_=table.c.lock_token),
        ),
        (
            "locked_at",
            case((taken, _new_value(table, claim, "locked_at")), else_=table.c.locked_at),
        ),
    ]
    for column in _RESET_COLUMNS:
        assignments.append(
            (column, case((restart, _new_value(table, claim, column)), else_=table.c[column]))
        )
    assignments.append(
        (
            "expires_at",
            case((restart, _new_value(table, claim, "expires_at")), else_=table.c.expires_at),
        )
    )
    upsert = mysql.insert(table).values(claim.new_row())
    return upsert.on_duplicate_key_update(assignments).returning(*table.c)
