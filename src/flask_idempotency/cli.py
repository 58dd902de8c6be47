"""``flask idempotency ...``: inspect and administer stored keys from the command line.

Only Click lives here; the queries are maintenance.py's. Errors are messages, never
tracebacks: exit status 1 when an operation is refused or a key is not found, 2 for a usage
error (Click's own convention).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from .database_errors import describe
from .maintenance import (
    KeyInSeveralScopes,
    KeyMaintenance,
    KeyStatistics,
    KeySummary,
    LockChanged,
    LockTooYoung,
    NoSuchKey,
)
from .state import get_state

# The purge draws a bar by itself, on a terminal, from this many batches to delete.
PROGRESS_BAR_BATCHES = 3

idempotency_cli = AppGroup(
    "idempotency",
    help="""Inspect and administer stored idempotency keys.

    Times are UTC, read from the database's clock. The stored response body and the request's
    params are never shown: they may hold personal data.

    Exit status: 0 done, 1 refused or not found, 2 usage error (for example a key that exists
    in several scopes without --scope).
    """,
)


UNIT_SECONDS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60, "w": 7 * 24 * 60 * 60}
_NUMBER = r"\d+(?:\.\d+)?"
_WITH_UNITS = re.compile(rf"(?:{_NUMBER}[smhdw])+")
_UNIT_PART = re.compile(rf"({_NUMBER})([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds, from a number (90, 1.5) or from units (30s, 15m, 12h, 7d, 2w, 1h30m)."""
    compact = text.strip().lower()
    if re.fullmatch(_NUMBER, compact):
        return float(compact)
    if _WITH_UNITS.fullmatch(compact):
        return sum(
            float(number) * UNIT_SECONDS[unit] for number, unit in _UNIT_PART.findall(compact)
        )
    raise ValueError(
        f"{text!r} is not a duration: give seconds (90) or a number with a unit "
        "(30s, 15m, 12h, 7d; combined as 1h30m)."
    )


def _duration_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
    if value is None:
        return 0
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


SCOPE_OPTION = click.option(
    "--scope",
    default=None,
    help='The key\'s scope, exactly as stored ("" for the global scope). Needed when the key '
    "exists in several scopes.",
)
JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON instead of text, for scripts."
)


@contextmanager
def administering() -> Iterator[KeyMaintenance]:
    """The current app's key maintenance; its errors become messages and exit statuses."""
    try:
        state = get_state()
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    service = state.service
    try:
        yield KeyMaintenance(service.session, service.table, state.settings)
    except NoSuchKey as missing:
        raise click.ClickException(
            f"No idempotency key {describe_key(missing.idempotency_key, missing.scope)}."
        ) from None
    except KeyInSeveralScopes as ambiguous:
        scopes = ", ".join(quoted(scope) for scope in ambiguous.scopes)
        more = " and more" if ambiguous.more else ""
        raise click.UsageError(
            f"Idempotency key {quoted(ambiguous.idempotency_key)} exists in several scopes: "
            f"{scopes}{more}. Name one with --scope.",
            ctx=click.get_current_context(silent=True),
        ) from None
    except SQLAlchemyError as error:
        raise click.ClickException(f"The database failed: {describe(error)}.") from None


@idempotency_cli.command("purge")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Keys deleted per transaction (default: IDEMPOTENCY_PURGE_BATCH_SIZE).",
)
@click.option(
    "--older-than",
    callback=_duration_option,
    metavar="DURATION",
    help="Only keys that expired at least this long ago: seconds (3600), or with a unit "
    "(30s, 15m, 12h, 7d).",
)
@click.option("--dry-run", is_flag=True, help="Count the keys it would delete; delete nothing.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help=f"Show a progress bar, or never. Default: on a terminal, when more than "
    f"{PROGRESS_BAR_BATCHES} batches are to be deleted.",
)
def purge(batch_size: int | None, older_than: float, dry_run: bool, progress: bool | None) -> None:
    """Delete expired keys that no request holds.

    Keys go oldest expiry first, one transaction per batch; an expired key whose lock is
    younger than IDEMPOTENCY_LOCK_TIMEOUT is kept. Prints how many were deleted. Run it from
    cron; on SQLite, smaller batches make requests wait less.
    """
    with administering() as maintenance:
        if dry_run:
            would = maintenance.purge(older_than=older_than, dry_run=True)
            click.echo(f"Would delete {counted(would, 'expired idempotency key')}.")
            return
        batch_size = batch_size or maintenance.settings.purge_batch_size
        purgeable = None
        if progress or (progress is None and sys.stdout.isatty()):
            purgeable = maintenance.count_purgeable(older_than)
            if not progress and purgeable <= PROGRESS_BAR_BATCHES * batch_size:
                purgeable = None
        if purgeable is None:
            deleted = maintenance.purge(batch_size, older_than=older_than)
        else:
            with click.progressbar(
                length=purgeable, label=f"Purging {counted(purgeable, 'expired idempotency key')}"
            ) as bar:
                deleted = maintenance.purge(batch_size, older_than=older_than, progress=bar.update)
    click.echo(f"Deleted {counted(deleted, 'expired idempotency key')}.")


@idempotency_cli.command("show")
@click.argument("key")
@SCOPE_OPTION
@JSON_OPTION
def show(key: str, scope: str | None, as_json: bool) -> None:
    """Show the idempotency key KEY.

    Its state (finished, in flight, resumable or expired), recovery point, completed stages,
    lock age, creation and expiry times, the stored response's status and size, and the
    request's method and path. Without --scope, the key must exist in one scope only.
    """
    with administering() as maintenance:
        summary = maintenance.find(key, scope)
        lock_timeout = maintenance.settings.lock_timeout
    if as_json:
        click.echo(json.dumps(summary_as_json(summary), indent=2))
        return
    lock_age = "not locked" if summary.lock_age is None else f"{summary.lock_age:.1f} s"
    lines = {
        "key": quoted(summary.idempotency_key),
        "scope": quoted(summary.scope),
        "state": summary.state,
        "recovery point": printable(summary.recovery_point),
        "completed stages": ", ".join(map(printable, summary.completed_stages)) or "none",
        "lock age": f"{lock_age} (lock timeout {lock_timeout:g} s)",
        "created": f"{summary.created_at.isoformat(sep=' ', timespec='milliseconds')} UTC",
        "expires": f"{summary.expires_at.isoformat(sep=' ', timespec='milliseconds')} UTC",
        "response": describe_response(summary),
        "request": printable(f"{summary.request_method} {summary.request_path}"),
    }
    width = max(map(len, lines)) + 2
    for label, value in lines.items():
        click.echo(f"{label + ':':<{width}}{value}")


@idempotency_cli.command("list")
@click.option("--locked", is_flag=True, help="Only keys a request holds, or held and left.")
@click.option("--expired", is_flag=True, help="Only expired keys.")
@click.option("--recovery-point", metavar="NAME", help="Only keys at this recovery point.")
@SCOPE_OPTION
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Most keys listed.",
)
@JSON_OPTION
def list_keys(
    locked: bool,
    expired: bool,
    recovery_point: str | None,
    scope: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List keys, newest first, one line each.

    Filters given together narrow the list (--locked --expired: expired keys still locked).
    """
    with administering() as maintenance:
        keys = maintenance.list_keys(
            locked=locked, expired=expired, recovery_point=recovery_point, scope=scope, limit=limit
        )
    if as_json:
        click.echo(json.dumps([summary_as_json(key) for key in keys], indent=2))
        return
    if not keys:
        click.echo("No idempotency keys match.")
        return
    header = ("CREATED (UTC)", "STATE", "RECOVERY POINT", "LOCK AGE", "STATUS", "REQUEST")
    rows = [
        (
            key.created_at.isoformat(sep=" ", timespec="seconds"),
            key.state,
            printable(key.recovery_point),
            "-" if key.lock_age is None else f"{key.lock_age:.1f} s",
            "-" if key.response_code is None else str(key.response_code),
            printable(f"{key.request_method} {key.request_path}"),
            quoted(key.scope),
            quoted(key.idempotency_key),
        )
        for key in keys
    ]
    click.echo(aligned([(*header, "SCOPE", "KEY"), *rows]))


@idempotency_cli.command("unlock")
@click.argument("key")
@SCOPE_OPTION
@click.option(
    "--force",
    is_flag=True,
    help="Unlock even while the lock is younger than IDEMPOTENCY_LOCK_TIMEOUT.",
)
def unlock(key: str, scope: str | None, force: bool) -> None:
    """Clear the lock of the idempotency key KEY, so that a retry resumes it.

    The key keeps its recovery point: a retry resumes after its last completed stage. A lock
    younger than IDEMPOTENCY_LOCK_TIMEOUT may belong to a request still running, so it is
    refused (exit 1) unless --force; a request still running after --force can no longer
    commit (its writes roll back and it answers 409). A key that is not locked is left as it
    is (exit 0). Only the lock read is cleared: if a request takes or renews it meanwhile,
    nothing changes (exit 1).
    """
    with administering() as maintenance:
        try:
            outcome = maintenance.unlock(key, scope, force=force)
        except LockTooYoung as refusal:
            held = refusal.key
            raise click.ClickException(
                f"Idempotency key {describe_key(held.idempotency_key, held.scope)} was locked "
                f"{held.lock_age or 0:.1f} s ago, less than the lock timeout "
                f"(IDEMPOTENCY_LOCK_TIMEOUT = {refusal.lock_timeout:g} s): the request holding "
                "it may still be running. Wait until the lock is older, or pass --force."
            ) from None
        except LockChanged as changed:
            raise click.ClickException(
                f"The lock of idempotency key "
                f"{describe_key(changed.key.idempotency_key, changed.key.scope)} changed while "
                "unlocking it (a request took, renewed or released it); nothing was changed."
            ) from None
    found = outcome.key
    name = describe_key(found.idempotency_key, found.scope)
    if not outcome.was_locked:
        click.echo(f"Idempotency key {name} is not locked; nothing to do.")
        return
    click.echo(
        f"Unlocked idempotency key {name}, locked {found.lock_age or 0:.1f} s ago; a retry "
        f"resumes it from its recovery point, {printable(found.recovery_point)}."
    )


@idempotency_cli.command("stats")
@JSON_OPTION
def stats(as_json: bool) -> None:
    """Count keys: in all, expired, purgeable, locked, and by recovery point."""
    with administering() as maintenance:
        statistics = maintenance.statistics()
    if as_json:
        click.echo(json.dumps(statistics_as_json(statistics), indent=2))
        return
    lines = {
        "keys": str(statistics.total),
        "expired": f"{statistics.expired} ({statistics.purgeable} purgeable now)",
        "locked": f"{statistics.locked} ({statistics.locks_past_timeout} past the lock timeout)",
    }
    for label, value in lines.items():
        click.echo(f"{label + ':':<10}{value}")
    if statistics.by_recovery_point:
        click.echo("by recovery point:")
        by_count = sorted(
            statistics.by_recovery_point.items(), key=lambda item: (-item[1], item[0])
        )
        width = max(len(printable(name)) for name, _ in by_count)
        for name, number in by_count:
            click.echo(f"  {printable(name):<{width}}  {number}")


# Formatting -------------------------------------------------------------------------------


def quoted(text: str) -> str:
    """``text`` in double quotes, so that spaces and an empty scope show, and nothing in it can
    drive the terminal."""
    return printable(json.dumps(text, ensure_ascii=False))


def printable(text: str) -> str:
    return "".join(
        character if character.isprintable() else f"\\u{ord(character):04x}" for character in text
    )


def describe_key(idempotency_key: str, scope: str | None) -> str:
    name = quoted(idempotency_key)
    return name if scope is None else f"{name} in scope {quoted(scope)}"


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def describe_response(summary: KeySummary) -> str:
    if summary.response_code is None:
        return "none yet"
    if not summary.response_kept:
        return f"{summary.response_code}, body not kept (larger than IDEMPOTENCY_MAX_RESPONSE_SIZE)"
    if summary.response_size is None:
        return str(summary.response_code)
    return f"{summary.response_code}, {counted(summary.response_size, 'byte')}"


def aligned(rows: list[tuple[str, ...]]) -> str:
    """Rows as columns two spaces apart; the last column, the longest (a key), unpadded."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]
        )
        for row in rows
    )


def utc(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat()


def summary_as_json(summary: KeySummary) -> dict[str, Any]:
    return {
        "idempotency_key": summary.idempotency_key,
        "scope": summary.scope,
        "state": summary.state,
        "recovery_point": summary.recovery_point,
        "completed_stages": list(summary.completed_stages),
        "lock_age_seconds": summary.lock_age,
        "created_at": utc(summary.created_at),
        "expires_at": utc(summary.expires_at),
        "response_code": summary.response_code,
        "response_size": summary.response_size,
        "response_kept": summary.response_kept,
        "request_method": summary.request_method,
        "request_path": summary.request_path,
    }


def statistics_as_json(statistics: KeyStatistics) -> dict[str, Any]:
    return {
        "total": statistics.total,
        "expired": statistics.expired,
        "purgeable": statistics.purgeable,
        "locked": statistics.locked,
        "locks_past_timeout": statistics.locks_past_timeout,
        "by_recovery_point": statistics.by_recovery_point,
    }
