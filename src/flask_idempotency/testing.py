"""Helpers for an application's own tests of its idempotent views.

:func:`assert_idempotent` sends one request twice under one key and checks that the second
answer is an identical replay of the first. :class:`IdempotentClient` is a Flask test client
that sends a fresh key with every request that changes something, as a well-behaved client
does. Neither needs pytest: they serve unittest suites as well. The pytest plugin
(``flask_idempotency.pytest_plugin``) offers both as fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from io import BytesIO
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.testing import EnvironBuilder, FlaskClient
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request

from .config import DEFAULTS, NEVER_STORED_HEADERS, Settings
from .options import SAFE_METHODS
from .state import EXTENSION_NAME, IdempotencyState
from .stored_response import REPLAYED_HEADER

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["IdempotentClient", "assert_idempotent", "idempotent_client"]

# Enough of a body to recognise it in a failure message.
_EXCERPT_BYTES = 120


def assert_idempotent(
    client: FlaskClient, method: str, url: str, **kwargs: Any
) -> tuple[TestResponse, TestResponse]:
    """Send one request twice under one idempotency key; assert that the second answer is an
    identical replay of the first.

    The key travels in the app's ``IDEMPOTENCY_HEADER``. It is a fresh uuid4 unless
    ``kwargs["headers"]`` holds one already, which is then sent as is. The other ``kwargs``
    are those of :meth:`flask.testing.FlaskClient.open` (``json=``, ``data=``,
    ``query_string=``, ``follow_redirects=``, ...). The request is encoded once, so a file
    uploaded through ``data=`` is sent the same both times.

    The assertion holds when the first answer does not carry ``Idempotent-Replayed: true``
    and the second does, with the same status, the same body bytes and the same values of the
    headers the extension stores (``Content-Type`` and ``IDEMPOTENCY_STORED_HEADERS``, such as
    ``Location``). Otherwise :class:`AssertionError` says what differed.

    Returns both responses, so that the test can check the effect happened once::

        first, retry = assert_idempotent(client, "POST", "/orders", json={"sku": "tea"})
        assert Order.query.count() == 1

    GET, HEAD and OPTIONS are idempotent by definition and never stored: asking to check one
    raises :class:`ValueError`.
    """
    # pytest shows a failure at the caller's line, not inside this helper.
    __tracebackhide__ = True
    method = method.upper()
    if method in SAFE_METHODS:
        raise ValueError(
            f"{method} requests are idempotent by definition: flask-idempotency stores nothing "
            "for them, so there is no replay to check"
        )
    app = client.application
    settings = _settings(app)
    header = _key_header(app, settings)
    buffered = bool(kwargs.pop("buffered", False))
    follow_redirects = bool(kwargs.pop("follow_redirects", False))
    headers = Headers(kwargs.pop("headers", None))
    if header not in headers:
        headers[header] = str(uuid.uuid4())
    key = headers[header]

    builder = EnvironBuilder(app, path=url, method=method, headers=headers, **kwargs)
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    body = environ["wsgi.input"].read()

    def send() -> TestResponse:
        # Each send gets the same environ with a body of its own to read.
        request = Request({**environ, "wsgi.input": BytesIO(body)}, populate_request=False)
        return client.open(request, buffered=buffered, follow_redirects=follow_redirects)

    first = send()
    retry = send()
    problems = _differences(first, retry, _compared_headers(settings))
    if problems:
        problems.extend(_hints(first, retry, settings, header))
        raise AssertionError(
            f"{method} {url} sent twice with {header}: {key!r}: the retry is not an identical "
            "replay of the first response:\n" + "\n".join(f"- {p}" for p in problems)
        )
    return first, retry


class IdempotentClient(FlaskClient):
    """A Flask test client that sends a fresh idempotency key with every unsafe request.

    A request other than GET, HEAD and OPTIONS that carries no key (in the app's
    ``IDEMPOTENCY_HEADER``) gets a new uuid4. The key sent with the last such request, given
    or generated, is :attr:`last_key`, so that a test can retry it::

        app.test_client_class = IdempotentClient
        client = app.test_client()
        client.post("/orders", json={"sku": "tea"})
        retry = client.post("/orders", json={"sku": "tea"},
                            headers={"Idempotency-Key": client.last_key})
        assert retry.headers["Idempotent-Replayed"] == "true"

    A redirect that keeps the method (307, 308) is the same request: it keeps its key.
    """

    last_key: str | None
    """The key of the last request that was not GET, HEAD or OPTIONS; ``None`` before one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_key = None

    def __enter__(self) -> IdempotentClient:
        super().__enter__()
        return self

    def run_wsgi_app(
        self, environ: WSGIEnvironment, buffered: bool = False
    ) -> tuple[Iterable[bytes], str, Headers]:
        """Add the key, then run the app.

        Every request the client sends passes here, whether it was made from arguments, an
        ``EnvironBuilder``, an environ, a ``Request`` or a redirect.
        """
        if str(environ.get("REQUEST_METHOD", "GET")).upper() not in SAFE_METHODS:
            name = _environ_name(_key_header(self.application, _settings(self.application)))
            environ.setdefault(name, str(uuid.uuid4()))
            self.last_key = str(environ[name])
        return super().run_wsgi_app(environ, buffered=buffered)


def idempotent_client(app: Flask, *, use_cookies: bool = True, **kwargs: Any) -> IdempotentClient:
    """An :class:`IdempotentClient` for ``app``, as ``app.test_client()`` would make it
    (``kwargs`` go to the client's constructor), without changing ``app.test_client_class``."""
    return IdempotentClient(app, app.response_class, use_cookies=use_cookies, **kwargs)


def _settings(app: Flask) -> Settings | None:
    state = app.extensions.get(EXTENSION_NAME)
    return state.settings if isinstance(state, IdempotencyState) else None


def _key_header(app: Flask, settings: Settings | None) -> str:
    # The extension read its settings once, in init_app; they win over a config changed since.
    if settings is not None:
        return settings.header
    return str(app.config.get("IDEMPOTENCY_HEADER", DEFAULTS["IDEMPOTENCY_HEADER"]))


def _environ_name(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _compared_headers(settings: Settings | None) -> tuple[str, ...]:
    """The headers a replay repeats: Content-Type and the stored ones."""
    if settings is not None:
        stored: Iterable[str] = settings.stored_headers
    else:
        stored = (
            name
            for name in DEFAULTS["IDEMPOTENCY_STORED_HEADERS"]
            if name.lower() not in NEVER_STORED_HEADERS
        )
    return ("Content-Type", *stored)


def _differences(
    first: TestResponse, retry: TestResponse, compared_headers: tuple[str, ...]
) -> list[str]:
    problems = []
    if _is_replay(first):
        problems.append(
            f"the first response already carries {REPLAYED_HEADER}: true: its key was used "
            "before this call; send a fresh one"
        )
    if not _is_replay(retry):
        problems.append(
            f"the retry carries no {REPLAYED_HEADER}: true: it is not the stored response replayed"
        )
    if first.status_code != retry.status_code:
        problems.append(f"status: {first.status_code} first, {retry.status_code} on the retry")
    first_body, retry_body = first.get_data(), retry.get_data()
    if first_body != retry_body:
        problems.append(_body_difference(first_body, retry_body))
    problems.extend(_header_differences(first.headers, retry.headers, compared_headers))
    return problems


def _is_replay(response: TestResponse) -> bool:
    return response.headers.get(REPLAYED_HEADER, "").lower() == "true"


def _body_difference(first: bytes, retry: bytes) -> str:
    at = next(
        (index for index, (a, b) in enumerate(zip(first, retry, strict=False)) if a != b),
        min(len(first), len(retry)),
    )
    start = max(0, at - _EXCERPT_BYTES // 3)
    return (
        f"body: differs from byte {at}: {_excerpt(first, start)} ({len(first)} bytes) first, "
        f"{_excerpt(retry, start)} ({len(retry)} bytes) on the retry"
    )


def _excerpt(body: bytes, start: int) -> str:
    end = start + _EXCERPT_BYTES
    return ("..." if start else "") + repr(body[start:end]) + ("..." if len(body) > end else "")


def _header_differences(
    first: Headers, retry: Headers, compared_headers: tuple[str, ...]
) -> list[str]:
    problems = []
    for name in compared_headers:
        first_values, retry_values = first.getlist(name), retry.getlist(name)
        if first_values != retry_values:
            problems.append(
                f"header {name}: {_values(first_values)} first, "
                f"{_values(retry_values)} on the retry"
            )
    return problems


def _values(values: list[str]) -> str:
    if not values:
        return "absent"
    return repr(values[0]) if len(values) == 1 else repr(values)


def _hints(
    first: TestResponse, retry: TestResponse, settings: Settings | None, header: str
) -> list[str]:
    """Likely causes, for the failures that have a usual one."""
    if settings is None:
        return [
            "flask-idempotency is not initialised on this app: call Idempotency(app) or "
            "idempotency.init_app(app)"
        ]
    if _is_replay(retry):
        return []
    if first.status_code in settings.unstored_statuses:
        return [
            f"status {first.status_code} is in IDEMPOTENCY_UNSTORED_STATUSES: such an answer "
            "is not stored, and a retry runs the view again"
        ]
    if retry.status_code == 410:
        return [
            "a 410 on the retry: the first response was larger than "
            "IDEMPOTENCY_MAX_RESPONSE_SIZE and was not kept"
        ]
    if header not in first.headers:
        # @idempotent echoes the key on every response it handles, errors included.
        return [
            f"the first response does not echo the {header} header, so flask-idempotency did "
            "not handle the request: is the view decorated with @idempotent (or protected), "
            "for this method?"
        ]
    return []
