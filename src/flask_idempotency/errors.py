"""The errors clients and applications see, each a werkzeug HTTP exception.

Subclassing werkzeug's exceptions means ``@app.errorhandler(409)`` and friends work as Flask
users expect; left unhandled, each renders as an RFC 9457 ``application/problem+json`` body.
Its ``type`` is an absolute URI, ``IDEMPOTENCY_PROBLEM_BASE_URL`` followed by the problem's name,
and the 400, 409 and 422 answers link to it as their documentation, as the IETF Idempotency-Key
draft's examples do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    Gone,
    HTTPException,
    InternalServerError,
    NotFound,
    RequestEntityTooLarge,
    ServiceUnavailable,
    UnprocessableEntity,
)

from .config import DEFAULTS

if TYPE_CHECKING:
    from .model import IdempotencyKey

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE_URL_SETTING = "IDEMPOTENCY_PROBLEM_BASE_URL"
# The statuses the draft answers with a link to the documentation of the problem.
_DOCUMENTED_STATUSES = frozenset({400, 409, 422})


class IdempotencyError(HTTPException):
    """Base of every error this extension raises; catch it to handle them all."""

    # The problem's name in the documentation, the end of its type URI; None is "about:blank".
    problem_name: str | None = None
    # Seconds for Retry-After; named apart from werkzeug's retry_after, which its __init__ resets.
    retry_after_seconds: int | None = None
    # The key concerned, where there is one: for error handlers and signal receivers, never
    # rendered to the client.
    key: IdempotencyKey | None = None

    @property
    def problem_type(self) -> str:
        if self.problem_name is None:
            return "about:blank"
        return problem_base_url() + self.problem_name

    def problem(self) -> dict[str, Any]:
        return {
            "type": self.problem_type,
            "title": self.name,
            "status": self.code,
            "detail": self.description,
        }

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        return json.dumps(self.problem())

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        headers = [("Content-Type", PROBLEM_JSON)]
        if self.retry_after_seconds is not None:
            headers.append(("Retry-After", str(self.retry_after_seconds)))
        if self.problem_name is not None and self.code in _DOCUMENTED_STATUSES:
            headers.append(("Link", f'<{self.problem_type}>; rel="describedby"; type="text/html"'))
        return headers


def problem_base_url() -> str:
    """The current app's IDEMPOTENCY_PROBLEM_BASE_URL; the default outside an app, or where the
    extension is not set up, since an error can be rendered anywhere."""
    if has_app_context():
        configured = current_app.config.get(PROBLEM_BASE_URL_SETTING)
        if isinstance(configured, str) and configured:
            return configured
    return str(DEFAULTS[PROBLEM_BASE_URL_SETTING])


class InvalidIdempotencyKey(IdempotencyError, BadRequest):
    problem_name = "invalid-idempotency-key"


class IdempotencyKeyRequired(IdempotencyError, BadRequest):
    problem_name = "idempotency-key-required"
    description = "This endpoint requires an Idempotency-Key header."


class MalformedRequestBody(IdempotencyError, BadRequest):
    problem_name = "malformed-request-body"


class RequestBodyTooLarge(IdempotencyError, RequestEntityTooLarge):
    problem_name = "request-body-too-large"


class IdempotencyKeyMismatch(IdempotencyError, UnprocessableEntity):
    problem_name = "idempotency-key-reused"
    description = (
        "This Idempotency-Key was already used with a different request "
        "(method, path or parameters). Use a new key for a new request."
    )


class RequestInFlight(IdempotencyError, Conflict):
    problem_name = "request-in-flight"
    description = (
        "A request with this Idempotency-Key is still being processed. Retry after it finishes."
    )
    retry_after_seconds = 1


class LockLost(IdempotencyError, Conflict):
    """The request held the key for longer than the lock timeout and another request took it
    over; its work was rolled back so that it cannot happen twice."""

    problem_name = "lock-lost"
    description = (
        "This request outlived the idempotency lock timeout and a retry took it over; "
        "its changes were rolled back. Retry to get the result."
    )
    retry_after_seconds = 1


class IdempotencyKeyNotFound(IdempotencyError, NotFound):
    problem_name = "idempotency-key-not-found"
    description = "No such idempotency key."


class DatabaseUnavailable(IdempotencyError, ServiceUnavailable):
    problem_name = "database-unavailable"
    description = "The database is unavailable. The request can be retried with the same key."
    retry_after_seconds = 1


class ResponseNotStorable(IdempotencyError, InternalServerError):
    """The view returned a response that cannot be replayed, such as a streamed one."""

    problem_name = "response-not-storable"


class StageError(RuntimeError):
    """A programming error in the use of ``stage()``: out of order, repeated, or writing
    inside a stage that already completed. It is never retried and never stored."""


class ConfigurationError(ValueError):
    """The extension was set up in a way it cannot work with; raised by ``init_app`` (and by
    ``@idempotent`` for its own options), never in answer to a request."""


class ResponseNotKept(IdempotencyError, Gone):
    """A retry of a request that completed but whose response body was larger than
    ``IDEMPOTENCY_MAX_RESPONSE_SIZE``, so it was sent once and not kept for replay. Neither 409
    nor 5xx, which clients retry: the operation is done and is not run again."""

    problem_name = "response-not-kept"

    def __init__(self, original_status: int) -> None:
        super().__init__(
            f"The request with this Idempotency-Key was completed (status {original_status}) "
            "and is not run again, but its response was too large to be kept for replay."
        )
        self.original_status = original_status

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "original_status": self.original_status}
