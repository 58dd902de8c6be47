"""A malformed key over HTTP: 400 problem+json, and nothing runs or is stored."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import charges, stored_keys


@pytest.mark.parametrize("raw", ["", "x" * 256, "has space", '"unterminated', "\u00e9t\u00e9"])
def test_malformed_key_gives_400_problem_and_stores_nothing(
    client: FlaskClient, app: Flask, raw: str
) -> None:
    response = client.post(
        "/charges",
        json={"amount": 1},
        headers=[("Idempotency-Key", raw.encode().decode("latin-1"))],
    )

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem is not None
    assert problem["status"] == 400 and problem["title"] == "Bad Request" and problem["detail"]
    assert "Idempotency-Key" not in response.headers
    assert charges(app) == 0
    assert stored_keys(app) == []


def test_a_repeated_key_header_gives_400(client: FlaskClient, app: Flask) -> None:
    response = client.post(
        "/charges", json={"amount": 1}, headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    )

    assert response.status_code == 400
    assert stored_keys(app) == []
