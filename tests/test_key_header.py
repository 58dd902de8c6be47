"""Which Idempotency-Key values are keys, and which are refused before anything runs."""

from __future__ import annotations

import pytest

from flask_idempotency import InvalidIdempotencyKey
from flask_idempotency.key_header import parse_key_header


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
        '"inner space"',
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
