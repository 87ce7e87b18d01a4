"""The OCEL 2.0 procure-to-pay import: counts vs the data README, dangling O2O, traversals."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest

from orggraph.graph.driver import Graph
from orggraph.graph.importers.ocel_p2p import import_p2p

SHARED = Path(
    os.environ.get("ORGGRAPH_SHARED_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data"
)
DATA = SHARED / "ocel2-p2p"
pytestmark = pytest.mark.skipif(
    not (DATA / "event.csv").is_file(),
    reason=f"the shared OCEL P2P data is not at {DATA} (set ORGGRAPH_SHARED_DATA)",
)


async def rows(db: Graph, query: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = await db.driver.execute_query(query, params, database_=db.database)
    return [dict(r) for r in records]


def table(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


async def test_p2p_import_counts_dangling_o2o_and_an_objects_event_sequence(
    graph: Graph,
) -> None:
    summary = await import_p2p(graph, DATA)

    activities = await rows(
        graph,
        "MATCH (t:Touchpoint)-[:AT_STEP]->(s:Step) RETURN t.activity AS a, count(*) AS n",
    )
    assert {r["a"]: r["n"] for r in activities} == {
        "Approve Purchase Order": 1598,
        "Approve Purchase Requisition": 607,
        "Create Goods Receipt": 4042,
        "Create Invoice Receipt": 1941,
        "Create Purchase Order": 1598,
        "Create Purchase Requisition": 729,
        "Create Request for Quotation": 927,
        "Delegate Purchase Requisition Approval": 122,
        "Execute Payment": 1166,
        "Perform Two-Way Match": 1941,
    }
    objects = await rows(graph, "MATCH (o:BusinessObject) RETURN o.type AS t, count(*) AS n")
    assert {r["t"]: r["n"] for r in objects} == {
        "goods receipt": 1941,
        "invoice receipt": 927,
        "material": 2296,
        "payment": 927,
        "purchase_order": 1598,
        "purchase_requisition": 927,
        "quotation": 927,
    }
    counts = (
        await rows(
            graph,
            "RETURN COUNT { (:Touchpoint) } AS events, COUNT { ()-[:CONCERNS]->() } AS e2o, "
            "COUNT { ()-[:RELATED_TO]->() } AS o2o, "
            "COUNT { (t:Touchpoint) WHERE NOT (t)<-[:HAD]-(:Customer) } AS orphans, "
            "COUNT { (t:Touchpoint) WHERE NOT (t)-[:HANDLED_BY]->(:Team) } AS unhandled, "
            "COUNT { (c:Customer {segment: 'VENDOR'}) } AS vendors",
        )
    )[0]
    assert counts == {
        "events": 14_671,
        "e2o": 35_927,
        "o2o": 20_402 - 2_028,
        "orphans": 0,
        "unhandled": 0,
        "vendors": 50,
    }

    # The dangling O2O rows are reported (count and examples) and no node is invented.
    assert summary.counts["O2O rows skipped (missing object)"] == 2_028
    assert any("2028 of 20402 O2O rows" in w and "invoice receipt:" in w for w in summary.warnings)

    # Independently from the tables: the events of one purchase order, in time order.
    times = {}
    for name in (
        "event_CreatePurchaseOrder.csv",
        "event_ApprovePurchaseOrder.csv",
        "event_CreateGoodsReceipt.csv",
        "event_CreateInvoiceReceipt.csv",
        "event_PerformTwoWayMatch.csv",
        "event_ExecutePayment.csv",
        "event_CreateRequestforQuotation.csv",
    ):
        times.update({r["ocel_id"]: r["ocel_time"] for r in table(name)})
    events = [
        r["ocel_event_id"]
        for r in table("event_object.csv")
        if r["ocel_object_id"] == "purchase_order:2"
    ]
    expected = [f"p2p:{e}" for e in sorted(events, key=lambda e: (times[e], "p2p:" + e))]
    found = await rows(
        graph,
        "MATCH (t:Touchpoint)-[:CONCERNS]->(:BusinessObject {id: 'p2p:purchase_order:2'}) "
        "RETURN t.id AS id ORDER BY t.at, t.id",
    )
    assert len(expected) >= 3
    assert [r["id"] for r in found] == expected

    again = await import_p2p(graph, DATA)
    assert (again.writes.nodes_created, again.writes.relationships_created) == (0, 0)
