"""Whether SQL that SQLAlchemy holds only as text writes to the database.

``text()``, ``exec_driver_sql()`` and ``from_statement()`` hand SQLAlchemy a string it does not
parse, so the write guard reads it. A statement writes when a write verb (``INSERT``,
``UPDATE``, ``DELETE``, ``MERGE``, ``REPLACE``, ``UPSERT``, ``TRUNCATE``) begins it, begins a
CTE's body (``WITH x AS (UPDATE ... RETURNING id) SELECT ...``) or follows the list of CTEs
(``WITH x AS (...) DELETE ...``), or begins a later statement after a ``;``. Comments, string
literals and quoted names are skipped, in each dialect's own syntax, so ``/* audit */ UPDATE``
is a write, ``SELECT 'UPDATE'`` is not, and neither is ``SELECT ... FOR UPDATE``, whose verb
follows ``FOR``. A verb followed by ``(`` is a function call, as MySQL's ``REPLACE(s, a, b)``.
Functions and procedures that write (``SELECT f()``, ``CALL p()``) cannot be told from text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

_WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT", "TRUNCATE"})
# What comes just before a statement's first word: nothing, a CTE body's opening parenthesis,
# the parenthesis closing the list of CTEs, or the end of an earlier statement.
_STATEMENT_STARTS = frozenset({"", "(", ")", ";"})
# Tokens standing for a quoted name and a literal, whatever their content.
_QUOTED_NAME = '"'
_LITERAL = "'"

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_QUOTE = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_MYSQL_EXECUTABLE_COMMENT = re.compile(r"/\*M?!\d*")


@dataclass(frozen=True)
class SqlSyntax:
    """How a dialect writes comments and quotes, as far as finding a statement's verbs needs."""

    # MySQL: ``#`` comments to the end of the line.
    hash_comments: bool = False
    # MySQL: a backslash escapes the next character in a quoted string.
    backslash_escapes: bool = False
    # MySQL: ``/*! ... */`` is not a comment, the server runs what it holds.
    executable_comments: bool = False
    # PostgreSQL: ``/* /* */ */`` nests; ``$tag$ ... $tag$`` quotes; ``E'...'`` takes escapes.
    postgresql_quoting: bool = False


STANDARD = SqlSyntax()
_SYNTAX_BY_DIALECT = {
    "postgresql": SqlSyntax(postgresql_quoting=True),
    "mysql": SqlSyntax(hash_comments=True, backslash_escapes=True, executable_comments=True),
    "mariadb": SqlSyntax(hash_comments=True, backslash_escapes=True, executable_comments=True),
}


def syntax_of(dialect_name: str) -> SqlSyntax:
    return _SYNTAX_BY_DIALECT.get(dialect_name, STANDARD)


@lru_cache(maxsize=1024)
def sql_writes(sql: str, syntax: SqlSyntax = STANDARD) -> bool:
    """Whether ``sql`` (one statement or several) writes; see the module documentation."""
    tokens = list(_tokens(sql, syntax))
    previous = ""
    for index, token in enumerate(tokens):
        if token in _WRITE_VERBS and previous in _STATEMENT_STARTS:
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            # A statement's verb is followed by a name or a keyword (INTO, FROM, a table).
            if following == _QUOTED_NAME or _WORD.fullmatch(following):
                return True
        previous = token
    return False


def _tokens(sql: str, syntax: SqlSyntax) -> Iterator[str]:
    """The significant tokens of ``sql``: words upper-cased, a quoted name as ``"``, a literal
    as ``'``, any other character as itself. Whitespace and comments are left out."""
    position, end = 0, len(sql)
    while position < end:
        char = sql[position]
        if char.isspace():
            space = _SPACE.match(sql, position)
            position = space.end() if space else position + 1
        elif sql.startswith("--", position) or (char == "#" and syntax.hash_comments):
            newline = sql.find("\n", position)
            position = end if newline < 0 else newline + 1
        elif syntax.executable_comments and (
            executable := _MYSQL_EXECUTABLE_COMMENT.match(sql, position)
        ):
            # Read on inside it; its closing */ is skipped below.
            position = executable.end()
        elif syntax.executable_comments and sql.startswith("*/", position):
            position += 2
        elif sql.startswith("/*", position):
            position = _end_of_block_comment(sql, position, nested=syntax.postgresql_quoting)
        elif char == "'":
            position = _end_of_quoted(sql, position, escapes=syntax.backslash_escapes)
            yield _LITERAL
        elif char == '"':
            # A name, or in MySQL a string: skipped either way.
            position = _end_of_quoted(sql, position, escapes=syntax.backslash_escapes)
            yield _QUOTED_NAME
        elif char == "`":
            position = _end_of_quoted(sql, position, escapes=False)
            yield _QUOTED_NAME
        elif char == "[":
            closing = sql.find("]", position + 1)
            position = end if closing < 0 else closing + 1
            yield _QUOTED_NAME
        elif syntax.postgresql_quoting and (dollar := _DOLLAR_QUOTE.match(sql, position)):
            closing = sql.find(dollar.group(), dollar.end())
            position = end if closing < 0 else closing + len(dollar.group())
            yield _LITERAL
        elif word := _WORD.match(sql, position):
            position = word.end()
            if (
                syntax.postgresql_quoting
                and word.group() in ("E", "e")
                and sql.startswith("'", position)
            ):
                position = _end_of_quoted(sql, position, escapes=True)
                yield _LITERAL
            else:
                yield word.group().upper()
        else:
            position += 1
            yield char


def _end_of_quoted(sql: str, start: int, *, escapes: bool) -> int:
    """Where the string or name opened by the quote at ``start`` ends; a doubled quote is one
    character of it."""
    quote, position, end = sql[start], start + 1, len(sql)
    while position < end:
        char = sql[position]
        escaped = escapes and char == "\\"
        if escaped or (char == quote and sql.startswith(quote, position + 1)):
            position += 2
        elif char == quote:
            return position + 1
        else:
            position += 1
    return end


def _end_of_block_comment(sql: str, start: int, *, nested: bool) -> int:
    depth, position = 1, start + 2
    while depth:
        closing = sql.find("*/", position)
        if closing < 0:
            return len(sql)
        opening = sql.find("/*", position, closing) if nested else -1
        if opening >= 0:
            depth, position = depth + 1, opening + 2
        else:
            depth, position = depth - 1, closing + 2
    return position
