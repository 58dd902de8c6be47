"""Reading request bodies and query strings as Medusa's validators do: a JSON object with only
the fields the route knows, each of its type, or a 400 that says what is wrong."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, NoReturn

from flask import abort, request

from ..problems import problem

# Medusa validates emails with class-validator's IsEmail; this is the shape it insists on.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL_LENGTH = 254
# Past what any column or page holds; larger numbers are refused, not overflowed.
MAX_INTEGER = 2**31 - 1


def invalid(detail: str) -> NoReturn:
    abort(problem(400, detail))


def shown(name: object) -> str:
    """A client's field name in a message, cut short."""
    text = str(name)
    return text if len(text) <= 40 else text[:40] + "..."


def json_object(fields: Collection[str]) -> dict[str, Any]:
    """The body as a JSON object holding only ``fields``; no body at all is ``{}``."""
    payload = request.get_json(silent=True)
    if payload is None and not request.get_data():
        return {}
    if not isinstance(payload, dict):
        invalid("Send a JSON object, with Content-Type: application/json.")
    for name in payload:
        if name not in fields:
            invalid(f"property {shown(name)} should not exist")
    return payload


def string(payload: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        invalid(f"{name} must be a string")
    return value


def required_string(payload: dict[str, Any], name: str) -> str:
    value = string(payload, name, required=True)
    assert value is not None
    return value


def integer(payload: dict[str, Any], name: str, *, minimum: int, maximum: int) -> int:
    value = payload.get(name)
    # JSON's true is an int to Python, and 1.0 is no integer to Medusa.
    if isinstance(value, bool) or not isinstance(value, int):
        invalid(f"{name} must be an integer number")
    if not minimum <= value <= maximum:
        invalid(f"{name} must be from {minimum} to {maximum}")
    return value


def email(payload: dict[str, Any]) -> str | None:
    value = string(payload, "email", required=False)
    if value is not None and (len(value) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(value)):
        invalid("email must be an email")
    return value


def query_integer(name: str, default: int, *, maximum: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or int(text) > maximum:
        invalid(f"{name} must be an integer from 0 to {maximum}")
    return int(text)
