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
    """The database could not be reached, dropped the connection, is out of resources, or kept
    failing with serialization failures or deadlocks: answer 503, which the client may retry.
    Any other database error is a bug to see as a 500."""
    if isinstance(error, exc.TimeoutError):  # no pooled connection became free in time
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, exc.InterfaceError) or is_retryable(error):
        return True
    if not isinstance(error, exc.OperationalError):
        return False
    original = error.orig
    sqlstate = getattr(original, "sqlstate", _NOT_POSTGRESQL)
    if sqlstate is None:  # psycopg raises errors without a SQLSTATE when it cannot connect
        return True
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
    arguments = getattr(original, "args", ())
    if arguments and isinstance(arguments[0], int):
        return arguments[0] in _UNAVAILABLE_MYSQL_ERRORS
    # sqlite3 errors carry no code, only their message.
    return any(message in str(original) for message in _UNAVAILABLE_SQLITE_MESSAGES)


_NOT_POSTGRESQL = object()
# PostgreSQL SQLSTATE classes: connection exception, insufficient resources, operator
# intervention (shutdown, crash, "cannot connect now").
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57P")
# MySQL/MariaDB: too many connections, server shutdown, lock wait timeout, and the client's
# cannot connect, server gone away, lost connection, server lost.
_UNAVAILABLE_MYSQL_ERRORS = frozenset({1040, 1053, 1205, 2002, 2003, 2006, 2013, 2055})
_UNAVAILABLE_SQLITE_MESSAGES = ("unable to open database", "disk I/O error", "database is locked")
