"""Bulk imports and upserts share one write semantics for single-valued references.

A touchpoint has one customer (HAD), one channel (VIA), one step (AT_STEP)...:
whichever path writes it last, bulk (``graph/importers/bulk.py``, what the
dataset importers use) or transactional (``graph/writes.py``), it is left with
that one target, and the journeys (NEXT, REACHED, LATEST) of both its old and
its new customer are right.

The inputs, by hand: customers c1 and c2; c1 has a1 (Jan 1), a2 (Jan 2, at
step s1), a3 (Jan 3); c2 has b1 (Jan 1 noon) and b3 (Jan 4, at s1). Moving a2
to c2 leaves c1 with a1 -> a3 (latest a3, no step reached) and gives c2
b1 -> a2 -> b3 (latest b3, s1 reached first by a2 on Jan 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orggraph.errors import BadInputError
from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import load_nodes, load_relationships, load_touchpoints
from orggraph.graph.importers.ocel_order_management import import_order_management
from orggraph.graph.model import RelationshipKind
from orggraph.graph.write_rules import WriteSummary
from orggraph.graph.writes import upsert_nodes

K = RelationshipKind


async def rows_of(graph: Graph, query: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = await graph.driver.execute_query(query, params, database_=graph.database)
    return [dict(r) for r in records]


async def chain(graph: Graph, customer_id: str) -> list[str]:
    """The customer's touchpoints along NEXT from the one no NEXT enters."""
    found = await rows_of(
        graph,
        "MATCH (:Customer {id: $id})-[:HAD]->(first:Touchpoint) WHERE NOT ()-[:NEXT]->(first) "
        "MATCH p = (first)-[:NEXT*0..]->(last) WHERE NOT (last)-[:NEXT]->() "
        "RETURN [t IN nodes(p) | t.id] AS ids",
        id=customer_id,
    )
    assert len(found) == 1, "exactly one chain start and end"
    return list(found[0]["ids"])


async def customers_of(graph: Graph, touchpoint_id: str) -> list[str]:
    found = await rows_of(
        graph,
        "MATCH (c:Customer)-[:HAD]->(:Touchpoint {id: $id}) RETURN c.id AS id ORDER BY id",
        id=touchpoint_id,
    )
    return [r["id"] for r in found]


async def journey_facts(graph: Graph, customer_id: str) -> tuple[list[str], list[Any], list[str]]:
    """(chain, REACHED as (step, first touchpoint), LATEST) of one customer."""
    reached = await rows_of(
        graph,
        "MATCH (:Customer {id: $id})-[r:REACHED]->(s:Step) "
        "RETURN s.id AS step, r.touchpointId AS first ORDER BY step",
        id=customer_id,
    )
    latest = await rows_of(
        graph,
        "MATCH (:Customer {id: $id})-[:LATEST]->(t:Touchpoint) RETURN t.id AS id",
        id=customer_id,
    )
    return (
        await chain(graph, customer_id),
        [(r["step"], r["first"]) for r in reached],
        [r["id"] for r in latest],
    )


def touchpoint(tid: str, at: str, customer: str, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "at": at, "type": "EMAIL", "customerId": customer, **extra}


def touchpoints(a2_customer: str) -> list[dict[str, Any]]:
    return [
        touchpoint("a1", "2024-01-01T00:00:00Z", "c1"),
        touchpoint("a2", "2024-01-02T00:00:00Z", a2_customer, stepId="s1"),
        touchpoint("a3", "2024-01-03T00:00:00Z", "c1"),
        touchpoint("b1", "2024-01-01T12:00:00Z", "c2"),
        touchpoint("b3", "2024-01-04T00:00:00Z", "c2", stepId="s1"),
    ]


BEFORE_MOVE = {
    "c1": (["a1", "a2", "a3"], [("s1", "a2")], ["a3"]),
    "c2": (["b1", "b3"], [("s1", "b3")], ["b3"]),
}
AFTER_MOVE = {
    "c1": (["a1", "a3"], [], ["a3"]),
    "c2": (["b1", "a2", "b3"], [("s1", "a2")], ["b3"]),
}


async def import_organisation(graph: Graph) -> WriteSummary:
    summary = WriteSummary()
    for label, rows in (
        ("Customer", [{"id": "c1", "name": "A"}, {"id": "c2", "name": "B"}]),
        ("Process", [{"id": "p", "name": "Sales"}]),
        ("Step", [{"id": "s1", "name": "Quote", "processId": "p", "order": 1}]),
        (
            "Channel",
            [
                {"id": "web", "name": "Web", "kind": "WEB"},
                {"id": "chat", "name": "Chat", "kind": "CHAT"},
            ],
        ),
    ):
        summary.merge(await load_nodes(graph, label, rows))
    return summary


async def assert_moved(graph: Graph) -> None:
    assert await customers_of(graph, "a2") == ["c2"]
    assert {c: await journey_facts(graph, c) for c in ("c1", "c2")} == AFTER_MOVE


async def test_a_reimport_moving_a_touchpoint_leaves_one_customer_and_both_journeys_right(
    graph: Graph,
) -> None:
    await import_organisation(graph)
    await load_touchpoints(graph, touchpoints("c1"))
    assert {c: await journey_facts(graph, c) for c in ("c1", "c2")} == BEFORE_MOVE

    again = await load_touchpoints(graph, touchpoints("c2"))

    # One HAD deleted and one created; NEXT a1->a2, a2->a3, b1->b3 out and a1->a3,
    # b1->a2, a2->b3 in; c1's REACHED s1 out, c2's REACHED s1 set in place.
    assert (again.relationships_created, again.relationships_deleted) == (4, 5)
    await assert_moved(graph)


async def test_upserts_then_an_import_moving_a_touchpoint_replace_its_references(
    graph: Graph,
) -> None:
    await import_organisation(graph)
    await upsert_nodes(
        graph,
        "Touchpoint",
        [{**row, "channelId": "web"} if row["id"] == "a2" else row for row in touchpoints("c1")],
    )
    assert {c: await journey_facts(graph, c) for c in ("c1", "c2")} == BEFORE_MOVE

    moved = [
        {**row, "channelId": "chat"} if row["id"] == "a2" else row for row in touchpoints("c2")
    ]
    await load_touchpoints(graph, moved)

    await assert_moved(graph)
    channels = await rows_of(
        graph, "MATCH (:Touchpoint {id: 'a2'})-[:VIA]->(ch:Channel) RETURN ch.id AS id"
    )
    assert [r["id"] for r in channels] == ["chat"]


async def test_an_import_then_an_upsert_moving_a_touchpoint_replace_its_customer(
    graph: Graph,
) -> None:
    await import_organisation(graph)
    await load_touchpoints(graph, touchpoints("c1"))

    await upsert_nodes(graph, "Touchpoint", [touchpoint("a2", "2024-01-02T00:00:00Z", "c2")])

    await assert_moved(graph)


async def test_an_imported_had_relationship_moves_the_touchpoint_like_an_upserted_one(
    graph: Graph,
) -> None:
    await import_organisation(graph)
    await load_touchpoints(graph, touchpoints("c1"))

    loaded = await load_relationships(
        graph, K.CUSTOMER_HAD_TOUCHPOINT, [{"from": "c2", "to": "a2"}]
    )

    assert loaded.missing == 0
    await assert_moved(graph)


async def test_an_import_leaves_references_it_does_not_set_alone(graph: Graph) -> None:
    await import_organisation(graph)
    await upsert_nodes(
        graph, "Touchpoint", [touchpoint("a1", "2024-01-01T00:00:00Z", "c1", channelId="web")]
    )

    await load_touchpoints(graph, [touchpoint("a1", "2024-01-01T00:00:00Z", "c1")])

    channels = await rows_of(
        graph, "MATCH (:Touchpoint {id: 'a1'})-[:VIA]->(ch:Channel) RETURN ch.id AS id"
    )
    assert [r["id"] for r in channels] == ["web"]


async def test_an_imported_step_belongs_to_the_last_process_written(graph: Graph) -> None:
    await import_organisation(graph)
    await load_nodes(graph, "Process", [{"id": "q", "name": "Service"}])

    await load_nodes(graph, "Step", [{"id": "s1", "name": "Quote", "processId": "q", "order": 2}])

    found = await rows_of(
        graph, "MATCH (p:Process)-[r:HAS_STEP]->(:Step {id: 's1'}) RETURN p.id AS p, r.order AS o"
    )
    assert [(r["p"], r["o"]) for r in found] == [("q", 2)]


async def test_an_import_giving_a_touchpoint_two_channels_in_one_batch_is_refused(
    graph: Graph,
) -> None:
    await import_organisation(graph)
    await load_touchpoints(graph, touchpoints("c1"))

    with pytest.raises(BadInputError) as caught:
        await load_relationships(
            graph,
            K.TOUCHPOINT_VIA_CHANNEL,
            [{"from": "a1", "to": "web"}, {"from": "a1", "to": "chat"}],
        )

    assert "single-valued" in caught.value.message
    assert await rows_of(graph, "MATCH (:Touchpoint)-[r:VIA]->() RETURN r") == []


async def test_reimporting_an_unchanged_load_changes_nothing(graph: Graph) -> None:
    async def load_everything() -> WriteSummary:
        summary = await import_organisation(graph)
        summary.merge(await load_touchpoints(graph, touchpoints("c1")))
        loaded = await load_relationships(
            graph, K.TOUCHPOINT_VIA_CHANNEL, [{"from": "a1", "to": "web"}]
        )
        summary.merge(loaded.summary)
        return summary

    first = await load_everything()
    again = await load_everything()

    # 2 customers + process + step + 2 channels + 5 touchpoints; HAS_STEP, 5 HAD, 2 AT_STEP,
    # 3 NEXT, 2 REACHED, 2 LATEST and 1 VIA.
    assert (first.nodes_created, first.relationships_created) == (11, 16)
    assert (again.nodes_created, again.relationships_created, again.relationships_deleted) == (
        0,
        0,
        0,
    )
    assert {c: await journey_facts(graph, c) for c in ("c1", "c2")} == BEFORE_MOVE


OM_EVENTS_HEADER = "id,type,time,products,items,orders,employees,packages,customers"


def write_order_management_log(directory: Path, first_customer: str) -> None:
    """A five-event order-management log: order o1 of ``first_customer``, packed twice
    (p1, p2), both packages sent; send_p1 names a warehouse and a shipment employee,
    send_p2 a shipment one, so Shipment owns send_package (2 events to 1)."""
    entities = directory / "entities"
    entities.mkdir(parents=True, exist_ok=True)
    files = {
        "customers.csv": "id\nc1\nc2\n",
        "employees.csv": "id,role\nw1,Warehousing\ns1,Shipment\ns2,Shipment\n",
        "orders.csv": "id\no1\n",
        "items.csv": "id\ni1\n",
        "packages.csv": "id\np1\np2\n",
        "products.csv": "id\nx\n",
    }
    for name, text in files.items():
        (entities / name).write_text(text)
    events = [
        f"place_o1,place_order,2023-01-01T00:00:00,x,i1,o1,,,{first_customer}",
        "pack_p1,create_package,2023-01-02T00:00:00,,i1,,,p1,",
        'send_p1,send_package,2023-01-03T00:00:00,,,,"w1,s1",p1,',
        "pack_p2,create_package,2023-01-04T00:00:00,,i1,,,p2,",
        "send_p2,send_package,2023-01-05T00:00:00,,,,s2,p2,",
    ]
    (directory / "order-management.csv").write_text("\n".join([OM_EVENTS_HEADER, *events]) + "\n")


async def test_an_order_management_reimport_moving_an_order_moves_its_events_whole(
    graph: Graph, tmp_path: Path
) -> None:
    write_order_management_log(tmp_path, "c1")
    first = await import_order_management(graph, tmp_path)
    assert await chain(graph, "om:customer:c1") == [
        "om:place_o1",
        "om:pack_p1",
        "om:send_p1",
        "om:pack_p2",
        "om:send_p2",
    ]
    assert first.warnings == []

    write_order_management_log(tmp_path, "c2")
    await import_order_management(graph, tmp_path)

    assert (
        await rows_of(
            graph,
            "MATCH (t:Touchpoint) WHERE COUNT { (t)<-[:HAD]-(:Customer) } <> 1 RETURN t.id",
        )
        == []
    )
    assert await chain(graph, "om:customer:c2") == [
        "om:place_o1",
        "om:pack_p1",
        "om:send_p1",
        "om:pack_p2",
        "om:send_p2",
    ]
    assert await rows_of(graph, "MATCH (:Customer {id: 'om:customer:c1'})-[r]->() RETURN r") == []


async def test_an_event_naming_two_employees_is_handled_by_the_one_of_the_owning_role(
    graph: Graph, tmp_path: Path
) -> None:
    write_order_management_log(tmp_path, "c1")

    summary = await import_order_management(graph, tmp_path)

    handlers = await rows_of(
        graph,
        "MATCH (:Touchpoint {id: 'om:send_p1'})-[:HANDLED_BY]->(h) RETURN h.id AS id ORDER BY id",
    )
    assert [r["id"] for r in handlers] == ["om:person:s1", "om:team:shipment"]
    assert summary.counts["events with several employees (one handler kept)"] == 1
