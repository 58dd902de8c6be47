"""Which Idempotency-Key values are keys, and which are refused before anything runs.

A quoted key is an RFC 8941 sf-string (the IETF draft), a bare one a token as Stripe sends it."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_idempotency import InvalidIdempotencyKey
from flask_idempotency.key_header import parse_key_header
from tests.helpers import charges, headers, stored_keys


def parse(*values: str, max_length: int = 255) -> str | None:
    key = parse_key_header(list(values), header="Idempotency-Key", max_length=max_length)
    return None if key is None else key.value


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"with \\"escaped\\" quotes \\\\"'.replace(" ", "_"), 'with_"escaped"_quotes_\\'),
        ("  padded\t", "padded"),
        ("x" * 255, "x" * 255),
        ("!#$%&'*+-.^_`|~", "!#$%&'*+-.^_`|~"),
        # The IETF draft's form: an RFC 8941 string, which may hold spaces.
        ('"order 1"', "order 1"),
        ('" spaced out "', " spaced out "),
        ('"' + "x " * 127 + 'x"', "x " * 127 + "x"),
        # Parameters do not name another key: "abc";v=1 is the key abc.
        ('"abc";v=1', "abc"),
        ('"abc"; v=1;final', "abc"),
        ('"abc";v="two words"', "abc"),
        # Bare keys are taken as they are, even those RFC 8941 would not read as a token.
        ("1st-try", "1st-try"),
        ("abc;v=1", "abc;v=1"),
        ("*/:@[]{}", "*/:@[]{}"),
    ],
)
def test_bare_and_quoted_keys_are_accepted(raw: str, key: str) -> None:
    assert parse(raw) == key


def test_no_header_means_no_key() -> None:
    assert parse() is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        '""',
        "x" * 256,
        '"' + "x" * 256 + '"',
        "has space",
        "tab\tinside",
        "caf\u00e9",
        "\u2603",
        "line\nbreak",
        '"unterminated',
        '"text"after',
        '"bad\\escape"',
        # RFC 8941 strings hold printable ASCII only, and nothing may follow but parameters.
        '"tab\tinside"',
        '"caf\u00e9"',
        '"caf\u00c3\u00a9"',  # UTF-8 bytes of "café", as a server hands them over (latin-1)
        '"bell\u0007"',
        '"delete\u007f"',
        '"text" after',
        '"abc";',
        '"abc";V=1',
        '"abc";v=',
        '"a" "b"',
    ],
)
def test_malformed_keys_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        parse(raw)


def test_a_repeated_header_is_refused() -> None:
    with pytest.raises(InvalidIdempotencyKey, match="one"):
        parse("a", "b")


def test_the_maximum_length_is_configurable() -> None:
    assert parse("x" * 10, max_length=10) == "x" * 10
    with pytest.raises(InvalidIdempotencyKey):
        parse("x" * 11, max_length=10)


def test_two_quoted_keys_joined_by_a_server_are_the_header_sent_twice() -> None:
    with pytest.raises(InvalidIdempotencyKey, match="one"):
        parse('"a", "b"')


@pytest.mark.parametrize(
    ("raw", "echo"),
    [
        ("8e03978e-40d5", "8e03978e-40d5"),
        ('"order 1"', '"order 1"'),
        ('"say \\"hi\\""', '"say \\"hi\\""'),
        ('"abc";v=1', '"abc";v=1'),
        ('  "abc"; v=1;final  ', '"abc";v=1;final'),
    ],
)
def test_the_echo_uses_the_form_the_client_sent(raw: str, echo: str) -> None:
    key = parse_key_header([raw], header="Idempotency-Key", max_length=255)

    assert key is not None and key.header_value() == echo


def test_a_quoted_key_is_measured_without_its_quotes_and_escapes() -> None:
    assert parse('"' + "x" * 9 + '\\""', max_length=10) == "x" * 9 + '"'
    with pytest.raises(InvalidIdempotencyKey):
        parse('"' + "x" * 10 + '\\""', max_length=10)


def test_a_key_with_spaces_works_over_http(client: FlaskClient, app: Flask) -> None:
    first = client.post("/charges", json={"amount": 1}, headers=headers('"order 1"'))
    with_parameters = client.post(
        "/charges", json={"amount": 1}, headers=headers('"order 1";attempt=2')
    )

    assert first.status_code == 201
    assert first.headers["Idempotency-Key"] == '"order 1"'
    assert with_parameters.headers["Idempotent-Replayed"] == "true"
    assert with_parameters.headers["Idempotency-Key"] == '"order 1";attempt=2'
    assert [key.idempotency_key for key in stored_keys(app)] == ["order 1"]
    assert charges(app) == 1
