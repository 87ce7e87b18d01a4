"""Reorganisation impact: a hand-built organisation, hand-derived dependants and merge effects."""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.helpers import error_codes, execute, execute_counted, ok

REORG = """
query R($id: ID!, $moveTo: ID, $first: Int) {
  reorgImpact(teamId: $id, moveTo: $moveTo, first: $first) {
    team { id }
    ownedSteps { step { id } process { id } order }
    processes { id }
    accountableKpis { id } sharedKpis { id }
    fedKpis { kpi { id } accountable { id } through { kind id } }
    slas { sla { id } roles provider { id } consumer { id } step { id } }
    channels { channel { id } otherTeams { id } soleServer }
    campaigns { id }
    provides { service { id } teams { id } }
    consumes { service { id } teams { id } }
    customersInFlight
    inFlightByStep { step { id } customers }
    latestCustomersInFlight { customer { id } stepId lastTouchAt }
    whatIf {
      target { id }
      handoffsRemoved { processId fromStep { id } toStep { id }
                        fromTeamsBefore toTeamsBefore fromTeamsAfter toTeamsAfter }
      handoffsAdded { fromStep { id } }
      handoffsChanged { processId fromStep { id } toStep { id }
                        fromTeamsBefore toTeamsBefore fromTeamsAfter toTeamsAfter }
      slaChanges { sla { id } providerBefore { id } consumerBefore { id }
                   providerAfter { id } consumerAfter { id }
                   becomesInternal }
      kpisLosingAccountableTeam { id }
      servicesBecomingInternal { id }
      channelsGained { id }
    }
  }
}
"""

NOW = "2025-01-01T00:00:00Z"


def day(n: int) -> str:
    return f"2024-05-{n:02d}T00:00:00Z"


async def seed(graph: Graph) -> None:
    """Process p: s1, s2 (mkt) -> s3 (sdr) -> s4 (sales) -> s5 (sales + ops) -> s6.

    s6 is owned by ops, and was owned by sdr until 2023.
    """
    await upsert_nodes(
        graph, "Team", [{"id": t, "name": t} for t in ("mkt", "sdr", "sales", "ops")]
    )
    await upsert_nodes(
        graph, "Process", [{"id": "p", "name": "Lead to deal"}, {"id": "q", "name": "Other"}]
    )
    stages = ["LEAD", "MQL", "SAL", "SQL", "OPPORTUNITY", "CUSTOMER"]
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": f"s{i}", "name": f"s{i}", "stage": stage, "processId": "p", "order": i}
            for i, stage in enumerate(stages, start=1)
        ]
        + [{"id": "q1", "name": "q1", "processId": "q", "order": 1}],
    )
    since = {"from": "2022-01-01T00:00:00Z"}
    await upsert_relationships(
        graph,
        K.TEAM_OWNS_STEP,
        [
            {"from": "mkt", "to": "s1", "properties": since},
            {"from": "mkt", "to": "s2", "properties": since},
            {"from": "sdr", "to": "s3", "properties": since},
            {"from": "sales", "to": "s4", "properties": since},
            {"from": "sales", "to": "s5", "properties": since},
            {"from": "ops", "to": "s5", "properties": since},
            {
                "from": "sdr",
                "to": "s6",
                "properties": {"from": "2020-01-01T00:00:00Z", "to": "2023-01-01T00:00:00Z"},
            },
            {"from": "ops", "to": "s6", "properties": {"from": "2023-01-01T00:00:00Z"}},
            {"from": "ops", "to": "q1", "properties": since},
        ],
    )
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "phone", "name": "Phone", "kind": "PHONE"},
            {"id": "chat", "name": "Chat", "kind": "CHAT"},
        ],
    )
    await upsert_relationships(
        graph,
        K.TEAM_SERVES_CHANNEL,
        [
            {"from": "sdr", "to": "phone"},
            {"from": "sales", "to": "phone"},
            {"from": "sdr", "to": "chat"},
        ],
    )
    await upsert_nodes(
        graph,
        "Campaign",
        [
            {"id": "cmp-x", "name": "Outbound", "teamId": "sdr"},
            {"id": "cmp-y", "name": "Ads", "teamId": "mkt"},
        ],
    )
    await upsert_nodes(
        graph,
        "KPI",
        [
            {"id": "k-acc", "name": "Follow-up time", "accountableTeamId": "sdr"},
            {"id": "k-fed", "name": "SAL rate", "accountableTeamId": "sales"},
            {"id": "k-proc", "name": "Lead to deal", "accountableTeamId": "mkt"},
            {"id": "k-chan", "name": "Phone answer rate", "accountableTeamId": "mkt"},
            {"id": "k-cmp", "name": "Outbound yield", "accountableTeamId": "mkt"},
            {"id": "k-shared", "name": "MQL volume", "accountableTeamId": "mkt"},
            {"id": "k-none", "name": "Unrelated", "accountableTeamId": "ops"},
        ],
    )
    await upsert_relationships(
        graph,
        K.KPI_MEASURES_STEP,
        [
            {"from": "k-acc", "to": "s3"},
            {"from": "k-fed", "to": "s3"},
            {"from": "k-none", "to": "s6"},
        ],
    )
    await upsert_relationships(graph, K.KPI_MEASURES_PROCESS, [{"from": "k-proc", "to": "p"}])
    await upsert_relationships(graph, K.KPI_MEASURES_CHANNEL, [{"from": "k-chan", "to": "phone"}])
    await upsert_relationships(graph, K.KPI_MEASURES_CAMPAIGN, [{"from": "k-cmp", "to": "cmp-x"}])
    await upsert_relationships(graph, K.KPI_SHARED_WITH_TEAM, [{"from": "k-shared", "to": "sdr"}])
    await upsert_nodes(
        graph,
        "SLA",
        [
            {
                "id": "sla-a",
                "name": "Follow up",
                "threshold": 4,
                "providerTeamId": "sdr",
                "consumerTeamId": "mkt",
                "stepId": "s3",
            },
            {
                "id": "sla-b",
                "name": "Qualified meetings",
                "threshold": 10,
                "providerTeamId": "sales",
                "consumerTeamId": "sdr",
                "stepId": "s4",
            },
            {
                "id": "sla-c",
                "name": "Leads",
                "threshold": 100,
                "providerTeamId": "mkt",
                "consumerTeamId": "sales",
            },
        ],
    )
    await upsert_nodes(
        graph,
        "Service",
        [{"id": "svc-follow", "name": "Follow-up"}, {"id": "svc-leads", "name": "Leads"}],
    )
    await upsert_relationships(
        graph,
        K.TEAM_PROVIDES_SERVICE,
        [{"from": "sdr", "to": "svc-follow"}, {"from": "mkt", "to": "svc-leads"}],
    )
    await upsert_relationships(
        graph,
        K.SERVICE_CONSUMED_BY_TEAM,
        [
            {"from": "svc-follow", "to": "mkt"},
            {"from": "svc-follow", "to": "sales"},
            {"from": "svc-leads", "to": "sdr"},
        ],
    )
    # customers: c1 and c4 are in flight at s3; c2 moved on to s4; c3's deal closed after its
    # last touch; c5's last touch is at s6, which sdr no longer owns
    await upsert_nodes(graph, "Customer", [{"id": f"c{i}", "name": f"c{i}"} for i in range(1, 6)])
    touches = [
        ("c1", "s1", 1),
        ("c1", "s3", 2),
        ("c2", "s3", 3),
        ("c2", "s4", 4),
        ("c3", "s3", 5),
        ("c4", "s3", 9),
        ("c5", "s6", 6),
    ]
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"t{i}", "customerId": c, "stepId": s, "at": day(d), "type": "CALL"}
            for i, (c, s, d) in enumerate(touches)
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": "d3",
                "customerId": "c3",
                "amount": 10,
                "openedAt": day(5),
                "closedAt": day(7),
                "won": False,
            },
            {
                "id": "d4",
                "customerId": "c4",
                "amount": 10,
                "openedAt": day(1),
                "closedAt": day(2),
                "won": False,
            },
        ],
    )


async def impact(graph: Graph, **variables: Any) -> dict[str, Any]:
    return ok(await execute(graph, REORG, {"id": "sdr", **variables}))["reorgImpact"]  # type: ignore[no-any-return]


async def test_everything_that_depends_on_a_team(graph: Graph) -> None:
    await seed(graph)
    view = await impact(graph)
    assert view["ownedSteps"] == [{"step": {"id": "s3"}, "process": {"id": "p"}, "order": 3}]
    assert view["processes"] == [{"id": "p"}]
    assert view["accountableKpis"] == [{"id": "k-acc"}]
    assert view["sharedKpis"] == [{"id": "k-shared"}]
    assert view["fedKpis"] == [
        {
            "kpi": {"id": "k-acc"},
            "accountable": {"id": "sdr"},
            "through": [{"kind": "STEP", "id": "s3"}],
        },
        {
            "kpi": {"id": "k-chan"},
            "accountable": {"id": "mkt"},
            "through": [{"kind": "CHANNEL", "id": "phone"}],
        },
        {
            "kpi": {"id": "k-cmp"},
            "accountable": {"id": "mkt"},
            "through": [{"kind": "CAMPAIGN", "id": "cmp-x"}],
        },
        {
            "kpi": {"id": "k-fed"},
            "accountable": {"id": "sales"},
            "through": [{"kind": "STEP", "id": "s3"}],
        },
        {
            "kpi": {"id": "k-proc"},
            "accountable": {"id": "mkt"},
            "through": [{"kind": "PROCESS", "id": "p"}],
        },
    ]
    assert view["slas"] == [
        {
            "sla": {"id": "sla-a"},
            "roles": ["PROVIDER"],
            "provider": {"id": "sdr"},
            "consumer": {"id": "mkt"},
            "step": {"id": "s3"},
        },
        {
            "sla": {"id": "sla-b"},
            "roles": ["CONSUMER"],
            "provider": {"id": "sales"},
            "consumer": {"id": "sdr"},
            "step": {"id": "s4"},
        },
    ]
    assert view["channels"] == [
        {"channel": {"id": "chat"}, "otherTeams": [], "soleServer": True},
        {"channel": {"id": "phone"}, "otherTeams": [{"id": "sales"}], "soleServer": False},
    ]
    assert view["campaigns"] == [{"id": "cmp-x"}]
    assert view["provides"] == [
        {"service": {"id": "svc-follow"}, "teams": [{"id": "mkt"}, {"id": "sales"}]}
    ]
    assert view["consumes"] == [{"service": {"id": "svc-leads"}, "teams": [{"id": "mkt"}]}]
    assert view["customersInFlight"] == 2
    assert view["inFlightByStep"] == [{"step": {"id": "s3"}, "customers": 2}]
    assert [(c["customer"]["id"], c["stepId"]) for c in view["latestCustomersInFlight"]] == [
        ("c4", "s3"),
        ("c1", "s3"),
    ]
    assert view["latestCustomersInFlight"][0]["lastTouchAt"].startswith("2024-05-09")
    assert view["whatIf"] is None


async def test_in_flight_sample_is_cut_but_the_count_is_not(graph: Graph) -> None:
    await seed(graph)
    view = await impact(graph, first=1)
    assert view["customersInFlight"] == 2
    assert [c["customer"]["id"] for c in view["latestCustomersInFlight"]] == ["c4"]


async def test_in_flight_is_the_same_when_the_owned_steps_outnumber_the_customers(
    graph: Graph,
) -> None:
    """With more touchpoints at s3 than customers, the query scans customers instead."""
    await seed(graph)
    # c2 comes back to s3 three times on day 3, before moving on to s4 on day 4
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"extra{h}", "customerId": "c2", "stepId": "s3", "type": "CALL",
             "at": f"2024-05-03T{h:02d}:00:00Z"}
            for h in (6, 12, 18)
        ],
    )  # fmt: skip
    touches_at_s3 = await graph.query("MATCH (:Step {id: 's3'})<-[:AT_STEP]-(t) RETURN count(t)")
    customers = await graph.query("MATCH (c:Customer) RETURN count(c)")
    assert touches_at_s3[0][0] > customers[0][0]

    view = await impact(graph)

    assert view["customersInFlight"] == 2
    assert view["inFlightByStep"] == [{"step": {"id": "s3"}, "customers": 2}]
    assert [c["customer"]["id"] for c in view["latestCustomersInFlight"]] == ["c4", "c1"]


async def test_merging_into_another_team_what_if(graph: Graph) -> None:
    await seed(graph)
    what_if = (await impact(graph, moveTo="sales"))["whatIf"]
    assert what_if["target"] == {"id": "sales"}
    # s3 -> s4 was sdr -> sales: internal to sales after the merge
    assert what_if["handoffsRemoved"] == [
        {
            "processId": "p",
            "fromStep": {"id": "s3"},
            "toStep": {"id": "s4"},
            "fromTeamsBefore": ["sdr"],
            "toTeamsBefore": ["sales"],
            "fromTeamsAfter": ["sales"],
            "toTeamsAfter": ["sales"],
        }
    ]
    assert what_if["handoffsAdded"] == []
    # s2 -> s3 stays a hand-off from mkt, now to sales
    assert what_if["handoffsChanged"] == [
        {
            "processId": "p",
            "fromStep": {"id": "s2"},
            "toStep": {"id": "s3"},
            "fromTeamsBefore": ["mkt"],
            "toTeamsBefore": ["sdr"],
            "fromTeamsAfter": ["mkt"],
            "toTeamsAfter": ["sales"],
        }
    ]
    assert what_if["slaChanges"] == [
        {
            "sla": {"id": "sla-a"},
            "providerBefore": {"id": "sdr"},
            "consumerBefore": {"id": "mkt"},
            "providerAfter": {"id": "sales"},
            "consumerAfter": {"id": "mkt"},
            "becomesInternal": False,
        },
        {
            "sla": {"id": "sla-b"},
            "providerBefore": {"id": "sales"},
            "consumerBefore": {"id": "sdr"},
            "providerAfter": {"id": "sales"},
            "consumerAfter": {"id": "sales"},
            "becomesInternal": True,
        },
    ]
    assert what_if["kpisLosingAccountableTeam"] == [{"id": "k-acc"}]
    assert what_if["servicesBecomingInternal"] == [{"id": "svc-follow"}]
    assert what_if["channelsGained"] == [{"id": "chat"}]


async def test_merging_into_a_team_on_both_sides_of_hand_offs(graph: Graph) -> None:
    await seed(graph)
    what_if = (await impact(graph, moveTo="mkt"))["whatIf"]
    # s2 -> s3 (mkt -> sdr) disappears; s3 -> s4 (sdr -> sales) becomes mkt -> sales
    assert [(h["fromStep"]["id"], h["toStep"]["id"]) for h in what_if["handoffsRemoved"]] == [
        ("s2", "s3")
    ]
    assert [
        (h["fromStep"]["id"], h["fromTeamsAfter"], h["toTeamsAfter"])
        for h in what_if["handoffsChanged"]
    ] == [("s3", ["mkt"], ["sales"])]
    assert [(c["sla"]["id"], c["becomesInternal"]) for c in what_if["slaChanges"]] == [
        ("sla-a", True),
        ("sla-b", False),
    ]
    assert what_if["servicesBecomingInternal"] == [{"id": "svc-follow"}, {"id": "svc-leads"}]
    assert what_if["channelsGained"] == [{"id": "chat"}, {"id": "phone"}]


async def test_the_what_if_writes_nothing_and_costs_one_round_trip(graph: Graph) -> None:
    await seed(graph)
    count = "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS n, count(r) AS r"
    before = dict((await graph.query(count))[0])
    result, queries = await execute_counted(graph, REORG, {"id": "sdr", "moveTo": "sales"})
    ok(result)
    assert queries.count == 1
    result, queries = await execute_counted(graph, REORG, {"id": "sdr"})
    ok(result)
    assert queries.count == 1
    assert dict((await graph.query(count))[0]) == before


async def test_bad_team_ids(graph: Graph) -> None:
    await seed(graph)
    assert error_codes(await execute(graph, REORG, {"id": "nope"})) == ["NOT_FOUND"]
    assert error_codes(await execute(graph, REORG, {"id": "sdr", "moveTo": "nope"})) == [
        "NOT_FOUND"
    ]
    assert error_codes(await execute(graph, REORG, {"id": "sdr", "moveTo": "sdr"})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await execute(graph, REORG, {"id": "sdr", "first": -1})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await execute(graph, REORG, {"id": " sdr"})) == ["BAD_USER_INPUT"]


def test_merge_handoffs_on_co_owned_steps() -> None:
    from orggraph.graph.reorg import merge_handoffs

    def step(sid: str, *owners: str) -> dict[str, Any]:
        return {"step": {"id": sid}, "owners": [{"id": o} for o in owners]}

    process = {
        "process": {"id": "p"},
        "steps": [
            step("a", "sdr", "sales"),
            step("b", "sales"),
            step("c", "ops"),
            step("d", "ops"),
        ],
    }
    effects = merge_handoffs([process], "sdr", "sales")
    # a {sdr, sales} -> b {sales}: both {sales} after, removed; b -> c untouched; c -> d no hand-off
    assert [(c.from_step["id"], c.to_step["id"]) for c in effects.handoffs_removed] == [("a", "b")]
    assert effects.handoffs_removed[0].after == (frozenset({"sales"}), frozenset({"sales"}))
    assert effects.handoffs_changed == [] and effects.handoffs_added == []
