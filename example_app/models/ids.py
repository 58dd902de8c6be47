"""Identifiers and times as the store API gives them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.dialects import mysql

# Longest id any table holds: a prefix such as "variant_" and 32 hex digits.
ID_LENGTH = 40
_IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,40}")
# To the microsecond everywhere: MariaDB's DATETIME keeps whole seconds unless told, and lines
# are listed in the order they were made.
Timestamp = (
    DateTime()
    .with_variant(mysql.DATETIME(fsp=6), "mariadb")
    .with_variant(mysql.DATETIME(fsp=6), "mysql")
)


def new_id(prefix: str) -> str:
    """Medusa-style identifiers: the type's prefix (``cart``, ``item``, ...) and a random part."""
    return f"{prefix}_{uuid.uuid4().hex}"


def is_identifier(value: object) -> bool:
    """Whether ``value`` could be an id here; anything else is known to match no row."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def utcnow() -> datetime:
    """Naive UTC, as every DateTime column holds it."""
    return datetime.now(UTC).replace(tzinfo=None)


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as Medusa's JSON has it."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds") + "Z"
