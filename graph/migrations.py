"""Versioned schema migrations, recorded in the graph so each runs once.

Each migration is a list of idempotent schema statements (``IF NOT EXISTS``)
and, when the model gains derived data, an idempotent backfill run in batches,
so a migration interrupted half way is simply run again. Applied versions are
kept as ``(:Migration {version})`` nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import LiteralString

from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import LABELS

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


async def _per_customer_page(graph: Graph, query: LiteralString, what: str) -> None:
    """Run ``query`` (taking ``$customerIds``) over every customer, a page per transaction."""
    after = ""
    done = 0
    while True:
        records = await graph.query(CUSTOMER_ID_PAGE, after=after, size=BACKFILL_PAGE_SIZE)
        ids = [str(record["id"]) for record in records]
        if not ids:
            return

        async def page(tx: Tx, ids: list[str] = ids) -> None:
            await tx.run(query, customerIds=ids)

        await graph.write(page)
        done += len(ids)
        after = ids[-1]
        log.info("%s backfill: %d customers done", what, done)


async def backfill_reached_steps(graph: Graph) -> None:
    """Build every customer's REACHED relationships."""
    from orggraph.graph.writes import REBUILD_REACHED_STEPS

    await _per_customer_page(graph, REBUILD_REACHED_STEPS, "REACHED")


async def backfill_latest_touchpoints(graph: Graph) -> None:
    """Point every customer's LATEST relationship at the end of its chain."""
    from orggraph.graph.writes import REBUILD_LATEST_TOUCHPOINTS

    await _per_customer_page(graph, REBUILD_LATEST_TOUCHPOINTS, "LATEST")


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
