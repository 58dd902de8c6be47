"""``stage()``: the atomic phases of a view, and how a retry skips the finished ones.

Each stage's database writes commit together with the key's move to that recovery point. On a
retry the view runs again from the top and each ``stage()`` says whether it is still pending;
the call site decides explicitly, and a completed stage that writes anyway is refused::

    with stage("tax_lines_created") as tax_lines:
        if tax_lines.pending:
            create_tax_lines(cart)

The order of the stages is the order of the first run, recorded in the key: a retry that enters
them in another order, repeats one, or writes outside a stage before a stage (those writes
would commit again with that stage on every retry) raises ``StageError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy.orm import Session

from . import signals
from .errors import StageError
from .isolation import IsolationLevel, begin_at, check_offered, checked_level
from .model import FINISHED, STARTED, IdempotencyKey
from .service import IdempotencyKeyService
from .write_guard import active_observer


@dataclass(frozen=True)
class Stage:
    name: str
    # False when an earlier attempt already committed this stage: skip its work.
    pending: bool


@dataclass
class StageTracker:
    """What one attempt of an idempotent view has done with the key it holds."""

    service: IdempotencyKeyService
    key: IdempotencyKey
    entered: list[str] = field(default_factory=list)
    active: Stage | None = None
    # Writes sent since the last commit outside any stage.
    unstaged_writes: bool = False
    # Whether this attempt began after stages an earlier one committed.
    resumed: bool = False
    # The level of the view's transactions (@idempotent(isolation_level=...)): every stage
    # and the final commit; a stage may ask for its own.
    isolation_level: IsolationLevel | None = None
    # The transaction this tracker began at a level, and that level: not begun again while
    # it is still the session's.
    _begun: tuple[object, IsolationLevel] | None = None

    def __post_init__(self) -> None:
        self.resumed = bool(self.key.completed_stages)

    def restart(self) -> None:
        """Forget this attempt's progress before the view runs again."""
        self.entered.clear()
        self.active = None
        self.unstaged_writes = False
        self.resumed = bool(self.key.completed_stages)
        self._begun = None

    def begin_view_transaction(self) -> None:
        """Begin the view's next transaction at its level, if it has one."""
        if self.isolation_level is not None:
            self._begin_at(self.isolation_level)

    def _begin_at(self, level: IsolationLevel) -> None:
        session = self.service.session
        if self._begun is not None and self._begun == (session.get_transaction(), level):
            return
        check_offered(level, session.get_bind().dialect.name, "isolation_level")
        if session.in_transaction():
            # Only reads can be in it (writes outside stages are refused before a stage), and
            # a level applies only from a transaction's start: end it rather than run weaker.
            self.service.rollback()
        begin_at(session, level)
        self._begun = (session.get_transaction(), level)

    def enter(self, name: str, isolation_level: IsolationLevel | None = None) -> Stage:
        if name in (STARTED, FINISHED):
            raise StageError(f"{name!r} is a reserved recovery point, not a stage name")
        if self.active is not None:
            raise StageError(f"stage {name!r} entered inside stage {self.active.name!r}")
        if name in self.entered:
            raise StageError(f"stage {name!r} entered twice in one request")
        completed = self.key.completed_stages
        position = len(self.entered)
        if position < len(completed):
            if completed[position] != name:
                raise StageError(
                    f"stage {name!r} entered where the first attempt entered "
                    f"{completed[position]!r}; stages must run in the same order every time"
                )
            pending = False
        elif name in completed:
            raise StageError(f"stage {name!r} entered after stages that followed it")
        else:
            pending = True
        if pending and (self.unstaged_writes or has_unflushed_changes(self.service.session)):
            raise StageError(
                f"database writes made before stage {name!r} outside any stage would commit "
                "with it and be repeated by a retry; move them into a stage"
            )
        level = isolation_level or self.isolation_level
        if pending and level is not None:
            self._begin_at(level)
        self.entered.append(name)
        self.active = Stage(name, pending)
        return self.active

    def observe_write(self) -> None:
        if self.active is None:
            self.unstaged_writes = True
        elif not self.active.pending:
            raise StageError(
                f"stage {self.active.name!r} already completed in an earlier attempt and must "
                "not write again; check `.pending` before doing its work"
            )

    def leave(self) -> None:
        """Commit the active stage's work with the key's new recovery point."""
        step, self.active = self.active, None
        if step is not None and step.pending:
            self.service.advance(self.key, step.name)
            self.unstaged_writes = False
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            signals.stage_completed.send(app, key=self.key, stage=step.name)
            self.begin_view_transaction()


def has_unflushed_changes(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted)


def current_tracker() -> StageTracker:
    tracker = active_observer()
    if not isinstance(tracker, StageTracker):
        raise RuntimeError(
            "stage() is only available inside an @idempotent view or an idempotent_function"
        )
    return tracker


@contextmanager
def stage(name: str, *, isolation_level: IsolationLevel | None = None) -> Iterator[Stage]:
    """One atomic phase of an ``@idempotent`` view; see the module documentation.

    ``isolation_level`` (``"SERIALIZABLE"``, ``"REPEATABLE READ"``, ``"READ COMMITTED"`` or
    ``"READ UNCOMMITTED"``) runs the stage's transaction at that level (see isolation.py); by
    default the view's level, or the engine's."""
    level = checked_level(isolation_level, f"stage({name!r})")
    tracker = current_tracker()
    session = tracker.service.session
    step = tracker.enter(name, level)
    try:
        yield step
        if not step.pending and has_unflushed_changes(session):
            raise StageError(
                f"stage {name!r} already completed in an earlier attempt and must not change "
                "anything again; check `.pending` before doing its work"
            )
    except BaseException:
        tracker.service.rollback()
        tracker.active = None
        raise
    tracker.leave()
