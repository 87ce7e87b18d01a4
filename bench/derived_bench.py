"""Derived facts: their cost on write and what they save on read, side by side in one run.

Usage (not run in CI; uses NEO4J_URI if set, else the embedded database):

    python bench/derived_bench.py --customers 2000 --rounds 2 --analytics-customers 20000

1. Touchpoint upserts through the write layer (``upsert_nodes``: the GraphQL mutation's
   path, ``graph.writes.write_touchpoints``), the generator's touchpoints of
   ``--customers`` customers sent in time order in batches of ``--batch``, once with the
   derived facts kept (``graph.derived.MAINTAIN``) and once without, alternately for
   ``--rounds`` rounds, each from the same state (touchpoints and facts deleted, the
   organisation, customers and deals kept). Rates are touchpoints per second.
2. The journey map read from the facts and by the scan (the reference), on the
   generator's organisation of ``--analytics-customers`` customers (imported in bulk,
   facts kept), all time and the last 30 days, median of ``--runs`` raw driver calls.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

from orggraph.database import open_graph
from orggraph.graph import derived, journey_maps
from orggraph.graph.driver import Graph
from orggraph.graph.seed import (
    ORGANISATION,
    TIMELINE_END,
    generate_customers,
    seed_organisation,
    timeline_end,
    write_organisation,
)
from orggraph.graph.writes import upsert_nodes
from orggraph.settings import Settings

WIPE_ALL = (
    "MATCH (n) WHERE NOT n:Migration CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
)
WIPE_TOUCHPOINTS = (
    "MATCH (n) WHERE n:Touchpoint OR n:JourneyTrace OR n:JourneyMapDay "
    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def auto(graph: Graph, query: Any) -> None:
    async with graph.driver.session(database=graph.database) as session:
        await (await session.run(query)).consume()


def record_rows(record: Any) -> dict[str, Any]:
    return record.model_dump(by_alias=True, exclude_unset=True, mode="json")  # type: ignore[no-any-return]


async def upsert_rate(graph: Graph, batches: list[list[dict[str, Any]]], maintain: bool) -> float:
    await auto(graph, WIPE_TOUCHPOINTS)
    derived.MAINTAIN = maintain
    try:
        started = time.perf_counter()
        for batch in batches:
            await upsert_nodes(graph, "Touchpoint", batch)
        seconds = time.perf_counter() - started
    finally:
        derived.MAINTAIN = True
    return sum(len(b) for b in batches) / seconds


async def bench_writes(graph: Graph, customers: int, batch: int, rounds: int) -> dict[str, Any]:
    await auto(graph, WIPE_ALL)
    until = timeline_end()
    await write_organisation(graph, ORGANISATION.shifted(until - TIMELINE_END))
    data = list(generate_customers(7, customers, until=until))
    await upsert_nodes(graph, "Customer", [record_rows(c.customer) for c in data])
    touchpoints = sorted((t for c in data for t in c.touchpoints), key=lambda t: (t.at, t.id))
    rows = [record_rows(t) for t in touchpoints]
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    rates: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(rounds):
        for maintain in (False, True) if round_ % 2 == 0 else (True, False):
            rate = await upsert_rate(graph, batches, maintain)
            rates[maintain].append(rate)
            say(f"round {round_ + 1}, facts {'on' if maintain else 'off'}: {rate:,.0f} tp/s")
    with_facts, without = statistics.median(rates[True]), statistics.median(rates[False])
    return {
        "touchpoints": len(rows),
        "customers": customers,
        "with": with_facts,
        "without": without,
        "ratio": with_facts / without,
        "rates": rates,
    }


async def timed(graph: Graph, by: str, window: tuple[Any, Any], facts: bool, runs: int) -> float:
    times: list[float] = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        await journey_maps.directly_follows_graph(
            graph, by=by, object_type=None, min_edge_count=1, window_from=window[0],
            window_to=window[1], from_facts=facts,
        )  # fmt: skip
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])  # the first run warms the plan cache


async def bench_reads(graph: Graph, customers: int, runs: int) -> list[dict[str, Any]]:
    await auto(graph, WIPE_ALL)
    started = time.perf_counter()
    summary = await seed_organisation(graph, customers, 1, progress=say)
    seconds = time.perf_counter() - started
    end = timeline_end()
    rows: list[dict[str, Any]] = [
        {
            "what": f"import (generator, facts kept): {summary.touchpoints:,} touchpoints",
            "facts": summary.touchpoints / seconds,
            "scan": None,
        }
    ]
    for by in ("TYPE", "CHANNEL", "STEP"):
        for label, window in (
            ("all time", (None, None)),
            ("last 30 days", (end - timedelta(days=30), end)),
        ):
            facts = await timed(graph, by, window, True, runs)
            scan = await timed(graph, by, window, False, runs)
            rows.append({"what": f"journeyMap by {by}, {label}", "facts": facts, "scan": scan})
            say(f"journeyMap by {by}, {label}: facts {facts:.1f} ms, scan {scan:.1f} ms")
    return rows


async def main(args: argparse.Namespace) -> None:
    async with open_graph(Settings()) as graph:
        writes = await bench_writes(graph, args.customers, args.batch, args.rounds)
        reads = await bench_reads(graph, args.analytics_customers, args.runs)
    print("| touchpoint upserts | facts kept (tp/s) | without (tp/s) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| {writes['touchpoints']:,} touchpoints of {writes['customers']:,} customers, "
        f"batches of {args.batch}, median of {args.rounds} | {writes['with']:,.0f} | "
        f"{writes['without']:,.0f} | {writes['ratio']:.2f} |"
    )
    print()
    print("| measure | from the facts | scan (reference) | ratio |")
    print("|---|---|---|---|")
    for row in reads:
        if row["scan"] is None:
            print(f"| {row['what']} | {row['facts']:,.0f} tp/s | | |")
        else:
            ratio = row["scan"] / row["facts"]
            print(f"| {row['what']} (ms) | {row['facts']:.1f} | {row['scan']:.1f} | {ratio:.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--analytics-customers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
