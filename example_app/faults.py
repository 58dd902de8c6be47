"""Fault injection for demos and tests, active only when ``STOREFRONT_FAULTS`` is true.

``X-Storefront-Fault: <stage>`` makes that completion stage raise after doing its writes, so
they roll back and the client gets a 500; ``X-Storefront-Delay: <seconds>`` sleeps inside the
``payment_authorized`` stage before it commits.
"""

from __future__ import annotations

import time

from flask import current_app, request

FAULT_HEADER = "X-Storefront-Fault"
DELAY_HEADER = "X-Storefront-Delay"
# A demo delay is bounded, so a stray header cannot tie up a worker for long.
MAX_DELAY_SECONDS = 60.0


class InjectedFault(RuntimeError):
    """Raised on purpose by X-Storefront-Fault."""


def _enabled() -> bool:
    return bool(current_app.config.get("STOREFRONT_FAULTS"))


def fail_if_asked(stage: str) -> None:
    if _enabled() and request.headers.get(FAULT_HEADER) == stage:
        raise InjectedFault(f"fault injected in stage {stage}")


def delay_if_asked() -> None:
    if not _enabled():
        return
    try:
        seconds = float(request.headers.get(DELAY_HEADER, "0"))
    except ValueError:
        return
    if seconds > 0:
        time.sleep(min(seconds, MAX_DELAY_SECONDS))
