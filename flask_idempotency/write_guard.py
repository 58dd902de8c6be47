"""Refusing database writes that would repeat work a retry must not repeat.

One listener on every engine looks at each statement about to be sent. While a request holds a
key it reports writes to that request's ``StageTracker``, which refuses a write inside a stage
that already completed (before the statement reaches the database) and remembers writes made
outside any stage. The extension's own statements carry an execution option and pass.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .service import INTERNAL_OPTION

_WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "UPSERT", "TRUNCATE"})
# Where the request holding a key keeps its StageTracker.
TRACKER_ENVIRON_KEY = "flask_idempotency.stages"


class WriteObserver(Protocol):
    def observe_write(self) -> None: ...


def is_write(statement: str) -> bool:
    verb = statement.lstrip(" \t\r\n(").split(None, 1)[:1]
    return bool(verb) and verb[0].upper() in _WRITE_VERBS


def _before_cursor_execute(
    connection: Any,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    if not has_request_context():
        return
    tracker: WriteObserver | None = request.environ.get(TRACKER_ENVIRON_KEY)
    if tracker is None or context is None:
        return
    if context.execution_options.get(INTERNAL_OPTION):
        return
    if is_write(statement):
        tracker.observe_write()


def install() -> None:
    if not event.contains(Engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
