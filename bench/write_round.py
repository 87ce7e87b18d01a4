"""One timed round of touchpoint upserts through the write layer, for bench/write_floor.py.

    python bench/write_round.py --kind live --prefix r1-new --batches 5 --batch 500

Runs under whichever orggraph the interpreter has installed (this version or an older
one: it uses only ``Graph.connect`` and ``upsert_nodes``, unchanged since before the
derived facts), so the same rows can be written by two versions of the write path side by
side. Connects to ``NEO4J_URI`` (``NEO4J_USER`` / ``NEO4J_PASSWORD``), reads the ids it
refers to (not timed), writes ``batches`` batches of ``batch`` touchpoints, one
transaction each, and prints one JSON line: ``{"rows": n, "seconds": s}``.

Kinds: ``live`` touchpoints after every journey's end (appended to the chain), ``late``
ones at random times inside the journeys (inserted into the customer's chain). Rows carry a
customer, a channel, a step and a team, and every third one a campaign, so every fact
kept on write is exercised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes

TYPES = ["PAGE_VIEW", "EMAIL", "FORM_SUBMIT", "CALL", "MEETING", "DEMO", "QUOTE", "ORDER"]
IDS: dict[str, LiteralString] = {
    "Customer": "MATCH (n:Customer) RETURN n.id AS id ORDER BY id",
    "Channel": "MATCH (n:Channel) RETURN n.id AS id ORDER BY id",
    "Step": "MATCH (n:Step) RETURN n.id AS id ORDER BY id",
    "Team": "MATCH (n:Team) RETURN n.id AS id ORDER BY id",
    "Campaign": "MATCH (n:Campaign) RETURN n.id AS id ORDER BY id",
}


def connect() -> Graph:
    # bench.run.connect's twin: importing bench.run would put this checkout's root, and its
    # orggraph folder, before the interpreter's own orggraph (the baseline's, when it runs).
    password = os.environ.get("NEO4J_PASSWORD")
    user = os.environ.get("NEO4J_USER", "neo4j") if password else None
    database = os.environ.get("NEO4J_DATABASE", "neo4j")
    return Graph.connect(
        os.environ["NEO4J_URI"], user, password, database, notifications_min_severity="OFF"
    )


async def ids(graph: Graph) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for label, query in IDS.items():
        found[label] = [r["id"] for r in await graph.query(query)]
    return found


def rows(
    rng: random.Random,
    known: dict[str, list[str]],
    args: argparse.Namespace,
    span: tuple[datetime, datetime],
) -> list[list[dict[str, Any]]]:
    lo, hi = span
    batches: list[list[dict[str, Any]]] = []
    for b in range(args.batches):
        batch: list[dict[str, Any]] = []
        for i in range(args.batch):
            n = b * args.batch + i
            if args.kind == "live":
                at = datetime.now(UTC) + timedelta(days=1, milliseconds=n)
            else:
                at = lo + (hi - lo) * rng.random()
            row: dict[str, Any] = {
                "id": f"{args.prefix}-{n}",
                "at": at.isoformat(),
                "type": rng.choice(TYPES),
                "customerId": rng.choice(known["Customer"]),
                "channelId": rng.choice(known["Channel"]),
                "stepId": rng.choice(known["Step"]),
                "teamId": rng.choice(known["Team"]),
            }
            if n % 3 == 0 and known["Campaign"]:
                row["campaignId"] = rng.choice(known["Campaign"])
            batch.append(row)
        batches.append(batch)
    return batches


async def main(args: argparse.Namespace) -> None:
    graph = connect()
    try:
        known = await ids(graph)
        span = await graph.query("MATCH (t:Touchpoint) RETURN min(t.at) AS lo, max(t.at) AS hi")
        bounds = (span[0]["lo"].to_native(), span[0]["hi"].to_native())
        payloads = rows(random.Random(args.seed), known, args, bounds)
        began = time.perf_counter()
        for batch in payloads:
            await upsert_nodes(graph, "Touchpoint", batch)
        seconds = time.perf_counter() - began
    finally:
        await graph.close()
    print(json.dumps({"rows": args.batches * args.batch, "seconds": seconds}))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=["live", "late"], required=True)
    parser.add_argument("--prefix", required=True, help="touchpoint ids start with it")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
