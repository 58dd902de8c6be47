"""Which database errors are worth retrying, which mean the database is out of reach, and how
to name one in a log line without the data it carries."""

from __future__ import annotations

from sqlalchemy import exc

# Marks an error raised by one of the extension's own statements (see statement_privacy.py).
_INTERNAL_MARK = "_flask_idempotency_statement"


class KeyStorageError(RuntimeError):
    """The database refused one of the extension's own statements for a reason that is no
    outage (a constraint or trigger of yours, a table that does not match the model). A 500;
    its message names the error's kind and code, never the values it quoted."""


def mark_internal(error: BaseException) -> None:
    setattr(error, _INTERNAL_MARK, True)


def is_internal(error: BaseException) -> bool:
    return bool(getattr(error, _INTERNAL_MARK, False))


# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, and lock_not_available (a
# lock_timeout ran out while another transaction held a row: it may be gone on a rerun).
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
# MySQL/MariaDB error numbers: deadlock (also Galera's certification failure), "record has
# changed since last read" (snapshot isolation in newer MariaDB), and lock wait timeout.
_RETRYABLE_MYSQL_ERRORS = frozenset({1213, 1020, 1205})


def is_retryable(error: BaseException) -> bool:
    """A serialization failure, deadlock or lock wait timeout: the transaction was rolled back
    (or is, by the caller) and a rerun may succeed."""
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
    # MySQL drivers' errors start with the server's error number (PyMySQL's may carry a
    # SQLSTATE too, but a less precise one: HY000 for most).
    arguments = getattr(original, "args", ())
    if arguments and isinstance(arguments[0], int):
        return arguments[0] in _UNAVAILABLE_MYSQL_ERRORS
    sqlstate = getattr(original, "sqlstate", _NOT_POSTGRESQL)
    if sqlstate is None:  # psycopg raises errors without a SQLSTATE when it cannot connect
        return True
    if isinstance(sqlstate, str):
        return (
            sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES) or sqlstate in _UNAVAILABLE_SQLSTATES
        )
    # sqlite3 errors carry no code, only their message.
    return any(message in str(original) for message in _UNAVAILABLE_SQLITE_MESSAGES)


_NOT_POSTGRESQL = object()
# PostgreSQL SQLSTATE classes: connection exception, insufficient resources, operator
# intervention (shutdown, crash, "cannot connect now").
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57P")
# PostgreSQL: statement_timeout or a cancel (query_canceled), lock_timeout (lock_not_available).
_UNAVAILABLE_SQLSTATES = frozenset({"57014", "55P03"})
# MySQL/MariaDB: Galera's "WSREP has not yet prepared node for application use" (a node outside
# the primary component), too many connections, server shutdown, lock wait timeout, query
# interrupted or over max_statement_time, and the client's cannot connect, server gone away,
# lost connection, server lost.
_UNAVAILABLE_MYSQL_ERRORS = frozenset(
    {1047, 1040, 1053, 1205, 1317, 1969, 3024, 2002, 2003, 2006, 2013, 2055}
)
_UNAVAILABLE_SQLITE_MESSAGES = ("unable to open database", "disk I/O error", "database is locked")


def describe(error: BaseException) -> str:
    """The kind of a database error and its code, for a log line: never its message, which may
    quote the row or the statement's parameters (a key, a scope, a body)."""
    original = error.orig if isinstance(error, exc.DBAPIError) else error
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    arguments = getattr(original, "args", ())
    if code is None and arguments and isinstance(arguments[0], int):
        code = arguments[0]
    kind = f"{type(error).__name__} ({type(original).__module__}.{type(original).__name__})"
    return kind if code is None else f"{kind} code {code}"
