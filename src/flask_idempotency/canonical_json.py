"""One text for every JSON document that means the same: RFC 8785, the JSON Canonicalization
Scheme, with integers of any size kept exact.

RFC 8785 (through the ``rfc8785`` package) sorts object members by their UTF-16 code units,
escapes strings one way, and writes every number as the shortest text of its IEEE 754 double,
so ``10``, ``10.0`` and ``1e1`` are one number. It refuses integers beyond 2**53, where doubles
lose exactness; here they are written in full, and so is a float that holds an integer that
large, so ``1e21`` and ``1000000000000000000000`` are one number while ``9007199254740993``
and ``9007199254740992`` stay two. A string holding a lone surrogate (valid JSON, invalid
UTF-8) is written with ASCII escapes, a form RFC 8785 never gives a valid string.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

# Beyond this, a double cannot hold every integer: such numbers are written exactly.
_LARGEST_EXACT_DOUBLE = 2**53 - 1


class NotJSON(ValueError):
    """The value is not a JSON document: NaN or an infinity, or a type JSON has no form for."""


def canonical_json(document: Any) -> bytes:
    parts: list[bytes] = []
    _write(document, parts)
    return b"".join(parts)


def _write(value: Any, parts: list[bytes]) -> None:
    # Iteration would be safer against deep nesting, but documents reaching here were parsed
    # with a depth limit (fingerprint.MAX_JSON_DEPTH) well under the recursion limit.
    if isinstance(value, dict):
        parts.append(b"{")
        for index, name in enumerate(sorted(value, key=_utf16_order)):
            if index:
                parts.append(b",")
            parts.append(_string(name))
            parts.append(b":")
            _write(value[name], parts)
        parts.append(b"}")
    elif isinstance(value, list | tuple):
        parts.append(b"[")
        for index, item in enumerate(value):
            if index:
                parts.append(b",")
            _write(item, parts)
        parts.append(b"]")
    elif isinstance(value, str):
        parts.append(_string(value))
    elif value is None or isinstance(value, bool):
        parts.append(rfc8785.dumps(value))
    elif isinstance(value, int | float):
        parts.append(_number(value))
    else:
        raise NotJSON(f"{type(value).__name__} has no JSON form")


def _number(number: int | float) -> bytes:
    if isinstance(number, float):
        if number != number or number in (float("inf"), float("-inf")):
            raise NotJSON(f"{number} is not a JSON number")
        if number.is_integer() and abs(number) > _LARGEST_EXACT_DOUBLE:
            number = int(number)
    if isinstance(number, int) and abs(number) > _LARGEST_EXACT_DOUBLE:
        return str(number).encode()
    return rfc8785.dumps(number)


def _string(text: str) -> bytes:
    try:
        return rfc8785.dumps(text)
    except rfc8785.CanonicalizationError:
        return json.dumps(text, ensure_ascii=True).encode()


def _utf16_order(name: str) -> bytes:
    if not isinstance(name, str):
        raise NotJSON("object member names must be strings")
    return name.encode("utf-16-be", "surrogatepass")
