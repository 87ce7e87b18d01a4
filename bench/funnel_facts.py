"""The funnel from first-arrival facts, side by side with the touchpoint scan, and what the
funnel facts cost the touchpoint write path, in one run.

    python bench/funnel_facts.py --touchpoints 100000 --out bench/results-funnel-facts-100k.md

Starts an embedded Neo4j in a fresh temporary home (or uses ``NEO4J_URI``: that database
is WIPED unless ``--touchpoints 0``) and seeds the synthetic organisation as bench/run.py
does, then measures:

a. each funnel variant of the process with the most steps (all time; one segment; one
   channel; one campaign; one channel and one segment; a 30-day window) as served
   (``processes.value_stream_query``: REACHED, REACHED_VIA, REACHED_FROM, or the scan
   where no fact serves it) and by the reference scan (``VALUE_STREAM``), alternating,
   through the driver, after checking both answers are equal; the database hits of each
   from PROFILE;
b. touchpoint upsert throughput through the write layer (``upsert_nodes``, one
   transaction per batch) with the funnel facts (this code) and without them (the journey
   statements with the funnel facts' clauses taken out), alternating round by round: new
   touchpoints after their customers' LATEST (appended) and late ones inside their
   journeys (rebuilt); every row has a step, a channel and a campaign, so every row pays.

The machine's load average is reported before and after: the ratios are what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
from collections.abc import Callable, Iterator
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
from orggraph.graph import journeys, processes  # noqa: E402
from orggraph.graph.deletes import delete_nodes  # noqa: E402
from orggraph.graph.driver import Graph  # noqa: E402
from orggraph.graph.processes import (  # noqa: E402
    VALUE_STREAM,
    FunnelParams,
    value_stream_parameters,
    value_stream_query,
)
from orggraph.graph.writes import upsert_nodes  # noqa: E402

# --- a. the funnels ----------------------------------------------------------------------


async def variants(graph: Graph) -> tuple[str, list[tuple[str, FunnelParams]]]:
    """The process with the most steps and the funnels measured on it: the most used
    channel, campaign and segment, and the last 30 days of the data."""
    process = await traversals.pick(
        graph,
        "MATCH (p:Process)-[:HAS_STEP]->(s:Step) WITH p, count(s) AS n ORDER BY n DESC, p.id "
        "LIMIT 1 RETURN p.id",
    )
    channel = await traversals.pick(
        graph,
        "MATCH (x:Channel) RETURN x.id ORDER BY COUNT { (x)<-[:VIA]-() } DESC, x.id LIMIT 1",
    )
    campaign = await traversals.pick(
        graph,
        "MATCH (x:Campaign) RETURN x.id ORDER BY COUNT { (x)<-[:FROM]-() } DESC, x.id LIMIT 1",
    )
    segment = await traversals.pick(
        graph,
        "MATCH (c:Customer) RETURN c.segment AS segment, count(*) AS n "
        "ORDER BY n DESC, segment LIMIT 1",
    )
    last = (await traversals.pick(graph, "MATCH (t:Touchpoint) RETURN max(t.at)")).to_native()
    return process, [
        ("all time", FunnelParams()),
        (f"segment {segment}", FunnelParams(segment=segment)),
        (f"channel {channel}", FunnelParams(channel_id=channel)),
        (f"campaign {campaign}", FunnelParams(campaign_id=campaign)),
        (
            f"channel {channel}, segment {segment}",
            FunnelParams(channel_id=channel, segment=segment),
        ),
        ("last 30 days (window: scan)", FunnelParams(window_from=last - timedelta(days=30))),
    ]


@dataclass
class FunnelResult:
    name: str
    served_by: str
    equal: bool
    served_ms: list[float] = field(default_factory=list)
    scan_ms: list[float] = field(default_factory=list)
    served_hits: int = 0
    scan_hits: int = 0


async def measure_funnel(
    graph: Graph, process: str, name: str, funnel: FunnelParams, runs: int
) -> FunnelResult:
    served_query = value_stream_query(funnel)
    params = value_stream_parameters(process, datetime.now(UTC), funnel)

    async def served() -> Any:
        return (await graph.query(served_query, **params))[0]["funnel"]

    async def scanned() -> Any:
        return (await graph.query(VALUE_STREAM, **params))[0]["funnel"]

    served_by = next(
        n for n, v in vars(processes).items() if n.startswith("VALUE_STREAM") and v is served_query
    )
    result = FunnelResult(name, served_by, await served() == await scanned())
    result.served_ms, result.scan_ms = await traversals.interleaved(runs, [served, scanned])
    result.served_hits = await db_hits(graph, served_query, **params)
    result.scan_hits = await db_hits(graph, VALUE_STREAM, **params)
    return result


# --- b. the write path -------------------------------------------------------------------


@contextmanager
def without_funnel_facts() -> Iterator[None]:
    """The journey statements as they were before the funnel facts: their clauses out."""
    saved = journeys.APPEND_TO_JOURNEYS, journeys.REBUILD_JOURNEYS
    append, rebuild = journeys.APPEND_FUNNEL_FACTS, journeys._RESET_FUNNEL_FACTS
    journeys.APPEND_TO_JOURNEYS = saved[0].replace(append, "")
    journeys.REBUILD_JOURNEYS = saved[1].replace(rebuild, "")
    assert append not in journeys.APPEND_TO_JOURNEYS
    assert rebuild not in journeys.REBUILD_JOURNEYS
    try:
        yield
    finally:
        journeys.APPEND_TO_JOURNEYS, journeys.REBUILD_JOURNEYS = saved


WRITTEN: list[str] = []
"""The ids of the touchpoints part b wrote: deleted after it (``clean_up``)."""


async def clean_up(graph: Graph) -> None:
    """Delete what part b wrote, through the write layer: the journeys it touched are
    rebuilt whole, the funnel facts the "without" side left out included, so the data is
    as before (a later run with ``--touchpoints 0`` measures the same graph)."""
    for start in range(0, len(WRITTEN), 500):
        await delete_nodes(graph, "Touchpoint", WRITTEN[start : start + 500])
    WRITTEN.clear()


@dataclass
class Refs:
    customers: list[str]
    steps: list[str]
    channels: list[str]
    campaigns: list[str]

    def row(self, id_: str, at: datetime, rng: random.Random) -> dict[str, Any]:
        return {
            "id": id_,
            "at": at.isoformat(),
            "type": rng.choice(TYPES),
            "customerId": rng.choice(self.customers),
            "stepId": rng.choice(self.steps),
            "channelId": rng.choice(self.channels),
            "campaignId": rng.choice(self.campaigns),
        }


async def ids(graph: Graph, label: str) -> list[str]:
    """Every id of one label (allow-listed: a literal per label)."""
    queries: dict[str, Any] = {
        "Customer": "MATCH (x:Customer) RETURN x.id ORDER BY x.id",
        "Step": "MATCH (x:Step) RETURN x.id ORDER BY x.id",
        "Channel": "MATCH (x:Channel) RETURN x.id ORDER BY x.id",
        "Campaign": "MATCH (x:Campaign) RETURN x.id ORDER BY x.id",
    }
    return [str(r[0]) for r in await graph.query(queries[label])]


async def measure_writes(graph: Graph, rounds: int, batches: int, batch: int) -> list[Workload]:
    refs = Refs(*[await ids(graph, label) for label in ("Customer", "Step", "Channel", "Campaign")])
    span = await graph.query("MATCH (t:Touchpoint) RETURN min(t.at) AS lo, max(t.at) AS hi")
    lo: datetime = span[0]["lo"].to_native()
    hi: datetime = span[0]["hi"].to_native()
    counter = 0
    live_from = datetime.now(UTC) + timedelta(days=1)

    def live(rng: random.Random, prefix: str, n: int) -> list[dict[str, Any]]:
        nonlocal counter
        counter += n
        return [
            refs.row(
                f"{prefix}-{counter - i}", live_from + timedelta(milliseconds=counter - i), rng
            )
            for i in range(n)
        ]

    def late(rng: random.Random, prefix: str, n: int) -> list[dict[str, Any]]:
        nonlocal counter
        counter += n
        return [
            refs.row(f"{prefix}-{counter - i}", lo + (hi - lo) * rng.random(), rng)
            for i in range(n)
        ]

    loads = [
        Workload("new touchpoints after LATEST (appended)", live, _write),
        Workload("late touchpoints inside journeys (rebuilt)", late, _write),
    ]
    return await timed_rounds(graph, loads, without_funnel_facts, (rounds, batches, batch))


async def _write(graph: Graph, rows: list[dict[str, Any]]) -> Any:
    WRITTEN.extend(row["id"] for row in rows)
    return await upsert_nodes(graph, "Touchpoint", rows)


# --- report -------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    size: dict[str, int],
    load: tuple[tuple[float, ...], tuple[float, ...]],
    process: str,
    funnels: list[FunnelResult],
    writes: list[Workload],
) -> str:
    lines = [
        "# Funnel from first-arrival facts: side by side with the scan",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python bench/funnel_facts.py "
        f"--touchpoints {args.touchpoints} --runs {args.runs} --rounds {args.rounds} "
        f"--batches {args.batches} --batch {args.batch}`. Embedded Neo4j 5.26, heap "
        f"{args.heap}, page cache {args.pagecache}, on {os.cpu_count()} cores shared with "
        f"other work: load average (1, 5, 15 min) {load_average(load[0])} before, "
        f"{load_average(load[1])} after.",
        "",
        f"Graph: {size['nodes']:,} nodes, {size['relationships']:,} relationships, "
        f"{size['customers']:,} customers, {size['touchpoints']:,} touchpoints (before the "
        "write rounds).",
        "",
        f"## a. valueStream funnel of process `{process}` (through the driver)",
        "",
        f"{args.runs} runs each, served and scan alternating, after two warm-up runs each.",
        "",
        "| funnel | served by | equal | served p50 ms | scan p50 ms | speed-up | served db hits "
        "| scan db hits |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for f in funnels:
        served, scan = statistics.median(f.served_ms), statistics.median(f.scan_ms)
        lines.append(
            f"| {f.name} | `{f.served_by}` | {f.equal} | {served:,.1f} | {scan:,.1f} | "
            f"{scan / served:.1f}x | {f.served_hits:,} | {f.scan_hits:,} |"
        )
    lines += [
        "",
        "p95 (served / scan): "
        + "; ".join(
            f"{f.name} {p(f.served_ms, 0.95):,.0f} / {p(f.scan_ms, 0.95):,.0f} ms" for f in funnels
        )
        + ".",
        "",
        "## b. touchpoint upsert throughput, with and without the funnel facts",
        "",
        f"Write layer (`upsert_nodes`), {args.batch} touchpoints per batch and transaction "
        "(each with a step, a channel and a campaign), "
        f"{args.batches} batches per side per round, {args.rounds} rounds, the sides' order "
        "alternating per round. Without = the journey statements with the funnel facts' "
        "clauses taken out; one untimed warm-up round first.",
        "",
        "| workload | with funnel facts rows/s | without rows/s | ratio |",
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
        process, funnels = await variants(graph)
        results = []
        for name, funnel in funnels:
            say(f"a. funnel {name}, {args.runs} runs each")
            result = await measure_funnel(graph, process, name, funnel, args.runs)
            say(
                f"  equal {result.equal}; served p50 {statistics.median(result.served_ms):.1f}"
                f" ms, scan p50 {statistics.median(result.scan_ms):.1f} ms"
            )
            results.append(result)
        say("b. write throughput with and without the funnel facts")
        writes = await measure_writes(graph, args.rounds, args.batches, args.batch)
        await clean_up(graph)
        after = os.getloadavg()
        return lambda before: report(args, size, (before, after), process, results, writes)

    await seeded_run(args, measured)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = facts_bench_parser(__doc__, "bench/results-funnel-facts.md", "funnel")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
