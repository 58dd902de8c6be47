"""Which database errors are worth retrying, and which mean the database is out of reach."""

from __future__ import annotations

from sqlalchemy import exc

# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# MySQL/MariaDB error numbers: deadlock, "record has changed since last read" (snapshot
# isolation in newer MariaDB), which the server resolved by rolling our transaction back.
_RETRYABLE_MYSQL_ERRORS = frozenset({1213, 1020})


def is_retryable(error: BaseException) -> bool:
    """A serialization failure or deadlock: the transaction was rolled back and may be rerun."""
    if not isinstance(error, exc.DBAPIError) or error.connection_invalidated:
        return False
    original = error.orig
    if getattr(original, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    arguments = getattr(original, "args", ())
    if arguments and arguments[0] in _RETRYABLE_MYSQL_ERRORS:
        return True
    # SQLite has one writer at a time; a writer that waited out its busy timeout may try again.
    return isinstance(error, exc.OperationalError) and "database is locked" in str(original)


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached or dropped the connection: answer 503, not 500."""
    if isinstance(error, exc.TimeoutError):  # no pooled connection became free in time
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, exc.OperationalError | exc.InterfaceError)
