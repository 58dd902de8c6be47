"""Options of a protected view: given to ``@idempotent``, ``Idempotency.protect`` or the app's
configuration, and which of them holds for a request.

The view's own options win over its blueprint's (the nearest blueprint first, for nested
ones), which win over the app's (``protect(app, ...)``), which win over ``IDEMPOTENCY_*``.
Each option is taken on its own: a view that sets only ``wait`` still gets its blueprint's
``ttl``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from .config import ScopeFunction, Settings
from .errors import ConfigurationError
from .isolation import IsolationLevel, checked_level
from .scope import resolve_scope

# Idempotent by definition (RFC 9110, section 9.2.2): never claimed, never stored.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class KeyOptions:
    """Options given in one place; None leaves the option to the next place."""

    required: bool | None = None
    wait: float | None = None
    scope: ScopeFunction | None = None
    ttl: float | None = None
    lock_timeout: float | None = None
    # The unsafe methods protected; None protects every unsafe method.
    methods: frozenset[str] | None = None
    # The level of every stage's transaction and of the final commit; None: the engine's.
    isolation_level: IsolationLevel | None = None

    @classmethod
    def given(
        cls,
        where: str,
        *,
        required: bool | None = None,
        wait: float | None = None,
        scope: ScopeFunction | str | None = None,
        ttl: float | None = None,
        lock_timeout: float | None = None,
        methods: Iterable[str] | None = None,
        isolation_level: IsolationLevel | None = None,
    ) -> KeyOptions:
        """Check options as a user wrote them, naming ``where`` in any error."""
        if required is not None and not isinstance(required, bool):
            raise ConfigurationError(f"{where}: required must be True or False, not {required!r}")
        return cls(
            required=required,
            wait=_seconds(where, "wait", wait, zero_allowed=True),
            scope=None if scope is None else resolve_scope(scope, where=f"{where}: scope"),
            ttl=_seconds(where, "ttl", ttl, zero_allowed=False),
            lock_timeout=_seconds(where, "lock_timeout", lock_timeout, zero_allowed=False),
            methods=None if methods is None else _unsafe_methods(where, methods),
            isolation_level=checked_level(isolation_level, where),
        )

    def over(self, fallback: KeyOptions) -> KeyOptions:
        """These options, with ``fallback``'s where these leave one open."""
        values: dict[str, Any] = {}
        for field in fields(self):
            mine = getattr(self, field.name)
            values[field.name] = getattr(fallback, field.name) if mine is None else mine
        return KeyOptions(**values)

    def protects(self, method: str) -> bool:
        if method in SAFE_METHODS:
            return False
        return self.methods is None or method in self.methods


@dataclass(frozen=True)
class EffectiveOptions:
    """What holds for one request, every option decided."""

    required: bool
    wait: float
    scope: ScopeFunction
    ttl: float
    lock_timeout: float
    isolation_level: IsolationLevel | None

    @classmethod
    def of(cls, options: KeyOptions, settings: Settings) -> EffectiveOptions:
        return cls(
            required=settings.required if options.required is None else options.required,
            wait=settings.wait if options.wait is None else options.wait,
            scope=settings.scope if options.scope is None else options.scope,
            ttl=settings.key_ttl if options.ttl is None else options.ttl,
            lock_timeout=(
                settings.lock_timeout if options.lock_timeout is None else options.lock_timeout
            ),
            isolation_level=options.isolation_level,
        )


def _seconds(where: str, name: str, value: float | None, *, zero_allowed: bool) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{where}: {name} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not zero_allowed):
        raise ConfigurationError(
            f"{where}: {name} must be {'zero or more' if zero_allowed else 'positive'} seconds"
        )
    return float(value)


def _unsafe_methods(where: str, methods: Iterable[str]) -> frozenset[str]:
    if isinstance(methods, str):
        raise ConfigurationError(f'{where}: methods is a list of methods, e.g. ["POST"]')
    names = frozenset(str(method).upper() for method in methods)
    safe = sorted(names & SAFE_METHODS)
    if safe:
        raise ConfigurationError(
            f"{where}: methods cannot include {', '.join(safe)}: safe methods always pass "
            "through unprotected; methods= narrows which unsafe methods are protected"
        )
    if not names:
        raise ConfigurationError(f"{where}: methods is empty; name at least one unsafe method")
    return names
