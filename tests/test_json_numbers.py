"""JSON bodies compare by value, in RFC 8785's canonical form: the spelling of a number does not
make another request, its value does, and integers of any size compare exactly."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import charges, headers


def send(app: Flask, body: bytes, key: str = "n") -> int:
    response = app.test_client().post(
        "/anything/numbers", data=body, content_type="application/json", headers=headers(key)
    )
    if response.headers.get("Idempotent-Replayed") == "true":
        return 0  # a replay
    return response.status_code


@pytest.mark.parametrize(
    "retry",
    [b'{"amount": 10.0}', b'{"amount": 1e1}', b'{"amount": 1E+1}', b'{"amount": 100e-1}'],
)
def test_the_same_number_spelled_otherwise_replays(app: Flask, retry: bytes) -> None:
    assert send(app, b'{"amount": 10}') == 200
    assert send(app, retry) == 0


@pytest.mark.parametrize(
    "retry", [b'{"amount": 10.5}', b'{"amount": 100}', b'{"amount": "10"}', b'{"amount": -10}']
)
def test_another_number_is_another_request(app: Flask, retry: bytes) -> None:
    assert send(app, b'{"amount": 10}') == 200
    assert send(app, retry) == 422


def test_integers_beyond_two_to_the_53_compare_exactly(app: Flask) -> None:
    assert send(app, b'{"id": 9007199254740993}') == 200
    assert send(app, b'{"id": 9007199254740993}') == 0
    assert send(app, b'{"id": 9007199254740992}') == 422
    assert send(app, b'{"id": 9007199254740993.0}') == 422  # as a double it is ...992


def test_a_large_number_is_one_number_however_written(app: Flask) -> None:
    assert send(app, b"[1e21, 123456789012345678901234567890]") == 200
    assert send(app, b"[1000000000000000000000, 123456789012345678901234567890]") == 0
    assert send(app, b"[1000000000000000000001, 123456789012345678901234567890]") == 422


def test_member_order_whitespace_and_escapes_do_not_count(app: Flask) -> None:
    assert send(app, b'{"a": 1, "b": "caf\xc3\xa9"}') == 200
    assert send(app, b'{ "b" : "caf\\u00e9" ,\n "a" : 1.0 }') == 0


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_numbers_json_has_no_form_for_are_a_400(app: Flask, constant: bytes) -> None:
    response = app.test_client().post(
        "/charges",
        data=b'{"amount": ' + constant + b"}",
        content_type="application/json",
        headers=headers("nan"),
    )
    assert response.status_code == 400
    assert response.json is not None and "malformed" in response.json["detail"]
    assert charges(app) == 0
