"""The run's picture: latency against the number of keys in the table, and the overhead of
each kind of request as a ratio to the bare view, one column per database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .databases import LABELS as DATABASE_LABELS
from .report import FLOOR_FIRST, FLOOR_REPLAY
from .samples import LABELS

LATENCY_TICKS = [0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]
RATIO_TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]
COLOURS = {"a": "#444444", "b": "#1f77b4", "c": "#2ca02c", "d": "#ff7f0e", "e": "#9467bd"}


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter

    def plain_log_axis(axis: Any, ticks: list[float]) -> None:
        axis.set_yscale("log")
        axis.yaxis.set_major_locator(FixedLocator(ticks))
        axis.yaxis.set_major_formatter(lambda value, _: f"{value:g}")
        axis.yaxis.set_minor_formatter(NullFormatter())

    databases = results["databases"]
    columns = len(databases)
    figure, axes = plt.subplots(
        2, columns, figsize=(4.6 * columns, 8), squeeze=False, constrained_layout=True
    )
    for column, (kind, found) in enumerate(databases.items()):
        latency, overhead = axes[0][column], axes[1][column]
        by_size = found["inprocess"]
        sizes = [int(size) for size in by_size]
        for request_kind in by_size[next(iter(by_size))]:
            latency.plot(
                sizes,
                [by_size[str(size)][request_kind]["p50_ms"] for size in sizes],
                marker="o",
                color=COLOURS[request_kind],
                label=LABELS[request_kind],
            )
        latency.set_xscale("log")
        plain_log_axis(latency, LATENCY_TICKS)
        latency.set_xticks(sizes, [f"$10^{len(str(size)) - 1}$" for size in sizes])
        latency.set_title(f"{DATABASE_LABELS[kind]}: p50 latency, in-process")
        latency.set_xlabel("keys in the table")
        latency.set_ylabel("ms")
        latency.grid(True, which="both", alpha=0.3)

        smallest = by_size[next(iter(by_size))]
        kinds = [name for name in smallest if name != "a"]
        width = 0.38
        positions = range(len(kinds))
        base = smallest["a"]["p50_ms"]
        ratios = [smallest[name]["p50_ms"] / base for name in kinds]
        bars = overhead.bar(
            [position - width / 2 for position in positions],
            ratios,
            width,
            color=[COLOURS[name] for name in kinds],
            label="in-process p50",
        )
        overhead.bar_label(bars, [f"{value:.2f}" for value in ratios], fontsize="x-small")
        http = found.get("http")
        if http:
            served = [http[name]["p50_ms"] / http["a"]["p50_ms"] for name in kinds]
            bars = overhead.bar(
                [position + width / 2 for position in positions],
                served,
                width,
                color=[COLOURS[name] for name in kinds],
                alpha=0.45,
                hatch="//",
                label="HTTP p50 (gunicorn -w 4)",
            )
            overhead.bar_label(bars, [f"{value:.2f}" for value in served], fontsize="x-small")
        overhead.axhline(1.0, color="black", linewidth=0.8)
        if kind == "postgresql":
            for position, floor in ((0, FLOOR_FIRST), (1, FLOOR_REPLAY)):
                overhead.hlines(
                    floor, position - 0.45, position + 0.45, colors="red", linestyles="dashed"
                )
            overhead.plot(
                [], [], color="red", linestyle="dashed", label="floor: a minimal hand-written view"
            )
        plain_log_axis(overhead, RATIO_TICKS)
        overhead.set_xticks(list(positions), [f"({name})" for name in kinds])
        overhead.set_title(f"{DATABASE_LABELS[kind]}: p50 as a multiple of (a)")
        overhead.grid(True, axis="y", which="both", alpha=0.3)
        overhead.legend(fontsize="small")
    axes[0][0].legend(fontsize="small")
    figure.suptitle(
        "flask-idempotency: p50 latency, and as a multiple of (a), the bare one-insert view\n"
        "(b) first request, (c) replay, (d) 409 while in flight, (e) storefront completion"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
