"""Sending requests at the same moment, each from a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Reply = TypeVar("Reply")


def at_once(sends: Sequence[Callable[[], Reply]]) -> list[Reply]:
    """Each of ``sends`` in a thread of its own, released together by a barrier; their replies
    in the same order."""
    start = threading.Barrier(len(sends))
    replies: dict[int, Reply] = {}

    def run(index: int) -> None:
        start.wait(timeout=60)
        replies[index] = sends[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(replies) == len(sends), "a request did not come back"
    return [replies[index] for index in range(len(sends))]
