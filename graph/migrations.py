"""Versioned schema migrations, recorded in the graph so each runs once.

Each migration is a list of idempotent schema statements (``IF NOT EXISTS``),
so a migration interrupted half way is simply run again. Applied versions are
kept as ``(:Migration {version})`` nodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Awaitable, Callable
from typing import LiteralString

from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import LABELS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[LiteralString, ...]


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
            at=datetime.now(timezone.utc),
        )

    return work
