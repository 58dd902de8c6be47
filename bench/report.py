"""The tables a run prints, and the issue's targets judged against its figures.

Everything here reads the run's results as saved in JSON (see run.py), so a saved run can be
printed again. Every figure stands next to its ratio to (a), the bare view, measured in the
same interleaved run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .databases import LABELS as DATABASE_LABELS
from .samples import LABELS

# ANCHORS' floor for a design that commits the claim before the work: a hand-written minimal
# idempotent view, in-process p50 against the bare view, on PostgreSQL. The target is to come
# within 15 % of it.
FLOOR_FIRST = 1.6
FLOOR_REPLAY = 0.62
FLOOR_MARGIN = 1.15
# Statements beyond the view's own (first request, replay): PostgreSQL may spend a read, a
# claim and a finish, or one read-or-claim and a finish; the others one more of each.
STATEMENT_BUDGET = {"postgresql": (3, 1), "mariadb": (4, 2), "sqlite": (4, 2)}
# Statements the views themselves send: the bench view's one insert.
VIEW_STATEMENTS = {"a": 1, "b": 1, "c": 0, "d": 0}
SCALE_MARGIN = 1.10
PURGE_MARGIN = 2.0
PURGE_JUDGED = ("postgresql", "mariadb")


def size_label(size: int | str) -> str:
    size = int(size)
    exponent = math.log10(size) if size > 0 else 0
    return f"10^{exponent:.0f}" if exponent == int(exponent) else f"{size:,}"


def ratio(value: float, base: float) -> str:
    if not base or math.isnan(value) or math.isnan(base):
        return "-"
    return f"{value / base:.2f}x"


def milliseconds(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def unexpected_note(summary: dict[str, Any]) -> str:
    found = summary.get("unexpected") or {}
    return (
        "  unexpected: " + ", ".join(f"{answer} x{n}" for answer, n in found.items())
        if found
        else ""
    )


def inprocess_table(label: str, by_kind: dict[str, dict[str, Any]], heading: str) -> str:
    base = by_kind["a"]
    lines = [
        f"{label}: {heading}",
        f"  {'':38} {'p50 ms':>8} {'x(a)':>6} {'p99 ms':>8} {'x(a)':>6}  statements",
    ]
    for kind, summary in by_kind.items():
        lines.append(
            f"  {LABELS[kind]:38} {milliseconds(summary['p50_ms']):>8} "
            f"{ratio(summary['p50_ms'], base['p50_ms']):>6} {milliseconds(summary['p99_ms']):>8} "
            f"{ratio(summary['p99_ms'], base['p99_ms']):>6}  {summary['statements']}"
            + unexpected_note(summary)
        )
    return "\n".join(lines)


def http_table(label: str, by_kind: dict[str, dict[str, Any]], heading: str) -> str:
    base = by_kind["a"]
    lines = [
        f"{label}: {heading}",
        f"  {'':38} {'req/s':>7} {'x(a)':>6} {'p50 ms':>8} {'x(a)':>6} {'p99 ms':>8} {'x(a)':>6}",
    ]
    for kind, summary in by_kind.items():
        lines.append(
            f"  {LABELS[kind]:38} {summary['per_second']:>7.0f} "
            f"{ratio(summary['per_second'], base['per_second']):>6} "
            f"{milliseconds(summary['p50_ms']):>8} {ratio(summary['p50_ms'], base['p50_ms']):>6} "
            f"{milliseconds(summary['p99_ms']):>8} {ratio(summary['p99_ms'], base['p99_ms']):>6}"
            + unexpected_note(summary)
        )
    return "\n".join(lines)


def scaling_table(label: str, by_size: dict[str, dict[str, dict[str, Any]]]) -> str:
    sizes = list(by_size)
    first, last = sizes[0], sizes[-1]
    header = "".join(f"{size_label(size):>17}" for size in sizes)
    lines = [
        f"{label}: in-process p50 ms (x(a)) by keys in the table, all sizes in the same rounds",
        f"  {'':38}{header}  {size_label(last)}/{size_label(first)}",
    ]
    for kind in by_size[first]:
        cells = ""
        for size in sizes:
            summary = by_size[size].get(kind)
            if summary is None:
                cells += f"{'-':>17}"
                continue
            base = by_size[size]["a"]["p50_ms"]
            cells += f"{milliseconds(summary['p50_ms']):>8} ({ratio(summary['p50_ms'], base):>6})"
        growth = ratio(by_size[last][kind]["p50_ms"], by_size[first][kind]["p50_ms"])
        lines.append(f"  {LABELS[kind]:38}{cells}  {growth:>9}")
    return "\n".join(lines)


def purge_table(label: str, purge: dict[str, Any]) -> str:
    lines = [
        f"{label}: flask idempotency purge of {purge['deleted']:,} expired keys in "
        f"{purge['seconds']:.1f} s, {purge['rows_per_second']:,.0f} rows/s",
        f"  {'':38} {'p99 ms without':>15} {'during':>8} {'x':>6}   p50 without / during",
    ]
    for kind, during in purge["during"].items():
        without = purge["baseline"][kind]
        lines.append(
            f"  {LABELS[kind]:38} {milliseconds(without['p99_ms']):>15} "
            f"{milliseconds(during['p99_ms']):>8} {ratio(during['p99_ms'], without['p99_ms']):>6}"
            f"   {milliseconds(without['p50_ms'])} / {milliseconds(during['p50_ms'])}"
            f"  ({during['requests']} requests during)"
        )
    drop = purge.get("partition_drop")
    if drop:
        lines.append(
            f"  the same {drop['rows']:,} keys in a partition of their own: detached in "
            f"{drop['detach_seconds'] * 1000:.0f} ms and dropped in "
            f"{drop['drop_seconds'] * 1000:.0f} ms, {drop['seconds']:.2f} s "
            f"({purge['seconds'] / drop['seconds']:,.0f}x faster than the purge)"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Verdict:
    target: str
    where: str
    figure: str
    met: bool | None  # None: reported, not judged

    def line(self) -> str:
        mark = {True: "met", False: "MISSED", None: "reported"}[self.met]
        return f"  {mark:8} {self.target} - {self.where}: {self.figure}"


def judge(results: dict[str, Any]) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for kind, found in results["databases"].items():
        where = DATABASE_LABELS[kind]
        sizes = list(found["inprocess"])
        smallest = found["inprocess"][sizes[0]]
        http = found.get("http")
        if http:
            replay = http["c"]["per_second"] / http["a"]["per_second"]
            verdicts.append(
                Verdict(
                    "replay throughput >= the bare view's (HTTP req/s)",
                    where,
                    f"{http['c']['per_second']:.0f} vs {http['a']['per_second']:.0f} req/s, "
                    f"{replay:.2f}x",
                    replay >= 1.0,
                )
            )
        else:
            # Without the HTTP run, one request at a time: throughput is 1 / latency.
            replay = smallest["a"]["p50_ms"] / smallest["c"]["p50_ms"]
            verdicts.append(
                Verdict(
                    "replay throughput >= the bare view's (in-process, 1 / p50)",
                    where,
                    f"{replay:.2f}x",
                    replay >= 1.0,
                )
            )
        if kind == "postgresql":
            for kind_name, floor, name in (
                ("b", FLOOR_FIRST, "first request"),
                ("c", FLOOR_REPLAY, "replay"),
            ):
                value = smallest[kind_name]["p50_ms"] / smallest["a"]["p50_ms"]
                limit = floor * FLOOR_MARGIN
                verdicts.append(
                    Verdict(
                        f"{name} p50 within 15% of the floor ({floor}x the bare view): "
                        f"<= {limit:.2f}x",
                        where,
                        f"{value:.2f}x ({value / floor:.2f} of the floor)",
                        value <= limit,
                    )
                )
        first_budget, replay_budget = STATEMENT_BUDGET[kind]
        for kind_name, budget, name in (
            ("b", first_budget, "first request"),
            ("c", replay_budget, "replay"),
        ):
            counts = smallest[kind_name]["statements"]
            usual = int(str(counts).split()[0])
            beyond = usual - VIEW_STATEMENTS[kind_name]
            verdicts.append(
                Verdict(
                    f"statements beyond the view's, {name} <= {budget}",
                    where,
                    f"{beyond} (of {counts})",
                    beyond <= budget,
                )
            )
        if len(sizes) > 1:
            largest = found["inprocess"][sizes[-1]]
            for kind_name in [name for name in largest if name != "a"]:
                growth = largest[kind_name]["p50_ms"] / smallest[kind_name]["p50_ms"]
                verdicts.append(
                    Verdict(
                        f"p50 at {size_label(sizes[-1])} keys within 10% of {size_label(sizes[0])}",
                        f"{where} {LABELS[kind_name]}",
                        f"{growth:.2f}x",
                        growth <= SCALE_MARGIN,
                    )
                )
        purge = found.get("purge")
        if purge:
            for kind_name in ("b", "c"):
                value = (
                    purge["during"][kind_name]["p99_ms"] / purge["baseline"][kind_name]["p99_ms"]
                )
                verdicts.append(
                    Verdict(
                        "p99 while purging <= 2x without",
                        f"{where} {LABELS[kind_name]}",
                        f"{value:.2f}x",
                        value <= PURGE_MARGIN if kind in PURGE_JUDGED else None,
                    )
                )
    return verdicts


def targets_table(results: dict[str, Any]) -> str:
    return "\n".join(["Targets", *(verdict.line() for verdict in judge(results))])


def markdown_summary(results: dict[str, Any]) -> str:
    """The short table the README shows: a column per database, a row per figure."""
    databases = results["databases"]
    rows: list[tuple[str, list[str]]] = []

    def row(name: str, cell: Any) -> None:
        cells = []
        for found in databases.values():
            try:
                cells.append(cell(found))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("-")
        rows.append((name, cells))

    def smallest(found: dict[str, Any]) -> dict[str, Any]:
        figures: dict[str, Any] = found["inprocess"][next(iter(found["inprocess"]))]
        return figures

    def latency(kind: str) -> Any:
        def cell(found: dict[str, Any]) -> str:
            figures = smallest(found)
            value = figures[kind]["p50_ms"]
            if kind == "a":
                return f"{value:.2f} ms"
            return f"{value:.2f} ms ({value / figures['a']['p50_ms']:.2f}x)"

        return cell

    row("(a) bare view, one insert: p50", latency("a"))
    row("(b) `@idempotent`, first request", latency("b"))
    row("(c) replay", latency("c"))
    row("(d) 409 while in flight", latency("d"))
    row("(e) storefront completion, 3 stages", latency("e"))
    row(
        "statements: (b) / (c) / (d)",
        lambda found: " / ".join(str(smallest(found)[kind]["statements"]) for kind in "bcd"),
    )

    def served(kind: str) -> Any:
        def cell(found: dict[str, Any]) -> str:
            http = found["http"]
            value = http[kind]["per_second"]
            if kind == "a":
                return f"{value:.0f} req/s"
            return f"{value:.0f} req/s ({value / http['a']['per_second']:.2f}x)"

        return cell

    row("HTTP, gunicorn -w 4: (a) bare view", served("a"))
    row("HTTP: (b) first requests", served("b"))
    row("HTTP: (c) replays", served("c"))

    def growth(found: dict[str, Any]) -> str:
        sizes = list(found["inprocess"])
        first, last = found["inprocess"][sizes[0]], found["inprocess"][sizes[-1]]
        return " / ".join(f"{last[kind]['p50_ms'] / first[kind]['p50_ms']:.2f}x" for kind in "bc")

    any_found = next(iter(databases.values()))
    sizes = list(any_found["inprocess"])
    row(f"p50 at {size_label(sizes[-1])} keys / at {size_label(sizes[0])}: (b) / (c)", growth)
    row(
        f"purge of {size_label(sizes[-1])} expired keys",
        lambda found: f"{found['purge']['rows_per_second']:,.0f} rows/s",
    )

    def purge_p99(found: dict[str, Any]) -> str:
        during, without = found["purge"]["during"], found["purge"]["baseline"]
        return " / ".join(
            f"{during[kind]['p99_ms'] / without[kind]['p99_ms']:.2f}x" for kind in "bc"
        )

    row("p99 while purging / without: (b) / (c)", purge_p99)
    row(
        "the same keys dropped as a partition",
        lambda found: (
            f"{found['purge']['partition_drop']['seconds']:.2f} s "
            f"(the purge: {found['purge']['seconds']:.1f} s)"
        ),
    )
    header = "| | " + " | ".join(DATABASE_LABELS[kind] for kind in databases) + " |"
    lines = [header, "|---" * (len(databases) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    return "\n".join(lines) + "\n"
