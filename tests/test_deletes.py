"""Deletes of every label and relationship kind: idempotent, all or nothing, refusing
owners of dependents unless cascading, and keeping journeys (NEXT, REACHED, LATEST) true."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from orggraph.cli import main
from orggraph.events import Broker, Subscriber
from orggraph.graph.driver import Graph
from orggraph.graph.model import RECORDS
from orggraph.graph.writes import upsert_nodes
from orggraph.resolvers.deletes import field_names
from orggraph.schema.types import NODE_TYPES
from orggraph.settings import Settings
from tests.helpers import error_codes, execute, execute_counted, ok


async def journey_graph(graph: Graph) -> None:
    """Customer c1: t1 at s1 (day 1), t2 at s2 (day 2), t3 at s2 (day 3); deal d1.
    Customer c2 has nothing."""
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "P"}])
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": "s1", "name": "S1", "processId": "p", "order": 1},
            {"id": "s2", "name": "S2", "processId": "p", "order": 2},
        ],
    )
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C1"}, {"id": "c2", "name": "C2"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"t{i}", "at": f"2024-01-0{i}T00:00:00Z", "type": "EMAIL", "customerId": "c1"}
            | {"stepId": step}
            for i, step in ((1, "s1"), (2, "s2"), (3, "s2"))
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [{"id": "d1", "amount": 10, "openedAt": "2024-01-02T00:00:00Z", "customerId": "c1"}],
    )


async def rows(graph: Graph, query: str) -> list[Any]:
    records, _, _ = await graph.driver.execute_query(query, database_=graph.database)
    return [tuple(r.values()) if len(r) > 1 else r[0] for r in records]


async def chain(graph: Graph, customer: str = "c1") -> list[tuple[str, str]]:
    return sorted(
        await rows(
            graph,
            f"MATCH (:Customer {{id: '{customer}'}})-[:HAD]->(a)-[:NEXT]->(b) RETURN a.id, b.id",
        )
    )


async def reached(graph: Graph) -> list[tuple[str, str]]:
    return sorted(
        await rows(
            graph, "MATCH (:Customer {id: 'c1'})-[r:REACHED]->(s) RETURN s.id, r.touchpointId"
        )
    )


async def latest(graph: Graph) -> list[str]:
    return await rows(graph, "MATCH (:Customer {id: 'c1'})-[:LATEST]->(t) RETURN t.id")


def test_every_label_has_a_delete_and_a_batch_delete() -> None:
    from tests.helpers import _SCHEMA

    mutations = set(_SCHEMA.as_str().split("type Mutation {", 1)[1].split("\n}", 1)[0].split())
    for label, node_type in NODE_TYPES.items():
        assert label in RECORDS
        one, many = field_names(node_type.__name__)
        camel_one = one.split("_")[0] + "".join(p.title() for p in one.split("_")[1:])
        camel_many = many.split("_")[0] + "".join(p.title() for p in many.split("_")[1:])
        assert any(m.startswith(camel_one + "(") for m in mutations), camel_one
        assert any(m.startswith(camel_many + "(") for m in mutations), camel_many
    assert field_names("Person") == ("delete_person", "delete_people")
    assert field_names("Process") == ("delete_process", "delete_processes")
    assert field_names("BusinessObject") == ("delete_business_object", "delete_business_objects")


async def test_deleting_a_touchpoint_relinks_the_chain_and_moves_reached(graph: Graph) -> None:
    await journey_graph(graph)
    assert await chain(graph) == [("t1", "t2"), ("t2", "t3")]
    assert await reached(graph) == [("s1", "t1"), ("s2", "t2")]

    data = ok(
        await execute(
            graph, 'mutation { deleteTouchpoint(id: "t2") { deletedIds missingIds nodesDeleted } }'
        )
    )
    assert data["deleteTouchpoint"] == {"deletedIds": ["t2"], "missingIds": [], "nodesDeleted": 1}
    assert await chain(graph) == [("t1", "t3")]
    assert await reached(graph) == [("s1", "t1"), ("s2", "t3")]
    assert await latest(graph) == ["t3"]

    ok(await execute(graph, 'mutation { deleteTouchpoints(ids: ["t3"]) { deletedIds } }'))
    assert await chain(graph) == []
    assert await reached(graph) == [("s1", "t1")]
    assert await latest(graph) == ["t1"]


async def test_a_missing_id_is_reported_and_a_replay_changes_nothing(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}])
    mutation = (
        'mutation { deleteTeams(ids: ["a", "nope", "a"]) { deletedIds missingIds nodesDeleted } }'
    )
    first = ok(await execute(graph, mutation))["deleteTeams"]
    assert first == {"deletedIds": ["a"], "missingIds": ["nope"], "nodesDeleted": 1}
    again = ok(await execute(graph, mutation))["deleteTeams"]
    assert again == {"deletedIds": [], "missingIds": ["a", "nope"], "nodesDeleted": 0}
    assert await rows(graph, "MATCH (t:Team) RETURN t.id") == ["b"]


async def test_an_owner_is_refused_naming_its_dependents_and_nothing_is_deleted(
    graph: Graph,
) -> None:
    await journey_graph(graph)
    result = await execute(graph, 'mutation { deleteCustomers(ids: ["c2", "c1"]) { deletedIds } }')
    assert error_codes(result) == ["CONFLICT"]
    message = result.errors[0].message if result.errors else ""
    assert "'c1' (3 Touchpoint, 1 Deal)" in message and "cascade" in message
    assert sorted(await rows(graph, "MATCH (c:Customer) RETURN c.id")) == ["c1", "c2"]


async def test_cascade_deletes_a_customer_with_its_touchpoints_and_deals(graph: Graph) -> None:
    await journey_graph(graph)
    data = ok(
        await execute(
            graph,
            'mutation { deleteCustomer(id: "c1", cascade: true) { deletedIds nodesDeleted } }',
        )
    )
    assert data["deleteCustomer"] == {"deletedIds": ["c1"], "nodesDeleted": 5}
    assert await rows(graph, "MATCH (n:Touchpoint|Deal) RETURN count(n)") == [0]
    assert await rows(graph, "MATCH (c:Customer) RETURN c.id") == ["c2"]
    # The steps are references, not dependents: they stay.
    assert await rows(graph, "MATCH (s:Step) RETURN count(s)") == [2]


async def test_a_process_owns_its_steps_and_a_kpi_its_measurements(graph: Graph) -> None:
    await journey_graph(graph)
    refused = await execute(graph, 'mutation { deleteProcess(id: "p") { deletedIds } }')
    assert error_codes(refused) == ["CONFLICT"]
    ok(await execute(graph, 'mutation { deleteProcess(id: "p", cascade: true) { deletedIds } }'))
    assert await rows(graph, "MATCH (s:Step) RETURN count(s)") == [0]
    # The touchpoints lost their step, so c1 reached nothing any more.
    assert await reached(graph) == []
    assert await chain(graph) == [("t1", "t2"), ("t2", "t3")]


async def test_a_batch_costs_the_same_round_trips_as_one_id(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c", "name": "C"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"t{i:02}", "at": f"2024-02-{i:02}T00:00:00Z", "type": "CALL", "customerId": "c"}
            for i in range(1, 26)
        ],
    )
    _, one = await execute_counted(
        graph, 'mutation { deleteTouchpoints(ids: ["t01"]) { deletedIds } }'
    )
    ids = ", ".join(f'"t{i:02}"' for i in range(2, 22))
    _, many = await execute_counted(
        graph, f"mutation {{ deleteTouchpoints(ids: [{ids}]) {{ deletedIds }} }}"
    )
    assert one.count == many.count <= 10  # 7, and the history: state before, after, records
    assert await chain(graph, "c") == [("t22", "t23"), ("t23", "t24"), ("t24", "t25")]


async def test_relationship_deletes_keep_journeys_true(graph: Graph) -> None:
    await journey_graph(graph)
    mutation = """mutation($rows: [RelationshipInput!]!) {
      deleteRelationships(kind: CUSTOMER_HAD_TOUCHPOINT, rows: $rows) {
        relationshipsDeleted missingRows
      }
    }"""
    data = ok(
        await execute(
            graph, mutation, {"rows": [{"from": "c1", "to": "t2"}, {"from": "c2", "to": "t1"}]}
        )
    )
    assert data["deleteRelationships"] == {"relationshipsDeleted": 1, "missingRows": [1]}
    assert await chain(graph) == [("t1", "t3")]
    # t2 is left without a customer, outside any chain.
    assert await rows(graph, "MATCH (:Touchpoint {id: 't2'})-[r:NEXT]-() RETURN count(r)") == [0]

    at_step = await execute(
        graph,
        'mutation { deleteRelationship(kind: TOUCHPOINT_AT_STEP, row: {from: "t3", to: "s2"}) '
        "{ relationshipsDeleted } }",
    )
    assert ok(at_step)["deleteRelationship"] == {"relationshipsDeleted": 1}
    assert await reached(graph) == [("s1", "t1")]

    derived = await execute(
        graph,
        "mutation { deleteRelationship(kind: TOUCHPOINT_NEXT_TOUCHPOINT, "
        'row: {from: "t1", to: "t3"}) { relationshipsDeleted } }',
    )
    assert error_codes(derived) == ["BAD_USER_INPUT"]
    assert await chain(graph) == [("t1", "t3")]


async def test_a_keyed_relationship_is_deleted_by_its_key(graph: Graph) -> None:
    from orggraph.graph.model import RelationshipKind
    from orggraph.graph.writes import upsert_relationships

    await upsert_nodes(graph, "Team", [{"id": "team", "name": "T"}])
    await upsert_nodes(graph, "Step", [{"id": "s", "name": "S"}])
    await upsert_relationships(
        graph,
        RelationshipKind.TEAM_OWNS_STEP,
        [
            {"from": "team", "to": "s", "properties": {"from": "2020-01-01T00:00:00Z"}},
            {"from": "team", "to": "s", "properties": {"from": "2022-01-01T00:00:00Z"}},
        ],
    )
    mutation = """mutation($p: JSON) { deleteRelationship(kind: TEAM_OWNS_STEP,
      row: {from: "team", to: "s", properties: $p}) { relationshipsDeleted missingRows } }"""
    first = ok(await execute(graph, mutation, {"p": {"from": "2020-01-01T00:00:00Z"}}))
    assert first["deleteRelationship"] == {"relationshipsDeleted": 1, "missingRows": []}
    left = await rows(graph, "MATCH (:Team)-[r:OWNS]->(:Step) RETURN toString(r.from)")
    assert [value[:10] for value in left] == ["2022-01-01"]
    everything = ok(await execute(graph, mutation, {"p": None}))
    assert everything["deleteRelationship"] == {"relationshipsDeleted": 1, "missingRows": []}


async def test_a_bad_id_or_label_is_bad_input(graph: Graph) -> None:
    result = await execute(graph, 'mutation { deleteTeams(ids: ["ok", " padded"]) { deletedIds } }')
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert "ids[1]" in (result.errors[0].message if result.errors else "")


async def test_the_cli_deletes_ids_from_a_file(
    test_settings: Settings,
    graph: Graph,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await upsert_nodes(graph, "Channel", [{"id": "web", "name": "Web", "kind": "WEB"}])
    monkeypatch.setenv("NEO4J_URI", test_settings.neo4j_uri or "")
    if test_settings.neo4j_password is not None:
        monkeypatch.setenv("NEO4J_PASSWORD", test_settings.neo4j_password.get_secret_value())
    monkeypatch.setenv("ORGGRAPH_MAX_BATCH_SIZE", "1")  # a transaction per id
    ids = tmp_path / "ids.txt"
    ids.write_text("web\nghost\n\n")
    # The command runs its own event loop, as from a shell.
    assert await asyncio.to_thread(main, ["delete", "Channel", "--ids", str(ids)]) == 0
    out = capsys.readouterr().out
    assert "Channel: 1 deleted, 1 missing" in out and "missing: ghost" in out
    assert await asyncio.to_thread(main, ["delete", "Nothing", "x"]) == 1
    assert "unknown label 'Nothing'" in capsys.readouterr().err


# --- live events ------------------------------------------------------------------------------


def drained(subscriber: Subscriber) -> list[dict[str, Any]]:
    """The events queued so far (the mutation published them before it answered)."""
    events = []
    while not subscriber.queue.empty():
        events.append(subscriber.queue.get_nowait())
    return events


def removal(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["id"], event["customerId"], event["channelId"], str(event["at"])[:10])


async def test_deleted_touchpoints_are_published_once_cascade_included(graph: Graph) -> None:
    await journey_graph(graph)
    broker = Broker()
    async with (
        broker.subscribe("touchpointRemoved") as removed,
        broker.subscribe("touchpointAdded") as changed,
    ):
        delete_t2 = 'mutation { deleteTouchpoint(id: "t2") { deletedIds } }'
        ok(await execute(graph, delete_t2, broker=broker))
        assert [removal(e) for e in drained(removed)] == [("t2", "c1", None, "2024-01-02")]
        ok(await execute(graph, delete_t2, broker=broker))  # already gone: nothing
        assert drained(removed) == []
        ok(
            await execute(
                graph,
                'mutation { deleteCustomer(id: "c1", cascade: true) { deletedIds } }',
                broker=broker,
            )
        )
        assert [removal(e) for e in drained(removed)] == [
            ("t1", "c1", None, "2024-01-01"),
            ("t3", "c1", None, "2024-01-03"),
        ]
        # The chain repair relinked t1 and t3: their stored state did not change.
        assert drained(changed) == []


async def test_touchpoints_losing_a_reference_to_a_delete_are_published_as_changed(
    graph: Graph,
) -> None:
    await journey_graph(graph)
    broker = Broker()
    async with broker.subscribe("touchpointAdded") as changed:
        had = (
            "mutation { deleteRelationship(kind: CUSTOMER_HAD_TOUCHPOINT, "
            'row: {from: "c1", to: "t3"}) { relationshipsDeleted } }'
        )
        ok(await execute(graph, had, broker=broker))
        assert [(e["id"], e["customerId"]) for e in drained(changed)] == [("t3", None)]
        ok(await execute(graph, had, broker=broker))  # nothing left to delete: nothing
        assert drained(changed) == []
        # The process owns its steps: t1, t2 and t3 lose theirs with the cascade.
        delete_p = 'mutation { deleteProcess(id: "p", cascade: true) { deletedIds } }'
        ok(await execute(graph, delete_p, broker=broker))
        assert sorted(e["id"] for e in drained(changed)) == ["t1", "t2", "t3"]
        ok(await execute(graph, delete_p, broker=broker))
        assert drained(changed) == []
