"""Which JSON documents every supported database can store.

PostgreSQL's JSONB refuses the NUL character, MariaDB's JSON check refuses documents nested 32
levels deep or more, and no database takes text that is not valid UTF-8 (JSON allows lone
surrogates) or the NaN and Infinity that Python's json reads and writes (JSON has no such
numbers). A document outside those bounds is not stored as a document; what is stored instead
is said where this is used.
"""

from __future__ import annotations

import math
from typing import Any

# MariaDB's JSON_VALID() refuses nesting of 32 levels and more.
MAX_DEPTH = 31


def is_storable(document: Any) -> bool:
    return _storable(document, depth=1)


def _storable(value: Any, depth: int) -> bool:
    if isinstance(value, str):
        return _storable_text(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            return False
        if isinstance(value, dict):
            return all(
                _storable_text(key) and _storable(item, depth + 1) for key, item in value.items()
            )
        return all(_storable(item, depth + 1) for item in value)
    return True


def _storable_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
