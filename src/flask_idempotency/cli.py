"""``flask idempotency ...`` commands."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .state import get_state

idempotency_cli = AppGroup("idempotency", help="Manage idempotency keys.")


@idempotency_cli.command("purge")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Keys deleted per transaction (default: IDEMPOTENCY_PURGE_BATCH_SIZE).",
)
def purge(batch_size: int | None) -> None:
    """Delete expired keys that no request holds."""
    deleted = get_state().service.purge_expired(batch_size)
    click.echo(f"Deleted {deleted} expired idempotency keys.")
