"""Problem details as the IETF Idempotency-Key draft shows them: an absolute ``type`` URI under a
configurable documentation base, and a ``Link`` to that documentation on 400, 409 and 422."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import TestResponse

import flask_idempotency.errors
from flask_idempotency import IdempotencyError, InvalidIdempotencyKey
from flask_idempotency.config import DEFAULTS
from tests.helpers import headers
from tests.ledger_app import Gate

DEFAULT_BASE = str(DEFAULTS["IDEMPOTENCY_PROBLEM_BASE_URL"])
README = Path(__file__).resolve().parent.parent / "README.md"


def link_to(type_uri: str) -> str:
    return f'<{type_uri}>; rel="describedby"; type="text/html"'


def answers_by_status(app: Flask) -> dict[int, TestResponse]:
    """One answer of the extension's for each status it has a problem type for here."""
    client = app.test_client()
    answers = {
        400: client.post("/charges", json={"amount": 1}, headers=headers('"unterminated')),
        413: client.post(
            "/charges", data=b"x" * 200, content_type="text/plain", headers=headers("big")
        ),
        500: client.post("/stream", headers=headers("streamed")),
    }
    client.post("/charges", json={"amount": 1}, headers=headers("used"))
    answers[422] = client.post("/charges", json={"amount": 2}, headers=headers("used"))
    gate = Gate()
    app.config["GATES"]["charge"] = gate
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            app.test_client().post, "/charges", json={"amount": 3}, headers=headers("held")
        )
        assert gate.entered.wait(10)
        answers[409] = client.post("/charges", json={"amount": 3}, headers=headers("held"))
        gate.release.set()
        assert first.result().status_code == 201
    return answers


EXPECTED_NAMES = {
    400: "invalid-idempotency-key",
    409: "request-in-flight",
    413: "request-body-too-large",
    422: "idempotency-key-reused",
    500: "response-not-storable",
}


@pytest.fixture
def small_body_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(IDEMPOTENCY_MAX_BODY_SIZE=100)


def test_problem_types_are_absolute_uris_under_the_default_base(small_body_app: Flask) -> None:
    for status, response in answers_by_status(small_body_app).items():
        assert response.status_code == status, response.data
        assert response.mimetype == "application/problem+json"
        assert response.json is not None
        assert response.json["type"] == DEFAULT_BASE + EXPECTED_NAMES[status]
        assert response.json["type"].startswith("https://")


def test_400_409_and_422_link_to_their_documentation_and_others_do_not(
    small_body_app: Flask,
) -> None:
    for status, response in answers_by_status(small_body_app).items():
        assert response.json is not None
        if status in (400, 409, 422):
            assert response.headers.getlist("Link") == [link_to(response.json["type"])], status
        else:
            assert "Link" not in response.headers, status

    # The view's own answers are the view's: no link added.
    created = small_body_app.test_client().post(
        "/charges", json={"amount": 1}, headers=headers("fresh")
    )
    assert created.status_code == 201 and "Link" not in created.headers


def test_the_base_of_problem_types_is_configurable(make_app: Callable[..., Flask]) -> None:
    base = "https://docs.example.com/errors/"
    app = make_app(IDEMPOTENCY_PROBLEM_BASE_URL=base, IDEMPOTENCY_MAX_BODY_SIZE=100)

    for status, response in answers_by_status(app).items():
        assert response.json is not None
        assert response.json["type"] == base + EXPECTED_NAMES[status]
        if status in (400, 409, 422):
            assert response.headers["Link"] == link_to(base + EXPECTED_NAMES[status])


def test_outside_an_app_or_without_the_setting_the_default_base_is_used() -> None:
    error = InvalidIdempotencyKey("bad")
    expected = DEFAULT_BASE + "invalid-idempotency-key"

    assert error.problem()["type"] == expected
    assert ("Link", link_to(expected)) in error.get_headers()
    with Flask(__name__).app_context():
        assert error.problem()["type"] == expected


def test_the_readme_lists_every_problem_type() -> None:
    text = README.read_text()
    status_codes = text[text.index("## Status codes") :]
    status_codes = status_codes[: status_codes.index("\n## ", 1)]
    names = {
        value.problem_name
        for value in vars(flask_idempotency.errors).values()
        if isinstance(value, type) and issubclass(value, IdempotencyError) and value.problem_name
    }

    assert "request-in-flight" in names
    for name in names:
        assert f"`{name}`" in status_codes, name
