"""Which request values are never kept at rest.

``request_params`` keeps a request's params for whoever looks into a key later, in a table that
is rarely guarded like the one holding the users' passwords. So the value of a field whose name
looks sensitive is stored as ``"[REDACTED]"``, whatever it is (a string, a list of values, an
upload, a nested document). Never as a digest of the value: a short secret's digest is reversed
by hashing a dictionary of likely values. The fingerprint is computed before redaction, so a
retry with another password is still a different request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[REDACTED]"
# Spelled differently in different APIs: card_number, cardNumber, card-number, "Card Number".
_IGNORED_IN_NAMES = str.maketrans("", "", "_- ")


def sensitive_name_matcher(names: Iterable[str]) -> Callable[[str], bool]:
    """A test of whether a field name contains one of ``names``, compared case-insensitively and
    ignoring "_", "-" and spaces, so "api_key" covers "X-Api-Key" and "password" "newPassword"."""
    parts = tuple(part for part in (_normalized(name) for name in names) if part)

    def is_sensitive(field: str) -> bool:
        normalized = _normalized(field)
        return any(part in normalized for part in parts)

    return is_sensitive


def redacted(document: Any, is_sensitive: Callable[[str], bool]) -> Any:
    """A copy of a JSON-like ``document`` with the value of every sensitive object member, at
    any depth and inside lists, replaced by REDACTED. Level by level rather than recursively,
    since a body may nest nearly as deep as Python's recursion limit."""
    root: list[Any] = [None]
    # (container of the copy, slot in it, original value to copy there)
    pending: list[tuple[Any, Any, Any]] = [(root, 0, document)]
    while pending:
        container, slot, value = pending.pop()
        if isinstance(value, dict):
            members: dict[Any, Any] = {}
            container[slot] = members
            for name, child in value.items():
                members[name] = None  # keeps the original order of the members
                if is_sensitive(str(name)):
                    members[name] = REDACTED
                else:
                    pending.append((members, name, child))
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            container[slot] = items
            pending.extend((items, index, child) for index, child in enumerate(value))
        else:
            container[slot] = value
    return root[0]


def _normalized(name: str) -> str:
    return name.translate(_IGNORED_IN_NAMES).casefold()
