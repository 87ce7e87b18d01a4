"""Reorganisation impact: a hand-built organisation, hand-derived dependants and merge effects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orggraph.graph import reorg
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.graphs.reorg import (
    APPLY,
    AT_EFFECTIVE,
    BEFORE_EFFECTIVE,
    EFFECTIVE,
    MERGE_CHANGES,
    MERGE_PLAN,
    PLAN_FIELDS,
    PREVIEW,
    seed_org,
)
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


# --- applying a reorganisation ------------------------------------------------------------


def as_tuples(outcome: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (c["operation"], c["kind"], c["itemId"], c["before"], c["after"])
        for c in outcome["changes"]
    ]


ORG_TEAMS = ("group", "hub", "lab", "sales", "support", "smb")


async def holdings(
    graph: Graph, at: datetime, teams: tuple[str, ...] = ORG_TEAMS
) -> dict[str, dict[str, Any]]:
    """What each of ``teams`` holds at ``at`` (teams that do not exist are left out)."""

    async def work(tx: Tx) -> dict[str, dict[str, Any]]:
        return reorg.holdings_view(await reorg.teams_at(tx, list(teams), at))

    return await graph.read(work)


async def count_relationships(graph: Graph) -> int:
    records = await graph.query("MATCH ()-[r]->() WHERE NOT r:Change RETURN count(r) AS n")
    return int(records[0]["n"])


async def test_the_preview_announces_the_merge_and_writes_nothing(graph: Graph) -> None:
    await seed_org(graph)
    before = await holdings(graph, AT_EFFECTIVE)
    result, queries = await execute_counted(graph, PREVIEW % PLAN_FIELDS, {"plan": MERGE_PLAN})
    outcome = ok(result)["reorganisationPreview"]
    assert as_tuples(outcome) == MERGE_CHANGES
    assert outcome["applied"] is False
    assert queries.count == 1
    assert await holdings(graph, AT_EFFECTIVE) == before


async def test_applying_the_merge_makes_the_graph_what_the_preview_announced(graph: Graph) -> None:
    await seed_org(graph)
    before = await holdings(graph, AT_EFFECTIVE)

    async def states(tx: Tx) -> dict[str, reorg.TeamState]:
        return await reorg.teams_at(tx, ["group", "hub", "lab", "sales", "support"], AT_EFFECTIVE)

    raw_before = await graph.read(states)
    preview = ok(await execute(graph, PREVIEW % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    applied = ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    assert as_tuples(applied["applyReorganisation"]) == MERGE_CHANGES
    preview_changes = [
        reorg.Change(op, reorg.Holding(kind) if kind else None, item, b, a)
        for op, kind, item, b, a in as_tuples(preview["reorganisationPreview"])
    ]
    after = await holdings(graph, AT_EFFECTIVE)
    assert after == reorg.apply_to_states(raw_before, preview_changes)
    # and by hand: sales holds everything; hub holds nothing; group lost hub
    assert after["sales"]["STEP"] == {"s1", "s2", "s3"}
    assert after["sales"]["PERSON"] == {"ann", "bob", "cid"}
    assert after["sales"]["SLA_PROVIDER"] == {"sla1"}  # sla1 becomes internal to sales
    assert after["sales"]["SLA_CONSUMER"] == {"sla1", "sla2"}
    assert after["sales"]["name"] == "Sales & Hub"
    assert all(not after["hub"][h.value] for h in reorg.Holding)
    assert after["group"]["TEAM"] == {"sales", "support"}
    # the day before the date, dated holdings (ownership, membership, hierarchy) are as
    # they were; the others (channels, KPIs, ...) carry no validity and simply moved
    earlier = await holdings(graph, BEFORE_EFFECTIVE)
    for team in before:
        for holding in reorg.DATED:
            assert earlier[team][holding.value] == before[team][holding.value]


async def test_ended_holdings_keep_their_history_and_roles_follow(graph: Graph) -> None:
    await seed_org(graph)
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    records = await graph.query(
        "MATCH (t:Team)-[o:OWNS]->(:Step {id: 's1'}) RETURN t.id AS team, o.from AS f, o.to AS t "
        "ORDER BY f"
    )
    assert [(r["team"], r["f"].to_native(), r["t"] and r["t"].to_native()) for r in records] == [
        ("hub", datetime(2022, 1, 1, tzinfo=UTC), AT_EFFECTIVE),
        ("sales", AT_EFFECTIVE, None),
    ]
    roles = await graph.query(
        "MATCH (:Person {id: 'ann'})-[m:MEMBER_OF]->(t:Team) WHERE m.to IS NULL "
        "RETURN t.id AS team, m.role AS role"
    )
    assert [(r["team"], r["role"]) for r in roles] == [("sales", "lead")]


async def test_applying_the_same_plan_twice_changes_nothing_the_second_time(graph: Graph) -> None:
    await seed_org(graph)
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    relationships = await count_relationships(graph)
    again = ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    assert again["applyReorganisation"]["changes"] == []
    assert await count_relationships(graph) == relationships


SPLIT_PLAN: dict[str, Any] = {
    "effectiveAt": EFFECTIVE,
    "newTeams": [{"id": "smb", "name": "Small business", "partOf": "group"}],
    "moves": [
        {"kind": "STEP", "itemId": "s2", "fromTeam": "sales", "toTeam": "smb"},
        {"kind": "PERSON", "itemId": "cid", "fromTeam": "sales", "toTeam": "smb"},
        {"kind": "SLA_PROVIDER", "itemId": "sla1", "fromTeam": "hub", "toTeam": "smb"},
    ],
}


async def test_a_split_creates_the_team_and_moves_what_the_plan_names(graph: Graph) -> None:
    await seed_org(graph)
    outcome = ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": SPLIT_PLAN}))
    assert as_tuples(outcome["applyReorganisation"]) == [
        ("CREATE_TEAM", None, "smb", None, "Small business"),
        ("MOVE", "TEAM", "smb", None, "group"),
        ("MOVE", "STEP", "s2", "sales", "smb"),
        ("MOVE", "PERSON", "cid", "sales", "smb"),
        ("MOVE", "SLA_PROVIDER", "sla1", "hub", "smb"),
    ]
    after = await holdings(graph, AT_EFFECTIVE)
    assert after["smb"]["STEP"] == {"s2"} and after["smb"]["PERSON"] == {"cid"}
    assert after["sales"]["STEP"] == {"s3"} and after["sales"]["PERSON"] == set()
    assert after["group"]["TEAM"] == {"hub", "sales", "support", "smb"}
    assert after["smb"]["SLA_PROVIDER"] == {"sla1"} and after["hub"]["SLA_PROVIDER"] == set()


async def test_a_conflicting_plan_is_refused_whole_naming_the_item(graph: Graph) -> None:
    await seed_org(graph)
    relationships = await count_relationships(graph)
    bad = {
        **SPLIT_PLAN,
        "moves": [
            *SPLIT_PLAN["moves"],
            {"kind": "CHANNEL", "itemId": "chat", "fromTeam": "support", "toTeam": "smb"},
        ],
    }
    result = await execute(graph, APPLY % PLAN_FIELDS, {"plan": bad})
    assert error_codes(result) == ["CONFLICT"]
    assert result.errors and (result.errors[0].extensions or {}).get("item") == "chat"
    assert await count_relationships(graph) == relationships
    assert not await graph.query("MATCH (t:Team {id: 'smb'}) RETURN t")
    # a step not yet owned at an earlier date cannot be moved at that date
    early = {**SPLIT_PLAN, "effectiveAt": "2021-06-01T00:00:00Z"}
    result = await execute(graph, APPLY % PLAN_FIELDS, {"plan": early})
    assert error_codes(result) == ["CONFLICT"]
    assert (result.errors[0].extensions or {}).get("item") == "s2"  # type: ignore[index]


async def test_plans_naming_unknown_or_self_merging_teams_are_refused(graph: Graph) -> None:
    await seed_org(graph)
    unknown = {"effectiveAt": EFFECTIVE, "merges": [{"teamId": "hub", "into": "nowhere"}]}
    assert error_codes(await execute(graph, APPLY % PLAN_FIELDS, {"plan": unknown})) == [
        "NOT_FOUND"
    ]
    itself = {"effectiveAt": EFFECTIVE, "merges": [{"teamId": "hub", "into": "hub"}]}
    assert error_codes(await execute(graph, APPLY % PLAN_FIELDS, {"plan": itself})) == [
        "BAD_USER_INPUT"
    ]
    chained = {
        "effectiveAt": EFFECTIVE,
        "merges": [{"teamId": "hub", "into": "sales"}, {"teamId": "sales", "into": "support"}],
    }
    assert error_codes(await execute(graph, PREVIEW % PLAN_FIELDS, {"plan": chained})) == [
        "CONFLICT"
    ]


TEAM_SERVICE_AT = """
query T($id: ID!, $at: DateTime) { teamService(teamId: $id, at: $at) {
  parents { id } children { id }
  ownedSteps { step { id } current }
} }
"""


async def test_the_hierarchy_as_of_a_date_before_and_after_a_merge(graph: Graph) -> None:
    await seed_org(graph)
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))

    async def service(team: str, at: str) -> dict[str, Any]:
        data = ok(await execute(graph, TEAM_SERVICE_AT, {"id": team, "at": at}))
        return data["teamService"]  # type: ignore[no-any-return]

    day_before = "2025-02-28T00:00:00Z"
    group_then, group_now = await service("group", day_before), await service("group", EFFECTIVE)
    assert [t["id"] for t in group_then["children"]] == ["hub", "sales", "support"]
    assert [t["id"] for t in group_now["children"]] == ["sales", "support"]
    hub_then, hub_now = await service("hub", day_before), await service("hub", EFFECTIVE)
    assert (hub_then["parents"], hub_then["children"]) == ([{"id": "group"}], [{"id": "lab"}])
    assert (hub_now["parents"], hub_now["children"]) == ([], [])
    assert [s["step"]["id"] for s in hub_then["ownedSteps"] if s["current"]] == ["s1", "s3"]
    assert not [s for s in hub_now["ownedSteps"] if s["current"]]
    assert [t["id"] for t in (await service("sales", EFFECTIVE))["children"]] == ["lab"]


# --- the Digital Hub hand-over ---------------------------------------------------------------

HAND_OVER = """
mutation H($h: HandOverInput!, $preview: Boolean) {
  handOverProcess(handOver: $h, preview: $preview) {%s}
}
"""
HANDED_AT = datetime(2025, 6, 1, tzinfo=UTC)
HAND_OVER_INPUT: dict[str, Any] = {
    "processId": "dp",
    "fromTeams": ["hub", "hub2"],
    "toTeam": "grp",
    "effectiveAt": "2025-06-01T00:00:00Z",
    "stepOwners": [{"stepId": "d2", "teamId": "grp-it"}],
}
# Hand-derived: per hub team, its steps of dp, the systems supporting them it operates and
# the KPIs measuring dp or its steps it is accountable for; then dp becomes INTEGRATED.
HAND_OVER_CHANGES = [
    ("MOVE", "STEP", "d1", "hub", "grp"),
    ("MOVE", "STEP", "d2", "hub", "grp-it"),
    ("MOVE", "SYSTEM", "sysA", "hub", "grp"),
    ("MOVE", "KPI", "kd", "hub", "grp"),
    ("MOVE", "STEP", "d3", "hub2", "grp"),
    ("MOVE", "KPI", "ks", "hub2", "grp"),
    ("LIFECYCLE", None, "dp", "CONSOLIDATED", "INTEGRATED"),
]


PROCESS_LIFECYCLE = (
    '{ process(id: "dp") { lifecycle lifecycleHistory { before after principal } } }'
)


async def seed_hub(graph: Graph, lifecycle: str = "CONSOLIDATED") -> None:
    """dp (d1, d2 by hub; d3 by hub2 and grp); sysA (hub) supports d1, sysB (grp) d3;
    kd measures dp (hub), ks measures d2 (hub2), kx measures nothing of dp (hub)."""
    await upsert_nodes(
        graph, "Team", [{"id": t, "name": t} for t in ("hub", "hub2", "grp", "grp-it")]
    )
    await upsert_nodes(graph, "Process", [{"id": "dp", "name": "Digital", "lifecycle": lifecycle}])
    await upsert_nodes(
        graph,
        "Step",
        [{"id": f"d{i}", "name": f"d{i}", "processId": "dp", "order": i} for i in (1, 2, 3)],
    )
    since = {"from": "2024-01-01T00:00:00Z"}
    await upsert_relationships(
        graph,
        K.TEAM_OWNS_STEP,
        [
            {"from": "hub", "to": "d1", "properties": since},
            {"from": "hub", "to": "d2", "properties": since},
            {"from": "hub2", "to": "d3", "properties": since},
            {"from": "grp", "to": "d3", "properties": since},
        ],
    )
    await upsert_nodes(graph, "System", [{"id": "sysA", "name": "A"}, {"id": "sysB", "name": "B"}])
    await upsert_relationships(
        graph, K.SYSTEM_SUPPORTS_STEP, [{"from": "sysA", "to": "d1"}, {"from": "sysB", "to": "d3"}]
    )
    await upsert_relationships(
        graph,
        K.TEAM_OPERATES_SYSTEM,
        [{"from": "hub", "to": "sysA"}, {"from": "grp", "to": "sysB"}],
    )
    await upsert_nodes(
        graph,
        "KPI",
        [
            {"id": "kd", "name": "kd", "accountableTeamId": "hub"},
            {"id": "ks", "name": "ks", "accountableTeamId": "hub2"},
            {"id": "kx", "name": "kx", "accountableTeamId": "hub"},
        ],
    )
    await upsert_relationships(graph, K.KPI_MEASURES_PROCESS, [{"from": "kd", "to": "dp"}])
    await upsert_relationships(graph, K.KPI_MEASURES_STEP, [{"from": "ks", "to": "d2"}])


HUB_TEAMS = ("hub", "hub2", "grp", "grp-it")


async def hub_holdings(graph: Graph, at: datetime) -> dict[str, dict[str, Any]]:
    return await holdings(graph, at, HUB_TEAMS)


async def test_the_hand_over_preview_announces_what_the_hand_over_does(graph: Graph) -> None:
    await seed_hub(graph)
    before = await hub_holdings(graph, HANDED_AT)
    preview = ok(
        await execute(graph, HAND_OVER % PLAN_FIELDS, {"h": HAND_OVER_INPUT, "preview": True})
    )
    assert as_tuples(preview["handOverProcess"]) == HAND_OVER_CHANGES
    assert await hub_holdings(graph, HANDED_AT) == before
    applied = ok(await execute(graph, HAND_OVER % PLAN_FIELDS, {"h": HAND_OVER_INPUT}))
    assert as_tuples(applied["handOverProcess"]) == HAND_OVER_CHANGES
    after = await hub_holdings(graph, HANDED_AT)
    assert (after["grp"]["STEP"], after["grp-it"]["STEP"]) == ({"d1", "d3"}, {"d2"})
    assert after["grp"]["SYSTEM"] == {"sysA", "sysB"} and after["grp"]["KPI"] == {"kd", "ks"}
    assert after["hub"]["KPI"] == {"kx"} and not after["hub"]["STEP"] and not after["hub2"]["STEP"]
    # before the date the hub still owned its steps
    assert (await hub_holdings(graph, BEFORE_EFFECTIVE.replace(month=5)))["hub"]["STEP"] == {
        "d1",
        "d2",
    }
    process = ok(await execute(graph, PROCESS_LIFECYCLE))
    assert process["process"] == {
        "lifecycle": "INTEGRATED",
        "lifecycleHistory": [
            {"before": "CONSOLIDATED", "after": "INTEGRATED", "principal": "local"}
        ],
    }
    again = ok(await execute(graph, HAND_OVER % PLAN_FIELDS, {"h": HAND_OVER_INPUT}))
    assert again["handOverProcess"]["changes"] == []


async def test_only_a_consolidated_process_is_handed_over(graph: Graph) -> None:
    await seed_hub(graph, lifecycle="EXPERIMENTAL")
    result = await execute(graph, HAND_OVER % PLAN_FIELDS, {"h": HAND_OVER_INPUT})
    assert error_codes(result) == ["CONFLICT"]
    assert (result.errors[0].extensions or {}).get("item") == "dp"  # type: ignore[index]
    assert (await hub_holdings(graph, HANDED_AT))["hub"]["STEP"] == {"d1", "d2"}
    to_itself = {**HAND_OVER_INPUT, "toTeam": "hub"}
    assert error_codes(await execute(graph, HAND_OVER % PLAN_FIELDS, {"h": to_itself})) == [
        "BAD_USER_INPUT"
    ]


async def test_a_team_merged_twice_or_an_item_moved_to_its_holder_is_refused(graph: Graph) -> None:
    await seed_org(graph)
    twice = {
        "effectiveAt": EFFECTIVE,
        "merges": [{"teamId": "hub", "into": "sales"}, {"teamId": "hub", "into": "support"}],
    }
    assert error_codes(await execute(graph, PREVIEW % PLAN_FIELDS, {"plan": twice})) == ["CONFLICT"]
    onto_itself = {
        "effectiveAt": EFFECTIVE,
        "moves": [{"kind": "STEP", "itemId": "s1", "fromTeam": "hub", "toTeam": "hub"}],
    }
    result = await execute(graph, APPLY % PLAN_FIELDS, {"plan": onto_itself})
    assert error_codes(result) == ["BAD_USER_INPUT"]


NESTED = """
{
  hub: team(id: "hub") { parents { id } children { id } members { person { id } } }
  sales: team(id: "sales") { children { id } members { person { id } role } }
  group: team(id: "group") { children { id } }
  ann: person(id: "ann") { teams { team { id } role } }
}
"""


async def test_nested_team_fields_show_the_organisation_now_after_a_merge(graph: Graph) -> None:
    await seed_org(graph)
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    data = ok(await execute(graph, NESTED))
    # hub's hierarchy and memberships ended at the merge: they stay in the graph for
    # the organisation as of a past date, but not in what is listed now
    assert data["hub"] == {"parents": [], "children": [], "members": []}
    assert data["sales"] == {
        "children": [{"id": "lab"}],
        "members": [
            {"person": {"id": "ann"}, "role": "lead"},
            {"person": {"id": "bob"}, "role": None},
            {"person": {"id": "cid"}, "role": None},
        ],
    }
    assert data["group"] == {"children": [{"id": "sales"}, {"id": "support"}]}
    assert data["ann"] == {"teams": [{"team": {"id": "sales"}, "role": "lead"}]}
