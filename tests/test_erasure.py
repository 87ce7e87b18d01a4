"""eraseCustomer: no personal value of the customer is left anywhere in the graph (plaintext
or sealed), the touchpoints are anonymised or deleted as the setting says, aggregates keep
their inputs, and the erasure record holds nothing personal."""

from __future__ import annotations

from typing import Any

from orggraph.events import Broker
from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from orggraph.settings import Settings
from tests.helpers import execute, execute_counted, ok

ERASE = """mutation($id: ID!) { eraseCustomer(id: $id) {
  customerId found erasedBy touchpoints touchpointsErased alreadyErased erasedAt } }"""
# Every personal value of customer c1, as written.
PERSONAL = ("ada@example.org", "Ada", "Lovelace", "+44 20 7946 0958", "St James")


async def customer_with_a_journey(graph: Graph) -> None:
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "P"}])
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": "s1", "name": "Lead", "processId": "p", "order": 1},
            {"id": "s2", "name": "Won", "processId": "p", "order": 2},
        ],
    )
    await upsert_nodes(graph, "Channel", [{"id": "web", "name": "Web", "kind": "WEB"}])
    await upsert_nodes(
        graph,
        "Customer",
        [
            {
                "id": "c1",
                "name": "Ada Lovelace",
                "kind": "PERSON",
                "segment": "SMB",
                "email": "ada@example.org",
            },
            {"id": "c2", "name": "Grace Hopper", "kind": "PERSON"},
        ],
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {
                "id": "t1",
                "at": "2024-01-01T00:00:00Z",
                "type": "CALL",
                "customerId": "c1",
                "stepId": "s1",
                "channelId": "web",
                "attributes": {"phone": "+44 20 7946 0958", "note": "Ada Lovelace called"},
            },
            {
                "id": "t2",
                "at": "2024-01-05T00:00:00Z",
                "type": "PURCHASE",
                "value": 100.0,
                "customerId": "c1",
                "stepId": "s2",
            },
            {"id": "t3", "at": "2024-01-02T00:00:00Z", "type": "CALL", "customerId": "c2"},
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": "d1",
                "amount": 100,
                "openedAt": "2024-01-01T00:00:00Z",
                "closedAt": "2024-01-05T00:00:00Z",
                "won": True,
                "customerId": "c1",
            }
        ],
    )
    await upsert_nodes(
        graph,
        "BusinessObject",
        [{"id": "o1", "type": "order", "name": "Ada's order", "attributes": {"to": "St James"}}],
    )
    await upsert_relationships(
        graph, RelationshipKind.OBJECT_BELONGS_TO_CUSTOMER, [{"from": "o1", "to": "c1"}]
    )


async def query(graph: Graph, cypher: str) -> list[Any]:
    records, _, _ = await graph.driver.execute_query(cypher, database_=graph.database)
    return [r.values() if len(r) > 1 else r[0] for r in records]


async def every_stored_value(graph: Graph) -> list[str]:
    """Every property value of every node and relationship of the graph, as text."""
    nodes = await query(
        graph,
        "MATCH (n) UNWIND keys(n) AS k WITH n[k] AS v WHERE NOT valueType(v) STARTS WITH 'LIST' "
        "RETURN toString(v)",
    )
    lists = await query(
        graph,
        "MATCH (n) UNWIND keys(n) AS k WITH n[k] AS v WHERE valueType(v) STARTS WITH 'LIST' "
        "UNWIND v AS item RETURN toString(item)",
    )
    rels = await query(graph, "MATCH ()-[r]->() UNWIND keys(r) AS k RETURN toString(r[k])")
    return [str(v) for v in [*nodes, *lists, *rels] if v is not None]


async def sealed_forms(graph: Graph) -> list[str]:
    row = await query(graph, "MATCH (c:Customer {id: 'c1'}) RETURN c.email, c.emailHash")
    email, email_hash = row[0]
    assert email.startswith("pii:") and len(email_hash) == 64
    return [email, email_hash]


async def erase_as(graph: Graph, settings: Settings, customer: str) -> dict[str, Any]:
    data = ok(await execute(graph, ERASE, {"id": customer}, settings=settings))
    erased: dict[str, Any] = data["eraseCustomer"]
    return erased


async def test_anonymising_leaves_no_personal_value_and_keeps_aggregates(graph: Graph) -> None:
    await customer_with_a_journey(graph)
    sealed = await sealed_forms(graph)
    before = {
        "reached": sorted(
            await query(graph, "MATCH (:Customer {id:'c1'})-[r:REACHED]->(s) RETURN s.id, r.at")
        ),
        "chain": await query(graph, "MATCH (a)-[:NEXT]->(b) RETURN a.id, b.id ORDER BY a.id"),
    }

    erased = ok(await execute(graph, ERASE, {"id": "c1"}))["eraseCustomer"]
    assert {k: v for k, v in erased.items() if k != "erasedAt"} == {
        "customerId": "c1",
        "found": True,
        "erasedBy": "local",
        "touchpoints": "anonymise",
        "touchpointsErased": 2,
        "alreadyErased": False,
    }

    stored = await every_stored_value(graph)
    for value in (*PERSONAL, *sealed):
        leaks = [item for item in stored if value in item]
        assert leaks == [], (value, leaks)
    assert not any(item.startswith("pii:") for item in stored)
    # The other customer is untouched.
    assert "Grace Hopper" in stored

    customer = await query(graph, "MATCH (c:Customer {id: 'c1'}) RETURN properties(c)")
    assert set(customer[0]) == {"id", "kind", "segment", "name", "erasedAt"}
    assert customer[0]["name"] == "(erased)" and customer[0]["segment"] == "SMB"
    # Funnels (REACHED), journeys (NEXT), channels and attribution's deal are as before.
    after_reached = await query(
        graph, "MATCH (:Customer {id:'c1'})-[r:REACHED]->(s) RETURN s.id, r.at"
    )
    assert sorted(after_reached) == before["reached"]
    assert (
        await query(graph, "MATCH (a)-[:NEXT]->(b) RETURN a.id, b.id ORDER BY a.id")
        == (before["chain"])
    )
    assert await query(graph, "MATCH (:Touchpoint {id: 't1'})-[:VIA]->(c) RETURN c.id") == ["web"]
    assert await query(graph, "MATCH (:Customer {id: 'c1'})-[:OPENED]->(d) RETURN d.amount") == [
        100.0
    ]
    assert await query(graph, "MATCH (t:Touchpoint {id: 't2'}) RETURN t.value") == [100.0]

    record = await query(graph, "MATCH (e:Erasure) RETURN properties(e)")
    assert len(record) == 1
    assert set(record[0]) == {"customerId", "erasedAt", "erasedBy", "touchpoints"}
    assert record[0]["customerId"] == "c1"

    again = ok(await execute(graph, ERASE, {"id": "c1"}))["eraseCustomer"]
    assert again["alreadyErased"] is True and again["erasedAt"] == erased["erasedAt"]
    assert len(await query(graph, "MATCH (e:Erasure) RETURN e")) == 1


async def test_deleting_touchpoints_leaves_no_personal_value(
    graph: Graph, test_settings: Settings
) -> None:
    await customer_with_a_journey(graph)
    sealed = await sealed_forms(graph)
    settings = test_settings.model_copy(update={"erasure_touchpoints": "delete"})
    erased = await erase_as(graph, settings, "c1")
    assert (erased["touchpoints"], erased["touchpointsErased"]) == ("delete", 2)

    stored = await every_stored_value(graph)
    for value in (*PERSONAL, *sealed):
        assert [item for item in stored if value in item] == [], value
    assert await query(graph, "MATCH (t:Touchpoint) RETURN t.id") == ["t3"]
    assert await query(graph, "MATCH (:Customer {id: 'c1'})-[r:REACHED|LATEST]->() RETURN r") == []
    assert await query(graph, "MATCH (:Customer {id: 'c1'})-[:OPENED]->(d) RETURN d.id") == ["d1"]


async def test_erasing_a_missing_customer_reports_it_and_records_nothing(graph: Graph) -> None:
    answer = ok(await execute(graph, ERASE, {"id": "ghost"}))["eraseCustomer"]
    assert answer["found"] is False and answer["erasedAt"] is None
    assert await query(graph, "MATCH (e:Erasure) RETURN e") == []


async def test_an_erasure_costs_a_bounded_number_of_round_trips(graph: Graph) -> None:
    await customer_with_a_journey(graph)
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"more{i}", "at": f"2024-02-{i:02}T00:00:00Z", "type": "EMAIL"}
            | {"customerId": "c1"}
            for i in range(1, 29)
        ],
    )
    result, queries = await execute_counted(graph, ERASE, {"id": "c1"})
    assert ok(result)["eraseCustomer"]["touchpointsErased"] == 30
    assert queries.count <= 8  # 5, and the history: the state before and after, the records


async def test_an_erasure_publishes_what_it_changed_and_a_repeat_nothing(
    graph: Graph, test_settings: Settings
) -> None:
    await customer_with_a_journey(graph)
    broker = Broker()
    async with broker.subscribe("touchpointAdded") as changed:
        ok(await execute(graph, ERASE, {"id": "c1"}, broker=broker))
        # t1 lost its attributes (a subscriber's copy must drop them); t2 had none.
        event = await changed.get()
        assert (event["id"], event["customerId"], "attributes" in event) == ("t1", "c1", False)
        assert changed.queue.empty()
        ok(await execute(graph, ERASE, {"id": "c1"}, broker=broker))
        assert changed.queue.empty()


async def test_an_erasure_deleting_touchpoints_publishes_their_removal(
    graph: Graph, test_settings: Settings
) -> None:
    await customer_with_a_journey(graph)
    broker = Broker()
    settings = test_settings.model_copy(update={"erasure_touchpoints": "delete"})
    async with broker.subscribe("touchpointRemoved") as removed:
        ok(await execute(graph, ERASE, {"id": "c1"}, settings=settings, broker=broker))
        events = [await removed.get(), await removed.get()]
        assert [(e["id"], e["customerId"], e["channelId"]) for e in events] == [
            ("t1", "c1", "web"),
            ("t2", "c1", None),
        ]
        assert removed.queue.empty()
        ok(await execute(graph, ERASE, {"id": "c1"}, settings=settings, broker=broker))
        assert removed.queue.empty()
