"""Tracking benchmark: sustained ingestion through ``POST /v1/batch`` side by side with
the floor, a plain ``UNWIND $rows AS row CREATE (t:Touchpoint) SET t = row`` of the
same number of rows in batches of the same size, with the same concurrency, through
the driver; and the time from an event's sending to its ``touchpointAdded`` delivery.

Usage (not run in CI; uses NEO4J_URI if set, else an embedded database in a temp dir,
which is wiped before each side):

    python bench/tracking_bench.py --events 50000 --batch 100 --clients 4

* Ours: the service (``bench.tracking_serve``, one uvicorn worker, a child process)
  with one in-process ``touchpointAdded`` subscriber; ``--clients`` closed-loop HTTP
  clients post Segment batches (analytics-python's default: 100 events). Events mix
  page views and track calls of known users (userId) and anonymous visitors, a few
  identify calls merging a visitor into a user, a few orders with revenue. Bodies are
  built before the clock starts; only the send time is stamped in (the events'
  ``timestamp``). The rate is events accepted / wall time of the whole run.
* Latency: the subscriber notes, per event, delivery time minus the event's
  ``timestamp`` (its send time): an upper bound of receipt -> event (it includes
  the request's wait in the client and in the server's queue).
* Floor: the same count of rows, as plain property maps, written with the same
  batch size and concurrency; its time is only its write calls.
* CPU: the processor time the database's process (and, for ours, the service's)
  spent during each side, per row or event: on a machine shared with other work it
  varies far less than the rates, which fall with the load (Linux only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.import_bench import FLOOR, cpu_model, wipe  # noqa: E402
from bench.loadgen import check_loopback, percentile  # noqa: E402
from bench.run import child, child_env, connect, free_port, neo4j_database, say, wait_http  # noqa: E402
from orggraph.graph.driver import Graph, Tx  # noqa: E402
from orggraph.graph.migrations import migrate  # noqa: E402

WRITE_KEY = "bench-write-key"
STAMP = "__SENT_AT__"


def make_events(
    rng: random.Random, tag: str, batch_no: int, size: int, users: int
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(size):
        message_id = f"{tag}-b{batch_no}-e{i}"
        user = f"user-{rng.randrange(users)}"
        anonymous = f"anon-{rng.randrange(users)}"
        roll = rng.random()
        who: dict[str, Any] = {"userId": user} if roll < 0.6 else {"anonymousId": anonymous}
        if roll > 0.98:
            events.append(
                {
                    "type": "identify",
                    "messageId": message_id,
                    "userId": user,
                    "anonymousId": anonymous,
                    "traits": {"email": f"{user}@example.com"},
                    "timestamp": STAMP,
                }
            )
            continue
        if rng.random() < 0.55:
            path = rng.choice(["/", "/pricing", "/docs", "/blog/graph", "/contact"])
            context = {
                "page": {
                    "path": path,
                    "url": "https://shop.example.com" + path,
                    "referrer": rng.choice(["", "https://www.google.com/", "https://t.co/x"]),
                }
            }
            if rng.random() < 0.2:
                context["campaign"] = {"name": "Spring Sale", "source": "news", "medium": "email"}
            events.append(
                {"type": "page", "messageId": message_id, "context": context, "timestamp": STAMP}
                | who
            )
        else:
            name = rng.choice(["Product Viewed", "Demo Requested", "Order Completed"])
            properties = {"revenue": round(rng.uniform(10, 500), 2)} if "Order" in name else {}
            events.append(
                {
                    "type": "track",
                    "messageId": message_id,
                    "event": name,
                    "properties": properties,
                    "timestamp": STAMP,
                }
                | who
            )
    return events


def bodies(events: int, batch: int, users: int, seed: int, tag: str = "run") -> list[str]:
    rng = random.Random(seed)
    count = (events + batch - 1) // batch
    return [
        json.dumps({"batch": make_events(rng, tag, n, min(batch, events - n * batch), users)})
        for n in range(count)
    ]


def cpu_seconds(pid: int | None) -> float:
    """User + system processor time of a process so far (0 where /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Ingestion:
    events: int
    seconds: float
    rejected: int
    request_ms: list[float]
    delays_ms: list[float]
    dropped: int
    database_cpu_s: float = 0.0
    service_cpu_s: float = 0.0


async def ingest(url: str, payloads: list[str], clients: int) -> Ingestion:
    check_loopback(url)
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    queue = list(reversed(payloads))
    accepted = rejected = 0
    request_ms: list[float] = []
    async with httpx.AsyncClient(timeout=120.0, limits=limits) as client:

        async def worker() -> None:
            nonlocal accepted, rejected
            while queue:
                body = queue.pop()
                sent = datetime.now(UTC).isoformat()
                began = time.perf_counter()
                response = await client.post(
                    url + "/v1/batch", content=body.replace(STAMP, sent), headers=headers
                )
                request_ms.append((time.perf_counter() - began) * 1000)
                answer = response.json()
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {answer}")
                accepted += answer["accepted"]
                rejected += len(answer["rejected"])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - started
        report = (await client.get(url + "/bench/latency")).json()
    return Ingestion(accepted, seconds, rejected, request_ms, report["delaysMs"], report["dropped"])


def floor_rows(events: int, batch: int) -> list[list[dict[str, Any]]]:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {
            "id": f"floor-{i}",
            "at": base + timedelta(seconds=i),
            "type": "PAGE_VIEW",
            "activity": "/pricing",
            "value": None,
        }
        for i in range(events)
    ]
    return [rows[i : i + batch] for i in range(0, events, batch)]


async def floor(graph: Graph, batches: list[list[dict[str, Any]]], clients: int) -> float:
    """Seconds for ``clients`` concurrent writers to CREATE every batch."""
    queue = list(reversed(batches))

    async def writer() -> None:
        while queue:
            rows = queue.pop()

            async def work(tx: Tx, rows: list[dict[str, Any]] = rows) -> None:
                await tx.run(FLOOR, rows=rows)

            await graph.write(work)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(clients)))
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="tracking-bench-"))
    say(f"work dir {work}")
    payloads = bodies(args.events, args.batch, args.users, args.seed)
    with neo4j_database(args, work) as (uri, database_pid):
        graph = connect(uri)
        try:
            await migrate(graph)
            await wipe(graph)
            rows = floor_rows(args.events, args.batch)
            await floor(graph, rows[:10], 1)  # warm-up: Cypher compiled, caches filled
            await wipe(graph)
            floor_cpu = cpu_seconds(database_pid)
            floor_s = await floor(graph, rows, args.clients)
            floor_cpu = cpu_seconds(database_pid) - floor_cpu
            say(f"floor: {args.events / floor_s:,.0f} rows/s")
            await wipe(graph)
            ours = await serve_and_ingest(args, uri, work, payloads, database_pid)
            say(f"ours: {ours.events / ours.seconds:,.0f} events/s")
            counts = await graph.query(
                "MATCH (t:Touchpoint) WITH count(t) AS touchpoints "
                "MATCH (c:Customer) RETURN touchpoints, count(c) AS customers"
            )
            if not args.keep:
                await wipe(graph)
        finally:
            await graph.close()
    report(args, (floor_s, floor_cpu), ours, counts[0])


async def serve_and_ingest(
    args: argparse.Namespace, uri: str, work: Path, payloads: list[str], database_pid: int | None
) -> Ingestion:
    """Start the service, warm it, then time the ingestion of every payload."""
    port = free_port()
    env = child_env(uri)
    env["ORGGRAPH_TRACKING_WRITE_KEYS"] = json.dumps({WRITE_KEY: "website"})
    env["ORGGRAPH_HOME"] = str(work / "home")
    # The first transactions compile every query: slow on a loaded machine.
    env["ORGGRAPH_QUERY_TIMEOUT_S"] = "300"
    # A group commit publishes up to 500 events at once: the watcher keeps them all.
    env["ORGGRAPH_EVENTS_QUEUE_SIZE"] = "100000"
    command = [sys.executable, "-m", "uvicorn", "bench.tracking_serve:app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = work / "service.log"
    with child(command, env, ROOT, log) as process:
        url = f"http://127.0.0.1:{port}"
        await wait_http(url + "/readyz", process, log)
        warm = bodies(args.batch * 10, args.batch, args.users, args.seed + 1, "warm")
        await ingest(url, warm, 1)
        database_cpu, service_cpu = cpu_seconds(database_pid), cpu_seconds(process.pid)
        ours = await ingest(url, payloads, args.clients)
        ours.database_cpu_s = cpu_seconds(database_pid) - database_cpu
        ours.service_cpu_s = cpu_seconds(process.pid) - service_cpu
        return ours


def report(
    args: argparse.Namespace, floor_run: tuple[float, float], ours: Ingestion, record: Any
) -> None:
    floor_s, floor_cpu = floor_run
    floor_rate = args.events / floor_s
    rate = ours.events / ours.seconds
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(
        "load average at the end (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print(
        f"{args.events:,} events in batches of {args.batch}, {args.clients} concurrent clients, "
        f"{args.users:,} users\n"
    )
    print("| run | events/s | of the floor | wall time | p50 request | p95 request |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| floor: UNWIND ... CREATE | {floor_rate:,.0f} | 100% | {floor_s:.1f} s | | |")
    print(
        f"| POST /v1/batch | {rate:,.0f} | {rate / floor_rate:.0%} | {ours.seconds:.1f} s | "
        f"{percentile(ours.request_ms, 0.5):.0f} ms | {percentile(ours.request_ms, 0.95):.0f} ms |"
    )
    print(
        f"\nsend -> touchpointAdded: p50 {percentile(ours.delays_ms, 0.5):.0f} ms, "
        f"p95 {percentile(ours.delays_ms, 0.95):.0f} ms, "
        f"max {max(ours.delays_ms, default=0):.0f} ms over {len(ours.delays_ms):,} events "
        f"({ours.dropped} dropped by the subscriber); accepted {ours.events:,}, "
        f"rejected {ours.rejected}"
    )
    database_us = ours.database_cpu_s / max(ours.events, 1) * 1e6
    service_us = ours.service_cpu_s / max(ours.events, 1) * 1e6
    print(
        f"CPU per event: database {database_us:,.0f} us + service {service_us:,.0f} us; "
        f"floor: database {floor_cpu / args.events * 1e6:,.0f} us per row"
    )
    print(
        f"graph after the run: "
        f"{record['touchpoints']:,} touchpoints, {record['customers']:,} customers"
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--heap", default="1g")
    parser.add_argument("--pagecache", default="512m")
    parser.add_argument("--keep", action="store_true", help="keep the data of the run")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
