"""Import benchmark: the generator (100k, 1M touchpoints), the OCEL order-management
import and the declarative mapping import of a generated two-file funnel export
(``mappings/funnel.yaml``), each side by side with the floor: a plain ``UNWIND $rows AS
row CREATE (t:Touchpoint) SET t = row`` of the same rows through the driver.

Usage (not run in CI; uses NEO4J_URI if set, else the embedded database):

    python bench/import_bench.py --sizes 100000 1000000 \\
        --ocel ../shared/data/ocel2-order-management --mapping-rows 1000000

For the mapping, a row is a line of either file (leads, and won deals joined to them by
lead id); the floor writes each line's cells as one node; the import makes a customer, a
campaign and a touchpoint per lead, a touchpoint and a deal per won deal, with their
references and journey chains, plus the partial update of the lead's customer.

Rates are touchpoints per second. The floor times only its write calls (rows are
prepared outside the clock); the importers' rates are wall time for everything
they do: validation, customers, deals, objects, every relationship, the journey
chain. Each measurement starts from an emptied (migrated) database.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, LiteralString, TypeVar

from orggraph.database import open_graph
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.importers.bulk import chunked, epoch, touchpoint_row
from orggraph.graph.importers.mapping import load_mapping, read_source, run_mapping
from orggraph.graph.importers.ocel_order_management import (
    OrderManagementLog,
    import_order_management,
)
from orggraph.graph.model import TouchpointRecord
from orggraph.graph.seed import generate_customers, seed_organisation
from orggraph.settings import Settings

R = TypeVar("R")
FLOOR = "UNWIND $rows AS row CREATE (t:Touchpoint) SET t = row"
# The same plain CREATE with ``at`` sent as two integers, the encoding the importers
# use (the driver's packing of zoned datetimes is slow): the floor with that client
# cost removed, so the harder comparison.
FLOOR_EPOCH = (
    "UNWIND $rows AS row CREATE (t:Touchpoint) "
    "SET t = row.props, t.id = row.id, "
    "t.at = datetime({epochSeconds: row.atS, nanosecond: row.atNs})"
)
# Relationships first, in bounded transactions: a node's DETACH DELETE takes all of its
# relationships into one transaction (a channel of a 300,000-line funnel has ~40,000),
# which exceeded the transaction memory pool.
WIPE_RELATIONSHIPS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
WIPE = "MATCH (n) WHERE NOT n:Migration CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS"


async def under_load(work: Awaitable[R]) -> tuple[R, str]:
    """``work``'s result and the machine's 1-minute load average during it (lowest-highest
    of samples every 10 s): the figures of a shared machine only compare within a run."""
    samples = [os.getloadavg()[0]]

    async def sample() -> None:
        while True:
            await asyncio.sleep(10)
            samples.append(os.getloadavg()[0])

    sampler = asyncio.create_task(sample())
    try:
        result = await work
    finally:
        sampler.cancel()
    samples.append(os.getloadavg()[0])
    return result, f"{min(samples):.1f}-{max(samples):.1f}"


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def wipe(graph: Graph) -> None:
    async with graph.driver.session(database=graph.database) as session:
        await (await session.run(WIPE_RELATIONSHIPS)).consume()
        await (await session.run(WIPE)).consume()


def plain(record: TouchpointRecord) -> dict[str, Any]:
    return {"id": record.id, **record.properties()}


def encoded(record: TouchpointRecord) -> dict[str, Any]:
    row = touchpoint_row(record)
    return {"id": row["id"], "props": row["props"], "atS": row["atS"], "atNs": row["atNs"]}


async def floor(
    graph: Graph, batches: Iterator[list[dict[str, Any]]], query: LiteralString = FLOOR
) -> tuple[int, float]:
    """Write the rows with the plain CREATE; return (rows, seconds spent writing)."""
    rows = 0
    spent = 0.0
    for batch in batches:
        started = time.perf_counter()

        async def work(tx: Tx, batch: list[dict[str, Any]] = batch) -> None:
            await tx.run(query, rows=batch)

        await graph.write(work)
        spent += time.perf_counter() - started
        rows += len(batch)
    return rows, spent


def generator_rows(
    seed: int, customers: int, batch: int, shape: Callable[[TouchpointRecord], dict[str, Any]]
) -> Iterator[list[dict[str, Any]]]:
    touchpoints = (shape(t) for c in generate_customers(seed, customers) for t in c.touchpoints)
    return chunked(touchpoints, batch)


def customers_for(touchpoints: int, seed: int) -> int:
    sample = 2_000
    mean = sum(len(c.touchpoints) for c in generate_customers(seed, sample)) / sample
    return max(1, round(touchpoints / mean))


async def bench_generator(
    graph: Graph, target: int, seed: int, batch: int, writers: int
) -> dict[str, Any]:
    customers = customers_for(target, seed)
    await wipe(graph)
    say(f"floor for the generator's rows ({customers:,} customers)")
    rows, floor_s = await floor(graph, generator_rows(seed, customers, batch, plain))
    await wipe(graph)
    _, floor_epoch_s = await floor(
        graph, generator_rows(seed, customers, batch, encoded), FLOOR_EPOCH
    )
    await wipe(graph)
    say(f"generator: {customers:,} customers")
    summary = await seed_organisation(
        graph, customers, seed, progress=say, batch_touchpoints=batch, writers=writers
    )
    assert summary.touchpoints == rows
    return {
        "what": f"generator, {rows:,} touchpoints ({customers:,} customers)",
        "rows": rows,
        "floor": rows / floor_s,
        "floor_epoch": rows / floor_epoch_s,
        "rate": rows / summary.seconds,
        "seconds": summary.seconds,
        "floor_seconds": floor_s,
        "relationships": summary.writes.relationships_created,
        "nodes": summary.writes.nodes_created,
    }


async def bench_ocel(graph: Graph, directory: Path, batch: int) -> dict[str, Any]:
    log = OrderManagementLog(directory)
    await wipe(graph)
    rows = [
        {
            "id": "om:" + e["id"],
            "at": datetime.fromisoformat(e["time"]),
            "type": "OTHER",
            "activity": e["type"],
        }
        for e in log.events
    ]
    count, floor_s = await floor(graph, chunked(rows, batch))
    await wipe(graph)
    epoch_rows = []
    for row in rows:
        at = row["at"]
        assert isinstance(at, datetime)
        seconds, nanos = epoch(at.replace(tzinfo=UTC))
        props = {k: v for k, v in row.items() if k not in ("id", "at")}
        epoch_rows.append({"id": row["id"], "props": props, "atS": seconds, "atNs": nanos})
    _, floor_epoch_s = await floor(graph, chunked(epoch_rows, batch), FLOOR_EPOCH)
    await wipe(graph)
    started = time.perf_counter()
    summary = await import_order_management(graph, directory, progress=say, batch_size=batch)
    took_s = time.perf_counter() - started
    return {
        "what": f"OCEL order management, {count:,} events",
        "rows": count,
        "floor": count / floor_s,
        "floor_epoch": count / floor_epoch_s,
        "rate": count / took_s,
        "seconds": took_s,
        "floor_seconds": floor_s,
        "relationships": summary.writes.relationships_created,
        "nodes": summary.writes.nodes_created,
    }


FUNNEL = Path(__file__).resolve().parent.parent / "mappings" / "funnel.yaml"
ORIGINS = ["organic_search", "paid_search", "social", "email", "referral", "direct_traffic"]


def write_funnel_export(folder: Path, rows: int, seed: int) -> None:
    """``rows`` lines in two files, 9 leads for 1 won deal (a deal's lead is in leads.csv)."""
    rng = random.Random(seed)
    deals = rows // 10
    leads = rows - deals
    pages = [f"p{n}" for n in range(max(1, leads // 20))]
    with (folder / "leads.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["lead_id", "first_contact", "landing_page", "origin"])
        for n in range(leads):
            day = 1 + n % 28
            page = "" if n % 50 == 0 else rng.choice(pages)
            out.writerow([f"L{n}", f"2024-0{1 + n % 6}-{day:02d}", page, rng.choice(ORIGINS)])
    with (folder / "deals.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["lead_id", "won_date", "segment", "monthly_revenue"])
        for n in rng.sample(range(leads), deals):
            out.writerow([f"L{n}", "2024-08-15T10:00:00", rng.choice(["a", "b"]), f"{n % 900}.5"])
    shutil.copy(FUNNEL, folder / "funnel.yaml")


# A second reference, beside (not instead of) the floor: the graph the funnel import
# makes, written blindly, as one could only on an empty database: every node and
# relationship a line makes CREATEd by one statement per file, no id looked up before,
# no state read, nothing to count, journeys known in advance (a lead is its customer's
# first touchpoint, a won deal its second). Import / this = the price of idempotent
# upserts, counts, checks and journey maintenance; this / floor = the price of the
# graph's shape (two nodes and four relationships a line instead of one node).
BLIND_CAMPAIGNS: LiteralString = (
    "UNWIND $rows AS row CREATE (p:Campaign:Entity {id: row.id}) SET p += row.props"
)
BLIND_CHANNELS: LiteralString = (
    "UNWIND $rows AS row CREATE (c:Channel:Entity {id: row.id}) SET c += row.props"
)
BLIND_LEADS: LiteralString = """
UNWIND $rows AS row
MATCH (ch:Channel {id: row.channel})
CREATE (c:Customer:Entity {id: row.customer}) SET c += row.customerProps
CREATE (t:Touchpoint:Entity {id: row.id}) SET t += row.props,
  t.at = datetime({epochSeconds: row.atS, nanosecond: row.atNs})
CREATE (c)-[:HAD]->(t), (t)-[:VIA]->(ch), (c)-[:LATEST]->(t)
WITH t, row WHERE row.campaign IS NOT NULL
MATCH (p:Campaign {id: row.campaign})
CREATE (t)-[:FROM]->(p)
"""
BLIND_DEALS: LiteralString = """
UNWIND $rows AS row
MATCH (ch:Channel {id: row.channel})
MATCH (c:Customer {id: row.customer})-[latest:LATEST]->(first:Touchpoint)
DELETE latest
SET c.segment = row.segment
CREATE (t:Touchpoint:Entity {id: row.id}) SET t += row.props,
  t.at = datetime({epochSeconds: row.atS, nanosecond: row.atNs})
CREATE (c)-[:HAD]->(t), (t)-[:VIA]->(ch), (first)-[:NEXT]->(t), (c)-[:LATEST]->(t)
CREATE (d:Deal:Entity {id: row.deal}) SET d += row.dealProps,
  d.openedAt = datetime({epochSeconds: row.openedS, nanosecond: 0}),
  d.closedAt = datetime({epochSeconds: row.atS, nanosecond: row.atNs})
CREATE (c)-[:OPENED]->(d)
"""


def _seconds(text: str) -> int:
    return epoch(datetime.fromisoformat(text).replace(tzinfo=UTC))[0]


def blind_rows(folder: Path, channels: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The rows of the blind reference, from the export's two files (prepared off the
    clock, like the floor's)."""
    pages: dict[str, dict[str, Any]] = {}
    leads: list[dict[str, Any]] = []
    first_contact: dict[str, str] = {}
    origin: dict[str, str] = {}
    with (folder / "leads.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            lead, page = row["lead_id"], row["landing_page"]
            first_contact[lead] = row["first_contact"]
            origin[lead] = row["origin"]
            campaign = f"funnel:page:{page}" if page else None
            if campaign is not None:
                pages[campaign] = {"name": f"Landing page {page}", "sourceKind": "OTHER"}
            leads.append(
                {
                    "customer": f"funnel:lead:{lead}",
                    "customerProps": {"name": f"Lead {lead}", "kind": "PERSON"},
                    "id": f"funnel:lead:{lead}:contact",
                    "props": {"type": "FORM_SUBMIT", "activity": "first_contact"},
                    "atS": _seconds(row["first_contact"]),
                    "atNs": 0,
                    "channel": channels[row["origin"]],
                    "campaign": campaign,
                }
            )
    deals: list[dict[str, Any]] = []
    with (folder / "deals.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            lead = row["lead_id"]
            amount = Decimal(row["monthly_revenue"])
            deals.append(
                {
                    "customer": f"funnel:lead:{lead}",
                    "segment": row["segment"],
                    "id": f"funnel:lead:{lead}:won",
                    "props": {"type": "PURCHASE", "activity": "deal_won"},
                    "atS": _seconds(row["won_date"]),
                    "atNs": 0,
                    "channel": channels[origin[lead]],
                    "deal": f"funnel:deal:{lead}",
                    "dealProps": {
                        "amount": float(amount),
                        "amountE4": int(amount * 10_000),
                        "won": True,
                    },
                    "openedS": _seconds(first_contact[lead]),
                }
            )
    campaigns = [{"id": i, "props": props} for i, props in pages.items()]
    return {"campaigns": campaigns, "leads": leads, "deals": deals}


async def blind(graph: Graph, rows: dict[str, list[dict[str, Any]]], batch: int) -> float:
    """Seconds spent writing the blind reference's statements (the channels exist)."""
    spent = 0.0
    for query, part in (
        (BLIND_CAMPAIGNS, rows["campaigns"]),
        (BLIND_LEADS, rows["leads"]),
        (BLIND_DEALS, rows["deals"]),
    ):
        _, took = await floor(graph, chunked(part, batch), query)
        spent += took
    return spent


async def bench_mapping(graph: Graph, rows: int, seed: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        write_funnel_export(folder, rows, seed)
        mapping = load_mapping(folder / "funnel.yaml")
        lines = [
            {"id": f"{source.name}:{line}", **row}
            for source in mapping.spec.sources
            if source.file
            for line, row in read_source(source, mapping.base)
        ]
        await wipe(graph)
        (count, floor_s), floor_load = await under_load(floor(graph, chunked(lines, batch)))
        del lines
        await wipe(graph)
        say(f"blind reference, {rows:,} rows")
        inline = next(source for source in mapping.spec.sources if not source.file)
        await floor(
            graph, iter([[{"id": r["id"], "props": r} for r in inline.rows or []]]), BLIND_CHANNELS
        )
        prepared = blind_rows(folder, mapping.spec.value_maps["origin_channel"])
        blind_s, blind_load = await under_load(blind(graph, prepared, batch))
        del prepared
        await wipe(graph)
        say(f"mapping import, {rows:,} rows")
        started = time.perf_counter()
        result, load = await under_load(run_mapping(graph, mapping, batch_size=batch, progress=say))
        took_s = time.perf_counter() - started
    assert result.rows_imported == count + 7, (result.rows_imported, count)  # + 7 channels
    return {
        "what": f"mapping, funnel export in two files, {count:,} rows",
        "rows": count,
        "floor": count / floor_s,
        "floor_epoch": count / floor_s,
        "rate": count / took_s,
        "seconds": took_s,
        "floor_seconds": floor_s,
        "relationships": result.writes.relationships_created,
        "nodes": sum(len(c.created) for c in result.labels.values()),
        "blind": count / blind_s,
        "load": f"floor {floor_load}, blind reference {blind_load}, import {load}",
    }


async def main(args: argparse.Namespace) -> None:
    results = []
    settings = Settings()
    async with open_graph(settings) as opened:
        # As the commands do: bulk work under the write budget, not the interactive one.
        graph = opened.bounded_by(settings.write_timeout_s, "ORGGRAPH_WRITE_TIMEOUT_S")
        for rows in args.mapping_rows:
            results.append(await bench_mapping(graph, rows, args.seed, args.batch))
            say(str(results[-1]))
        if args.ocel:
            results.append(await bench_ocel(graph, args.ocel, args.batch))
            say(str(results[-1]))
        for size in args.sizes:
            results.append(await bench_generator(graph, size, args.seed, args.batch, args.writers))
            say(str(results[-1]))
        if not args.keep:
            await wipe(graph)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"batch {args.batch} touchpoints, {args.writers} concurrent writer(s)\n")
    print(
        "| run | touchpoints | floor (rows/s) | floor, epoch `at` (rows/s) | importer (rows/s) "
        "| importer / floor | importer / floor, epoch | importer time | nodes + rels created |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['what']} | {r['rows']:,} | {r['floor']:,.0f} | {r['floor_epoch']:,.0f} | "
            f"{r['rate']:,.0f} | {r['rate'] / r['floor']:.0%} | "
            f"{r['rate'] / r['floor_epoch']:.0%} | {r['seconds']:.1f} s | "
            f"{r['nodes']:,} + {r['relationships']:,} |"
        )
    for r in results:
        if "blind" in r:
            print(
                f"\n{r['what']}: blind reference (CREATE of the same graph, no upsert, no "
                f"reads) {r['blind']:,.0f} rows/s = {r['blind'] / r['floor']:.0%} of the floor; "
                f"the import is {r['rate'] / r['blind']:.0%} of it"
            )
    for r in results:
        if "load" in r:
            print(f"\n{r['what']}: 1-minute load average (lowest-highest) {r['load']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--ocel", type=Path, help="the ocel2-order-management folder")
    parser.add_argument(
        "--mapping-rows", type=int, nargs="*", default=[], help="funnel export sizes (lines)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the last run's data")
    asyncio.run(main(parser.parse_args()))
