"""The journey map from directly-follows facts, side by side with the scan, and what the
facts cost the touchpoint write path, in one run.

    python bench/dfg_facts.py --touchpoints 100000 --out bench/results-dfg-facts-100k.md

Starts an embedded Neo4j in a fresh temporary home (or uses ``NEO4J_URI``: that database
is WIPED) and seeds the synthetic organisation as bench/run.py does, then measures:

a. the customer journey map by TYPE (all customers, all time), as served (from the facts
   on NEXT: ``DFG_FROM_FACTS_BY_TYPE``) and by the reference scan (``DFG_BY_CUSTOMER``),
   alternating, through the driver, after checking both answers are equal; the database
   hits of each from PROFILE;
b. touchpoint upsert throughput through the write layer (``upsert_nodes``, one
   transaction per batch) with the facts (this code) and without them (the chain
   statements with the facts rule taken out, i.e. the write path before the facts),
   alternating round by round: new touchpoints after their customers' LATEST (the live
   case, appended) and late ones inside their customers' journeys (the chain rebuilt).

The machine's load average is reported before and after: the ratios are what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import traversals  # noqa: E402
from bench.run import TOUCHPOINTS_PER_CUSTOMER, connect, counts, neo4j_database, say, seed  # noqa: E402
from orggraph.graph import journeys  # noqa: E402
from orggraph.graph.driver import Graph  # noqa: E402
from orggraph.graph.journey_maps import (  # noqa: E402
    DFG_BY_CUSTOMER,
    DFG_FROM_FACTS_BY_TYPE,
    directly_follows_graph,
    fold,
)
from orggraph.graph.writes import upsert_nodes  # noqa: E402

TYPES = ["PAGE_VIEW", "EMAIL", "FORM_SUBMIT", "CALL", "MEETING", "DEMO", "QUOTE", "ORDER"]


# --- a. the journey map ------------------------------------------------------------------


async def from_facts(graph: Graph) -> dict[str, Any]:
    answer: dict[str, Any] = await directly_follows_graph(
        graph, by="TYPE", object_type=None, min_edge_count=1, window_from=None, window_to=None
    )
    return answer


async def by_scan(graph: Graph) -> dict[str, Any]:
    answer: dict[str, Any] = fold(
        await graph.query(DFG_BY_CUSTOMER, by="TYPE", **{"from": None, "to": None}), 1
    )
    return answer


async def db_hits(graph: Graph, query: LiteralString, **params: Any) -> int:
    async with graph.driver.session(database=graph.database) as session:
        result = await session.run("PROFILE " + query, params)
        summary = await result.consume()

    def hits(plan: Any) -> int:
        return int(plan.get("dbHits", 0)) + sum(hits(c) for c in plan.get("children", []))

    return hits(summary.profile) if summary.profile else 0


@dataclass
class MapResult:
    equal: bool
    facts_ms: list[float] = field(default_factory=list)
    scan_ms: list[float] = field(default_factory=list)
    facts_hits: int = 0
    scan_hits: int = 0


async def measure_map(graph: Graph, runs: int) -> MapResult:
    result = MapResult(await from_facts(graph) == await by_scan(graph))
    result.facts_ms, result.scan_ms = await traversals.interleaved(
        runs, [lambda: from_facts(graph), lambda: by_scan(graph)]
    )
    result.facts_hits = await db_hits(graph, DFG_FROM_FACTS_BY_TYPE)
    result.scan_hits = await db_hits(
        graph, DFG_BY_CUSTOMER, by="TYPE", **{"from": None, "to": None}
    )
    return result


# --- b. the write path -------------------------------------------------------------------


_NO_UPDATE = " WITH r LIMIT 0 DELETE r"


@contextmanager
def without_facts() -> Iterator[None]:
    """The chain statements as they were before the facts: the rule taken out."""
    saved = journeys.APPEND_TO_JOURNEYS, journeys.REBUILD_JOURNEYS
    rule = journeys.set_next_facts("r", "t", "successor")
    # A subquery must end in an update: the rule's place gets one that never runs.
    journeys.APPEND_TO_JOURNEYS = saved[0].replace(rule, _NO_UPDATE)
    journeys.REBUILD_JOURNEYS = saved[1].replace(rule, _NO_UPDATE)
    assert rule not in journeys.APPEND_TO_JOURNEYS + journeys.REBUILD_JOURNEYS
    try:
        yield
    finally:
        journeys.APPEND_TO_JOURNEYS, journeys.REBUILD_JOURNEYS = saved


Rows = Callable[[random.Random, str, int], list[dict[str, Any]]]
Write = Callable[[Graph, list[dict[str, Any]]], Awaitable[Any]]


async def upsert_touchpoints(graph: Graph, rows: list[dict[str, Any]]) -> Any:
    return await upsert_nodes(graph, "Touchpoint", rows)


@dataclass
class Workload:
    """Rows of one kind written one way (``write``: a batch per transaction), timed with
    the facts and without them."""

    name: str
    rows: Rows
    write: Write = upsert_touchpoints
    seconds: dict[str, float] = field(default_factory=lambda: {"with": 0.0, "without": 0.0})
    written: dict[str, int] = field(default_factory=lambda: {"with": 0, "without": 0})

    def rate(self, side: str) -> float:
        return self.written[side] / self.seconds[side] if self.seconds[side] else 0.0


async def timed_rounds(
    graph: Graph,
    loads: list[Workload],
    without: Callable[[], AbstractContextManager[None]],
    sizes: tuple[int, int, int],
) -> list[Workload]:
    """``sizes`` = (rounds, batches, batch): each round writes ``batches`` batches of
    ``batch`` rows per workload and side, the sides' order alternating per round (the
    side without the facts inside ``without()``), after an untimed warm-up."""
    rounds, batches, batch = sizes
    rng = random.Random(7)

    async def write(load: Workload, side: str, payloads: list[list[dict[str, Any]]]) -> None:
        with without() if side == "without" else nullcontext():
            for rows in payloads:
                await load.write(graph, rows)

    for load in loads:  # warm-up, not counted: both sides' statements planned and JIT-ed
        for side in ("with", "without"):
            await write(load, side, [load.rows(rng, f"warm-{side}", batch) for _ in range(2)])
    for number in range(rounds):
        sides = ["with", "without"] if number % 2 == 0 else ["without", "with"]
        for load in loads:
            for side in sides:
                payloads = [load.rows(rng, f"bench-{side}", batch) for _ in range(batches)]
                began = time.perf_counter()
                await write(load, side, payloads)
                load.seconds[side] += time.perf_counter() - began
                load.written[side] += batches * batch
        say(f"  write round {number + 1}/{rounds} done")
    return loads


async def measure_writes(graph: Graph, rounds: int, batches: int, batch: int) -> list[Workload]:
    customers = [r[0] for r in await graph.query("MATCH (c:Customer) RETURN c.id")]
    span = await graph.query("MATCH (t:Touchpoint) RETURN min(t.at) AS lo, max(t.at) AS hi")
    lo: datetime = span[0]["lo"].to_native()
    hi: datetime = span[0]["hi"].to_native()
    counter = 0
    live_from = datetime.now(UTC) + timedelta(days=1)

    def live(rng: random.Random, prefix: str, n: int) -> list[dict[str, Any]]:
        nonlocal counter
        rows = []
        for _ in range(n):
            counter += 1
            at = live_from + timedelta(milliseconds=counter)
            rows.append(_row(f"{prefix}-{counter}", at, rng, customers))
        return rows

    def late(rng: random.Random, prefix: str, n: int) -> list[dict[str, Any]]:
        nonlocal counter
        rows = []
        for _ in range(n):
            counter += 1
            at = lo + (hi - lo) * rng.random()
            rows.append(_row(f"{prefix}-{counter}", at, rng, customers))
        return rows

    loads = [
        Workload("new touchpoints after LATEST (appended)", live),
        Workload("late touchpoints inside journeys (chain rebuilt)", late),
    ]
    return await timed_rounds(graph, loads, without_facts, (rounds, batches, batch))


def _row(id_: str, at: datetime, rng: random.Random, customers: list[str]) -> dict[str, Any]:
    return {
        "id": id_,
        "at": at.isoformat(),
        "type": rng.choice(TYPES),
        "customerId": rng.choice(customers),
    }


# --- report -------------------------------------------------------------------------------


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(
    args: argparse.Namespace,
    size: dict[str, int],
    load: tuple[tuple[float, ...], tuple[float, ...]],
    dfg: MapResult,
    writes: list[Workload],
) -> str:
    facts, scan = statistics.median(dfg.facts_ms), statistics.median(dfg.scan_ms)
    lines = [
        "# Journey map from directly-follows facts: side by side with the scan",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python bench/dfg_facts.py "
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
        "## a. journeyMap by TYPE, all customers, all time (through the driver)",
        "",
        f"Answers equal: **{dfg.equal}**. {args.runs} runs each, alternating, after two "
        "warm-up runs each.",
        "",
        "| query | p50 ms | p95 ms | db hits (PROFILE) |",
        "|---|---:|---:|---:|",
        f"| from the facts (`DFG_FROM_FACTS_BY_TYPE`, served) | {facts:,.1f} | "
        f"{p(dfg.facts_ms, 0.95):,.1f} | {dfg.facts_hits:,} |",
        f"| scan (`DFG_BY_CUSTOMER`, reference) | {scan:,.1f} | {p(dfg.scan_ms, 0.95):,.1f} | "
        f"{dfg.scan_hits:,} |",
        f"| **speed-up (scan p50 / facts p50)** | **{scan / facts:.1f}x** | | |",
        "",
        "## b. touchpoint upsert throughput, with and without the facts",
        "",
        f"Write layer (`upsert_nodes`), {args.batch} touchpoints per batch and transaction, "
        f"{args.batches} batches per side per round, {args.rounds} rounds, the sides' order "
        "alternating per round. Without = the chain statements with the facts rule taken "
        "out (the write path before the facts); one untimed warm-up round first.",
        "",
        "| workload | with facts rows/s | without rows/s | ratio (floor 0.75) |",
        "|---|---:|---:|---:|",
    ]
    for w in writes:
        ratio = w.rate("with") / w.rate("without") if w.rate("without") else 0.0
        lines.append(
            f"| {w.name} | {w.rate('with'):,.0f} | {w.rate('without'):,.0f} | **{ratio:.2f}** |"
        )
    return "\n".join(lines) + "\n"


def load_average(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


Measured = Callable[[Graph, dict[str, int]], Awaitable[Callable[[tuple[float, ...]], str]]]
"""A bench's measurements on the seeded graph (and its size): the report, given the load
average before the run (the one after is read when the measurements are done)."""


async def seeded_run(args: argparse.Namespace, measured: Measured) -> None:
    """Start the database (embedded, or ``NEO4J_URI``), seed ``--touchpoints`` (0: the
    data as is), run the measurements and write their report to ``--out``."""
    work = Path(tempfile.mkdtemp(prefix="orggraph-bench-"))
    say(f"work dir {work} (logs)")
    before = os.getloadavg()
    with neo4j_database(args, work) as (uri, _):
        graph = connect(uri)
        try:
            if args.touchpoints:
                customers = max(1, round(args.touchpoints / TOUCHPOINTS_PER_CUSTOMER))
                say(f"wiping, then seeding {customers:,} customers (~{args.touchpoints:,})")
                await traversals.wipe(graph)
                seed(uri, customers, work / "seed.log")
            size = await counts(graph)
            say(f"graph: {size}")
            text = (await measured(graph, size))(before)
        finally:
            await graph.close()
    Path(args.out).write_text(text)
    say(f"wrote {args.out}")


async def main(args: argparse.Namespace) -> None:
    async def measured(graph: Graph, size: dict[str, int]) -> Callable[[tuple[float, ...]], str]:
        say(f"a. journey map by TYPE, {args.runs} runs each")
        dfg = await measure_map(graph, args.runs)
        say(
            f"  equal {dfg.equal}; facts p50 {statistics.median(dfg.facts_ms):.1f} ms, "
            f"scan p50 {statistics.median(dfg.scan_ms):.1f} ms"
        )
        say("b. write throughput with and without the facts")
        writes = await measure_writes(graph, args.rounds, args.batches, args.batch)
        after = os.getloadavg()
        return lambda before: report(args, size, (before, after), dfg, writes)

    await seeded_run(args, measured)


def facts_bench_parser(doc: str | None, out: str, queried: str) -> argparse.ArgumentParser:
    """The options of a facts-against-scan bench: ``queried`` says what part a runs."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--touchpoints", type=int, default=100_000, help="0: the data as is")
    parser.add_argument("--out", default=out)
    parser.add_argument("--runs", type=int, default=20, help=f"runs per {queried} (a)")
    parser.add_argument("--rounds", type=int, default=4, help="write rounds (b)")
    parser.add_argument("--batches", type=int, default=10, help="batches per side per round (b)")
    parser.add_argument("--batch", type=int, default=100, help="touchpoints per batch (b)")
    parser.add_argument("--heap", default="2g", help="embedded Neo4j heap")
    parser.add_argument("--pagecache", default="1g", help="embedded Neo4j page cache")
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = facts_bench_parser(__doc__, "bench/results-dfg-facts.md", "journey map query")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
