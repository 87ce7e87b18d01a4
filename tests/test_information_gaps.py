"""Information gaps: hand-built owners and KPIs, hand-derived gaps, one round trip.

Process p: s1 (mkt), s2 (sales), s3 (ops until 2024, sales since).

  KPI  feeds on      accountable  shared with  gap now
  k1   s1            mkt          -            none
  k2   p: s1 s2 s3   sales        mkt          none (in 2023: ops owned s3 and cannot see k2)
  k3   s2            exec         -            sales cannot see it; exec owns none: detached
  k4   nothing       exec         -            not judged (no feeding step)
  k5   s1 s2         nobody       -            mkt and sales cannot see it; not detached
"""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.helpers import execute, execute_counted, ok

GAPS = """
query G($at: DateTime) {
  informationGaps(at: $at) {
    unseen { team { id } kpi { id } steps { id } }
    detached { kpi { id } accountable { id } steps { id } owners { id } }
  }
}
"""


async def seed(graph: Graph) -> None:
    await upsert_nodes(
        graph, "Team", [{"id": t, "name": t} for t in ("mkt", "sales", "ops", "exec")]
    )
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "p"}])
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": f"s{i}", "name": f"s{i}", "stage": "OTHER", "processId": "p", "order": i}
            for i in (1, 2, 3)
        ],
    )
    await upsert_relationships(
        graph,
        K.TEAM_OWNS_STEP,
        [
            {"from": "mkt", "to": "s1"},
            {"from": "sales", "to": "s2"},
            {"from": "ops", "to": "s3", "properties": {"to": "2024-01-01T00:00:00Z"}},
            {"from": "sales", "to": "s3", "properties": {"from": "2024-01-01T00:00:00Z"}},
        ],
    )
    await upsert_nodes(
        graph,
        "KPI",
        [
            {"id": "k1", "name": "k1", "accountableTeamId": "mkt"},
            {"id": "k2", "name": "k2", "accountableTeamId": "sales"},
            {"id": "k3", "name": "k3", "accountableTeamId": "exec"},
            {"id": "k4", "name": "k4", "accountableTeamId": "exec"},
            {"id": "k5", "name": "k5"},
        ],
    )
    await upsert_relationships(graph, K.KPI_SHARED_WITH_TEAM, [{"from": "k2", "to": "mkt"}])
    await upsert_relationships(
        graph,
        K.KPI_MEASURES_STEP,
        [
            {"from": "k1", "to": "s1"},
            {"from": "k3", "to": "s2"},
            {"from": "k5", "to": "s1"},
            {"from": "k5", "to": "s2"},
        ],
    )
    await upsert_relationships(graph, K.KPI_MEASURES_PROCESS, [{"from": "k2", "to": "p"}])


def unseen(data: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (u["team"]["id"], u["kpi"]["id"], [s["id"] for s in u["steps"]])
        for u in data["informationGaps"]["unseen"]
    ]


async def test_unseen_and_detached_kpis_now_in_one_query(graph: Graph) -> None:
    await seed(graph)
    result, log = await execute_counted(graph, GAPS)
    data = ok(result)
    assert log.count == 1
    assert unseen(data) == [("mkt", "k5", ["s1"]), ("sales", "k3", ["s2"]), ("sales", "k5", ["s2"])]
    assert data["informationGaps"]["detached"] == [
        {
            "kpi": {"id": "k3"},
            "accountable": {"id": "exec"},
            "steps": [{"id": "s2"}],
            "owners": [{"id": "sales"}],
        }
    ]


async def test_ownership_is_taken_at_the_asked_time(graph: Graph) -> None:
    await seed(graph)
    data = ok(await execute(graph, GAPS, {"at": "2023-06-01T00:00:00Z"}))
    assert unseen(data) == [
        ("mkt", "k5", ["s1"]),
        ("ops", "k2", ["s3"]),
        ("sales", "k3", ["s2"]),
        ("sales", "k5", ["s2"]),
    ]
