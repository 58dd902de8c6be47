"""``current_key``: the key the running view or idempotent function holds.

For example, to hand the key on to a payment provider as its own idempotency key, so that a
retry that resumes before the charge is recorded cannot charge twice::

    stripe.PaymentIntent.create(..., idempotency_key=f"{current_key.key}:charge")
"""

from __future__ import annotations

from datetime import datetime

from werkzeug.local import LocalProxy

from .stage import StageTracker
from .write_guard import active_observer


class CurrentKey:
    """A read-only view of the held key; its recovery point follows the stages as they
    commit."""

    def __init__(self, tracker: StageTracker) -> None:
        self._tracker = tracker

    @property
    def key(self) -> str:
        """The key as the client sent it (or as generated, when the client sent none)."""
        return self._tracker.key.idempotency_key

    @property
    def scope(self) -> str:
        """The caller's scope, as stored with the key."""
        return self._tracker.key.scope

    @property
    def recovery_point(self) -> str:
        """The last committed recovery point: ``started``, or the last completed stage."""
        return self._tracker.key.recovery_point

    @property
    def completed_stages(self) -> list[str]:
        """The stages committed so far, by this attempt and the ones before it."""
        return list(self._tracker.key.completed_stages)

    @property
    def resumed(self) -> bool:
        """Whether an earlier attempt committed stages that this one resumes after."""
        return self._tracker.resumed

    @property
    def created_at(self) -> datetime | None:
        """When the key was created (or, for an expired key started afresh, recreated), by
        the database's clock, naive UTC."""
        return self._tracker.key.created_at

    @property
    def expires_at(self) -> datetime | None:
        """When the key expires (``ttl``), by the database's clock, naive UTC."""
        return self._tracker.key.expires_at

    def __repr__(self) -> str:
        return f"<CurrentKey {self.key!r} at {self.recovery_point!r}>"


def _current() -> CurrentKey:
    tracker = active_observer()
    if not isinstance(tracker, StageTracker):
        raise RuntimeError(
            "current_key is only available inside an @idempotent view or an "
            "idempotent_function, while it holds its key"
        )
    return CurrentKey(tracker)


current_key: CurrentKey = LocalProxy(_current)  # type: ignore[assignment]
