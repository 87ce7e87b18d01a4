"""Channel coverage: demand per channel and period against the teams serving it, one trip.

Window: the weeks of 4 and 11 March 2024.

  channel  demand (week 4 / 11)  serving teams   response-time KPIs
  phone    3 / 1                      care            k-phone-frt (minutes, care, 4 <= 5: ON_TARGET)
  chat     0 / 2                      none            k-chat (hours, web-team, no value): unstaffed
  email    0 / 0 (one on 1 March)     care, web-team  none (k-email-open is in %)
  store    0 / 0                      none            none: no demand, so not unstaffed
"""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.helpers import error_codes, execute, execute_counted, ok

COVERAGE = """
query C($from: DateTime!, $to: DateTime!, $period: Window) {
  channelCoverage(from: $from, to: $to, period: $period) {
    channel { id } touchpoints unstaffed
    trend { periodStart touchpoints }
    servingTeams { team { id } responseTimeKpis { kpi { id } } }
    responseTimeKpis { kpi { id } latest { value } status }
  }
}
"""
WINDOW = {"from": "2024-03-04T00:00:00Z", "to": "2024-03-18T00:00:00Z", "period": "WEEK"}


async def seed(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": t, "name": t} for t in ("care", "web-team")])
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "phone", "name": "Phone", "kind": "PHONE"},
            {"id": "chat", "name": "Chat", "kind": "CHAT"},
            {"id": "email", "name": "Email", "kind": "EMAIL"},
            {"id": "store", "name": "Store", "kind": "STORE"},
        ],
    )
    await upsert_relationships(
        graph,
        K.TEAM_SERVES_CHANNEL,
        [
            {"from": "care", "to": "phone"},
            {"from": "care", "to": "email"},
            {"from": "web-team", "to": "email"},
        ],
    )
    await upsert_nodes(
        graph,
        "KPI",
        [
            {
                "id": "k-phone-frt",
                "name": "Phone answer",
                "unit": "minutes",
                "target": 5,
                "direction": "LOWER_IS_BETTER",
                "accountableTeamId": "care",
            },
            {
                "id": "k-chat",
                "name": "Chat answer",
                "unit": "hours",
                "target": 1,
                "direction": "LOWER_IS_BETTER",
                "accountableTeamId": "web-team",
            },
            {
                "id": "k-email-open",
                "name": "Email opens",
                "unit": "%",
                "target": 30,
                "accountableTeamId": "care",
            },
        ],
    )
    await upsert_relationships(
        graph,
        K.KPI_MEASURES_CHANNEL,
        [
            {"from": "k-phone-frt", "to": "phone"},
            {"from": "k-chat", "to": "chat"},
            {"from": "k-email-open", "to": "email"},
        ],
    )
    await upsert_nodes(
        graph,
        "Measurement",
        [
            {
                "id": "m1",
                "kpiId": "k-phone-frt",
                "at": "2024-03-18T00:00:00Z",
                "periodStart": "2024-03-04T00:00:00Z",
                "value": 9,
            },
            {
                "id": "m2",
                "kpiId": "k-phone-frt",
                "at": "2024-03-18T00:00:00Z",
                "periodStart": "2024-03-11T00:00:00Z",
                "value": 4,
            },
        ],
    )
    await upsert_nodes(graph, "Customer", [{"id": "c", "name": "c"}])
    tps: list[dict[str, Any]] = []
    for i, (channel, at) in enumerate(
        [
            ("phone", "2024-03-04T09:00:00Z"),
            ("phone", "2024-03-05T09:00:00Z"),
            ("phone", "2024-03-10T23:59:59Z"),
            ("phone", "2024-03-12T09:00:00Z"),
            ("chat", "2024-03-13T09:00:00Z"),
            ("chat", "2024-03-17T09:00:00Z"),
            ("email", "2024-03-01T09:00:00Z"),
            ("chat", "2024-03-18T00:00:00Z"),  # outside the window
        ]
    ):
        tps.append(
            {"id": f"t{i}", "at": at, "type": "OTHER", "customerId": "c", "channelId": channel}
        )
    await upsert_nodes(graph, "Touchpoint", tps)


async def test_demand_per_channel_and_week_against_serving_teams_in_one_query(graph: Graph) -> None:
    await seed(graph)
    result, log = await execute_counted(graph, COVERAGE, WINDOW)
    rows = ok(result)["channelCoverage"]
    assert log.count == 1
    assert [
        (
            r["channel"]["id"],
            r["touchpoints"],
            [p["touchpoints"] for p in r["trend"]],
            r["unstaffed"],
        )
        for r in rows
    ] == [
        ("phone", 4, [3, 1], False),
        ("chat", 2, [0, 2], True),
        ("email", 0, [0, 0], False),
        ("store", 0, [0, 0], False),
    ]
    assert [p["periodStart"] for p in rows[0]["trend"]] == [
        "2024-03-04T00:00:00+00:00",
        "2024-03-11T00:00:00+00:00",
    ]
    phone, chat, email, _ = rows
    assert phone["servingTeams"] == [
        {"team": {"id": "care"}, "responseTimeKpis": [{"kpi": {"id": "k-phone-frt"}}]}
    ]
    assert phone["responseTimeKpis"] == [
        {"kpi": {"id": "k-phone-frt"}, "latest": {"value": 4.0}, "status": "ON_TARGET"}
    ]
    assert chat["servingTeams"] == []
    assert chat["responseTimeKpis"] == [
        {"kpi": {"id": "k-chat"}, "latest": None, "status": "NO_DATA"}
    ]
    assert [t["team"]["id"] for t in email["servingTeams"]] == ["care", "web-team"]
    assert email["responseTimeKpis"] == []


async def test_daily_periods_and_bad_windows(graph: Graph) -> None:
    await seed(graph)
    rows = ok(
        await execute(
            graph,
            COVERAGE,
            {"from": "2024-03-04T00:00:00Z", "to": "2024-03-06T00:00:00Z", "period": "DAY"},
        )
    )["channelCoverage"]
    assert [p["touchpoints"] for p in rows[0]["trend"]] == [1, 1]
    backwards = {"from": "2024-03-18T00:00:00Z", "to": "2024-03-04T00:00:00Z"}
    assert error_codes(await execute(graph, COVERAGE, backwards)) == ["BAD_USER_INPUT"]
