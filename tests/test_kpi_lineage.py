"""KPI lineage: a hand-built KPI with everything that feeds it, hand-counted, one round trip."""

from __future__ import annotations

from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.helpers import error_codes, execute, execute_counted, ok

LINEAGE = """
query L($id: ID!, $last: Int! = 100) {
  kpiLineage(kpiId: $id, last: $last) {
    kpi { id } status latest { value } series { value }
    steps { id } processes { id } channels { id } campaigns { id }
    touchpointsBehindLatest
    accountableTeam { id } sharedWith { id } feedingTeams { id } unawareTeams { id }
  }
}
"""


def ids(items: list[dict[str, str]]) -> list[str]:
    return [x["id"] for x in items]


async def seed(graph: Graph, extra_touchpoints: int = 0) -> None:
    await upsert_nodes(
        graph, "Team", [{"id": t, "name": t} for t in ("mkt", "sales", "care", "web-team")]
    )
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "Lead to deal"}])
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": "s1", "name": "Capture", "processId": "p", "order": 1},
            {"id": "s2", "name": "Qualify", "processId": "p", "order": 2},
            {"id": "s3", "name": "Answer", "stage": "SUPPORT"},
        ],
    )
    await upsert_relationships(
        graph,
        K.TEAM_OWNS_STEP,
        [
            {"from": "mkt", "to": "s1"},
            {"from": "sales", "to": "s2"},
            {"from": "care", "to": "s3"},
            {
                "from": "sales",
                "to": "s3",
                "properties": {"from": "2020-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z"},
            },
        ],
    )
    await upsert_nodes(graph, "Channel", [{"id": "chat", "name": "Chat", "kind": "CHAT"}])
    await upsert_relationships(graph, K.TEAM_SERVES_CHANNEL, [{"from": "web-team", "to": "chat"}])
    await upsert_nodes(graph, "Campaign", [{"id": "spring", "name": "Spring", "teamId": "mkt"}])
    await upsert_nodes(
        graph,
        "KPI",
        [
            {"id": "k", "name": "Leads", "target": 50, "accountableTeamId": "mkt"},
            {"id": "k-empty", "name": "Nothing yet"},
        ],
    )
    await upsert_relationships(graph, K.KPI_SHARED_WITH_TEAM, [{"from": "k", "to": "sales"}])
    await upsert_relationships(graph, K.KPI_MEASURES_PROCESS, [{"from": "k", "to": "p"}])
    await upsert_relationships(graph, K.KPI_MEASURES_STEP, [{"from": "k", "to": "s3"}])
    await upsert_relationships(graph, K.KPI_MEASURES_CHANNEL, [{"from": "k", "to": "chat"}])
    await upsert_relationships(graph, K.KPI_MEASURES_CAMPAIGN, [{"from": "k", "to": "spring"}])
    await upsert_nodes(
        graph,
        "Measurement",
        [
            {
                "id": "m1",
                "kpiId": "k",
                "periodStart": "2024-01-01T00:00:00Z",
                "at": "2024-02-01T00:00:00Z",
                "value": 40,
            },
            {
                "id": "m2",
                "kpiId": "k",
                "periodStart": "2024-02-01T00:00:00Z",
                "at": "2024-03-01T00:00:00Z",
                "value": 60,
            },
        ],
    )
    feb = "2024-02-10T00:00:00Z"
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {
                "id": "t1",
                "at": feb,
                "type": "CHAT",
                "stepId": "s1",
                "channelId": "chat",
                "campaignId": "spring",
            },
            {"id": "t2", "at": feb, "type": "CALL", "stepId": "s2"},
            {"id": "t3", "at": feb, "type": "CHAT", "channelId": "chat"},
            {"id": "t4", "at": feb, "type": "EMAIL", "campaignId": "spring"},
            {"id": "t5", "at": feb, "type": "TICKET", "stepId": "s3"},
            {"id": "t6", "at": feb, "type": "OTHER"},
            {"id": "t7", "at": "2024-01-15T00:00:00Z", "type": "CALL", "stepId": "s1"},
            {"id": "t8", "at": "2024-03-01T00:00:00Z", "type": "CALL", "stepId": "s1"},
            *(
                {"id": f"x{i}", "at": "2023-06-01T00:00:00Z", "type": "CALL", "stepId": "s1"}
                for i in range(extra_touchpoints)
            ),
        ],
    )


async def test_lineage_of_a_kpi(graph: Graph) -> None:
    await seed(graph)
    lineage = ok(await execute(graph, LINEAGE, {"id": "k"}))["kpiLineage"]
    assert lineage["status"] == "ON_TARGET" and lineage["latest"] == {"value": 60.0}
    assert lineage["series"] == [{"value": 40.0}, {"value": 60.0}]
    assert ids(lineage["steps"]) == ["s1", "s2", "s3"]
    assert ids(lineage["processes"]) == ["p"]
    assert ids(lineage["channels"]) == ["chat"] and ids(lineage["campaigns"]) == ["spring"]
    # t1..t5 in February's period; t6 feeds nothing, t7 is January's, t8 is at the period's end.
    assert lineage["touchpointsBehindLatest"] == 5
    assert lineage["accountableTeam"] == {"id": "mkt"}
    assert ids(lineage["sharedWith"]) == ["sales"]
    assert ids(lineage["feedingTeams"]) == ["care", "mkt", "sales", "web-team"]
    assert ids(lineage["unawareTeams"]) == ["care", "web-team"]
    newest = ok(await execute(graph, LINEAGE, {"id": "k", "last": 1}))["kpiLineage"]
    assert newest["series"] == [{"value": 60.0}]


async def test_a_kpi_without_data(graph: Graph) -> None:
    await seed(graph)
    lineage = ok(await execute(graph, LINEAGE, {"id": "k-empty"}))["kpiLineage"]
    assert lineage["status"] == "NO_DATA" and lineage["latest"] is None and lineage["series"] == []
    assert lineage["touchpointsBehindLatest"] == 0 and lineage["feedingTeams"] == []
    assert lineage["accountableTeam"] is None


async def test_unknown_kpi_bad_input_and_bounded_round_trips(graph: Graph) -> None:
    await seed(graph)
    assert error_codes(await execute(graph, LINEAGE, {"id": "nope"})) == ["NOT_FOUND"]
    assert error_codes(await execute(graph, LINEAGE, {"id": "k", "last": -1})) == ["BAD_USER_INPUT"]
    result, small = await execute_counted(graph, LINEAGE, {"id": "k"})
    ok(result)
    await seed(graph, extra_touchpoints=50)
    result, large = await execute_counted(graph, LINEAGE, {"id": "k"})
    assert ok(result)["kpiLineage"]["touchpointsBehindLatest"] == 5
    assert small.count == large.count == 1
