"""How keys and scopes appear in log lines: enough to correlate, not enough to use.

A key is what a caller presents to get a stored response back, and a scope may be a user name
or stand for a credential, so neither is logged whole.
"""

from __future__ import annotations

import hashlib
import logging

logger = logging.getLogger("flask_idempotency")


def abbreviated(key: str) -> str:
    """The first characters of a key, enough to correlate log lines."""
    return key[:6] + "…" if len(key) > 6 else "…"


def digested(scope: str) -> str:
    """A short digest of a scope: the same caller gives the same digest in every line."""
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


class KeyInLog:
    """A key and its scope as a log line names them, formatted only if the line is written:
    the digest is not worth computing for every request at a level nobody logs."""

    __slots__ = ("key", "scope")

    def __init__(self, key: str, scope: str) -> None:
        self.key = key
        self.scope = scope

    def __str__(self) -> str:
        return f"key {abbreviated(self.key)} of scope {digested(self.scope)}"
