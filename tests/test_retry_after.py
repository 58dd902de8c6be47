"""An app that renders errors itself with ``@app.errorhandler`` keeps the Retry-After a 409
or a 503 needs, so that clients know when to try again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.test import TestResponse

from flask_idempotency import IdempotencyError, RequestInFlight
from tests.helpers import headers
from tests.ledger_app import Gate


def duplicate_while_in_flight(app: Flask, key: str) -> TestResponse:
    """The answer to a duplicate sent while the first request with ``key`` is held in its
    view; the first then completes."""
    gate = Gate()
    app.config["GATES"]["charge"] = gate
    client = app.test_client()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/charges", json={"amount": 1}, headers=headers(key))
        assert gate.entered.wait(10)
        duplicate = client.post("/charges", json={"amount": 1}, headers=headers(key))
        gate.release.set()
        assert first.result().status_code == 201
    return duplicate


def test_an_errorhandler_of_its_own_keeps_the_retry_after_of_a_409(app: Flask) -> None:
    handled: list[HTTPException] = []

    @app.errorhandler(409)
    def conflict(error: HTTPException) -> Any:
        handled.append(error)
        return {"message": "busy, try again"}, 409

    duplicate = duplicate_while_in_flight(app, "r")

    assert duplicate.status_code == 409
    assert duplicate.json == {"message": "busy, try again"}
    assert duplicate.headers["Retry-After"] == "1"
    [error] = handled
    assert isinstance(error, RequestInFlight)
    assert error.retry_after_seconds == 1


def test_a_retry_after_the_handler_set_itself_is_left_alone(app: Flask) -> None:
    @app.errorhandler(IdempotencyError)
    def any_idempotency_error(error: IdempotencyError) -> Any:
        return {"status": error.code}, error.code or 500, {"Retry-After": "7"}

    duplicate = duplicate_while_in_flight(app, "s")

    assert duplicate.headers["Retry-After"] == "7"


def test_a_status_the_handler_changed_gets_no_retry_after(app: Flask) -> None:
    @app.errorhandler(409)
    def conflict(error: HTTPException) -> Any:
        return {"message": "gone fishing"}, 400

    duplicate = duplicate_while_in_flight(app, "t")

    assert duplicate.status_code == 400
    assert "Retry-After" not in duplicate.headers
