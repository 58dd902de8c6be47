"""Administering stored keys: what ``flask idempotency`` shows and changes.

Reads never fetch a stored response body or request params, which may hold personal data: a
key is described by its state, progress, lock, times, response status and size, and the
request's method and path. Every time is the database's (see database_clock.py): each read
also selects the database's clock, and ages are differences between the two. Every statement
carries the extension's ``INTERNAL`` execution option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from .config import Settings
from .database_clock import DatabaseClock
from .internal import INTERNAL

FINISHED_STATE = "finished"
IN_FLIGHT_STATE = "in flight"
RESUMABLE_STATE = "resumable"
EXPIRED_STATE = "expired"

# How many of a key's scopes an ambiguous lookup names.
_SCOPES_NAMED = 20


@dataclass(frozen=True)
class KeySummary:
    """A key as an administrator sees it. Times are naive UTC, as stored."""

    idempotency_key: str
    scope: str
    # FINISHED_STATE, IN_FLIGHT_STATE, RESUMABLE_STATE or EXPIRED_STATE.
    state: str
    recovery_point: str
    completed_stages: tuple[str, ...]
    # Seconds since the holder took or last renewed the lock, by the database's clock; None
    # when the key is not locked.
    lock_age: float | None
    created_at: datetime
    expires_at: datetime
    response_code: int | None
    # Bytes of the stored body; None when there is none (unfinished, or not kept).
    response_size: int | None
    response_kept: bool
    request_method: str
    request_path: str


@dataclass(frozen=True)
class KeyStatistics:
    total: int
    expired: int
    # Expired keys that the purge would delete now (no live request holds them).
    purgeable: int
    locked: int
    # Locked longer than the lock timeout: a retry may take them over.
    locks_past_timeout: int
    by_recovery_point: dict[str, int]


class NoSuchKey(LookupError):
    def __init__(self, idempotency_key: str, scope: str | None) -> None:
        super().__init__(idempotency_key, scope)
        self.idempotency_key = idempotency_key
        self.scope = scope


class KeyInSeveralScopes(LookupError):
    """A key asked for without a scope exists in more than one."""

    def __init__(self, idempotency_key: str, scopes: Sequence[str], more: bool) -> None:
        super().__init__(idempotency_key, scopes)
        self.idempotency_key = idempotency_key
        self.scopes = tuple(scopes)
        # Whether it exists in other scopes besides those named.
        self.more = more


class LockTooYoung(Exception):
    """The lock is younger than the lock timeout: its holder may still be running."""

    def __init__(self, key: KeySummary, lock_timeout: float) -> None:
        super().__init__(key.idempotency_key)
        self.key = key
        self.lock_timeout = lock_timeout


class LockChanged(Exception):
    """The lock was taken, renewed or released between reading the key and unlocking it."""

    def __init__(self, key: KeySummary) -> None:
        super().__init__(key.idempotency_key)
        self.key = key


@dataclass(frozen=True)
class Unlocked:
    """What ``unlock`` did: ``key`` is the key as read before; ``was_locked`` False means
    there was no lock to clear."""

    key: KeySummary
    was_locked: bool


class KeyMaintenance:
    """Administrative reads and changes of the key table.

    ``commit`` commits the session's transaction (``session.commit`` unless given: the
    service passes its own, which a view's write guard lets through).
    """

    def __init__(
        self,
        session: Session,
        table: Table,
        settings: Settings,
        *,
        commit: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.table = table
        self.settings = settings
        self._commit = commit or session.commit

    @property
    def clock(self) -> DatabaseClock:
        return DatabaseClock(self.session.get_bind().dialect.name)

    # Reading ------------------------------------------------------------------------------

    def find(self, idempotency_key: str, scope: str | None = None) -> KeySummary:
        """The key in ``scope``, or, when ``scope`` is None, in the only scope that has it.

        Raises ``NoSuchKey``, or ``KeyInSeveralScopes`` when no scope was given and several
        have the key.
        """
        return self._summary(self._find_row(idempotency_key, scope))

    def list_keys(
        self,
        *,
        locked: bool = False,
        expired: bool = False,
        recovery_point: str | None = None,
        scope: str | None = None,
        limit: int = 50,
    ) -> list[KeySummary]:
        """Keys newest first, at most ``limit``; each filter given narrows the list."""
        columns = self.table.c
        conditions: list[ColumnElement[bool]] = []
        if locked:
            conditions.append(columns.locked_at.is_not(None))
        if expired:
            conditions.append(self._expired())
        if recovery_point is not None:
            conditions.append(columns.recovery_point == recovery_point)
        if scope is not None:
            conditions.append(columns.scope == scope)
        rows = self._execute(
            self._described()
            .where(*conditions)
            .order_by(columns.created_at.desc(), columns.id.desc())
            .limit(limit)
        ).all()
        self._commit()
        return [self._summary(row) for row in rows]

    def statistics(self) -> KeyStatistics:
        columns = self.table.c
        expired = self._expired()
        rows = self._execute(
            select(
                columns.recovery_point,
                func.count(),
                func.count(case((expired, 1))),
                func.count(case((self._purgeable(0), 1))),
                func.count(case((columns.locked_at.is_not(None), 1))),
                func.count(case((self._lock_past_timeout(), 1))),
            ).group_by(columns.recovery_point)
        ).all()
        self._commit()
        by_recovery_point = {row[0]: int(row[1]) for row in rows}
        return KeyStatistics(
            total=sum(by_recovery_point.values()),
            expired=sum(int(row[2]) for row in rows),
            purgeable=sum(int(row[3]) for row in rows),
            locked=sum(int(row[4]) for row in rows),
            locks_past_timeout=sum(int(row[5]) for row in rows),
            by_recovery_point=by_recovery_point,
        )

    # Purging ------------------------------------------------------------------------------

    def count_purgeable(self, older_than: float = 0) -> int:
        """How many keys ``purge(older_than=...)`` would delete now."""
        count = self._execute(
            select(func.count()).select_from(self.table).where(self._purgeable(older_than))
        ).scalar_one()
        self._commit()
        return int(count)

    def purge(
        self,
        batch_size: int | None = None,
        *,
        older_than: float = 0,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Delete expired keys that no live request holds, ``batch_size`` per transaction
        (default ``IDEMPOTENCY_PURGE_BATCH_SIZE``), oldest expiry first; only keys that expired
        at least ``older_than`` seconds ago. Returns how many were deleted, or with
        ``dry_run`` how many would be, deleting nothing. ``progress`` is called with the
        number deleted by each batch once it is committed."""
        if dry_run:
            return self.count_purgeable(older_than)
        batch_size = batch_size or self.settings.purge_batch_size
        columns = self.table.c
        purgeable = self._purgeable(older_than)
        next_batch = (
            select(columns.id).where(purgeable).order_by(columns.expires_at).limit(batch_size)
        )
        deleted = 0
        while True:
            ids = self.session.scalars(next_batch, execution_options=INTERNAL).all()
            in_batch = 0
            if ids:
                # Deleted by id, since MySQL refuses LIMIT in a DELETE's IN subquery; the
                # condition again, in case a request claimed one of them meanwhile.
                result = self._execute(delete(self.table).where(columns.id.in_(ids), purgeable))
                in_batch = result.rowcount
            self._commit()
            deleted += in_batch
            if progress is not None and in_batch:
                progress(in_batch)
            if len(ids) < batch_size:
                return deleted

    # Unlocking ----------------------------------------------------------------------------

    def unlock(
        self, idempotency_key: str, scope: str | None = None, *, force: bool = False
    ) -> Unlocked:
        """Clear the lock of a key, at its last committed recovery point, so a retry resumes.

        Refuses with ``LockTooYoung`` while the lock is younger than the lock timeout, unless
        ``force``. Only the lock that was read is cleared: if a request took, renewed or
        released it meanwhile, nothing changes and ``LockChanged`` is raised. A holder still
        running can no longer commit once its lock is cleared (its writes roll back).
        """
        row = self._find_row(idempotency_key, scope)
        key = self._summary(row)
        if row.locked_at is None and row.lock_token is None:
            return Unlocked(key, was_locked=False)
        lock_timeout = self.settings.lock_timeout
        if not force and key.lock_age is not None and key.lock_age < lock_timeout:
            raise LockTooYoung(key, lock_timeout)
        columns = self.table.c
        guard = [columns.id == row.id, columns.lock_token == row.lock_token]
        if not force:
            # advance() renews a lock without changing its token: judge its age again here.
            guard.append(self._lock_past_timeout())
        result = self._execute(
            update(self.table).where(*guard).values(locked_at=None, lock_token=None)
        )
        self._commit()
        if result.rowcount != 1:
            raise LockChanged(key)
        return Unlocked(key, was_locked=True)

    # Internals ----------------------------------------------------------------------------

    def _execute(self, statement: Any) -> Any:
        return self.session.execute(statement, execution_options=INTERNAL)

    def _described(self) -> Any:
        """A select of what describes a key, and the database's clock; never the stored
        response body or the request params."""
        columns = self.table.c
        return select(
            columns.id,
            columns.idempotency_key,
            columns.scope,
            columns.created_at,
            columns.expires_at,
            columns.locked_at,
            columns.lock_token,
            columns.request_method,
            columns.request_path,
            columns.response_code,
            columns.response_kept,
            func.length(columns.response_bytes).label("response_size"),
            columns.recovery_point,
            columns.completed_stages,
            self.clock.now().label("checked_at"),
        )

    def _find_row(self, idempotency_key: str, scope: str | None) -> Row[Any]:
        columns = self.table.c
        statement = self._described().where(columns.idempotency_key == idempotency_key)
        if scope is not None:
            statement = statement.where(columns.scope == scope)
        rows = self._execute(statement.order_by(columns.scope).limit(_SCOPES_NAMED + 1)).all()
        self._commit()
        if not rows:
            raise NoSuchKey(idempotency_key, scope)
        if len(rows) > 1:
            scopes = [row.scope for row in rows[:_SCOPES_NAMED]]
            raise KeyInSeveralScopes(idempotency_key, scopes, more=len(rows) > _SCOPES_NAMED)
        row: Row[Any] = rows[0]
        return row

    def _summary(self, row: Row[Any]) -> KeySummary:
        checked_at: datetime = row.checked_at
        lock_age = None if row.locked_at is None else (checked_at - row.locked_at).total_seconds()
        if row.expires_at <= checked_at:
            state = EXPIRED_STATE
        elif row.response_code is not None:
            state = FINISHED_STATE
        elif lock_age is not None and lock_age < self.settings.lock_timeout:
            state = IN_FLIGHT_STATE
        else:
            state = RESUMABLE_STATE
        return KeySummary(
            idempotency_key=row.idempotency_key,
            scope=row.scope,
            state=state,
            recovery_point=row.recovery_point,
            completed_stages=tuple(row.completed_stages or ()),
            lock_age=lock_age,
            created_at=row.created_at,
            expires_at=row.expires_at,
            response_code=row.response_code,
            response_size=None if row.response_size is None else int(row.response_size),
            response_kept=bool(row.response_kept),
            request_method=row.request_method,
            request_path=row.request_path,
        )

    def _expired(self) -> ColumnElement[bool]:
        return self.table.c.expires_at <= self.clock.now()

    def _lock_past_timeout(self) -> ColumnElement[bool]:
        return self.table.c.locked_at < self.clock.later_by(-self.settings.lock_timeout)

    def _purgeable(self, older_than: float) -> ColumnElement[bool]:
        """Expired at least ``older_than`` seconds ago, and held by no live request."""
        clock = self.clock
        columns = self.table.c
        expired_by = clock.later_by(-older_than) if older_than else clock.now()
        return (columns.expires_at <= expired_by) & or_(
            columns.locked_at.is_(None), self._lock_past_timeout()
        )
