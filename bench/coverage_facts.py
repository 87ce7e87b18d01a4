"""Channel coverage from the ChannelDay facts, side by side with the scan, and what the
facts cost the touchpoint write paths, in one run.

    python bench/coverage_facts.py --touchpoints 100000 --out bench/results-coverage-facts-100k.md

Starts an embedded Neo4j in a fresh temporary home (or uses ``NEO4J_URI``: that database
is WIPED unless ``--touchpoints 0``, which measures the data as is) and seeds the
synthetic organisation as bench/run.py does, then measures:

a. channelCoverage (``channels.channel_coverage``, served from the ChannelDay facts) and
   the reference scan (``CHANNEL_COVERAGE_SCAN``) for the last whole quarter by week, the
   last whole year by month, all time by quarter, and the quarter shifted by 12 hours
   (bounds off midnight: the edge days scanned), alternating, through the driver, after
   checking both answers are equal; the database hits of each from PROFILE;
b. touchpoint upsert throughput with the facts (this code) and without them (the
   ChannelDay linking taken out, i.e. the write path before the facts), alternating round
   by round: through the write layer (``upsert_nodes``: new touchpoints after their
   customers' LATEST, the live case, and late ones inside their journeys) and through the
   bulk path (``load_touchpoints``, the importers' and generator's).

The machine's load average is reported before and after: the ratios are what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import traversals  # noqa: E402
from bench.dfg_facts import (  # noqa: E402
    TYPES,
    Workload,
    db_hits,
    facts_bench_parser,
    load_average,
    p,
    seeded_run,
    timed_rounds,
)
from bench.run import say  # noqa: E402
from orggraph.graph import channels, journeys  # noqa: E402
from orggraph.graph.driver import Graph, Tx  # noqa: E402
from orggraph.graph.importers import bulk  # noqa: E402
from orggraph.graph.model import Window  # noqa: E402

# --- a. coverage -------------------------------------------------------------------------


@dataclass
class Question:
    name: str
    start: datetime
    end: datetime
    period: Window
    equal: bool = False
    facts_ms: list[float] = field(default_factory=list)
    scan_ms: list[float] = field(default_factory=list)
    facts_hits: int = 0
    scan_hits: int = 0


async def data_span(graph: Graph) -> tuple[datetime, datetime]:
    span = await graph.query("MATCH (t:Touchpoint) RETURN min(t.at) AS lo, max(t.at) AS hi")
    return span[0]["lo"].to_native(), span[0]["hi"].to_native()


def questions(lo: datetime, hi: datetime) -> list[Question]:
    quarter = traversals.last_quarter(hi)
    year = datetime(hi.year - 1, 1, 1, tzinfo=UTC), datetime(hi.year, 1, 1, tzinfo=UTC)
    first = datetime(lo.year, lo.month, lo.day, tzinfo=UTC)
    half_day = timedelta(hours=12)
    return [
        Question("last whole quarter by week", *quarter, Window.WEEK),
        Question("last whole year by month", *year, Window.MONTH),
        Question("all time by quarter", first, hi + timedelta(days=1), Window.QUARTER),
        Question(
            "the quarter shifted 12 h, by week (edge days scanned)",
            quarter[0] + half_day,
            quarter[1] + half_day,
            Window.WEEK,
        ),
    ]


def normalised(rows: list[dict[str, Any]]) -> list[Any]:
    return [(r["channel"]["id"], r["touchpoints"], sorted(map(str, r["trend"]))) for r in rows]


async def measure_coverage(graph: Graph, runs: int) -> list[Question]:
    lo, hi = await data_span(graph)
    asked = questions(lo, hi)
    for q in asked:

        def served(q: Question = q) -> Awaitable[list[dict[str, Any]]]:
            return channels.channel_coverage(graph, q.start, q.end, q.period)

        def scanned(q: Question = q) -> Awaitable[list[dict[str, Any]]]:
            return channels.channel_coverage_scan(graph, q.start, q.end, q.period)

        q.equal = normalised(await served()) == normalised(await scanned())
        q.facts_ms, q.scan_ms = await traversals.interleaved(runs, [served, scanned])
        split = channels.split_days(q.start, q.end)
        unit = channels.TRUNCATE_UNIT[q.period]
        q.facts_hits = await db_hits(
            graph,
            channels.CHANNEL_COVERAGE,
            unit=unit,
            timeUnits=channels.TIME_UNITS,
            fromDay=split.first_day,
            toDay=split.end_day,
            edges=split.edges,
        )
        q.scan_hits = await db_hits(
            graph,
            channels.CHANNEL_COVERAGE_SCAN,
            unit=unit,
            timeUnits=channels.TIME_UNITS,
            **{"from": q.start, "to": q.end},
        )
        say(
            f"  {q.name}: equal {q.equal}; facts p50 {statistics.median(q.facts_ms):.1f} ms, "
            f"scan p50 {statistics.median(q.scan_ms):.1f} ms"
        )
    return asked


# --- b. the write paths ------------------------------------------------------------------


async def _no_link(tx: Tx, touchpoint_ids: Any) -> None:
    return None


@contextmanager
def without_facts() -> Iterator[None]:
    """The write paths as they were before the facts: no ChannelDay linking."""
    modules = [vars(journeys), vars(bulk)]  # where the write paths look the linking up
    saved = [module["link_channel_days"] for module in modules]
    for module in modules:
        module["link_channel_days"] = _no_link
    try:
        yield
    finally:
        for module, linking in zip(modules, saved, strict=True):
            module["link_channel_days"] = linking


async def _bulk(graph: Graph, rows: list[dict[str, Any]]) -> Any:
    return await bulk.load_touchpoints(graph, rows, batch_size=len(rows))


async def measure_writes(graph: Graph, rounds: int, batches: int, batch: int) -> list[Workload]:
    customers = [r[0] for r in await graph.query("MATCH (c:Customer) RETURN c.id")]
    channel_ids = [r[0] for r in await graph.query("MATCH (ch:Channel) RETURN ch.id")]
    lo, hi = await data_span(graph)
    counter = 0
    live_from = datetime.now(UTC) + timedelta(days=1)

    def row(prefix: str, at: datetime, rng: random.Random) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        return {
            "id": f"{prefix}-{counter}",
            "at": at.isoformat(),
            "type": rng.choice(TYPES),
            "customerId": rng.choice(customers),
            "channelId": rng.choice(channel_ids),
        }

    def live(rng: random.Random, prefix: str, n: int) -> list[dict[str, Any]]:
        return [row(prefix, live_from + timedelta(seconds=counter), rng) for _ in range(n)]

    def late(rng: random.Random, prefix: str, n: int) -> list[dict[str, Any]]:
        return [row(prefix, lo + (hi - lo) * rng.random(), rng) for _ in range(n)]

    loads = [
        Workload("upsertTouchpoints: new after LATEST (appended)", live),
        Workload("upsertTouchpoints: late, inside journeys (chain rebuilt)", late),
        Workload("bulk load (importers): late, inside journeys", late, _bulk),
    ]
    return await timed_rounds(graph, loads, without_facts, (rounds, batches, batch))


# --- report -------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    size: dict[str, int],
    load: tuple[tuple[float, ...], tuple[float, ...]],
    asked: list[Question],
    writes: list[Workload],
) -> str:
    lines = [
        "# Channel coverage from ChannelDay facts: side by side with the scan",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python bench/coverage_facts.py "
        f"--touchpoints {args.touchpoints} --runs {args.runs} --rounds {args.rounds} "
        f"--batches {args.batches} --batch {args.batch}`. Embedded Neo4j 5.26, heap "
        f"{args.heap}, page cache {args.pagecache}, on {os.cpu_count()} cores shared with "
        f"other work: load average (1, 5, 15 min) {load_average(load[0])} before, "
        f"{load_average(load[1])} after.",
        "",
        f"Graph: {size['nodes']:,} nodes, {size['relationships']:,} relationships, "
        f"{size['customers']:,} customers, {size['touchpoints']:,} touchpoints (seeded, "
        "before the write rounds).",
        "",
        "## a. channelCoverage (through the driver)",
        "",
        f"{args.runs} runs each, alternating, after two warm-up runs each; answers compared "
        "first (channels, totals, trends).",
        "",
        "| question | equal | facts p50 ms | facts p95 ms | scan p50 ms | scan p95 ms | "
        "speed-up | db hits facts / scan |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for q in asked:
        facts, scan = statistics.median(q.facts_ms), statistics.median(q.scan_ms)
        lines.append(
            f"| {q.name} | {q.equal} | {facts:,.1f} | {p(q.facts_ms, 0.95):,.1f} | "
            f"{scan:,.1f} | {p(q.scan_ms, 0.95):,.1f} | **{scan / facts:.1f}x** | "
            f"{q.facts_hits:,} / {q.scan_hits:,} |"
        )
    lines += [
        "",
        "## b. touchpoint write throughput, with and without the facts",
        "",
        f"{args.batch} touchpoints per batch and transaction (each with a channel), "
        f"{args.batches} batches per side per round, {args.rounds} rounds, the sides' order "
        "alternating per round. Without = the ChannelDay linking taken out (the write paths "
        "before these facts, the journeys' facts still kept); one untimed warm-up first.",
        "",
        "| workload | with facts rows/s | without rows/s | ratio |",
        "|---|---:|---:|---:|",
    ]
    for w in writes:
        ratio = w.rate("with") / w.rate("without") if w.rate("without") else 0.0
        lines.append(
            f"| {w.name} | {w.rate('with'):,.0f} | {w.rate('without'):,.0f} | **{ratio:.2f}** |"
        )
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> None:
    async def measured(graph: Graph, size: dict[str, int]) -> Callable[[tuple[float, ...]], str]:
        say(f"a. channel coverage, {args.runs} runs each")
        asked = await measure_coverage(graph, args.runs)
        say("b. write throughput with and without the facts")
        writes = await measure_writes(graph, args.rounds, args.batches, args.batch)
        after = os.getloadavg()
        return lambda before: report(args, size, (before, after), asked, writes)

    await seeded_run(args, measured)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = facts_bench_parser(__doc__, "bench/results-coverage-facts.md", "coverage question")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
