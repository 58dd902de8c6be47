"""Claiming a key and working while holding it: what every entry point shares.

``@idempotent`` runs a view and stores its response; ``idempotent_function`` runs a function
and stores its return value. Waiting for a key in flight, retrying what the database refused
in a way worth retrying, resuming from the last committed stage, releasing the key when the
work fails, the signals and the log lines are the same for both, and live here.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from . import signals
from .config import Settings
from .database_errors import KeyStorageError, describe, is_internal, is_retryable, is_unavailable
from .errors import DatabaseUnavailable, IdempotencyKeyMismatch, LockLost, RequestInFlight
from .isolation import IsolationLevel
from .log_fields import KeyInLog, abbreviated, logger
from .model import IdempotencyKey
from .service import CREATED, TAKEN_OVER, Claim, IdempotencyKeyService
from .stage import StageTracker
from .write_guard import observing

Result = TypeVar("Result")

# First pause between polls of a key in flight; it doubles up to the cap.
_FIRST_POLL_DELAY = 0.05
_MAX_POLL_DELAY = 0.5
# Before the n-th rerun after a deadlock, wait up to this times 2**n seconds, at random, so
# that the transactions that collided do not collide again in step.
_RETRY_BACKOFF = 0.01


@dataclass(frozen=True)
class KeyRequest:
    """What a caller asks to claim, and how patiently."""

    key: str
    scope: str
    method: str
    # Where the request was sent: the fingerprint covers it ("" for a function).
    host: str
    path: str
    # As stored in request_params (redacted, or nothing at all, as configured).
    params: Any
    fingerprint: str
    # Seconds; None takes the app's setting.
    ttl: float | None = None
    lock_timeout: float | None = None
    wait: float | None = None


def claim(service: IdempotencyKeyService, settings: Settings, wanted: KeyRequest) -> Claim:
    """Claim ``wanted``, waiting up to its ``wait`` for a request in flight with it, and
    retrying a claim the database refused for a conflict. A finished key comes back unclaimed
    (``Claim.taken`` None) for its stored result to be replayed."""
    deadline = time.monotonic() + (settings.wait if wanted.wait is None else wanted.wait)
    poll_delay = _FIRST_POLL_DELAY
    retries_left = settings.database_retries
    while True:
        try:
            taken = service.claim(
                wanted.key,
                wanted.method,
                wanted.params,
                wanted.path,
                scope=wanted.scope,
                fingerprint=wanted.fingerprint,
                ttl=wanted.ttl,
                lock_timeout=wanted.lock_timeout,
                host=wanted.host,
            )
        except RequestInFlight as error:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _announce_refusal(signals.request_conflicted, error, wanted, "in flight: 409")
                raise
            # Poll with a deadline: the holder commits its result in its own time.
            time.sleep(min(poll_delay, remaining))
            poll_delay = min(poll_delay * 2, _MAX_POLL_DELAY)
        except IdempotencyKeyMismatch as error:
            _announce_refusal(signals.key_mismatched, error, wanted, "reused for another request")
            raise
        except SQLAlchemyError as error:
            rollback_quietly(service)
            if retries_left and is_retryable(error):
                retries_left -= 1
                back_off(settings.database_retries - retries_left)
                continue
            if is_unavailable(error):
                log_unavailable("claiming", wanted.key, error)
                raise DatabaseUnavailable() from error
            raise_without_values(error, wanted.key)
            raise
        else:
            _announce_claim(taken, wanted)
            return taken


def run_holding(
    service: IdempotencyKeyService,
    settings: Settings,
    key: IdempotencyKey,
    attempt: Callable[[], Result],
    keep: Callable[[Result], None],
    isolation_level: IsolationLevel | None = None,
) -> Result:
    """Run ``attempt`` while holding ``key``, then ``keep`` its result (store it and finish
    the key, or release it); both inside the stage tracking that ``stage()`` relies on.

    A conflict the database reports (at a statement or at a COMMIT) reruns the attempt from
    the key's last committed recovery point, up to IDEMPOTENCY_DATABASE_RETRIES times. Any
    other failure releases the key at that point, so that a retry resumes there; a lost lock
    is left to the request that holds it now. ``isolation_level`` is the level of every
    transaction of the attempt (see isolation.py).
    """
    tracker = StageTracker(service, key, isolation_level=isolation_level)
    retries_left = settings.database_retries
    with observing(tracker):
        try:
            while True:
                try:
                    tracker.begin_view_transaction()
                    result = attempt()
                    keep(result)
                    return result
                except DBAPIError as error:
                    if not (retries_left and is_retryable(error)):
                        raise
                    # The database rolled the transaction back, perhaps at its COMMIT; what it
                    # did commit (earlier stages) stays done. Resume from what it holds, not
                    # from what this attempt believed.
                    retries_left -= 1
                    service.rollback()
                    back_off(settings.database_retries - retries_left)
                    service.reload(key)
                    tracker.restart()
        except LockLost:
            # Another request holds the key now: it is not ours to release.
            raise
        except BaseException as error:
            release_quietly(service, key)
            if isinstance(error, SQLAlchemyError) and is_unavailable(error):
                log_unavailable("running", key.idempotency_key, error)
                raise DatabaseUnavailable() from error
            raise_without_values(error, key.idempotency_key)
            raise


def _announce_claim(taken: Claim, wanted: KeyRequest) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    key = taken.key
    where = KeyInLog(wanted.key, wanted.scope)
    if taken.taken is None:
        logger.debug("replaying %s", where)
        signals.request_replayed.send(app, key=key)
    elif taken.taken == CREATED:
        logger.debug("claimed new %s", where)
        signals.key_created.send(app, key=key)
    elif taken.taken == TAKEN_OVER:
        # A worker died holding it, or a request outlived the lock timeout: worth knowing.
        logger.warning(
            "took over %s at recovery point %r: its holder outlived the lock timeout",
            where,
            key.recovery_point,
        )
        signals.lock_taken_over.send(app, key=key)
    else:
        logger.info("resuming %s at recovery point %r", where, key.recovery_point)


def _announce_refusal(
    signal: Any, error: RequestInFlight | IdempotencyKeyMismatch, wanted: KeyRequest, why: str
) -> None:
    logger.info("refused %s: %s", KeyInLog(wanted.key, wanted.scope), why)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signal.send(app, key=error.key)


def release_quietly(service: IdempotencyKeyService, key: IdempotencyKey) -> None:
    try:
        service.release(key)
    except SQLAlchemyError as error:
        # The database is out of reach; the lock lapses after IDEMPOTENCY_LOCK_TIMEOUT.
        logger.warning(
            "could not unlock key %s: %s", abbreviated(key.idempotency_key), describe(error)
        )
        rollback_quietly(service)


def rollback_quietly(service: IdempotencyKeyService) -> None:
    try:
        service.rollback()
    except SQLAlchemyError as error:
        logger.debug("rollback failed: %s", describe(error))


def raise_without_values(error: BaseException, key: str) -> None:
    """An error of the extension's own statement is logged by Flask as a traceback; the
    database's message may quote the key, the scope or the params, so it does not travel on."""
    if is_internal(error):
        raise KeyStorageError(
            f"the database refused a statement of idempotency key {abbreviated(key)}: "
            f"{describe(error)}"
        ) from None


def back_off(attempt: int) -> None:
    time.sleep(random.uniform(0, _RETRY_BACKOFF * 2**attempt))


def log_unavailable(doing: str, key: str, error: SQLAlchemyError) -> None:
    # The client gets a 503 without details; whoever runs the server needs the cause.
    logger.warning(
        "database trouble while %s key %s; answering 503: %s",
        doing,
        abbreviated(key),
        describe(error),
    )
