"""What a measurement of one kind of request collects, and the figures drawn from it."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

# The kinds of request, in the order the tables print them.
KINDS = ("a", "b", "c", "d", "e")
LABELS = {
    "a": "(a) bare view, one insert",
    "b": "(b) @idempotent, first request",
    "c": "(c) replay",
    "d": "(d) 409 while in flight",
    "e": "(e) storefront completion, 3 stages",
}


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value at or above ``fraction`` of them."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Samples:
    """Latencies in seconds, statements sent, and answers that were not the expected one."""

    latencies: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    unexpected: Counter[str] = field(default_factory=Counter)
    # For load runs: requests completed and the seconds they took, all slices together.
    completed: int = 0
    seconds: float = 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else math.nan

    @property
    def statement_count(self) -> str:
        """The usual count, with the range when some requests sent another number."""
        if not self.statements:
            return "-"
        usual = Counter(self.statements).most_common(1)[0][0]
        low, high = min(self.statements), max(self.statements)
        return str(usual) if low == high else f"{usual} ({low}-{high})"

    def summary(self) -> dict[str, object]:
        return {
            "p50_ms": self.p50 * 1000,
            "p99_ms": self.p99 * 1000,
            "requests": len(self.latencies),
            "per_second": self.per_second if self.seconds else None,
            "statements": self.statement_count,
            "unexpected": dict(self.unexpected),
        }
