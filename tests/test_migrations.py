"""Migrations: constraints and indexes exist, each migration runs once."""

from __future__ import annotations

from orggraph.graph.driver import Graph
from orggraph.graph.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    applied_versions,
    is_up_to_date,
    migrate,
)
from orggraph.graph.model import LABELS


async def test_every_label_has_a_unique_id_constraint(graph: Graph) -> None:
    records, _, _ = await graph.driver.execute_query(
        "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties "
        "WHERE type = 'UNIQUENESS' AND properties = ['id'] RETURN labelsOrTypes[0] AS label",
        database_=graph.database,
    )
    assert {r["label"] for r in records} >= set(LABELS)


async def test_the_traversal_indexes_exist(graph: Graph) -> None:
    records, _, _ = await graph.driver.execute_query(
        "SHOW INDEXES YIELD labelsOrTypes, properties WHERE labelsOrTypes IS NOT NULL "
        "RETURN labelsOrTypes[0] + '.' + properties[0] AS key",
        database_=graph.database,
    )
    keys = {r["key"] for r in records}
    assert {"Touchpoint.at", "Step.stage", "Measurement.at"} <= keys


async def test_migrations_are_recorded_and_run_once(graph: Graph) -> None:
    assert await applied_versions(graph) == {m.version for m in MIGRATIONS}
    assert await is_up_to_date(graph)
    assert await migrate(graph) == []
    records, _, _ = await graph.driver.execute_query(
        "MATCH (m:Migration) RETURN count(m) AS n, max(m.version) AS latest",
        database_=graph.database,
    )
    assert (records[0]["n"], records[0]["latest"]) == (len(MIGRATIONS), LATEST_VERSION)
