"""``@idempotent``: make a view safe to retry.

The request's key is claimed in one statement before the view runs. A finished key replays its
stored response; a key held by another request answers 409 (or waits for it, if configured);
otherwise the view runs holding the key, and its writes commit together with the stored response.
An unhandled exception stores nothing: the key is unlocked at its last committed stage so that a
retry resumes there.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, overload

from flask import Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import parse_set_header

from .config import ScopeFunction, Settings
from .database_errors import KeyStorageError, describe, is_internal, is_retryable, is_unavailable
from .errors import (
    DatabaseUnavailable,
    IdempotencyError,
    IdempotencyKeyRequired,
    LockLost,
    RequestBodyTooLarge,
    RequestInFlight,
)
from .fingerprint import RequestFingerprint, fingerprint_request
from .key_header import ClientKey, parse_key_header
from .model import IdempotencyKey
from .scope import current_scope, resolve_scope
from .service import IdempotencyKeyService
from .stage import StageTracker
from .state import get_state
from .stored_response import StoredResponse, replay
from .write_guard import observing

P = ParamSpec("P")
ViewReturn = ResponseReturnValue | Awaitable[ResponseReturnValue]

logger = logging.getLogger("flask_idempotency")

# Idempotent by definition (RFC 9110, section 9.2.2): never claimed, never stored.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The header value echoed on this request's response, kept with the request.
KEY_ECHO_ENVIRON_KEY = "flask_idempotency.key_echo"
# First pause between polls of a key in flight; it doubles up to the cap.
_FIRST_POLL_DELAY = 0.05
_MAX_POLL_DELAY = 0.5
# Before the n-th rerun after a deadlock, wait up to this times 2**n seconds, at random, so
# that the transactions that collided do not collide again in step.
_RETRY_BACKOFF = 0.01


@overload
def idempotent(view: Callable[P, ViewReturn], /) -> Callable[P, Response]: ...


@overload
def idempotent(
    *,
    required: bool | None = None,
    wait: float | None = None,
    scope: ScopeFunction | str | None = None,
) -> Callable[[Callable[P, ViewReturn]], Callable[P, Response]]: ...


def idempotent(
    view: Callable[P, ViewReturn] | None = None,
    /,
    *,
    required: bool | None = None,
    wait: float | None = None,
    scope: ScopeFunction | str | None = None,
) -> Callable[P, Response] | Callable[[Callable[P, ViewReturn]], Callable[P, Response]]:
    """Make a view safe to retry under an ``Idempotency-Key``.

    ``required`` overrides ``IDEMPOTENCY_REQUIRED``, ``wait`` (seconds) ``IDEMPOTENCY_WAIT``
    and ``scope`` (a callable or a scope name) ``IDEMPOTENCY_SCOPE`` for this view. Sync and
    async views are supported. GET, HEAD and OPTIONS requests pass through untouched: they are
    idempotent by definition, and nothing is stored for them.
    """
    view_scope = None if scope is None else resolve_scope(scope, where="@idempotent(scope=...)")

    def decorate(view: Callable[P, ViewReturn]) -> Callable[P, Response]:
        @functools.wraps(view)
        def idempotent_view(*args: P.args, **kwargs: P.kwargs) -> Response:
            if request.method in SAFE_METHODS:
                return current_app.make_response(current_app.ensure_sync(view)(*args, **kwargs))
            return _handle(view, args, kwargs, required=required, wait=wait, scope=view_scope)

        return idempotent_view

    return decorate if view is None else decorate(view)


def echo_key_header(response: Response) -> Response:
    """Put the key in use on every response, errors included, and let browsers read it."""
    echo: str | None = request.environ.get(KEY_ECHO_ENVIRON_KEY)
    if echo is None:
        return response
    header = get_state().settings.header
    response.headers[header] = echo
    exposed = parse_set_header(response.headers.get("Access-Control-Expose-Headers"))
    if header not in exposed:
        exposed.add(header)
        response.headers["Access-Control-Expose-Headers"] = exposed.to_header()
    return response


def _handle(
    view: Callable[..., ViewReturn],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    required: bool | None,
    wait: float | None,
    scope: ScopeFunction | None,
) -> Response:
    state = get_state()
    settings = state.settings
    client_key = parse_key_header(
        request.headers.getlist(settings.header),
        header=settings.header,
        max_length=settings.max_key_length,
    )
    if client_key is None:
        if settings.required if required is None else required:
            raise IdempotencyKeyRequired(f"This endpoint requires an {settings.header} header.")
        client_key = ClientKey(str(uuid.uuid4()), quoted=False)
    fingerprint = _fingerprint(settings)
    caller_scope = current_scope(scope or settings.scope)
    request.environ[KEY_ECHO_ENVIRON_KEY] = client_key.header_value()
    key = _claim(state.service, settings, client_key, fingerprint, caller_scope, wait)
    if key.is_finished:
        logger.debug("replaying key %s", _abbreviated(client_key.value))
        return replay(key)
    return _run_holding(view, args, kwargs, state.service, settings, key)


def _fingerprint(settings: Settings) -> RequestFingerprint:
    limit = settings.max_body_size
    if limit is not None and (
        request.max_content_length is None or limit < request.max_content_length
    ):
        request.max_content_length = limit
    try:
        return fingerprint_request(request)
    except RequestEntityTooLarge:
        raise RequestBodyTooLarge(
            f"The request body is larger than the {request.max_content_length} bytes accepted."
        ) from None


def _claim(
    service: IdempotencyKeyService,
    settings: Settings,
    client_key: ClientKey,
    fingerprint: RequestFingerprint,
    scope: str,
    wait: float | None,
) -> IdempotencyKey:
    deadline = time.monotonic() + (settings.wait if wait is None else wait)
    poll_delay = _FIRST_POLL_DELAY
    retries_left = settings.database_retries
    while True:
        try:
            return service.initialize_request(
                client_key.value,
                fingerprint.method,
                fingerprint.stored_params(settings.redacted_fields, keep=settings.store_params),
                fingerprint.path,
                scope=scope,
                fingerprint=fingerprint.digest,
            )
        except RequestInFlight:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            # Poll with a deadline: the holder commits its result in its own time.
            time.sleep(min(poll_delay, remaining))
            poll_delay = min(poll_delay * 2, _MAX_POLL_DELAY)
        except SQLAlchemyError as error:
            _rollback_quietly(service)
            if retries_left and is_retryable(error):
                retries_left -= 1
                _back_off(settings.database_retries - retries_left)
                continue
            if is_unavailable(error):
                _log_unavailable("claiming", client_key.value, error)
                raise DatabaseUnavailable() from error
            _raise_without_values(error, client_key.value)
            raise


def _run_holding(
    view: Callable[..., ViewReturn],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    service: IdempotencyKeyService,
    settings: Settings,
    key: IdempotencyKey,
) -> Response:
    tracker = StageTracker(service, key)
    retries_left = settings.database_retries
    with observing(tracker):
        try:
            while True:
                try:
                    response = _call_view(view, args, kwargs)
                    if response.status_code in settings.unstored_statuses:
                        # "Come back later": nothing of this attempt is kept, and the retry runs.
                        service.release(key)
                        return response
                    stored = StoredResponse.capture(response, settings.stored_headers)
                    service.finish(key, stored.values())
                    return response
                except DBAPIError as error:
                    if not (retries_left and is_retryable(error)):
                        raise
                    # The database rolled the transaction back, perhaps at its COMMIT; what it did
                    # commit (earlier stages) stays done. Resume from what it holds, not from what
                    # this attempt believed.
                    retries_left -= 1
                    service.rollback()
                    _back_off(settings.database_retries - retries_left)
                    service.reload(key)
                    tracker.restart()
        except LockLost:
            # Another request holds the key now: it is not ours to release.
            raise
        except BaseException as error:
            _release_quietly(service, key)
            if isinstance(error, SQLAlchemyError) and is_unavailable(error):
                _log_unavailable("running", key.idempotency_key, error)
                raise DatabaseUnavailable() from error
            _raise_without_values(error, key.idempotency_key)
            raise


def _call_view(
    view: Callable[..., ViewReturn], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Response:
    app = current_app
    try:
        result = app.ensure_sync(view)(*args, **kwargs)
    except IdempotencyError:
        raise
    except HTTPException as error:
        # abort(404) and the like are responses the view chose: stored like returned ones.
        handled = app.handle_http_exception(error)
        if isinstance(handled, HTTPException):
            return handled.get_response()  # type: ignore[return-value]
        result = handled
    return app.make_response(result)


def _release_quietly(service: IdempotencyKeyService, key: IdempotencyKey) -> None:
    try:
        service.release(key)
    except SQLAlchemyError as error:
        # The database is out of reach; the lock lapses after IDEMPOTENCY_LOCK_TIMEOUT.
        logger.warning(
            "could not unlock key %s: %s", _abbreviated(key.idempotency_key), describe(error)
        )
        _rollback_quietly(service)


def _rollback_quietly(service: IdempotencyKeyService) -> None:
    try:
        service.rollback()
    except SQLAlchemyError as error:
        logger.debug("rollback failed: %s", describe(error))


def _raise_without_values(error: BaseException, key: str) -> None:
    """An error of the extension's own statement is logged by Flask as a traceback; the
    database's message may quote the key, the scope or the params, so it does not travel on."""
    if is_internal(error):
        raise KeyStorageError(
            f"the database refused a statement of idempotency key {_abbreviated(key)}: "
            f"{describe(error)}"
        ) from None


def _back_off(attempt: int) -> None:
    time.sleep(random.uniform(0, _RETRY_BACKOFF * 2**attempt))


def _log_unavailable(doing: str, key: str, error: SQLAlchemyError) -> None:
    # The client gets a 503 without details; whoever runs the server needs the cause.
    logger.warning(
        "database trouble while %s key %s; answering 503: %s",
        doing,
        _abbreviated(key),
        describe(error),
    )


def _abbreviated(key: str) -> str:
    """Enough of a key to correlate log lines, not enough to replay someone's response."""
    return key[:6] + "…" if len(key) > 6 else "…"
