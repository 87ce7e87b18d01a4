"""The OCEL 2.0 order-management import: exact counts and traversals checked against the CSVs."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from orggraph.graph.driver import Graph
from orggraph.graph.importers.common import ImportSummary
from orggraph.graph.importers.ocel_order_management import import_order_management
from orggraph.settings import Settings
from tests.helpers import connect, wipe

SHARED = Path(
    os.environ.get("ORGGRAPH_SHARED_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data"
)
DATA = SHARED / "ocel2-order-management"
pytestmark = [
    pytest.mark.skipif(
        not (DATA / "order-management.csv").is_file(),
        reason=f"the shared OCEL order-management data is not at {DATA} "
        "(set ORGGRAPH_SHARED_DATA to the shared data folder)",
    ),
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def imported(test_settings: Settings) -> AsyncIterator[tuple[Graph, ImportSummary]]:
    """One import for the whole module (it takes ~15 s), on an emptied, migrated database."""
    from orggraph.graph.migrations import migrate

    db = connect(test_settings)
    try:
        await wipe(db)
        await migrate(db)
        summary = await import_order_management(db, DATA)
        yield db, summary
    finally:
        await wipe(db)
        await db.close()


async def scalar(db: Graph, query: str, **params: Any) -> Any:
    records, _, _ = await db.driver.execute_query(query, params, database_=db.database)
    return records[0][0]


def events() -> list[dict[str, str]]:
    with (DATA / "order-management.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


async def test_every_event_becomes_one_touchpoint_with_its_activity(
    imported: tuple[Graph, ImportSummary],
) -> None:
    db, summary = imported
    assert await scalar(db, "MATCH (t:Touchpoint) RETURN count(t)") == 21_008
    records, _, _ = await db.driver.execute_query(
        "MATCH (t:Touchpoint) RETURN t.activity AS a, count(*) AS n", database_=db.database
    )
    assert {r["a"]: r["n"] for r in records} == {
        "place_order": 2000,
        "confirm_order": 2000,
        "pay_order": 2000,
        "pick_item": 7659,
        "item_out_of_stock": 1544,
        "reorder_item": 1544,
        "create_package": 1128,
        "send_package": 1128,
        "package_delivered": 1128,
        "failed_delivery": 311,
        "payment_reminder": 566,
    }
    assert summary.warnings == []


async def test_objects_customers_and_employees_per_role_match_the_readme(
    imported: tuple[Graph, ImportSummary],
) -> None:
    db, _ = imported
    records, _, _ = await db.driver.execute_query(
        "MATCH (o:BusinessObject) RETURN o.type AS t, count(*) AS n", database_=db.database
    )
    objects = {r["t"]: r["n"] for r in records}
    assert objects == {"order": 2000, "item": 7659, "package": 1128, "product": 20}
    customers = await scalar(db, "MATCH (c:Customer) RETURN count(c)")
    people = await scalar(db, "MATCH (p:Person) RETURN count(p)")
    # OCEL counts customers and employees as objects too: 10,807 + 15 + 18 = 10,840.
    assert (customers, people, sum(objects.values()) + customers + people) == (15, 18, 10_840)
    records, _, _ = await db.driver.execute_query(
        "MATCH (p:Person)-[:MEMBER_OF]->(t:Team)-[:PART_OF]->(:Team {kind: 'GROUP'}) "
        "RETURN t.name AS team, count(p) AS n",
        database_=db.database,
    )
    assert {r["team"]: r["n"] for r in records} == {"Sales": 5, "Warehousing": 7, "Shipment": 6}


async def test_every_touchpoint_belongs_to_exactly_one_customer_and_concerns_all_its_objects(
    imported: tuple[Graph, ImportSummary],
) -> None:
    db, _ = imported
    assert (
        await scalar(
            db, "MATCH (t:Touchpoint) WHERE COUNT { (t)<-[:HAD]-(:Customer) } <> 1 RETURN count(t)"
        )
        == 0
    )
    expected = sum(
        len([x for x in row[col].split(",") if x])
        for row in events()
        for col in ("orders", "items", "packages", "products")
    )
    assert await scalar(db, "MATCH (:Touchpoint)-[r:CONCERNS]->() RETURN count(r)") == expected


async def test_a_customers_journey_is_the_chain_of_the_events_of_its_orders(
    imported: tuple[Graph, ImportSummary],
) -> None:
    """Computed independently from the CSV: the customer's orders, their items and packages."""
    db, _ = imported
    rows = events()
    customer = "AlpenTech_Innovations_AG"
    orders = {
        r["orders"] for r in rows if r["type"] == "place_order" and r["customers"] == customer
    }
    items = {
        i
        for r in rows
        if r["type"] == "place_order" and r["orders"] in orders
        for i in r["items"].split(",")
    }
    packages = {
        r["packages"]
        for r in rows
        if r["type"] == "create_package" and set(r["items"].split(",")) & items
    }

    def mine(r: dict[str, str]) -> bool:
        return (
            r["customers"] == customer
            or bool(set(r["orders"].split(",")) & orders)
            or bool(set(r["items"].split(",")) & items)
            or bool(set(r["packages"].split(",")) & packages)
        )

    expected = [
        "om:" + r["id"]
        for r in sorted((r for r in rows if mine(r)), key=lambda r: (r["time"], "om:" + r["id"]))
    ]
    chain = await scalar(
        db,
        "MATCH (c:Customer {id: $id})-[:HAD]->(first:Touchpoint) "
        "WHERE NOT ()-[:NEXT]->(first) "
        "MATCH p = (first)-[:NEXT*0..]->(last) WHERE NOT (last)-[:NEXT]->() "
        "RETURN [t IN nodes(p) | t.id]",
        id="om:customer:" + customer,
    )
    assert len(expected) > 1000
    assert chain == expected


async def test_directly_follows_counts_along_customer_chains_match_the_log(
    imported: tuple[Graph, ImportSummary],
) -> None:
    db, _ = imported
    records, _, _ = await db.driver.execute_query(
        "MATCH (a:Touchpoint)-[:NEXT]->(b:Touchpoint) "
        "WHERE a.activity = 'place_order' RETURN b.activity AS next, count(*) AS n",
        database_=db.database,
    )
    in_graph = {r["next"]: r["n"] for r in records}
    # Independently: per customer (from the graph's HAD, checked above), order by (time, id).
    owner: dict[str, str] = {}
    records, _, _ = await db.driver.execute_query(
        "MATCH (c:Customer)-[:HAD]->(t:Touchpoint) RETURN t.id AS t, c.id AS c",
        database_=db.database,
    )
    owner = {r["t"]: r["c"] for r in records}
    per_customer: dict[str, list[tuple[str, str, str]]] = {}
    for r in events():
        tid = "om:" + r["id"]
        per_customer.setdefault(owner[tid], []).append((r["time"], tid, r["type"]))
    expected: Counter[str] = Counter()
    for journey in per_customer.values():
        journey.sort()
        for (_, _, a), (_, _, b) in zip(journey, journey[1:], strict=False):
            if a == "place_order":
                expected[b] += 1
    assert in_graph == dict(expected)
    assert await scalar(db, "MATCH (:Touchpoint)-[r:NEXT]->() RETURN count(r)") == 21_008 - 15


async def test_reimporting_changes_nothing(imported: tuple[Graph, ImportSummary]) -> None:
    db, _ = imported
    before = await scalar(
        db, "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) + count(r)"
    )
    again = await import_order_management(db, DATA)
    after = await scalar(
        db, "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) + count(r)"
    )
    assert after == before
    assert (again.writes.nodes_created, again.writes.relationships_created) == (0, 0)
    assert again.writes.relationships_deleted == 0
