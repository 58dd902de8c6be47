"""Waiting, with a deadline, for something the cluster does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable

# How long a poll goes on before the test gives up: far beyond any pause the cluster takes
# (about 6 s to evict a node), so that it only bounds a test that is failing anyway.
PATIENCE = 90


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.05)
