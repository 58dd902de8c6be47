"""Keeping the extension's statement parameters out of error messages.

The extension's statements carry idempotency keys, scopes and request params. SQLAlchemy puts a
failed statement's parameters into its error message, and so into every logged traceback,
unless the engine was made with ``hide_parameters``. For the extension's own statements the
parameters are hidden whatever the application chose, and the error is marked as the
extension's, so that the decorator can replace one that is no outage with a ``KeyStorageError``
that does not carry the database's message (PostgreSQL's quotes the failing row).
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext

from .database_errors import mark_internal
from .internal import INTERNAL_OPTION


def _hide_internal_parameters(context: ExceptionContext) -> None:
    execution = context.execution_context
    if execution is None or not execution.execution_options.get(INTERNAL_OPTION):
        return
    if context.sqlalchemy_exception is not None:
        context.sqlalchemy_exception.hide_parameters = True
        mark_internal(context.sqlalchemy_exception)


def install() -> None:
    if not event.contains(Engine, "handle_error", _hide_internal_parameters):
        event.listen(Engine, "handle_error", _hide_internal_parameters)
