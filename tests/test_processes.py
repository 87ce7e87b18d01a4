"""Value stream and funnel: hand-built process, hand-computed answers, bounded round trips."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.graphs.funnel import H, at, seed
from tests.helpers import error_codes, execute, execute_counted, ok

VALUE_STREAM = """
query V($id: ID!, $filter: FunnelFilter, $at: DateTime) {
  valueStream(processId: $id, filter: $filter, at: $at) {
    process { id }
    steps { step { id } order owners { team { id } } slas { id } }
    handoffs { fromStep { id } toStep { id } fromTeams { id } toTeams { id } slas { id } }
    funnel {
      stage steps { id } reached conversionFromPrevious conversionOverall
      timedCustomers medianSecondsToNext p90SecondsToNext
    }
  }
}
"""


def funnel(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            f["stage"],
            f["reached"],
            f["conversionFromPrevious"],
            f["conversionOverall"],
            f["timedCustomers"],
            f["medianSecondsToNext"],
            f["p90SecondsToNext"],
        )
        for f in data["valueStream"]["funnel"]
    ]


async def test_steps_owners_and_handoffs_with_their_sla(graph: Graph) -> None:
    await seed(graph)
    stream = ok(await execute(graph, VALUE_STREAM, {"id": "p"}))["valueStream"]
    assert [
        (
            s["step"]["id"],
            s["order"],
            [o["team"]["id"] for o in s["owners"]],
            [x["id"] for x in s["slas"]],
        )
        for s in stream["steps"]
    ] == [
        ("s1", 1, ["mkt"], []),
        ("s2", 2, ["mkt"], []),
        ("s3", 3, ["sales"], ["sla-followup"]),
        ("s4", 4, ["presales"], []),
    ]
    assert stream["handoffs"] == [
        {
            "fromStep": {"id": "s2"},
            "toStep": {"id": "s3"},
            "fromTeams": [{"id": "mkt"}],
            "toTeams": [{"id": "sales"}],
            "slas": [{"id": "sla-followup"}],
        },
        {
            "fromStep": {"id": "s3"},
            "toStep": {"id": "s4"},
            "fromTeams": [{"id": "sales"}],
            "toTeams": [{"id": "presales"}],
            "slas": [],
        },
    ]
    # Owners on an earlier date: sales still owned s4, so one hand-off only.
    past = ok(await execute(graph, VALUE_STREAM, {"id": "p", "at": "2023-06-01T00:00:00Z"}))[
        "valueStream"
    ]
    assert [h["toStep"]["id"] for h in past["handoffs"]] == ["s3"]


async def test_the_funnel_counts_conversions_and_times_to_next_stage(graph: Graph) -> None:
    await seed(graph)
    data = ok(await execute(graph, VALUE_STREAM, {"id": "p"}))
    # LEAD->MQL: 1h, 2h, 4h: median 2h, p90 = 2h + 0.8 * 2h. MQL->SQL: 2h, 3h. SQL->OPP: 24h.
    assert funnel(data) == [
        ("LEAD", 4, None, 1.0, 3, 2.0 * H, 3.6 * H),
        ("MQL", 3, 0.75, 0.75, 2, 2.5 * H, 2.9 * H),
        ("SQL", 2, 2 / 3, 0.5, 1, 24.0 * H, 24.0 * H),
        ("OPPORTUNITY", 1, 0.5, 0.25, 0, None, None),
    ]
    assert [s["id"] for s in data["valueStream"]["funnel"][0]["steps"]] == ["s1"]


async def test_the_funnel_filters_by_segment_channel_and_window(graph: Graph) -> None:
    await seed(graph)
    ent = ok(await execute(graph, VALUE_STREAM, {"id": "p", "filter": {"segment": "ENT"}}))
    assert funnel(ent) == [
        ("LEAD", 2, None, 1.0, 1, 4.0 * H, 4.0 * H),
        ("MQL", 1, 0.5, 0.5, 0, None, None),
        ("SQL", 0, 0.0, 0.0, 0, None, None),
        ("OPPORTUNITY", 0, None, 0.0, 0, None, None),
    ]
    phone = ok(await execute(graph, VALUE_STREAM, {"id": "p", "filter": {"channelId": "phone"}}))
    assert [f[1] for f in funnel(phone)] == [1, 0, 0, 0]
    early = ok(await execute(graph, VALUE_STREAM, {"id": "p", "filter": {"to": at(2 * H + 1800)}}))
    assert [f[1] for f in funnel(early)] == [4, 2, 0, 0]
    late = ok(await execute(graph, VALUE_STREAM, {"id": "p", "filter": {"from": at(10 * H)}}))
    # Only c1's second LEAD touchpoint (20h) and its OPPORTUNITY one (27h) remain.
    assert funnel(late)[0][:2] == ("LEAD", 1) and funnel(late)[3][:2] == ("OPPORTUNITY", 1)


async def test_errors_and_bounded_round_trips(graph: Graph) -> None:
    await seed(graph)
    assert error_codes(await execute(graph, VALUE_STREAM, {"id": "nope"})) == ["NOT_FOUND"]
    bad_window = {"from": at(H), "to": at(0)}
    assert error_codes(await execute(graph, VALUE_STREAM, {"id": "p", "filter": bad_window})) == [
        "BAD_USER_INPUT"
    ]
    result, small = await execute_counted(graph, VALUE_STREAM, {"id": "p"})
    ok(result)
    await seed(graph, extra_customers=30)
    result, large = await execute_counted(graph, VALUE_STREAM, {"id": "p"})
    assert funnel(ok(result))[0][1] == 34
    assert small.count == large.count == 1


async def test_a_process_without_touchpoints_has_an_empty_funnel(graph: Graph) -> None:
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "Empty"}])
    await upsert_nodes(
        graph, "Step", [{"id": "s1", "name": "Only", "stage": "LEAD", "processId": "p", "order": 1}]
    )
    stream = ok(await execute(graph, VALUE_STREAM, {"id": "p"}))["valueStream"]
    assert stream["handoffs"] == []
    assert funnel({"valueStream": stream}) == [("LEAD", 0, None, None, 0, None, None)]


async def reached(graph: Graph) -> set[tuple[str, str, str]]:
    records = await graph.query(
        "MATCH (c:Customer)-[r:REACHED]->(s:Step) RETURN c.id AS c, s.id AS s, r.touchpointId AS t"
    )
    return {(r["c"], r["s"], r["t"]) for r in records}


async def test_the_all_time_funnel_read_from_reached_steps_equals_the_touchpoint_scan(
    graph: Graph,
) -> None:
    from datetime import datetime

    from orggraph.graph.processes import VALUE_STREAM, VALUE_STREAM_FROM_REACHED

    await seed(graph, extra_customers=3)
    params: dict[str, Any] = {
        "processId": "p",
        "at": datetime.now(UTC),
        "channelId": None,
        "campaignId": None,
        "from": None,
        "to": None,
    }
    for segment in (None, "ENT"):
        scanned = await graph.query(VALUE_STREAM, segment=segment, **params)
        from_reached = await graph.query(VALUE_STREAM_FROM_REACHED, segment=segment, **params)
        assert scanned[0]["funnel"] == from_reached[0]["funnel"]
    # c1's first LEAD touchpoint is the one at 0 h, not the later one at 20 h.
    assert ("c1", "s1", "c1-s1-0") in await reached(graph)


async def test_reached_steps_follow_touchpoints_that_move_and_replays_change_nothing(
    graph: Graph,
) -> None:
    await seed(graph)
    before = await reached(graph)
    assert ("c3", "s2", "c3-s2-14400") in before
    # c3's MQL touchpoint moves to SQL: c3 no longer reached s2 and now reached s3.
    moved = {
        "id": "c3-s2-14400",
        "at": at(4 * H),
        "type": "OTHER",
        "customerId": "c3",
        "stepId": "s3",
        "channelId": "web",
    }
    await upsert_nodes(graph, "Touchpoint", [moved])
    after = await reached(graph)
    assert after == (before - {("c3", "s2", "c3-s2-14400")}) | {("c3", "s3", "c3-s2-14400")}
    # An earlier touchpoint at s1 for c2 becomes its first arrival there.
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {
                "id": "c2-early",
                "at": "2024-02-28T00:00:00Z",
                "type": "OTHER",
                "customerId": "c2",
                "stepId": "s1",
            }
        ],
    )
    assert ("c2", "s1", "c2-early") in await reached(graph)
    replay = await upsert_nodes(graph, "Touchpoint", [moved])
    assert (replay.relationships_created, replay.relationships_deleted) == (0, 0)
    # AT_STEP written as a relationship of its own also moves the arrival.
    await upsert_relationships(graph, K.TOUCHPOINT_AT_STEP, [{"from": "c4-s1-0", "to": "s2"}])
    assert ("c4", "s2", "c4-s1-0") in await reached(graph)
    customers = {c for c, _, _ in await reached(graph)}
    assert customers == {"c1", "c2", "c3", "c4"}


# --- lifecycle transitions -------------------------------------------------------------------

TRANSITION = """
mutation T($id: ID!, $to: Lifecycle!, $at: DateTime) {
  transitionProcess(processId: $id, to: $to, at: $at) { id lifecycle }
}
"""
HISTORY = """
{ processes { nodes { id lifecycle lifecycleHistory { before after effectiveAt principal } } } }
"""


async def test_lifecycle_transitions_are_dated_attributed_and_listed(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Process",
        [
            {"id": "lab", "name": "lab", "lifecycle": "EXPERIMENTAL"},
            {"id": "old", "name": "old", "lifecycle": "INTEGRATED"},
        ],
    )
    steps = [
        ("lab", "CONSOLIDATED", "2025-01-10T00:00:00Z"),
        ("lab", "INTEGRATED", "2025-04-01T00:00:00Z"),
        ("old", "RETIRED", "2025-02-01T00:00:00Z"),
    ]
    for process, to, when in steps:
        data = ok(await execute(graph, TRANSITION, {"id": process, "to": to, "at": when}))
        assert data["transitionProcess"] == {"id": process, "lifecycle": to}
    result, queries = await execute_counted(graph, HISTORY)
    assert queries.count == 2  # the processes, then every history at once
    assert ok(result)["processes"]["nodes"] == [
        {
            "id": "lab",
            "lifecycle": "INTEGRATED",
            "lifecycleHistory": [
                {
                    "before": "EXPERIMENTAL",
                    "after": "CONSOLIDATED",
                    "effectiveAt": "2025-01-10T00:00:00+00:00",
                    "principal": "local",
                },
                {
                    "before": "CONSOLIDATED",
                    "after": "INTEGRATED",
                    "effectiveAt": "2025-04-01T00:00:00+00:00",
                    "principal": "local",
                },
            ],
        },
        {
            "id": "old",
            "lifecycle": "RETIRED",
            "lifecycleHistory": [
                {
                    "before": "INTEGRATED",
                    "after": "RETIRED",
                    "effectiveAt": "2025-02-01T00:00:00+00:00",
                    "principal": "local",
                }
            ],
        },
    ]


async def test_impossible_transitions_are_refused_and_a_repeat_changes_nothing(
    graph: Graph,
) -> None:
    await upsert_nodes(
        graph, "Process", [{"id": "lab", "name": "lab", "lifecycle": "EXPERIMENTAL"}]
    )
    skips = {"id": "lab", "to": "INTEGRATED"}  # skips consolidation
    assert error_codes(await execute(graph, TRANSITION, skips)) == ["CONFLICT"]
    missing = {"id": "nope", "to": "CONSOLIDATED"}
    assert error_codes(await execute(graph, TRANSITION, missing)) == ["NOT_FOUND"]
    when = "2025-03-01T00:00:00Z"
    ok(await execute(graph, TRANSITION, {"id": "lab", "to": "CONSOLIDATED", "at": when}))
    ok(await execute(graph, TRANSITION, {"id": "lab", "to": "CONSOLIDATED", "at": when}))
    earlier = {"id": "lab", "to": "RETIRED", "at": "2025-01-01T00:00:00Z"}
    assert error_codes(await execute(graph, TRANSITION, earlier)) == ["CONFLICT"]
    backwards = {"id": "lab", "to": "EXPERIMENTAL", "at": "2025-05-01T00:00:00Z"}
    assert error_codes(await execute(graph, TRANSITION, backwards)) == ["CONFLICT"]
    history = ok(await execute(graph, HISTORY))["processes"]["nodes"][0]["lifecycleHistory"]
    assert [(h["before"], h["after"]) for h in history] == [("EXPERIMENTAL", "CONSOLIDATED")]
