"""The Northwind import (the declarative mapping plus deals): counts and traversals vs the CSVs."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orggraph.graph.driver import Graph
from orggraph.graph.importers.northwind import import_northwind

SHARED = Path(
    os.environ.get("ORGGRAPH_SHARED_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data"
)
DATA = SHARED / "northwind"
pytestmark = pytest.mark.skipif(
    not (DATA / "orders.csv").is_file(),
    reason=f"the shared Northwind data is not at {DATA} (set ORGGRAPH_SHARED_DATA)",
)


async def scalar(db: Graph, query: str, **params: Any) -> Any:
    records, _, _ = await db.driver.execute_query(query, params, database_=db.database)
    return records[0][0]


def leading(name: str, columns: int) -> list[list[str]]:
    """The first ``columns`` cells of each row (later cells are unreliable in these files)."""
    with (DATA / name).open(newline="") as handle:
        return [row[:columns] for row in list(csv.reader(handle))[1:]]


async def test_northwind_import_counts_hierarchy_journeys_and_revenue(graph: Graph) -> None:
    summary = await import_northwind(graph, DATA)
    counts = {
        label: await scalar(graph, f"MATCH (n:{label}) RETURN count(n)")
        for label in ("Customer", "Person", "Team", "Touchpoint", "Deal", "BusinessObject")
    }
    shipped = sum(1 for row in leading("orders.csv", 6) if row[5] not in ("", "NULL"))
    assert shipped == 809
    assert counts == {
        "Customer": 91,
        "Person": 9,
        # group, sales, partners + 4 regions + 53 territories + 9 reporting lines
        # + 3 shippers + 29 suppliers
        "Team": 101,
        "Touchpoint": 830 + shipped,
        "Deal": 830,
        "BusinessObject": 830 + 77,
    }
    assert summary.counts["Deal"] == 830
    # The deals, written by the bulk loader like the mapping's rows, record their batch.
    assert await scalar(graph, "MATCH (c:Change {entityId: 'Deal'}) RETURN count(c)") == 1
    # Rows with unquoted commas (more cells than the header) are counted and reported.
    for name in ("customers.csv", "suppliers.csv", "orders.csv"):
        with (DATA / name).open(newline="") as handle:
            header, *body = list(csv.reader(handle))
        ragged = sum(1 for row in body if len(row) > len(header))
        assert ragged > 0
        assert any(w.startswith(f"{name}: {ragged} rows") for w in summary.warnings)

    # reportsTo is the hierarchy: employee 9 -> 5 -> 2 (the top, part of Sales).
    path = await scalar(
        graph,
        "MATCH p = (:Team {id: 'nw:line:9'})-[:PART_OF*]->(:Team {id: 'nw:sales'}) "
        "RETURN [t IN nodes(p) | t.id]",
    )
    assert path == ["nw:line:9", "nw:line:5", "nw:line:2", "nw:sales"]
    members = await scalar(
        graph,
        "MATCH (:Person)-[r:MEMBER_OF {role: 'territory'}]->(:Team) RETURN count(r)",
    )
    assert members == 49

    # A customer's journey, independently from orders.csv: placed and shipped events by date.
    events = []
    for order, customer, _, ordered, _, shipped_at in leading("orders.csv", 6):
        if customer == "ALFKI":
            events.append((ordered, f"nw:order:{order}:placed"))
            if shipped_at not in ("", "NULL"):
                events.append((shipped_at, f"nw:order:{order}:shipped"))
    expected = [tid for _, tid in sorted(events)]
    chain = await scalar(
        graph,
        "MATCH (c:Customer {id: 'nw:customer:ALFKI'})-[:HAD]->(first:Touchpoint) "
        "WHERE NOT ()-[:NEXT]->(first) "
        "MATCH p = (first)-[:NEXT*0..]->(last) WHERE NOT (last)-[:NEXT]->() "
        "RETURN [t IN nodes(p) | t.id]",
    )
    assert len(expected) == 12
    assert chain == expected

    # Revenue per employee's reporting line, independently from the order lines, exact:
    # orders on fractions of a cent are not rounded, so the total is the CSV's exact sum.
    totals: dict[str, Decimal] = defaultdict(Decimal)
    lines = leading("order-details.csv", 5)
    amount: dict[str, Decimal] = defaultdict(Decimal)
    for order, _, price, quantity, discount in lines:
        amount[order] += Decimal(price) * int(quantity) * (1 - Decimal(discount))
    half_cents = [a for a in amount.values() if (a * 100) % 1 == Decimal("0.5")]
    assert len(half_cents) == 39
    for order, _, employee, *_ in leading("orders.csv", 3):
        totals[f"nw:line:{employee}"] += amount[order]
    records, _, _ = await graph.driver.execute_query(
        "MATCH (d:Deal)-[:OWNED_BY]->(t:Team) RETURN t.id AS team, sum(d.amountE4) AS total",
        database_=graph.database,
    )
    assert {r["team"]: Decimal(r["total"]).scaleb(-4) for r in records} == totals
    grand = await scalar(graph, "MATCH (d:Deal) RETURN sum(d.amountE4)")
    assert Decimal(grand).scaleb(-4) == sum(amount.values()) == Decimal("1265793.0395")

    again = await import_northwind(graph, DATA)
    assert (again.writes.nodes_created, again.writes.relationships_created) == (0, 0)
