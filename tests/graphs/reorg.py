"""The organisation the reorganisation tests apply plans to, the plan documents and a
merge plan with the changes derived from it by hand (shared with the change-log tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships

PLAN_FIELDS = """
  effectiveAt applied
  changes { operation kind itemId before after }
"""
PREVIEW = "query P($plan: ReorganisationPlanInput!) { reorganisationPreview(plan: $plan) {%s} }"
APPLY = "mutation A($plan: ReorganisationPlanInput!) { applyReorganisation(plan: $plan) {%s} }"
EFFECTIVE = "2025-03-01T00:00:00Z"
BEFORE_EFFECTIVE = datetime(2025, 2, 28, tzinfo=UTC)
AT_EFFECTIVE = datetime(2025, 3, 1, tzinfo=UTC)


async def seed_org(graph: Graph) -> None:
    """group > hub (> lab), sales, support. hub owns s1 and (with sales) s3, sales s2;
    ann (lead) and bob are in hub, cid in sales; hub serves chat and (with sales) phone,
    runs cmp, is accountable for k1, provides svc, provides sla1 to sales and consumes
    sla2 from support."""
    teams = ("group", "hub", "lab", "sales", "support")
    await upsert_nodes(graph, "Team", [{"id": t, "name": t} for t in teams])
    since = {"from": "2022-01-01T00:00:00Z"}
    await upsert_relationships(
        graph,
        K.TEAM_PART_OF_TEAM,
        [
            {"from": "hub", "to": "group"},
            {"from": "sales", "to": "group"},
            {"from": "support", "to": "group"},
            {"from": "lab", "to": "hub", "properties": since},
        ],
    )
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "p"}])
    await upsert_nodes(
        graph,
        "Step",
        [{"id": f"s{i}", "name": f"s{i}", "processId": "p", "order": i} for i in (1, 2, 3)],
    )
    await upsert_relationships(
        graph,
        K.TEAM_OWNS_STEP,
        [
            {"from": "hub", "to": "s1", "properties": since},
            {"from": "sales", "to": "s2", "properties": since},
            {"from": "hub", "to": "s3", "properties": since},
            {"from": "sales", "to": "s3", "properties": since},
        ],
    )
    await upsert_nodes(graph, "Person", [{"id": p, "name": p} for p in ("ann", "bob", "cid")])
    await upsert_relationships(
        graph,
        K.PERSON_MEMBER_OF_TEAM,
        [
            {"from": "ann", "to": "hub", "properties": {"role": "lead"}},
            {"from": "bob", "to": "hub"},
            {"from": "cid", "to": "sales"},
        ],
    )
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "chat", "name": "Chat", "kind": "CHAT"},
            {"id": "phone", "name": "Phone", "kind": "PHONE"},
        ],
    )
    await upsert_relationships(
        graph,
        K.TEAM_SERVES_CHANNEL,
        [
            {"from": "hub", "to": "chat"},
            {"from": "hub", "to": "phone"},
            {"from": "sales", "to": "phone"},
        ],
    )
    await upsert_nodes(graph, "Campaign", [{"id": "cmp", "name": "cmp", "teamId": "hub"}])
    await upsert_nodes(graph, "KPI", [{"id": "k1", "name": "k1", "accountableTeamId": "hub"}])
    await upsert_nodes(graph, "Service", [{"id": "svc", "name": "svc"}])
    await upsert_relationships(graph, K.TEAM_PROVIDES_SERVICE, [{"from": "hub", "to": "svc"}])
    await upsert_nodes(
        graph,
        "SLA",
        [
            {
                "id": "sla1",
                "name": "a",
                "threshold": 1,
                "providerTeamId": "hub",
                "consumerTeamId": "sales",
            },
            {
                "id": "sla2",
                "name": "b",
                "threshold": 1,
                "providerTeamId": "support",
                "consumerTeamId": "hub",
            },
        ],
    )


MERGE_PLAN: dict[str, Any] = {
    "effectiveAt": EFFECTIVE,
    "merges": [{"teamId": "hub", "into": "sales"}],
    "renames": [{"teamId": "sales", "name": "Sales & Hub"}],
}
# Hand-derived: everything hub holds at the date passes to sales; hub leaves group.
MERGE_CHANGES: list[tuple[str, str | None, str, str | None, str | None]] = [
    ("MOVE", "STEP", "s1", "hub", "sales"),
    ("MOVE", "STEP", "s3", "hub", "sales"),
    ("MOVE", "PERSON", "ann", "hub", "sales"),
    ("MOVE", "PERSON", "bob", "hub", "sales"),
    ("MOVE", "TEAM", "lab", "hub", "sales"),
    ("MOVE", "CHANNEL", "chat", "hub", "sales"),
    ("MOVE", "CHANNEL", "phone", "hub", "sales"),
    ("MOVE", "CAMPAIGN", "cmp", "hub", "sales"),
    ("MOVE", "KPI", "k1", "hub", "sales"),
    ("MOVE", "SLA_PROVIDER", "sla1", "hub", "sales"),
    ("MOVE", "SLA_CONSUMER", "sla2", "hub", "sales"),
    ("MOVE", "SERVICE", "svc", "hub", "sales"),
    ("MOVE", "TEAM", "hub", "group", None),
    ("RENAME", None, "sales", "sales", "Sales & Hub"),
]
