"""SLA compliance and breaches: a hand-built hand-off, hand-computed cases, one or two trips.

The graph and its cases, judged as of 2024-03-20 over the weeks of 4, 11 and 18 March
(met, breached, open, each with its lateness), are described in tests/graphs/slas.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orggraph.graph.driver import Graph
from orggraph.graph.kpis import compute_kpis
from orggraph.graph.writes import upsert_nodes
from tests.graphs.slas import seed
from tests.helpers import error_codes, execute, execute_counted, ok

H = 3600.0
COMPLIANCE = """
query C($id: ID!, $from: DateTime!, $to: DateTime!, $period: Window, $asOf: DateTime) {
  slaCompliance(id: $id, from: $from, to: $to, period: $period, asOf: $asOf) {
    sla { id } period cases delivered met breached open inBreachNow rate
    trend { periodStart periodEnd cases delivered met breached open inBreachNow rate }
  }
}
"""
BREACHES = """
query B($slaId: ID, $teamId: ID, $from: DateTime, $to: DateTime, $now: Boolean,
        $asOf: DateTime, $first: Int, $after: String) {
  slaBreaches(slaId: $slaId, teamId: $teamId, from: $from, to: $to, inBreachNow: $now,
              asOf: $asOf, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    nodes {
      sla { id } customer { id } provider { id } consumer { id } step { id }
      reachedAt respondedAt lateSeconds inBreachNow
    }
  }
}
"""
WINDOW = {
    "from": "2024-03-04T00:00:00Z",
    "to": "2024-03-25T00:00:00Z",
    "asOf": "2024-03-20T00:00:00Z",
}


def counts(p: dict[str, Any]) -> tuple[Any, ...]:
    return (p["cases"], p["met"], p["breached"], p["open"], p["inBreachNow"], p["rate"])


async def test_response_time_compliance_per_week_with_met_breached_and_open_cases(
    graph: Graph,
) -> None:
    await seed(graph)
    result, log = await execute_counted(graph, COMPLIANCE, {"id": "rt", "period": "WEEK", **WINDOW})
    report = ok(result)["slaCompliance"]
    assert log.count == 2  # the SLA, then every period in one query
    assert report["period"] == "WEEK"
    assert [counts(p) for p in report["trend"]] == [
        (3, 1, 2, 0, 1, pytest.approx(1 / 3)),  # a met; b late; c unanswered
        (2, 1, 1, 0, 1, 0.5),  # d met; g's answer comes after asOf
        (1, 0, 0, 1, 0, None),  # e: 12 h, not decided
    ]
    assert [p["periodStart"] for p in report["trend"]] == [
        "2024-03-04T00:00:00+00:00",
        "2024-03-11T00:00:00+00:00",
        "2024-03-18T00:00:00+00:00",
    ]
    assert counts(report) == (6, 2, 3, 1, 2, 0.4)


async def test_volume_compliance_grades_each_week_against_the_threshold(graph: Graph) -> None:
    await seed(graph)
    report = ok(await execute(graph, COMPLIANCE, {"id": "vol", **WINDOW}))["slaCompliance"]
    # a, b, c (f first reached the step in February); d, g; e — the last week still runs
    assert [(p["delivered"], p["met"], p["breached"], p["open"]) for p in report["trend"]] == [
        (3, 1, 0, 0),
        (2, 0, 1, 0),
        (1, 0, 0, 1),
    ]
    assert (report["delivered"], report["rate"]) == (6, 0.5)
    monthly = await execute(graph, COMPLIANCE, {"id": "vol", "period": "MONTH", **WINDOW})
    assert error_codes(monthly) == ["BAD_USER_INPUT"]


async def test_breaches_list_each_late_or_unanswered_case_in_one_query(graph: Graph) -> None:
    await seed(graph)
    result, log = await execute_counted(graph, BREACHES, {"slaId": "rt", **WINDOW})
    page = ok(result)["slaBreaches"]
    assert log.count == 1
    assert page["totalCount"] == 3
    assert [
        (n["customer"]["id"], n["respondedAt"], n["lateSeconds"], n["inBreachNow"])
        for n in page["nodes"]
    ] == [
        ("b", "2024-03-06T06:00:00+00:00", 6 * H, False),
        ("c", None, 312 * H, True),
        ("g", None, 120 * H, True),
    ]
    first = page["nodes"][0]
    assert (
        first["sla"]["id"],
        first["provider"]["id"],
        first["consumer"]["id"],
        first["step"]["id"],
        first["reachedAt"],
    ) == ("rt", "mkt", "sales", "s-sal", "2024-03-05T00:00:00+00:00")


async def test_breaches_filter_and_paginate(graph: Graph) -> None:
    await seed(graph)
    now = ok(await execute(graph, BREACHES, {"now": True, **WINDOW}))["slaBreaches"]
    assert [n["customer"]["id"] for n in now["nodes"]] == ["c", "g"]
    answered = ok(await execute(graph, BREACHES, {"now": False, **WINDOW}))["slaBreaches"]
    assert [n["customer"]["id"] for n in answered["nodes"]] == ["b"]
    assert (
        ok(await execute(graph, BREACHES, {"teamId": "ops", **WINDOW}))["slaBreaches"]["totalCount"]
        == 0
    )
    assert (
        ok(await execute(graph, BREACHES, {"teamId": "sales", **WINDOW}))["slaBreaches"][
            "totalCount"
        ]
        == 3
    )
    one = ok(await execute(graph, BREACHES, {"first": 2, **WINDOW}))["slaBreaches"]
    assert [n["customer"]["id"] for n in one["nodes"]] == ["b", "c"]
    assert one["pageInfo"]["hasNextPage"] is True
    two = ok(
        await execute(
            graph, BREACHES, {"first": 2, "after": one["pageInfo"]["endCursor"], **WINDOW}
        )
    )
    rest = two["slaBreaches"]
    assert [n["customer"]["id"] for n in rest["nodes"]] == ["g"]
    assert (rest["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasPreviousPage"]) == (False, True)


async def test_bad_input_and_unknown_ids(graph: Graph) -> None:
    await seed(graph)
    unknown = await execute(graph, COMPLIANCE, {"id": "nope", **WINDOW})
    assert error_codes(unknown) == ["NOT_FOUND"]
    backwards = {**WINDOW, "from": WINDOW["to"], "to": WINDOW["from"]}
    assert error_codes(await execute(graph, COMPLIANCE, {"id": "rt", **backwards})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await execute(graph, BREACHES, backwards)) == ["BAD_USER_INPUT"]
    assert error_codes(await execute(graph, BREACHES, {"slaId": "nope", **WINDOW})) == ["NOT_FOUND"]
    assert error_codes(await execute(graph, BREACHES, {"teamId": "nope", **WINDOW})) == [
        "NOT_FOUND"
    ]
    assert error_codes(await execute(graph, BREACHES, {"after": "garbage", **WINDOW})) == [
        "BAD_USER_INPUT"
    ]


async def test_kpi_engine_sla_compliance_agrees_with_sla_compliance(graph: Graph) -> None:
    await seed(graph)
    await upsert_nodes(
        graph,
        "KPI",
        [
            {
                "id": "k",
                "name": "k",
                "window": "WEEK",
                "definition": {"measure": "SLA_COMPLIANCE", "slaId": "rt"},
            }
        ],
    )
    since, until = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 24, tzinfo=UTC)
    computed = (await compute_kpis(graph, "k", since=since, until=until))[0].measurements
    # judged now: e's 12 h became a breach, g's answer (21 March, 7 days) is late
    report = ok(
        await execute(
            graph,
            COMPLIANCE,
            {"id": "rt", "period": "WEEK", "from": WINDOW["from"], "to": WINDOW["to"]},
        )
    )
    trend = report["slaCompliance"]["trend"]
    assert [(m["value"], m["sampleSize"]) for m in computed] == [
        (pytest.approx(p["rate"]), p["met"] + p["breached"]) for p in trend
    ]
    assert [(m["value"], m["sampleSize"]) for m in computed] == [
        (pytest.approx(1 / 3), 3),
        (0.5, 2),
        (0.0, 1),
    ]


async def test_breaches_of_the_synthetic_organisation_match_the_generator(graph: Graph) -> None:
    from orggraph.graph.seed import seed_organisation

    summary = await seed_organisation(graph, customers=300, seed=5)
    window = {
        "slaId": "sla-mql-follow-up",
        "from": "2020-01-01T00:00:00Z",
        "to": "2030-01-01T00:00:00Z",
    }
    late = ok(await execute(graph, BREACHES, {**window, "now": False, "first": 0}))["slaBreaches"]
    assert late["totalCount"] == summary.follow_up_breaches > 0
