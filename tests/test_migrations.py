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


async def test_the_latest_touchpoint_backfill_rebuilds_what_is_missing_or_wrong(
    graph: Graph,
) -> None:
    from orggraph.graph.migrations import backfill_latest_touchpoints
    from orggraph.graph.writes import upsert_nodes

    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "A"}, {"id": "c2", "name": "B"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": "t1", "at": "2024-01-01T00:00:00Z", "type": "EMAIL", "customerId": "c1"},
            {"id": "t2", "at": "2024-01-02T00:00:00Z", "type": "EMAIL", "customerId": "c1"},
            {"id": "t3", "at": "2024-01-01T00:00:00Z", "type": "EMAIL", "customerId": "c2"},
        ],
    )
    # a graph written before LATEST existed, with one wrong relationship on top
    await graph.driver.execute_query(
        "MATCH (:Customer)-[r:LATEST]->() DELETE r", database_=graph.database
    )
    await graph.driver.execute_query(
        "MATCH (c:Customer {id: 'c1'}), (t:Touchpoint {id: 't1'}) CREATE (c)-[:LATEST]->(t)",
        database_=graph.database,
    )

    await backfill_latest_touchpoints(graph)
    await backfill_latest_touchpoints(graph)

    records, _, _ = await graph.driver.execute_query(
        "MATCH (c:Customer)-[:LATEST]->(t) RETURN c.id AS c, t.id AS t ORDER BY c",
        database_=graph.database,
    )
    assert [(r["c"], r["t"]) for r in records] == [("c1", "t2"), ("c2", "t3")]


async def test_the_entity_backfill_labels_every_entity_written_before_it(graph: Graph) -> None:
    from orggraph.graph.migrations import backfill_entity_label

    await graph.driver.execute_query(
        "CREATE (:Team {id: 'a'}), (:Customer {id: 'b'}), (:Migration {version: 99})",
        database_=graph.database,
    )
    await backfill_entity_label(graph)
    records, _, _ = await graph.driver.execute_query(
        "MATCH (n:Entity) RETURN n.id AS id ORDER BY id", database_=graph.database
    )
    assert [r["id"] for r in records] == ["a", "b"]


async def test_first_arrivals_are_indexed_by_time_for_sla_windows(graph: Graph) -> None:
    records, _, _ = await graph.driver.execute_query(
        "SHOW INDEXES YIELD entityType, labelsOrTypes, properties, type "
        "WHERE labelsOrTypes = ['REACHED'] RETURN entityType, properties, type",
        database_=graph.database,
    )
    assert [dict(r) for r in records] == [
        {"entityType": "RELATIONSHIP", "properties": ["at"], "type": "RANGE"}
    ]


async def test_the_next_facts_backfill_gives_every_chain_its_facts(graph: Graph) -> None:
    from orggraph.graph.migrations import backfill_next_facts
    from orggraph.graph.writes import upsert_nodes

    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "A"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": "t1", "at": "2024-01-01T00:00:00Z", "type": "EMAIL", "customerId": "c1"},
            {
                "id": "t2",
                "at": "2024-01-01T00:01:30Z",
                "type": "CALL",
                "activity": "call back",
                "customerId": "c1",
            },
        ],
    )
    # a chain written before the facts existed
    await graph.driver.execute_query(
        "MATCH ()-[r:NEXT]->() REMOVE r.fromType, r.toType, r.fromActivity, r.toActivity, "
        "r.seconds",
        database_=graph.database,
    )

    await backfill_next_facts(graph)

    records, _, _ = await graph.driver.execute_query(
        "MATCH (a)-[r:NEXT]->(b) RETURN a.id AS a, b.id AS b, properties(r) AS facts",
        database_=graph.database,
    )
    assert [(r["a"], r["b"], r["facts"]) for r in records] == [
        (
            "t1",
            "t2",
            {
                "fromType": "EMAIL",
                "toType": "CALL",
                "fromActivity": "EMAIL",
                "toActivity": "call back",
                "seconds": 90.0,
            },
        )
    ]


async def test_the_journey_map_pair_indexes_exist(graph: Graph) -> None:
    records, _, _ = await graph.driver.execute_query(
        "SHOW INDEXES YIELD name, entityType, labelsOrTypes, properties "
        "WHERE name STARTS WITH 'index_next_' RETURN name, entityType, labelsOrTypes, properties "
        "ORDER BY name",
        database_=graph.database,
    )
    assert [(r["name"], r["entityType"], r["labelsOrTypes"], r["properties"]) for r in records] == [
        (
            "index_next_activity_pair",
            "RELATIONSHIP",
            ["NEXT"],
            ["fromActivity", "toActivity", "seconds"],
        ),
        ("index_next_type_pair", "RELATIONSHIP", ["NEXT"], ["fromType", "toType", "seconds"]),
    ]
