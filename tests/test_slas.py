"""SLA compliance and breaches: a hand-built hand-off, hand-computed cases, one or two trips.

The graph and its cases, judged as of 2024-03-20 over the weeks of 4, 11 and 18 March
(met, breached, open, each with its lateness), are described in tests/graphs/slas.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orggraph.graph import slas
from orggraph.graph.deletes import delete_nodes, delete_relationships
from orggraph.graph.driver import Graph
from orggraph.graph.erasure import erase_customer
from orggraph.graph.kpis import compute_kpis
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.graphs.sla_scan import SCAN_SLA_BREACHES, SCAN_SLA_COMPLIANCE
from tests.graphs.slas import seed
from tests.helpers import error_codes, execute, execute_counted, ok, wipe

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


# --- the REACHED queries against the scan they replaced, on random write histories ---

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
QUARTER_HOUR = timedelta(minutes=15)
STEPS = ("s0", "s1", "s2", "s3")
CUSTOMERS = ("c0", "c1", "c2", "c3")
TOUCH = st.tuples(
    st.integers(0, 9),  # touchpoint
    st.sampled_from((*CUSTOMERS, None)),
    st.sampled_from((*STEPS, None)),
    st.sampled_from(("t-c", "t-x", None)),  # handled by the consumer, another team, nobody
    st.integers(0, 2 * 96),  # quarter hours after T0: ties are frequent
)
UPSERT = st.tuples(
    st.just("upsert"), st.lists(TOUCH, min_size=2, max_size=8, unique_by=lambda t: t[0])
)
OPERATION = st.one_of(
    UPSERT,
    st.tuples(st.just("resend")),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True)),
    st.tuples(st.just("unlink"), st.integers(0, 9), st.sampled_from(("AT_STEP", "HAD"))),
    st.tuples(st.just("link"), st.integers(0, 9), st.sampled_from((*STEPS, *CUSTOMERS))),
    st.tuples(st.just("erase"), st.sampled_from(CUSTOMERS)),
)
QUESTION = st.tuples(
    st.integers(0, 2),  # first day of the periods
    st.integers(1, 3),  # days
    st.integers(0, 4 * 96),  # asOf, quarter hours after T0
    st.integers(0, 2 * 96),  # breaches from, quarter hours after T0
    st.integers(0, 3 * 96),  # breaches span
    st.sampled_from((None, True, False)),  # inBreachNow
)


def drawn_histories(count: int) -> list[tuple[list[Any], list[Any]]]:
    """``count`` random write histories, each with the questions asked after it (the same
    on every run: derandomized)."""
    drawn: list[tuple[list[Any], list[Any]]] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None)
    @given(
        st.lists(UPSERT, min_size=1, max_size=3),
        st.lists(OPERATION, min_size=2, max_size=10),
        st.lists(QUESTION, min_size=2, max_size=4),
    )
    def collect(upserts: list[Any], operations: list[Any], questions: list[Any]) -> None:
        drawn.append((upserts + operations, questions))

    collect()
    return drawn


async def seed_handoffs(graph: Graph) -> None:
    """rt1 answers s2 within 6 h from two sources linked NEXT to it (s0, s1); rt2 answers
    s3 within a day from the step before it by order (s2); vol wants 2 customers a day
    at s1."""
    await upsert_nodes(graph, "Team", [{"id": t, "name": t} for t in ("t-p", "t-c", "t-x")])
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "p"}])
    await upsert_nodes(
        graph,
        "Step",
        [{"id": s, "name": s, "processId": "p", "order": i} for i, s in enumerate(STEPS)],
    )
    await upsert_relationships(
        graph, K.STEP_NEXT_STEP, [{"from": "s0", "to": "s2"}, {"from": "s1", "to": "s2"}]
    )
    sla: dict[str, Any] = {"providerTeamId": "t-p", "window": "DAY"}
    await upsert_nodes(
        graph,
        "SLA",
        [
            {**sla, "id": "rt1", "name": "rt1", "kind": "RESPONSE_TIME", "threshold": 6,
             "unit": "hours", "consumerTeamId": "t-c", "stepId": "s2"},
            {**sla, "id": "rt2", "name": "rt2", "kind": "RESPONSE_TIME", "threshold": 1,
             "unit": "days", "consumerTeamId": "t-x", "stepId": "s3"},
            {**sla, "id": "vol", "name": "vol", "kind": "VOLUME", "threshold": 2,
             "unit": "customers", "consumerTeamId": "t-c", "stepId": "s1"},
        ],
    )  # fmt: skip
    await upsert_nodes(graph, "Customer", [{"id": c, "name": c} for c in CUSTOMERS])


LINKS = """
UNWIND $ids AS id
MATCH (t:Touchpoint {id: id})
RETURN t.id AS id, [(t)-[:AT_STEP]->(s) | s.id] AS AT_STEP, [(c)-[:HAD]->(t) | c.id] AS HAD
"""


async def replay(graph: Graph, operations: list[Any]) -> None:
    """The operations through the write paths: touchpoint upserts (new, moved in time,
    step, customer or team, often out of order), the last batch re-sent, deletes of
    touchpoints, their AT_STEP or HAD relationship written or deleted on its own, and
    customers erased (their touchpoints deleted)."""
    last: list[dict[str, Any]] = []
    for name, *args in operations:
        if name == "upsert":
            last = [
                {
                    "id": f"tp{n}",
                    "at": (T0 + q * QUARTER_HOUR).isoformat(),
                    "type": "OTHER",
                    **({"customerId": c} if c else {}),
                    **({"stepId": s} if s else {}),
                    **({"teamId": t} if t else {}),
                }
                for n, c, s, t, q in args[0]
            ]
            await upsert_nodes(graph, "Touchpoint", last)
        elif name == "resend":
            if last:
                await upsert_nodes(graph, "Touchpoint", last)
        elif name == "delete":
            found = await graph.query(LINKS, ids=[f"tp{n}" for n in args[0]])
            if found:
                await delete_nodes(graph, "Touchpoint", [r["id"] for r in found])
        elif name == "erase":
            await erase_customer(graph, args[0], mode="delete", by="test")
        else:
            await relink(graph, name, f"tp{args[0]}", args[1])


async def relink(graph: Graph, name: str, tp: str, what: str) -> None:
    """``link``: the touchpoint's AT_STEP (``what`` a step) or HAD (a customer) written as
    a relationship; ``unlink``: its ``what`` relationship deleted. Unknown touchpoints
    are skipped."""
    found = await graph.query(LINKS, ids=[tp])
    if not found:
        return
    if name == "link" and what in STEPS:
        await upsert_relationships(graph, K.TOUCHPOINT_AT_STEP, [{"from": tp, "to": what}])
    elif name == "link":
        await upsert_relationships(graph, K.CUSTOMER_HAD_TOUCHPOINT, [{"from": what, "to": tp}])
    elif what == "AT_STEP" and found[0]["AT_STEP"]:
        step = found[0]["AT_STEP"][0]
        await delete_relationships(graph, K.TOUCHPOINT_AT_STEP, [{"from": tp, "to": step}])
    elif what == "HAD" and found[0]["HAD"]:
        owner = found[0]["HAD"][0]
        await delete_relationships(graph, K.CUSTOMER_HAD_TOUCHPOINT, [{"from": owner, "to": tp}])


async def both(graph: Graph, scan: Any, reached: Any, **params: Any) -> tuple[Any, Any]:
    return (
        [dict(r) for r in await graph.query(scan, **params)],
        [dict(r) for r in await graph.query(reached, **params)],
    )


async def test_compliance_and_breaches_from_reached_equal_the_scan_after_any_writes(
    graph: Graph,
) -> None:
    seen = {"cases": 0, "delivered": 0, "breaches": 0}
    for operations, questions in drawn_histories(40):
        await wipe(graph)
        await seed_handoffs(graph)
        await replay(graph, operations)
        for first_day, days, as_of, since, span, now in questions:
            day = timedelta(days=1)
            spans = [
                [T0 + (first_day + d) * day, T0 + (first_day + d + 1) * day] for d in range(days)
            ]
            judged = T0 + as_of * QUARTER_HOUR
            for sla_id in ("rt1", "rt2", "vol"):
                scan, reached = await both(
                    graph, SCAN_SLA_COMPLIANCE, slas.SLA_COMPLIANCE,
                    slaId=sla_id, periods=spans, asOf=judged,
                )  # fmt: skip
                assert reached == scan, (operations, sla_id, spans, judged)
                for key in ("cases", "delivered"):
                    seen[key] += sum(p[key] for p in scan)
            window = {"from": T0 + since * QUARTER_HOUR, "to": T0 + (since + span) * QUARTER_HOUR}
            scan, reached = await both(
                graph, SCAN_SLA_BREACHES, slas.SLA_BREACHES,
                slaId=None, teamId=None, inBreachNow=now, asOf=judged, first=100,
                afterSla=None, afterCustomer=None, **window,
            )  # fmt: skip
            assert reached == scan, (operations, window, judged, now)
            seen["breaches"] += scan[0]["totalCount"]
    # the histories make cases, deliveries and breaches, not only empty answers
    assert min(seen.values()) > 0, seen
