"""Every error the storefront answers is application/problem+json (RFC 9457), like the
extension's, and is also an error body Medusa's clients read.

RFC 9457's ``type`` stays a URI: ``about:blank`` for the storefront's own problems (their
``title`` is the status's phrase), the extension's absolute URIs for its own. Medusa's error
body is ``{type, message, code?}``; its members go beside RFC 9457's, without clashing:

- ``message``: the same text as ``detail`` (Medusa's clients show ``response.data.message``);
- ``medusa_type``: Medusa's error type (``not_found``, ``invalid_data``, ``not_allowed``,
  ``conflict``, ...), the value Medusa sends as ``type``;
- ``code``: Medusa's code, where Medusa sends one (``invalid_state_error`` on every 409, as
  Medusa's error handler sets it).

The extension's own errors (409 in flight, 422 key reused, 503, ...) get the Medusa members here
too, when the storefront renders them; their body is otherwise the extension's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from flask_idempotency import IdempotencyError

PROBLEM_JSON = "application/problem+json"
NOT_FOUND = "not_found"
INVALID_DATA = "invalid_data"
NOT_ALLOWED = "not_allowed"
CONFLICT = "conflict"
# Medusa's code for an action the cart's state does not allow (a completed cart).
CART_INCOMPATIBLE_STATE = "cart_incompatible_state"


def medusa_members(status: int) -> tuple[str, str | None]:
    """Medusa's (type, code) for an error of this status, as its error handler maps them."""
    if status == 404:
        return NOT_FOUND, None
    if status == 409:
        return CONFLICT, "invalid_state_error"
    if status == 422:
        return INVALID_DATA, "invalid_request_error"
    if status in (401, 403, 405, 410):
        return ("unauthorized" if status == 401 else NOT_ALLOWED), None
    if status == 503:
        return "database_error", "api_error"
    if status >= 500:
        return "unknown_error", "unknown_error"
    return INVALID_DATA, None


def problem_body(
    fields: dict[str, Any], *, medusa_type: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """``fields`` (RFC 9457's) with Medusa's members added."""
    status = int(fields["status"])
    default_type, default_code = medusa_members(status)
    body = {**fields, "message": fields.get("detail") or fields.get("title") or ""}
    body["medusa_type"] = medusa_type or default_type
    if code or default_code:
        body["code"] = code or default_code
    return body


def problem(
    status: int,
    detail: str,
    *,
    medusa_type: str | None = None,
    code: str | None = None,
    title: str | None = None,
    retry_after: int | None = None,
) -> Response:
    """The storefront's own problem."""
    body = problem_body(
        {
            "type": "about:blank",
            "title": title or HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
        },
        medusa_type=medusa_type,
        code=code,
    )
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_problem(error: HTTPException) -> Response:
        if isinstance(error, IdempotencyError):
            # The extension's problem as it is (its type URI, Retry-After, Link), plus the
            # members a Medusa client reads.
            extension_problem = Response(
                json.dumps(problem_body(error.problem())), status=error.code
            )
            for name, value in error.get_headers():
                extension_problem.headers[name] = value
            return extension_problem
        response = problem(error.code or 500, error.description or "", title=error.name)
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
