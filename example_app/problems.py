"""Every error the storefront answers is application/problem+json, like the extension's."""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from flask_idempotency import IdempotencyError

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, title: str | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_problem(error: HTTPException) -> Response:
        if isinstance(error, IdempotencyError):
            return error.get_response()  # type: ignore[return-value]
        response = problem(error.code or 500, error.description or "", error.name)
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
