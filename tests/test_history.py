"""The history of generic writes: upserts, relationship writes, deletes and erasure
record who changed what (before and after) in their own transaction, only what
changed, never personal data, at a fixed cost per batch; the organisation's changes
are published on organisationChanged."""

from __future__ import annotations

import json
from typing import Any

from orggraph.api import build_schema
from orggraph.context import Context
from orggraph.events import Broker
from orggraph.graph.changes import WITHHELD
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.importers.bulk import load_nodes
from orggraph.resolvers.changes import concerning
from orggraph.resolvers.history import TOPIC
from orggraph.settings import Settings
from tests.helpers import execute, execute_counted, ok

UPSERT_TEAMS = "mutation($rows: [TeamInput!]!) { upsertTeams(inputs: $rows) { rows } }"
UPSERT_TEAM = "mutation($t: TeamInput!) { upsertTeam(input: $t) { id } }"
MEMBERS = """
mutation($rows: [RelationshipInput!]!) {
  upsertRelationships(kind: PERSON_MEMBER_OF_TEAM, rows: $rows) { rows }
}
"""
FIELDS = ("operation", "principal", "entityId", "entityLabel", "field", "before", "after")


async def history(graph: Graph) -> list[tuple[Any, ...]]:
    """Every Change record, oldest first, as (operation, principal, entity, label, field,
    before, after, teamIds)."""
    rows = await graph.query("MATCH (c:Change) RETURN properties(c) AS p ORDER BY c.id")
    return [(*(r["p"].get(f) for f in FIELDS), r["p"]["teamIds"]) for r in rows]


async def forget_history(graph: Graph) -> None:
    async def work(tx: Tx) -> None:
        await tx.run("MATCH (c:Change) DELETE c")

    await graph.write(work)


async def test_an_upsert_records_created_and_changed_properties_once(graph: Graph) -> None:
    ok(await execute(graph, UPSERT_TEAM, {"t": {"id": "ops", "name": "Ops", "kind": "TEAM"}}))
    ok(await execute(graph, UPSERT_TEAM, {"t": {"id": "ops", "name": "Ops", "kind": "TEAM"}}))
    ok(await execute(graph, UPSERT_TEAM, {"t": {"id": "ops", "name": "Operations"}}))
    assert await history(graph) == [
        ("upsertTeam", "local", "ops", "Team", "id", None, "ops", ["ops"]),
        ("upsertTeam", "local", "ops", "Team", "kind", None, "TEAM", ["ops"]),
        ("upsertTeam", "local", "ops", "Team", "name", None, "Ops", ["ops"]),
        # the replay recorded nothing; the rename only its name
        ("upsertTeam", "local", "ops", "Team", "name", "Ops", "Operations", ["ops"]),
    ]


async def test_a_relationship_write_records_its_ends_before_and_after(graph: Graph) -> None:
    teams = [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]
    ok(await execute(graph, UPSERT_TEAMS, {"rows": teams}))
    ok(await execute(graph, 'mutation { upsertPerson(input: {id: "p", name: "P"}) { id } }'))
    await forget_history(graph)
    row = {"from": "p", "to": "a", "properties": {"from": "2025-01-01T00:00:00Z"}}
    ok(await execute(graph, MEMBERS, {"rows": [row]}))
    ok(await execute(graph, MEMBERS, {"rows": [row]}))  # a replay: nothing
    ok(await execute(graph, MEMBERS, {"rows": [{**row, "to": "b"}]}))
    a = 'a {"from": "2025-01-01T00:00:00+00:00"}'
    b = 'b {"from": "2025-01-01T00:00:00+00:00"}'
    assert await history(graph) == [
        ("upsertRelationships", "local", "p", "Person", "MEMBER_OF", None, a, ["a"]),
        ("upsertRelationships", "local", "p", "Person", "MEMBER_OF", None, b, ["b"]),
    ]


async def test_a_delete_records_what_went(graph: Graph) -> None:
    ok(await execute(graph, UPSERT_TEAMS, {"rows": [{"id": "a", "name": "A"}]}))
    await forget_history(graph)
    ok(await execute(graph, 'mutation { deleteTeam(id: "a") { deletedIds } }'))
    ok(await execute(graph, 'mutation { deleteTeam(id: "a") { deletedIds } }'))  # missing now
    assert await history(graph) == [
        ("deleteTeam", "local", "a", "Team", "id", "a", None, ["a"]),
        ("deleteTeam", "local", "a", "Team", "name", "A", None, ["a"]),
    ]


async def test_personal_data_never_reaches_the_history(graph: Graph) -> None:
    mutation = "mutation($c: CustomerInput!) { upsertCustomer(input: $c) { id } }"
    customer = {"id": "c1", "name": "Ada Lovelace", "email": "ada@example.com"}
    ok(await execute(graph, mutation, {"c": customer}))
    ok(await execute(graph, mutation, {"c": {**customer, "email": "ada@analytical.org"}}))
    ok(await execute(graph, 'mutation { eraseCustomer(id: "c1") { customerId } }'))
    stored = await history(graph)
    text = str(stored)
    for value in ("ada@", "example.com", "analytical", "Lovelace"):
        assert value not in text
    emails = [(c[0], c[5], c[6]) for c in stored if c[4] == "email"]
    assert emails == [
        ("upsertCustomer", None, WITHHELD),
        ("upsertCustomer", WITHHELD, WITHHELD),
        ("eraseCustomer", WITHHELD, None),
    ]
    hashes = [c for c in stored if c[4] == "emailHash"]
    assert all(c[5] in (None, WITHHELD) and c[6] in (None, WITHHELD) for c in hashes)
    assert len(hashes) == 3


async def test_history_costs_a_fixed_number_of_round_trips_per_batch(graph: Graph) -> None:
    def teams(n: int, name: str) -> list[dict[str, str]]:
        return [{"id": f"t{i}", "name": name} for i in range(n)]

    _, one = await execute_counted(graph, UPSERT_TEAMS, {"rows": teams(1, "x")})
    _, many = await execute_counted(graph, UPSERT_TEAMS, {"rows": teams(40, "y")})
    _, replay = await execute_counted(graph, UPSERT_TEAMS, {"rows": teams(40, "y")})
    assert one.count == many.count
    # a replay changes nothing and writes no records: one statement less
    assert replay.count == many.count - 1
    # t0: id and name, then its new name; t1..t39: id and name
    assert len(await history(graph)) == 2 + 1 + 2 * 39


async def test_organisation_changes_are_published_after_the_commit(graph: Graph) -> None:
    broker = Broker()
    context = Context.for_request(graph, Settings())
    context.extras["broker"] = broker
    schema = build_schema(Settings())
    async with broker.subscribe(TOPIC, concerning("ops", None)) as events:
        result = await schema.execute(
            UPSERT_TEAM,
            variable_values={"t": {"id": "ops", "name": "Ops"}},
            context_value=context,
        )
        assert result.errors is None
        received = [await events.get() for _ in range(2)]
        assert events.queue.empty()
    assert [(e["operation"], e["field"], e["after"]) for e in received] == [
        ("upsertTeam", "id", "ops"),
        ("upsertTeam", "name", "Ops"),
    ]


async def test_a_bulk_load_records_one_summary_per_batch_and_none_for_a_replay(
    graph: Graph,
) -> None:
    rows = [{"id": f"t{i}", "name": f"T{i}"} for i in range(5)]
    await load_nodes(graph, "Team", rows, batch_size=3)
    await load_nodes(graph, "Team", rows, batch_size=3)  # a replay creates nothing
    stored = await history(graph)
    assert [(c[0], c[1], c[2], c[3], c[4], c[5]) for c in stored] == [
        ("import", "orggraph", "Team", "Batch", "batch", None),
        ("import", "orggraph", "Team", "Batch", "batch", None),
    ]
    assert [json.loads(c[6]) for c in stored] == [
        {
            "source": None,
            "rows": 3,
            "nodesCreated": 3,
            "relationshipsCreated": 0,
            "relationshipsDeleted": 0,
            "propertiesSet": 6,
        },
        {
            "source": None,
            "rows": 2,
            "nodesCreated": 2,
            "relationshipsCreated": 0,
            "relationshipsDeleted": 0,
            "propertiesSet": 4,
        },
    ]
