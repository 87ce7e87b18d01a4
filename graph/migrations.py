"""Versioned schema migrations, recorded in the graph so each runs once.

Each migration is a list of idempotent schema statements (``IF NOT EXISTS``)
and, when the model gains derived data, an idempotent backfill run in batches,
so a migration interrupted half way is simply run again. Applied versions are
kept as ``(:Migration {version})`` nodes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import LiteralString

from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import ENTITY_LABEL, LABELS
from orggraph.graph.personal import PersonalData, PersonalDataError, is_sealed

log = logging.getLogger(__name__)


Backfill = Callable[[Graph], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[LiteralString, ...]
    backfill: Backfill | None = None


CUSTOMER_ID_PAGE: LiteralString = """
MATCH (c:Customer) WHERE c.id > $after
RETURN c.id AS id ORDER BY c.id LIMIT $size
"""
"""One page of customer ids in id order (keyset on the id constraint)."""

BACKFILL_PAGE_SIZE = 2_000


async def id_pages(graph: Graph, query: LiteralString, size: int) -> AsyncIterator[list[str]]:
    """Every id ``query`` pages through (``$after``, ``$size``), a page per round trip."""
    after = ""
    while True:
        records = await graph.query(query, after=after, size=size)
        ids = [str(record["id"]) for record in records]
        if not ids:
            return
        yield ids
        after = ids[-1]


def customer_pages(graph: Graph, size: int) -> AsyncIterator[list[str]]:
    """Every customer id in id order, a page at a time (keyset: a page per round trip)."""
    return id_pages(graph, CUSTOMER_ID_PAGE, size)


async def _backfill_pages(
    graph: Graph,
    pages: AsyncIterator[list[str]],
    write: Callable[[Tx, list[str]], Awaitable[object]],
    what: str,
    unit: str,
) -> None:
    """``write`` each page of ids in a transaction of its own, logging the running count."""
    done = 0
    async for ids in pages:

        async def page(tx: Tx, ids: list[str] = ids) -> None:
            await write(tx, ids)

        await graph.write(page)
        done += len(ids)
        log.info("%s backfill: %d %s done", what, done, unit)


async def _per_customer_page(graph: Graph, query: LiteralString, what: str) -> None:
    """Run ``query`` (taking ``$customerIds``) over every customer, a page per transaction."""

    async def write(tx: Tx, ids: list[str]) -> None:
        await tx.run(query, customerIds=ids)

    await _backfill_pages(
        graph, customer_pages(graph, BACKFILL_PAGE_SIZE), write, what, "customers"
    )


async def backfill_reached_steps(graph: Graph) -> None:
    """Build every customer's REACHED relationships."""
    from orggraph.graph.journeys import REBUILD_REACHED_STEPS

    await _per_customer_page(graph, REBUILD_REACHED_STEPS, "REACHED")


async def backfill_latest_touchpoints(graph: Graph) -> None:
    """Point every customer's LATEST relationship at the end of its chain."""
    from orggraph.graph.journeys import REBUILD_LATEST_TOUCHPOINTS

    await _per_customer_page(graph, REBUILD_LATEST_TOUCHPOINTS, "LATEST")


async def backfill_next_facts(graph: Graph) -> None:
    """Give every NEXT relationship of every customer's chain its directly-follows facts."""
    from orggraph.graph.journeys import SET_CUSTOMERS_NEXT_FACTS

    await _per_customer_page(graph, SET_CUSTOMERS_NEXT_FACTS, "NEXT facts")


async def backfill_funnel_facts(graph: Graph) -> None:
    """Give every customer its first arrivals per step and channel / campaign."""
    from orggraph.graph.journeys import REBUILD_FUNNEL_FACTS

    await _per_customer_page(graph, REBUILD_FUNNEL_FACTS, "funnel facts")


TOUCHPOINT_ID_PAGE: LiteralString = """
MATCH (t:Touchpoint) WHERE t.id > $after
RETURN t.id AS id ORDER BY t.id LIMIT $size
"""
"""One page of touchpoint ids in id order (keyset on the id constraint)."""

TOUCHPOINT_BACKFILL_PAGE_SIZE = 10_000


async def backfill_channel_days(graph: Graph) -> None:
    """Link every touchpoint with a channel to its ChannelDay (IN_DAY), a page of
    touchpoints per transaction."""
    from orggraph.graph.channels import link_channel_days

    pages = id_pages(graph, TOUCHPOINT_ID_PAGE, TOUCHPOINT_BACKFILL_PAGE_SIZE)
    await _backfill_pages(graph, pages, link_channel_days, "ChannelDay", "touchpoints")


def _next_pair_index(
    name: LiteralString, source: LiteralString, target: LiteralString
) -> LiteralString:
    return (
        "CREATE INDEX " + name + " IF NOT EXISTS FOR ()-[r:NEXT]-() "
        "ON (r." + source + ", r." + target + ", r.seconds)"
    )


CUSTOMER_EMAIL_PAGE: LiteralString = """
MATCH (c:Customer) WHERE c.id > $after
RETURN c.id AS id, c.email AS email ORDER BY c.id LIMIT $size
"""
"""One page of customers and their stored email, in id order (keyset on the id constraint)."""

RESEAL_CUSTOMER_EMAILS: LiteralString = """
UNWIND $rows AS row
MATCH (c:Customer {id: row.id}) WHERE c.email = row.stored
SET c.email = row.sealed, c.emailHash = row.hash
"""
"""Replace each stored email by its sealed form and look-up hash, unless it changed since
it was read (the page is read in the same transaction; the guard costs nothing)."""


async def seal_customer_emails(graph: Graph, *, rotate: bool = False) -> int:
    """Encrypt every customer's plaintext email (written before encryption), a page per
    transaction; with ``rotate``, also re-seal those sealed with an older key. Sealed
    values are skipped, so it may be run again at any point. Returns how many changed."""
    after = ""
    seen = changed = 0
    while True:

        async def page(tx: Tx, after: str = after) -> tuple[list[str], int]:
            records = await tx.records(CUSTOMER_EMAIL_PAGE, after=after, size=BACKFILL_PAGE_SIZE)
            ids = [str(record["id"]) for record in records]
            rows = [
                _resealed(graph.personal, str(record["id"]), record["email"])
                for record in records
                if _needs_sealing(graph.personal, record["email"], rotate)
            ]
            if rows:
                await tx.run(RESEAL_CUSTOMER_EMAILS, rows=rows)
            return ids, len(rows)

        ids, sealed = await graph.write(page)
        if not ids:
            return changed
        seen += len(ids)
        changed += sealed
        after = ids[-1]
        log.info("email encryption: %d customers read, %d emails sealed", seen, changed)


def _needs_sealing(personal: PersonalData | None, stored: object, rotate: bool) -> bool:
    if not isinstance(stored, str) or (personal is None and is_sealed(stored)):
        return False
    if personal is None:
        raise PersonalDataError("plaintext emails to encrypt, but no personal-data key is set")
    return personal.needs_sealing(stored, rotate=rotate)


def _resealed(personal: PersonalData | None, customer_id: str, stored: str) -> dict[str, str]:
    assert personal is not None  # _needs_sealing refused a missing key
    sealed = is_sealed(stored)
    plaintext = personal.open("Customer", customer_id, "email", stored) if sealed else stored
    return {
        "id": customer_id,
        "stored": stored,
        "sealed": personal.seal("Customer", customer_id, "email", plaintext),
        "hash": personal.lookup_hash("Customer", "email", plaintext),
    }


async def backfill_sealed_emails(graph: Graph) -> None:
    """Encrypt the plaintext emails an earlier version wrote."""
    await seal_customer_emails(graph)


DEALS_WITHOUT_EXACT_AMOUNT: LiteralString = """
MATCH (d:Deal) WHERE d.amountE4 IS NULL AND d.amount IS NOT NULL
WITH d LIMIT $size
SET d.amountE4 = toInteger(round(d.amount * 10000))
RETURN count(d) AS done
"""
"""One batch of deals written before exact amounts: their float amount, to 4 places, as the
integer ``amountE4`` (graph.money). The float's nearest 4-place value is what was meant:
amounts came from 2-decimal inputs or were rounded to cents."""


TOUCHPOINTS_WITHOUT_EXACT_VALUE: LiteralString = """
MATCH (t:Touchpoint) WHERE t.valueE4 IS NULL AND t.value IS NOT NULL
WITH t LIMIT $size
SET t.valueE4 = toInteger(round(t.value * 10000))
RETURN count(t) AS done
"""
"""One batch of touchpoints written before exact values: the same rule as deals' amounts
(a value below 0, allowed then, keeps its sign)."""


async def backfill_exact_amounts(graph: Graph) -> None:
    """Give every deal its exact amount (``amountE4``), then every touchpoint its exact
    value (``valueE4``), a batch per transaction."""
    for what, query in (
        ("deals", DEALS_WITHOUT_EXACT_AMOUNT),
        ("touchpoints", TOUCHPOINTS_WITHOUT_EXACT_VALUE),
    ):
        total = 0
        while True:

            async def batch(tx: Tx, query: LiteralString = query) -> int:
                record = await tx.single(query, size=BACKFILL_PAGE_SIZE)
                return int(record["done"]) if record else 0

            done = await graph.write(batch)
            if not done:
                break
            total += done
            log.info("exact money backfill: %d %s done", total, what)


OPEN_VALIDITY_PAGE: LiteralString = """
MATCH ()-[r:MEMBER_OF|PART_OF]->() WHERE r.from IS NULL
WITH r LIMIT $size
SET r.from = $epoch
RETURN count(r) AS done
"""
"""Give one page of undated memberships and hierarchy edges an open validity (from the
epoch, no end), as ownership has: the write layer keys them on ``from``."""


async def backfill_open_validity(graph: Graph) -> None:
    """Date every membership and hierarchy edge written before they carried validity."""
    while True:

        async def page(tx: Tx) -> int:
            record = await tx.single(
                OPEN_VALIDITY_PAGE, size=BACKFILL_PAGE_SIZE, epoch=datetime(1970, 1, 1, tzinfo=UTC)
            )
            return int(record["done"]) if record else 0

        if not await graph.write(page):
            return


def _entity_page() -> LiteralString:
    unlabelled: LiteralString = " OR ".join(["n:" + label for label in LABELS])
    return (
        "MATCH (n) WHERE (" + unlabelled + ") AND NOT n:" + ENTITY_LABEL + " "
        "WITH n LIMIT $size SET n:" + ENTITY_LABEL + " RETURN count(n) AS done"
    )


ENTITY_PAGE: LiteralString = _entity_page()
"""One page of entities written before the Entity label: labelled (an id two labels share
fails here, naming it: give one of them another id, then start again)."""


async def backfill_entity_label(graph: Graph) -> None:
    while True:

        async def page(tx: Tx) -> int:
            record = await tx.single(ENTITY_PAGE, size=BACKFILL_PAGE_SIZE)
            return int(record["done"]) if record else 0

        if not await graph.write(page):
            return


def _unique_id_constraint(label: LiteralString) -> LiteralString:
    name: LiteralString = "unique_" + label.lower() + "_id"
    return (
        "CREATE CONSTRAINT " + name + " IF NOT EXISTS FOR (n:" + label + ") REQUIRE n.id IS UNIQUE"
    )


def _range_index(label: LiteralString, prop: LiteralString) -> LiteralString:
    name: LiteralString = "index_" + label.lower() + "_" + prop.lower()
    return "CREATE INDEX " + name + " IF NOT EXISTS FOR (n:" + label + ") ON (n." + prop + ")"


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "uniqueness constraint on id for every label",
        (
            "CREATE CONSTRAINT unique_migration_version IF NOT EXISTS "
            "FOR (m:Migration) REQUIRE m.version IS UNIQUE",
            *(_unique_id_constraint(label) for label in LABELS),
        ),
    ),
    Migration(
        2,
        "indexes that anchor the traversals",
        (
            _range_index("Touchpoint", "at"),
            _range_index("Touchpoint", "type"),
            _range_index("Touchpoint", "activity"),
            _range_index("Step", "stage"),
            _range_index("Measurement", "at"),
            _range_index("Measurement", "periodStart"),
            _range_index("Deal", "closedAt"),
            _range_index("Customer", "segment"),
            _range_index("BusinessObject", "type"),
        ),
    ),
    Migration(
        3,
        "each customer's first arrival at each step (REACHED), read by funnels",
        (),
        backfill_reached_steps,
    ),
    Migration(
        4,
        "each customer's latest touchpoint (LATEST), read for customers in flight",
        (),
        backfill_latest_touchpoints,
    ),
    Migration(
        5,
        "customers' emails encrypted at rest, with a keyed hash (emailHash) for look-ups",
        (_range_index("Customer", "emailHash"),),
        backfill_sealed_emails,
    ),
    Migration(
        6,
        "money exact: deals' amountE4 and touchpoints' valueE4, the amount times 10^4 as an "
        "integer, beside the float",
        (),
        backfill_exact_amounts,
    ),
    Migration(
        8,
        "live tracking: anonymous ids linked to known customers (TrackingAlias), by id",
        (
            "CREATE CONSTRAINT unique_tracking_alias_id IF NOT EXISTS "
            "FOR (a:TrackingAlias) REQUIRE a.id IS UNIQUE",
        ),
    ),
    Migration(
        9,
        "memberships and hierarchy carry validity (open for existing edges); change history",
        (
            "CREATE CONSTRAINT unique_change_id IF NOT EXISTS "
            "FOR (c:Change) REQUIRE c.id IS UNIQUE",
            _range_index("Change", "entityId"),
            _range_index("Change", "recordedAt"),
        ),
        backfill_open_validity,
    ),
    Migration(
        12,
        "an id names one entity across labels: every entity also carries the Entity label, "
        "unique by id",
        (
            "CREATE CONSTRAINT unique_entity_id IF NOT EXISTS "
            "FOR (n:" + ENTITY_LABEL + ") REQUIRE n.id IS UNIQUE",
        ),
        backfill_entity_label,
    ),
    Migration(
        13,
        "index on REACHED(at): SLA cases and deliveries found by first arrival in a window",
        ("CREATE INDEX index_reached_at IF NOT EXISTS FOR ()-[r:REACHED]-() ON (r.at)",),
    ),
    Migration(
        14,
        "directly-follows facts on each NEXT (the ends' type and activity, the seconds "
        "between them) and the two pair indexes the journey map reads them from",
        (
            _next_pair_index("index_next_type_pair", "fromType", "toType"),
            _next_pair_index("index_next_activity_pair", "fromActivity", "toActivity"),
        ),
        backfill_next_facts,
    ),
    Migration(
        15,
        "each customer's first arrival at each step via each channel (REACHED_VIA) and from "
        "each campaign (REACHED_FROM), read by the channel and campaign funnels",
        (),
        backfill_funnel_facts,
    ),
    Migration(
        17,
        "per channel and UTC day, a ChannelDay node each touchpoint via the channel that day "
        "links to (IN_DAY): channel coverage sums days instead of scanning touchpoints",
        (
            "CREATE CONSTRAINT unique_channel_day IF NOT EXISTS "
            "FOR (d:ChannelDay) REQUIRE (d.channelId, d.day) IS UNIQUE",
            _range_index("ChannelDay", "day"),
        ),
        backfill_channel_days,
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version


async def applied_versions(graph: Graph) -> set[int]:
    records = await graph.query("MATCH (m:Migration) RETURN m.version AS version")
    return {int(record["version"]) for record in records}


async def migrate(graph: Graph) -> list[int]:
    """Apply the migrations not yet recorded; return the versions applied now."""
    done = await applied_versions(graph)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        log.info("applying migration %d: %s", migration.version, migration.description)
        for statement in migration.statements:
            await graph.write(_statement_runner(statement))
        if migration.backfill is not None:
            await migration.backfill(graph)
        await graph.write(_recorder(migration))
        applied.append(migration.version)
    return applied


async def is_up_to_date(graph: Graph) -> bool:
    return {m.version for m in MIGRATIONS} <= await applied_versions(graph)


def _statement_runner(statement: LiteralString) -> Callable[[Tx], Awaitable[None]]:
    async def work(tx: Tx) -> None:
        await tx.run(statement)

    return work


def _recorder(migration: Migration) -> Callable[[Tx], Awaitable[None]]:
    async def work(tx: Tx) -> None:
        await tx.run(
            "MERGE (m:Migration {version: $version}) "
            "ON CREATE SET m.description = $description, m.appliedAt = $at",
            version=migration.version,
            description=migration.description,
            at=datetime.now(UTC),
        )

    return work
