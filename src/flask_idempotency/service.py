"""``IdempotencyKeyService``: Medusa's operations on keys, with locking that cannot be skipped.

Every change to a key that a holder makes (a stage, the final response, a release) is *fenced*:
it names the ``lock_token`` the holder got when it claimed the key, so a holder that outlived
the lock timeout and was taken over changes nothing and its transaction is rolled back.

Keys handed out are detached snapshots of the row; change them only through this service. A
snapshot changes only after the commit that records the change succeeded: when a commit fails,
the key in memory still says what the database holds (``reload`` reads it again to be sure).
Every time is the database's (see database_clock.py).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ColumnElement, Row, Table, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached

from .autocommit import autocommitted
from .claim import CLAIMABLE, ClaimStatements, claim_statements
from .config import Settings
from .database_clock import DatabaseClock
from .database_errors import is_retryable
from .errors import (
    DatabaseUnavailable,
    IdempotencyError,
    IdempotencyKeyMismatch,
    IdempotencyKeyNotFound,
    LockLost,
    RequestInFlight,
    StageError,
)
from .fingerprint import digest_of
from .internal import INTERNAL, TRANSACTION_CONTROL_INFO
from .isolation import IsolationLevel, begin_at, check_offered, checked_level
from .maintenance import KeyMaintenance
from .model import FINISHED, STARTED, IdempotencyKey
from .stored_response import kept_within

# How often a claim is rerun when PostgreSQL's snapshot missed a row committed meanwhile.
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class RecoveryPoint:
    """A stage's result in ``work_stage``: the key advances to this recovery point."""

    name: str


@dataclass(frozen=True)
class FinalResponse:
    """A stage's result in ``work_stage``: the request is finished with this response."""

    code: int
    body: Any = None


StageResult = RecoveryPoint | FinalResponse | Mapping[str, Any]

# How a claim took its key (Claim.taken).
CREATED = "created"
RESUMED = "resumed"
TAKEN_OVER = "taken_over"


@dataclass(frozen=True)
class Claim:
    """What claiming a key gave: the key, and how the caller came to hold it.

    ``taken`` is ``CREATED`` for a key new to the database (or expired, starting afresh),
    ``RESUMED`` for an unlocked key a retry resumes, ``TAKEN_OVER`` for a key whose holder
    outlived the lock timeout, and None when the caller does not hold it (a finished key to
    replay).
    """

    key: IdempotencyKey
    taken: str | None


def _how_claimed(found: Row[Any] | None, token: str) -> str:
    """From the key's row as read before the claim (None when it was not there)."""
    if found is None or found.lock_token == token:
        return CREATED
    if found.locked_at is not None:
        return TAKEN_OVER
    if found.response_code is not None or found.recovery_point == FINISHED:
        # Claimable though finished: it had expired.
        return CREATED
    return RESUMED


class IdempotencyKeyService:
    """Medusa's operations on keys, and what ``@idempotent`` and ``stage()`` build on.

    One per app, as ``idempotency.service``; it works in the app's ``db.session``.
    """

    def __init__(self, db: SQLAlchemy, model: type[IdempotencyKey], settings: Settings) -> None:
        self.db = db
        self.model = model
        self.settings = settings
        # Built on first use per dialect (the engine is the app's to make), then reused.
        self._claim_statements: dict[str, ClaimStatements] = {}
        # Set on a service bound to a caller's session by with_transaction().
        self._caller_session: Session | None = None

    @property
    def session(self) -> Session:
        if self._caller_session is not None:
            return self._caller_session
        # The scoped session's current Session itself, not the proxy, which lacks some of a
        # Session's methods (in_transaction(), get_transaction()).
        return self.db.session()

    @property
    def owns_transaction(self) -> bool:
        """False for a service bound to a caller's transaction by ``with_transaction``."""
        return self._caller_session is None

    def with_transaction(self, session: Session) -> IdempotencyKeyService:
        """This service bound to a ``Session`` the caller owns, as Medusa's
        ``withTransaction(manager)``.

        Its operations run in that session's transaction and never commit or roll it back: the
        caller's commit or rollback decides, for the key's changes and the caller's own work
        together. Where the service would commit it flushes; ``work_stage`` runs its callback in
        a savepoint, rolled back if the callback fails. The fence still holds: a change by a
        holder whose lock was taken over raises ``LockLost``, and the caller must then roll back.
        An isolation level cannot be asked for inside a transaction that is already open.
        """
        bound = copy.copy(self)
        bound._caller_session = session
        return bound

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[attr-defined, no-any-return]

    @property
    def clock(self) -> DatabaseClock:
        return DatabaseClock(self.session.get_bind().dialect.name)

    def _now(self, offset: timedelta = timedelta(0)) -> ColumnElement[Any]:
        """The database's time plus ``offset``, for statements made per call (not the hot
        path)."""
        if not offset:
            return self.clock.now()
        return self.clock.later_by(offset.total_seconds())

    def commit(self) -> None:
        """Commit the session's transaction on the extension's behalf (bound to a caller's
        transaction: flush, and leave the commit to the caller)."""
        if not self.owns_transaction:
            self.session.flush()
            return
        with self._controlling_transaction():
            self.session.commit()

    def rollback(self) -> None:
        """Roll the session's transaction back on the extension's behalf (bound to a caller's
        transaction: nothing, the caller decides)."""
        if not self.owns_transaction:
            return
        with self._controlling_transaction():
            self.session.rollback()

    @contextmanager
    def _controlling_transaction(self) -> Iterator[None]:
        info = self.session.info
        info[TRANSACTION_CONTROL_INFO] = True
        try:
            yield
        finally:
            info.pop(TRANSACTION_CONTROL_INFO, None)

    # Medusa's operations -------------------------------------------------------------------

    def initialize_request(
        self,
        header_key: str | None,
        method: str,
        params: Any,
        path: str,
        *,
        scope: str = "",
        fingerprint: str | None = None,
    ) -> IdempotencyKey:
        """Claim the key for this request: create it locked, or lock it to resume it.

        Returns a key this caller now holds (``lock_token`` set) or, for a finished key, the
        key with its stored response to replay. A key the server has not seen is stored under
        the name the client gave (Medusa replaced it); without one a uuid4 is made.
        Raises ``IdempotencyKeyMismatch`` (422) when the key was used for another request and
        ``RequestInFlight`` (409) while another request holds it.
        """
        return self.claim(
            header_key, method, params, path, scope=scope, fingerprint=fingerprint
        ).key

    def claim(
        self,
        header_key: str | None,
        method: str,
        params: Any,
        path: str,
        *,
        scope: str = "",
        fingerprint: str | None = None,
        ttl: float | None = None,
        lock_timeout: float | None = None,
        host: str = "",
    ) -> Claim:
        """``initialize_request``, saying how the key was taken (see ``Claim``); ``ttl`` and
        ``lock_timeout`` (seconds) override the settings for this key; ``host`` is the host
        the request was sent to, which the fingerprint covers."""
        clock = self.clock
        claim = {
            "scope": scope,
            "idempotency_key": header_key or str(uuid.uuid4()),
            "request_method": method,
            "request_params": params,
            "request_host": host,
            "request_path": path,
            "fingerprint": fingerprint or digest_of(method, path, params, host=host),
            "lock_token": uuid.uuid4().hex,
            "ttl": clock.offset(self.settings.key_ttl if ttl is None else ttl),
            "stale": clock.offset(
                -(self.settings.lock_timeout if lock_timeout is None else lock_timeout)
            ),
        }
        row, found = self._claim_row(clock.dialect_name, claim)
        key = self._snapshot(row)
        if key.lock_token == claim["lock_token"]:
            return Claim(key, _how_claimed(found, claim["lock_token"]))
        # The claim takes every expired key that no live request holds, so a key it refused
        # is live: its fingerprint and its state decide.
        refusal: IdempotencyError
        if key.fingerprint != claim["fingerprint"]:
            refusal = IdempotencyKeyMismatch()
        elif key.is_finished:
            return Claim(key, None)
        else:
            refusal = RequestInFlight()
        refusal.key = key
        raise refusal

    def create(self, payload: Mapping[str, Any] | None = None) -> IdempotencyKey:
        """Insert a new, unlocked key; ``idempotency_key`` defaults to a uuid4."""
        values: dict[str, Any] = {
            "idempotency_key": str(uuid.uuid4()),
            "scope": "",
            "created_at": self._now(),
            "expires_at": self._now(timedelta(seconds=self.settings.key_ttl)),
            "request_method": "",
            "request_params": {},
            "request_host": "",
            "request_path": "",
            "recovery_point": STARTED,
            "completed_stages": [],
        }
        values.update(payload or {})
        values.setdefault(
            "fingerprint",
            digest_of(
                values["request_method"],
                values["request_path"],
                values["request_params"],
                host=values["request_host"],
            ),
        )
        row = self.session.execute(
            self.table.insert().values(values).returning(*self.table.c), execution_options=INTERNAL
        ).one()
        self.commit()
        return self._snapshot(row)

    def retrieve(self, key_or_selector: str | Mapping[str, Any]) -> IdempotencyKey:
        """One key, by its ``idempotency_key`` (in the default scope "") or by column values."""
        if isinstance(key_or_selector, str):
            selector: Mapping[str, Any] = {"scope": "", "idempotency_key": key_or_selector}
        else:
            selector = key_or_selector
        row = self.session.execute(
            select(*self.table.c).filter_by(**selector).limit(1), execution_options=INTERNAL
        ).first()
        if row is None:
            raise IdempotencyKeyNotFound()
        return self._snapshot(row)

    def lock(self, key: IdempotencyKey) -> IdempotencyKey:
        """Take the lock of an unfinished key; ``RequestInFlight`` if someone else holds it."""
        token = uuid.uuid4().hex
        stale_before = self._now(-timedelta(seconds=self.settings.lock_timeout))
        result = self.session.execute(
            update(self.table)
            .where(
                self.table.c.id == key.id,
                self.table.c.response_code.is_(None),
                or_(self.table.c.locked_at.is_(None), self.table.c.locked_at < stale_before),
            )
            .values(locked_at=self._now(), lock_token=token),
            execution_options=INTERNAL,
        )
        self.commit()
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise RequestInFlight()
        key.lock_token = token
        return self.reload(key)

    def update(self, key: IdempotencyKey, update: Mapping[str, Any]) -> IdempotencyKey:
        """Change fields of a key this caller holds, and commit."""
        self._commit_fenced(key, dict(update))
        return key

    def reload(self, key: IdempotencyKey) -> IdempotencyKey:
        """Read again what the database holds for a key this caller holds, into ``key``.

        After a failed commit this is the truth to resume from. Raises ``LockLost`` when
        another request has taken the key over meanwhile.
        """
        row = self.session.execute(
            select(*self.table.c).where(self.table.c.id == key.id), execution_options=INTERNAL
        ).first()
        self.commit()
        if row is None or row.lock_token != key.lock_token:
            raise LockLost()
        for name, value in row._mapping.items():
            setattr(key, name, value)
        return key

    def work_stage(
        self,
        key: IdempotencyKey,
        callback: Callable[[Session], StageResult],
        *,
        isolation_level: IsolationLevel | None = None,
    ) -> IdempotencyKey:
        """Run ``callback`` and record its result in one transaction, as Medusa's workStage
        (its ``atomicPhase_``).

        The callback gets the session and returns ``RecoveryPoint(name)`` to advance the key,
        or ``FinalResponse(code, body)`` to finish it; Medusa's dicts (``{"recovery_point":
        ...}`` or ``{"response_code": ..., "response_body": ...}``) are accepted too. If the
        callback raises, or the lock was lost, everything is rolled back. ``isolation_level``
        runs the transaction at that level. A serialization failure or deadlock runs the
        callback again in a new transaction, up to ``IDEMPOTENCY_DATABASE_RETRIES`` times, as
        Medusa's ``shouldRetryTransaction_``; then ``DatabaseUnavailable``.
        """
        level = checked_level(isolation_level, "work_stage")
        if not self.owns_transaction:
            return self._work_stage_in_savepoint(key, callback, level)
        retries_left = self.settings.database_retries
        while True:
            try:
                if level is not None:
                    check_offered(level, self.clock.dialect_name, "work_stage")
                    self.rollback()  # a level applies only from a transaction's start
                    begin_at(self.session, level)
                values = self._stage_values(key, callback(self.session))
                self._commit_fenced(key, values)
                return key
            except DBAPIError as error:
                self.rollback()
                if not is_retryable(error):
                    raise
                if not retries_left:
                    raise DatabaseUnavailable() from error
                retries_left -= 1
            except BaseException:
                self.rollback()
                raise

    def _work_stage_in_savepoint(
        self,
        key: IdempotencyKey,
        callback: Callable[[Session], StageResult],
        level: IsolationLevel | None,
    ) -> IdempotencyKey:
        if level is not None:
            raise StageError(
                "work_stage(isolation_level=...) cannot change the level of a transaction you "
                "already hold; begin your session's transaction at that level instead"
            )
        with self.session.begin_nested():
            values = self._stage_values(key, callback(self.session))
            self._commit_fenced(key, values)
        return key

    # What the decorator and stage() build on ----------------------------------------------

    def advance(self, key: IdempotencyKey, stage_name: str) -> None:
        """Commit the open transaction together with the key's move to ``stage_name``, and
        renew the lock in the same statement: a live request keeps its key however many stages
        it has, so the lock timeout need only exceed the longest stage."""
        self._commit_fenced(key, self._advance_values(key, stage_name))

    def finish(self, key: IdempotencyKey, response_values: Mapping[str, Any]) -> None:
        """Commit the open transaction together with the stored response; unlock the key."""
        self._commit_fenced(
            key,
            {
                **kept_within(response_values, self.settings.max_response_size),
                "recovery_point": FINISHED,
                "locked_at": None,
                "lock_token": None,
            },
        )

    def release(self, key: IdempotencyKey) -> None:
        """Unlock a key at its last committed recovery point, so that a retry resumes."""
        self.rollback()
        self.session.execute(
            update(self.table)
            .where(self.table.c.id == key.id, self.table.c.lock_token == key.lock_token)
            .values(locked_at=None, lock_token=None),
            execution_options=INTERNAL,
        )
        self.commit()

    def purge_expired(self, batch_size: int | None = None) -> int:
        """Delete expired keys that nobody holds, ``batch_size`` per transaction (see
        ``KeyMaintenance.purge`` for more choices)."""
        maintenance = KeyMaintenance(self.session, self.table, self.settings, commit=self.commit)
        return maintenance.purge(batch_size)

    # Internals ------------------------------------------------------------------------------

    def _claim_row(
        self, dialect_name: str, claim: dict[str, Any]
    ) -> tuple[Row[Any], Row[Any] | None]:
        """The key's row after the claim, and as first read (None when it was not there)."""
        statements = self._claim_statements.get(dialect_name)
        if statements is None:
            statements = claim_statements(self.table, dialect_name)
            self._claim_statements[dialect_name] = statements
        for _ in range(_CLAIM_ATTEMPTS):
            if self.owns_transaction:
                with autocommitted(self.session) as committed_itself:
                    row, found = self._claim_once(statements, claim)
            else:
                row, found, committed_itself = *self._claim_once(statements, claim), False
            if not committed_itself:
                self.commit()
            if row is not None:
                return row, found
        raise RequestInFlight()

    def _claim_once(
        self, statements: ClaimStatements, claim: dict[str, Any]
    ) -> tuple[Row[Any] | None, Row[Any] | None]:
        execute = self.session.execute
        # A replay, a 409 or a 422 is decided by this read alone; nothing is locked.
        found = execute(statements.read, claim, execution_options=INTERNAL).first()
        if found is not None and (
            found.lock_token == claim["lock_token"] or not found._mapping[CLAIMABLE]
        ):
            return found, found
        row = execute(statements.claim, claim, execution_options=INTERNAL).first()
        if row is None and statements.may_return_nothing:
            row = execute(statements.read, claim, execution_options=INTERNAL).first()
        return row, found

    def _commit_fenced(self, key: IdempotencyKey, values: dict[str, Any]) -> None:
        """Send the session's pending writes, change the key if this caller still holds it,
        and commit; only then does ``key`` take the new values."""
        if key.lock_token is None:
            raise RuntimeError("this key is not locked by the caller; claim or lock() it first")
        self.session.flush()
        result = self.session.execute(
            update(self.table)
            .where(self.table.c.id == key.id, self.table.c.lock_token == key.lock_token)
            .values(values),
            execution_options=INTERNAL,
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            self.rollback()
            raise LockLost()
        self.commit()
        for name, value in values.items():
            # Times computed by the database are not known here; reload() reads them.
            if not isinstance(value, ColumnElement):
                setattr(key, name, value)

    def _advance_values(self, key: IdempotencyKey, stage_name: str) -> dict[str, Any]:
        return {
            "recovery_point": stage_name,
            "completed_stages": [*key.completed_stages, stage_name],
            "locked_at": self._now(),
        }

    def _stage_values(self, key: IdempotencyKey, result: StageResult) -> dict[str, Any]:
        if isinstance(result, RecoveryPoint):
            result = {"recovery_point": result.name}
        elif isinstance(result, FinalResponse):
            result = {"response_code": result.code, "response_body": result.body}
        if "recovery_point" in result and "response_code" not in result:
            return self._advance_values(key, result["recovery_point"])
        if "response_code" in result:
            return {
                "response_code": result["response_code"],
                "response_body": result.get("response_body"),
                "response_kept": True,
                "recovery_point": FINISHED,
                "locked_at": None,
                "lock_token": None,
            }
        raise TypeError(
            "a work_stage callback returns RecoveryPoint(name) or FinalResponse(code, body)"
        )

    def _snapshot(self, row: Row[Any]) -> IdempotencyKey:
        columns = self.table.c
        key = self.model(**{name: value for name, value in row._mapping.items() if name in columns})
        make_transient_to_detached(key)
        return key
