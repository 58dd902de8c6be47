"""``@idempotent``: make a view safe to retry.

The request's key is claimed in one statement before the view runs. A finished key replays its
stored response; a key held by another request answers 409 (or waits for it, if configured);
otherwise the view runs holding the key, and its writes commit together with the stored response.
An unhandled exception stores nothing: the key is unlocked at its last committed stage so that a
retry resumes there.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, ParamSpec, overload

from flask import Response, current_app, request
from flask.sansio.scaffold import Scaffold
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import parse_set_header

from .config import ScopeFunction, Settings
from .errors import (
    IdempotencyError,
    IdempotencyKeyRequired,
    RequestBodyTooLarge,
)
from .fingerprint import RequestFingerprint, fingerprint_request
from .holding import KeyRequest, claim, run_holding
from .isolation import IsolationLevel, check_offered
from .key_header import ClientKey, parse_key_header
from .model import IdempotencyKey
from .options import SAFE_METHODS, EffectiveOptions, KeyOptions
from .scope import current_scope
from .service import IdempotencyKeyService
from .state import get_state
from .stored_response import StoredResponse, replay

P = ParamSpec("P")
ViewReturn = ResponseReturnValue | Awaitable[ResponseReturnValue]

# The header value echoed on this request's response, kept with the request.
KEY_ECHO_ENVIRON_KEY = "flask_idempotency.key_echo"
# The status and Retry-After seconds of an error this request raised, so that the header
# survives an @app.errorhandler that renders the error itself.
RETRY_AFTER_ENVIRON_KEY = "flask_idempotency.retry_after"
# Set on a view made by @idempotent: the options it was given.
OPTIONS_ATTRIBUTE = "__idempotency_options__"


@overload
def idempotent(view: Callable[P, ViewReturn], /) -> Callable[P, Response]: ...


@overload
def idempotent(
    *,
    required: bool | None = None,
    wait: float | None = None,
    scope: ScopeFunction | str | None = None,
    ttl: float | None = None,
    lock_timeout: float | None = None,
    methods: Iterable[str] | None = None,
    isolation_level: IsolationLevel | None = None,
) -> Callable[[Callable[P, ViewReturn]], Callable[P, Response]]: ...


def idempotent(
    view: Callable[P, ViewReturn] | None = None,
    /,
    *,
    required: bool | None = None,
    wait: float | None = None,
    scope: ScopeFunction | str | None = None,
    ttl: float | None = None,
    lock_timeout: float | None = None,
    methods: Iterable[str] | None = None,
    isolation_level: IsolationLevel | None = None,
) -> Callable[P, Response] | Callable[[Callable[P, ViewReturn]], Callable[P, Response]]:
    """Make a view safe to retry under an ``Idempotency-Key``.

    Each option overrides, for this view, its blueprint's (``Idempotency.protect``) and the
    app's setting: ``required`` (``IDEMPOTENCY_REQUIRED``), ``wait`` in seconds
    (``IDEMPOTENCY_WAIT``), ``scope``, a callable or a scope name (``IDEMPOTENCY_SCOPE``),
    ``ttl`` in seconds (``IDEMPOTENCY_KEY_TTL``) and ``lock_timeout`` in seconds
    (``IDEMPOTENCY_LOCK_TIMEOUT``). ``methods`` narrows the unsafe methods protected (default:
    all). ``isolation_level`` runs every stage's transaction and the final commit at that level
    (``"SERIALIZABLE"``, ``"REPEATABLE READ"``, ``"READ COMMITTED"``, ``"READ UNCOMMITTED"``).
    GET, HEAD and OPTIONS requests always pass through untouched: they are idempotent by
    definition, and nothing is stored for them. Sync and async views are supported.
    """
    options = KeyOptions.given(
        "@idempotent(...)",
        required=required,
        wait=wait,
        scope=scope,
        ttl=ttl,
        lock_timeout=lock_timeout,
        methods=methods,
        isolation_level=isolation_level,
    )

    def decorate(view: Callable[P, ViewReturn]) -> Callable[P, Response]:
        if isinstance(view, Scaffold) or not callable(view):
            # Wrapping a blueprint as if it were a view would protect nothing, silently.
            raise TypeError(
                f"@idempotent decorates a view function, not {view!r}; to protect every view "
                "of a blueprint or an app, use idempotency.protect(blueprint_or_app)"
            )

        @functools.wraps(view)
        def idempotent_view(*args: P.args, **kwargs: P.kwargs) -> Response:
            if request.method not in SAFE_METHODS:
                state = get_state()
                chosen = _chosen_options(options, state.protected)
                if chosen.protects(request.method):
                    return _protected(
                        view, args, kwargs, EffectiveOptions.of(chosen, state.settings)
                    )
            return current_app.make_response(current_app.ensure_sync(view)(*args, **kwargs))

        setattr(idempotent_view, OPTIONS_ATTRIBUTE, options)
        return idempotent_view

    return decorate if view is None else decorate(view)


def _chosen_options(view: KeyOptions, protected: MutableMapping[object, KeyOptions]) -> KeyOptions:
    """The view's options over those of the blueprints the request is routed through (the
    nearest first), then of the app, as given to ``Idempotency.protect``."""
    if not protected:
        return view
    options = view
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for name in request.blueprints:
        blueprint = app.blueprints.get(name)
        if blueprint is not None and blueprint in protected:
            options = options.over(protected[blueprint])
    if app in protected:
        options = options.over(protected[app])
    return options


def echo_key_header(response: Response) -> Response:
    """Put the key in use on every response, errors included, and let browsers read it; keep
    the Retry-After of an error the app rendered through its own error handler."""
    retry_after: tuple[int, int] | None = request.environ.get(RETRY_AFTER_ENVIRON_KEY)
    if (
        retry_after is not None
        and response.status_code == retry_after[0]
        and "Retry-After" not in response.headers
    ):
        response.headers["Retry-After"] = str(retry_after[1])
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


def _protected(
    view: Callable[..., ViewReturn],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: EffectiveOptions,
) -> Response:
    try:
        return _handle(view, args, kwargs, options)
    except IdempotencyError as error:
        if error.retry_after_seconds is not None and error.code is not None:
            request.environ[RETRY_AFTER_ENVIRON_KEY] = (error.code, error.retry_after_seconds)
        raise


def _handle(
    view: Callable[..., ViewReturn],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: EffectiveOptions,
) -> Response:
    state = get_state()
    settings = state.settings
    client_key = parse_key_header(
        request.headers.getlist(settings.header),
        header=settings.header,
        max_length=settings.max_key_length,
    )
    if client_key is None:
        if options.required:
            raise IdempotencyKeyRequired(f"This endpoint requires an {settings.header} header.")
        client_key = ClientKey(str(uuid.uuid4()), quoted=False)
    if options.isolation_level is not None:
        dialect_name = state.service.session.get_bind().dialect.name
        check_offered(options.isolation_level, dialect_name, "@idempotent(isolation_level=...)")
    fingerprint = _fingerprint(settings)
    caller_scope = current_scope(options.scope)
    request.environ[KEY_ECHO_ENVIRON_KEY] = client_key.header_value()
    taken = claim(
        state.service,
        settings,
        KeyRequest(
            key=client_key.value,
            scope=caller_scope,
            method=fingerprint.method,
            host=fingerprint.host,
            path=fingerprint.path,
            params=fingerprint.stored_params(settings.redacted_fields, keep=settings.store_params),
            fingerprint=fingerprint.digest,
            ttl=options.ttl,
            lock_timeout=options.lock_timeout,
            wait=options.wait,
        ),
    )
    if taken.taken is None:
        return replay(taken.key)
    key = taken.key
    return run_holding(
        state.service,
        settings,
        key,
        attempt=lambda: _call_view(view, args, kwargs),
        keep=lambda response: _keep(state.service, settings, key, response),
        isolation_level=options.isolation_level,
    )


def _keep(
    service: IdempotencyKeyService, settings: Settings, key: IdempotencyKey, response: Response
) -> None:
    if response.status_code in settings.unstored_statuses:
        # "Come back later": nothing of this attempt is kept, and the retry runs.
        service.release(key)
        return
    stored = StoredResponse.capture(response, settings.stored_headers)
    service.finish(key, stored.values())


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
