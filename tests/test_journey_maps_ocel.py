"""Journey map on the OCEL 2.0 order-management log, checked against a DFG computed from the CSV.

The expected graph is computed here, independently of the import and of the
graph, the way pm4py builds a DFG of a flattened OCEL: one case per object of
the type, its events (those naming it) in time order, edges between
consecutive events with their count and median gap. Orders and packages have
no two events at the same time in a case, so the order is pm4py's exactly;
items have some, and orggraph breaks ties by event id (as the expectation
below does).
"""

from __future__ import annotations

import csv
import os
import statistics
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from orggraph.graph.driver import Graph
from orggraph.graph.importers.ocel_order_management import import_order_management
from orggraph.settings import Settings
from tests.helpers import as_dfg, connect, execute_counted, ok, wipe

SHARED = Path(
    os.environ.get("ORGGRAPH_SHARED_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data"
)
DATA = SHARED / "ocel2-order-management"
pytestmark = [
    pytest.mark.skipif(
        not (DATA / "order-management.csv").is_file(),
        reason=f"the shared OCEL order-management data is not at {DATA}",
    ),
    pytest.mark.asyncio(loop_scope="module"),
]
COLUMNS = {"order": "orders", "item": "items", "package": "packages"}

MAP = """
query M($type: String!, $min: Int!) {
  journeyMap(by: ACTIVITY, caseNotion: "object", objectType: $type, minEdgeCount: $min) {
    caseCount
    nodes { keys counts }
    edges { sources targets counts medianSeconds }
    startActivities { keys counts }
    endActivities { keys counts }
  }
}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def imported(test_settings: Settings) -> AsyncIterator[Graph]:
    from orggraph.graph.migrations import migrate

    db = connect(test_settings)
    try:
        await wipe(db)
        await migrate(db)
        await import_order_management(db, DATA)
        yield db
    finally:
        await wipe(db)
        await db.close()


def expected_dfg(object_type: str, min_count: int) -> dict[str, Any]:
    with (DATA / "order-management.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    traces: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for row in rows:
        at = datetime.fromisoformat(row["time"]).replace(tzinfo=UTC)
        for obj in filter(None, (x.strip() for x in row[COLUMNS[object_type]].split(","))):
            traces[obj].append((at, row["id"], row["type"]))
    nodes: Counter[str] = Counter()
    starts: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for trace in traces.values():
        trace.sort()
        nodes.update(activity for _, _, activity in trace)
        starts[trace[0][2]] += 1
        ends[trace[-1][2]] += 1
        for (t1, _, a), (t2, _, b) in zip(trace, trace[1:], strict=False):
            gaps[(a, b)].append((t2 - t1).total_seconds())
    return {
        "caseCount": len(traces),
        "nodes": sorted(nodes.items()),
        "edges": sorted(
            (a, b, len(g), statistics.median(g))
            for (a, b), g in gaps.items()
            if len(g) >= min_count
        ),
        "starts": sorted(starts.items()),
        "ends": sorted(ends.items()),
    }


@pytest.mark.parametrize(
    ("object_type", "min_count"), [("order", 1), ("item", 1), ("package", 1), ("order", 50)]
)
async def test_the_dfg_per_object_type_matches_the_one_computed_from_the_csv(
    imported: Graph, object_type: str, min_count: int
) -> None:
    result, queries = await execute_counted(imported, MAP, {"type": object_type, "min": min_count})
    assert as_dfg(ok(result)) == expected_dfg(object_type, min_count)
    assert queries.count == 1
