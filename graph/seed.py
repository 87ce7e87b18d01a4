"""A synthetic organisation, deterministic for a seed, at any size.

``seed_organisation(graph, customers, seed)`` writes:

* the organisation (the same for every seed): a group with two business units,
  the functions (marketing, sales, customer care, operations, logistics,
  administration, IT), teams inside them, a digital office and an independent
  digital hub; people; services between teams (PROVIDES / CONSUMED_BY);
  systems (OPERATES / SUPPORTS); online and offline channels, including a
  real-time chat channel that no team SERVES; campaigns run by marketing;
* processes with ordered steps: the lead-to-customer funnel (LEAD, MQL, SAL,
  SQL, OPPORTUNITY, CUSTOMER), order-to-delivery, customer care, and two
  EXPERIMENTAL processes in the digital hub; step owners with validity
  periods (OWNS {from, to}), including one hand-over of ownership;
* SLAs at the hand-offs: marketing delivers MQLs (VOLUME), sales follows an
  MQL up within 24 hours (RESPONSE_TIME), sales hands won customers to
  operations (RESPONSE_TIME); each with provider and consumer teams, the step
  it governs and the KPI that tracks it;
* KPIs with targets, accountable teams, SHARED_WITH teams and MEASURES links;
* per seed: customers with journeys through the funnel (drop-off at each
  stage, varied lengths and delays), deals (won or lost, with amounts) and
  follow-ups that sometimes breach the 24-hour SLA.

Every customer's journey comes from its own random stream
(``Random(f"{seed}:{index}")``), so the data for a seed does not depend on the
batch size, and a re-run writes exactly the same ids and values (a no-op).
Customers are generated and written in batches (bounded memory); each batch
is one transaction holding whole customers with their deals, touchpoints and
journey chains.

The SLA breach rule the data follows: for a customer's MQL touchpoint (AT_STEP
the MQL step), the first later touchpoint HANDLED_BY the follow-up SLA's
consumer team (inside sales) should come within ``threshold`` hours; about
one follow-up in seven comes later.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

from orggraph.graph.driver import Graph, Tx
from orggraph.graph.importers.bulk import (
    DEFAULT_BULK_BATCH,
    Progress,
    write_nodes,
    write_touchpoints,
)
from orggraph.graph.model import (
    CustomerRecord,
    DealRecord,
    Record,
    RelationshipKind,
    TouchpointRecord,
)
from orggraph.graph.writes import WriteSummary, upsert_nodes, upsert_relationships

K = RelationshipKind
ProgressCallback = Callable[[str], None]

EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_DAYS = 700
FOLLOW_UP_SLA_HOURS = 24.0
BREACH_RATE = 0.15


@dataclass
class SeedSummary:
    """What one ``seed_organisation`` run wrote (rows) and changed (counters)."""

    seed: int
    customers: int = 0
    touchpoints: int = 0
    deals: int = 0
    deals_won: int = 0
    follow_ups: int = 0
    follow_up_breaches: int = 0
    organisation_nodes: int = 0
    seconds: float = 0.0
    writes: WriteSummary = field(default_factory=WriteSummary)

    @property
    def touchpoints_per_second(self) -> float:
        return self.touchpoints / self.seconds if self.seconds else 0.0


# --- the organisation (static, the same for every seed) -------------------------------

GROUP = "grp"
_TEAMS: list[dict[str, Any]] = [
    {"id": GROUP, "name": "Orbis Group", "kind": "GROUP", "function": "MANAGEMENT"},
    {"id": "bu-consumer", "name": "Consumer", "kind": "BUSINESS_UNIT", "parent": GROUP},
    {"id": "bu-business", "name": "Business", "kind": "BUSINESS_UNIT", "parent": GROUP},
    {"id": "fn-marketing", "name": "Marketing", "kind": "FUNCTION", "function": "MARKETING"},
    {"id": "fn-sales", "name": "Sales", "kind": "FUNCTION", "function": "SALES"},
    {"id": "fn-care", "name": "Customer Care", "kind": "FUNCTION", "function": "CUSTOMER_CARE"},
    {"id": "fn-operations", "name": "Operations", "kind": "FUNCTION", "function": "OPERATIONS"},
    {"id": "fn-logistics", "name": "Logistics", "kind": "FUNCTION", "function": "LOGISTICS"},
    {"id": "fn-admin", "name": "Administration", "kind": "FUNCTION", "function": "ADMINISTRATION"},
    {"id": "fn-it", "name": "IT", "kind": "FUNCTION", "function": "IT"},
    {"id": "digital-office", "name": "Digital Office", "kind": "FUNCTION", "function": "DIGITAL"},
    {
        "id": "digital-hub",
        "name": "Digital Hub",
        "kind": "BUSINESS_UNIT",
        "function": "DIGITAL",
        "parent": GROUP,
    },
    {
        "id": "t-demand-gen",
        "name": "Demand Generation",
        "parent": "fn-marketing",
        "function": "MARKETING",
    },
    {
        "id": "t-content",
        "name": "Content & Social",
        "parent": "fn-marketing",
        "function": "MARKETING",
    },
    {"id": "t-inside-sales", "name": "Inside Sales", "parent": "fn-sales", "function": "SALES"},
    {"id": "t-field-sales", "name": "Field Sales", "parent": "fn-sales", "function": "SALES"},
    {
        "id": "t-partner-sales",
        "name": "Partner Sales",
        "parent": "fn-sales",
        "function": "PARTNER_NETWORK",
    },
    {
        "id": "t-contact-center",
        "name": "Contact Center",
        "parent": "fn-care",
        "function": "CUSTOMER_CARE",
    },
    {"id": "t-stores", "name": "Stores", "parent": "fn-operations", "function": "OPERATIONS"},
    {
        "id": "t-order-mgmt",
        "name": "Order Management",
        "parent": "fn-operations",
        "function": "OPERATIONS",
    },
    {"id": "t-warehouse", "name": "Warehouse", "parent": "fn-logistics", "function": "LOGISTICS"},
    {"id": "t-billing", "name": "Billing", "parent": "fn-admin", "function": "ADMINISTRATION"},
    {"id": "t-platforms", "name": "Platforms", "parent": "fn-it", "function": "IT"},
    {"id": "t-ecommerce", "name": "E-commerce", "parent": "digital-office", "function": "DIGITAL"},
    {"id": "t-hub-lab", "name": "Hub Lab", "parent": "digital-hub", "function": "DIGITAL"},
]
# Functions sit under the group and, as a matrix, serve both business units.
_FUNCTIONS = [t["id"] for t in _TEAMS if t.get("kind") == "FUNCTION"]
_PART_OF: list[tuple[str, str]] = (
    [(t["id"], t["parent"]) for t in _TEAMS if "parent" in t]
    + [(f, GROUP) for f in _FUNCTIONS]
    + [
        ("t-field-sales", "bu-business"),
        ("t-partner-sales", "bu-business"),
        ("t-stores", "bu-consumer"),
        ("t-ecommerce", "bu-consumer"),
    ]
)

_PEOPLE_PER_TEAM = 4
_LEAF_TEAMS = [t["id"] for t in _TEAMS if t["id"].startswith("t-")]

_SERVICES: list[tuple[str, str, str, str, list[str]]] = [
    # id, name, audience, provider, consumers
    (
        "svc-lead-supply",
        "Qualified lead supply",
        "INTERNAL",
        "t-demand-gen",
        ["t-inside-sales", "t-partner-sales"],
    ),
    ("svc-content", "Content production", "INTERNAL", "t-content", ["t-demand-gen"]),
    ("svc-lead-follow-up", "Lead follow-up", "INTERNAL", "t-inside-sales", ["t-demand-gen"]),
    (
        "svc-order-handling",
        "Order handling",
        "INTERNAL",
        "t-order-mgmt",
        ["t-field-sales", "t-ecommerce", "t-stores"],
    ),
    ("svc-shipping", "Shipping", "INTERNAL", "t-warehouse", ["t-order-mgmt"]),
    ("svc-invoicing", "Invoicing", "INTERNAL", "t-billing", ["t-order-mgmt"]),
    (
        "svc-platforms",
        "Platforms and integrations",
        "INTERNAL",
        "t-platforms",
        ["t-ecommerce", "t-contact-center", "t-demand-gen", "t-hub-lab"],
    ),
    ("svc-support", "Customer support", "EXTERNAL", "t-contact-center", []),
    ("svc-webshop", "Online shop", "EXTERNAL", "t-ecommerce", []),
]

_SYSTEMS: list[tuple[str, str, str, str]] = [
    ("sys-crm", "CRM", "CRM", "t-platforms"),
    ("sys-erp", "ERP", "ERP", "t-platforms"),
    ("sys-shop", "Web shop", "ECOMMERCE", "t-ecommerce"),
    ("sys-cms", "Web CMS", "CMS", "t-content"),
    ("sys-chat", "Chat widget", "CHAT", "t-hub-lab"),
    ("sys-app", "Mobile app", "APP", "t-hub-lab"),
    ("sys-mka", "Marketing automation", "MARKETING_AUTOMATION", "t-demand-gen"),
    ("sys-ticketing", "Ticketing", "TICKETING", "t-contact-center"),
    ("sys-wms", "Warehouse management", "WMS", "t-warehouse"),
    ("sys-bi", "BI", "BI", "t-platforms"),
]

# id, name, kind, online, serving teams
_CHANNELS: list[tuple[str, str, str, bool, list[str]]] = [
    ("ch-web", "Web site", "WEB", True, ["t-content"]),
    ("ch-shop", "E-commerce", "ECOMMERCE", True, ["t-ecommerce"]),
    ("ch-catalog", "Digital catalogue", "CATALOG", True, ["t-content"]),
    ("ch-social", "Social", "SOCIAL", True, ["t-content"]),
    ("ch-content", "Content (webinars, papers)", "CONTENT", True, ["t-content"]),
    ("ch-email", "Email", "EMAIL", True, ["t-demand-gen"]),
    ("ch-chat", "Real-time chat", "CHAT", True, []),
    ("ch-app", "Mobile app", "APP", True, ["t-ecommerce"]),
    ("ch-phone", "Phone", "PHONE", False, ["t-inside-sales", "t-contact-center"]),
    ("ch-events", "Events and fairs", "EVENT", False, ["t-demand-gen", "t-field-sales"]),
    ("ch-store", "Stores", "STORE", False, ["t-stores"]),
    ("ch-partner", "Partners and dealers", "PARTNER", False, ["t-partner-sales"]),
    ("ch-agent", "Agents", "AGENT", False, ["t-field-sales"]),
    ("ch-care", "Customer care desk", "CUSTOMER_CARE", False, ["t-contact-center"]),
]

# id, name, source kind, team
_CAMPAIGNS: list[tuple[str, str, str, str]] = [
    ("cmp-search", "Paid search", "PAID", "t-demand-gen"),
    ("cmp-seo", "Organic search", "ORGANIC", "t-content"),
    ("cmp-social-ads", "Social ads", "SOCIAL", "t-content"),
    ("cmp-newsletter", "Newsletter", "EMAIL", "t-demand-gen"),
    ("cmp-fair", "Trade fair", "EVENT", "t-demand-gen"),
    ("cmp-referral", "Customer referral", "REFERRAL", "t-demand-gen"),
    ("cmp-partners", "Partner co-marketing", "PARTNER", "t-demand-gen"),
    ("cmp-direct", "Direct", "DIRECT", "t-content"),
]
_CAMPAIGN_WEIGHTS = [25, 20, 15, 12, 6, 8, 6, 8]
# Where a campaign's first touch happens.
_CAMPAIGN_CHANNEL = {
    "cmp-search": ("ch-web", "PAGE_VIEW"),
    "cmp-seo": ("ch-web", "PAGE_VIEW"),
    "cmp-social-ads": ("ch-social", "SOCIAL"),
    "cmp-newsletter": ("ch-email", "EMAIL"),
    "cmp-fair": ("ch-events", "EVENT_VISIT"),
    "cmp-referral": ("ch-web", "PAGE_VIEW"),
    "cmp-partners": ("ch-partner", "MEETING"),
    "cmp-direct": ("ch-store", "EVENT_VISIT"),
}

FUNNEL = ("LEAD", "MQL", "SAL", "SQL", "OPPORTUNITY", "CUSTOMER")
# Probability of reaching the next funnel stage from each stage.
_CONVERSION = {"LEAD": 0.6, "MQL": 0.85, "SAL": 0.6, "SQL": 0.7, "OPPORTUNITY": 0.45}

# process id, name, lifecycle, steps [(step id, name, stage)]
_PROCESSES: list[tuple[str, str, str, list[tuple[str, str, str]]]] = [
    (
        "proc-l2c",
        "Lead to customer",
        "CONSOLIDATED",
        [
            ("step-lead", "Capture lead", "LEAD"),
            ("step-mql", "Qualify by marketing (MQL)", "MQL"),
            ("step-sal", "Accept by sales (SAL)", "SAL"),
            ("step-sql", "Qualify by sales (SQL)", "SQL"),
            ("step-opportunity", "Work the opportunity", "OPPORTUNITY"),
            ("step-customer", "Win the customer", "CUSTOMER"),
        ],
    ),
    (
        "proc-o2d",
        "Order to delivery",
        "INTEGRATED",
        [
            ("step-fulfil", "Fulfil the order", "FULFILMENT"),
            ("step-deliver", "Deliver", "DELIVERY"),
            ("step-bill", "Invoice and collect", "BILLING"),
        ],
    ),
    (
        "proc-care",
        "Customer care",
        "CONSOLIDATED",
        [
            ("step-support", "Resolve a request", "SUPPORT"),
            ("step-retain", "Retain", "RETENTION"),
        ],
    ),
    (
        "proc-chat-commerce",
        "Conversational commerce (pilot)",
        "EXPERIMENTAL",
        [
            ("step-chat-engage", "Engage in chat", "LEAD"),
            ("step-chat-order", "Order in chat", "CUSTOMER"),
        ],
    ),
    (
        "proc-app-onboarding",
        "App onboarding (pilot)",
        "EXPERIMENTAL",
        [
            ("step-app-signup", "Sign up in the app", "SUBSCRIBER"),
            ("step-app-first-order", "First order in the app", "CUSTOMER"),
        ],
    ),
]
STEP_OF_STAGE = {stage: step for step, _, stage in _PROCESSES[0][3]}

_T0 = "2022-01-01T00:00:00Z"
_HANDOVER = "2024-01-01T00:00:00Z"
# team, step, from, to
_OWNS: list[tuple[str, str, str, str | None]] = [
    ("t-demand-gen", "step-lead", _T0, None),
    ("t-demand-gen", "step-mql", _T0, _HANDOVER),
    ("digital-office", "step-mql", _HANDOVER, None),  # MQL scoring moved to the digital office
    ("t-inside-sales", "step-sal", _T0, None),
    ("t-inside-sales", "step-sql", _T0, None),
    ("t-field-sales", "step-opportunity", _T0, None),
    ("t-field-sales", "step-customer", _T0, None),
    ("t-order-mgmt", "step-fulfil", _T0, None),
    ("t-warehouse", "step-deliver", _T0, None),
    ("t-billing", "step-bill", _T0, None),
    ("t-contact-center", "step-support", _T0, None),
    ("t-contact-center", "step-retain", _T0, None),
    ("t-hub-lab", "step-chat-engage", "2024-03-01T00:00:00Z", None),
    ("t-hub-lab", "step-chat-order", "2024-03-01T00:00:00Z", None),
    ("t-hub-lab", "step-app-signup", "2024-06-01T00:00:00Z", None),
    ("t-hub-lab", "step-app-first-order", "2024-06-01T00:00:00Z", None),
]
_SUPPORTS = [
    ("sys-mka", "step-lead"),
    ("sys-mka", "step-mql"),
    ("sys-crm", "step-sal"),
    ("sys-crm", "step-sql"),
    ("sys-crm", "step-opportunity"),
    ("sys-erp", "step-customer"),
    ("sys-erp", "step-fulfil"),
    ("sys-wms", "step-deliver"),
    ("sys-erp", "step-bill"),
    ("sys-ticketing", "step-support"),
    ("sys-chat", "step-chat-engage"),
    ("sys-shop", "step-chat-order"),
    ("sys-app", "step-app-signup"),
    ("sys-app", "step-app-first-order"),
]

# id, name, unit, direction, target, window, accountable, shared with, measures [(kind, id)]
_KPIS: list[tuple[str, str, str, str, float, str, str, list[str], list[tuple[str, str]]]] = [
    (
        "kpi-mql-volume",
        "MQLs delivered",
        "count",
        "HIGHER_IS_BETTER",
        400.0,
        "MONTH",
        "t-demand-gen",
        ["t-inside-sales", "fn-sales"],
        [("step", "step-mql")],
    ),
    (
        "kpi-mql-follow-up",
        "MQLs followed up within 24h",
        "ratio",
        "HIGHER_IS_BETTER",
        0.9,
        "WEEK",
        "t-inside-sales",
        ["t-demand-gen"],
        [("step", "step-sal")],
    ),
    (
        "kpi-lead-to-mql",
        "Lead to MQL conversion",
        "ratio",
        "HIGHER_IS_BETTER",
        0.55,
        "MONTH",
        "t-demand-gen",
        ["fn-sales"],
        [("step", "step-lead"), ("process", "proc-l2c")],
    ),
    (
        "kpi-win-rate",
        "Opportunity win rate",
        "ratio",
        "HIGHER_IS_BETTER",
        0.45,
        "QUARTER",
        "t-field-sales",
        ["t-demand-gen", "fn-marketing"],
        [("step", "step-opportunity")],
    ),
    (
        "kpi-revenue",
        "Revenue won",
        "EUR",
        "HIGHER_IS_BETTER",
        2_000_000.0,
        "QUARTER",
        "fn-sales",
        ["fn-marketing", "t-order-mgmt"],
        [("process", "proc-l2c"), ("campaign", "cmp-search"), ("campaign", "cmp-fair")],
    ),
    (
        "kpi-cost-per-lead",
        "Cost per lead",
        "EUR",
        "LOWER_IS_BETTER",
        40.0,
        "MONTH",
        "fn-marketing",
        [],
        [("campaign", "cmp-search"), ("campaign", "cmp-social-ads")],
    ),
    (
        "kpi-chat-response",
        "Chat first response time",
        "seconds",
        "LOWER_IS_BETTER",
        120.0,
        "WEEK",
        "digital-office",
        [],
        [("channel", "ch-chat")],
    ),
    (
        "kpi-handover-time",
        "Won deal to order hand-over",
        "seconds",
        "LOWER_IS_BETTER",
        172_800.0,
        "MONTH",
        "t-order-mgmt",
        ["t-field-sales"],
        [("step", "step-fulfil")],
    ),
    (
        "kpi-on-time-delivery",
        "On-time delivery",
        "%",
        "HIGHER_IS_BETTER",
        95.0,
        "MONTH",
        "t-warehouse",
        ["t-contact-center"],
        [("step", "step-deliver"), ("process", "proc-o2d")],
    ),
    (
        "kpi-first-contact-resolution",
        "First contact resolution",
        "%",
        "HIGHER_IS_BETTER",
        75.0,
        "MONTH",
        "t-contact-center",
        [],
        [("step", "step-support"), ("channel", "ch-care")],
    ),
    (
        "kpi-app-adoption",
        "App sign-ups (pilot)",
        "count",
        "HIGHER_IS_BETTER",
        500.0,
        "MONTH",
        "t-hub-lab",
        ["digital-office"],
        [("process", "proc-app-onboarding")],
    ),
]

# The KPIs the engine computes (graph/kpis.py catalogue); the others have no definition
# (no catalogue measure fits: costs, deliveries, resolutions live outside the graph).
_DEFINITIONS: dict[str, dict[str, Any]] = {
    "kpi-mql-follow-up": {"measure": "SLA_COMPLIANCE", "slaId": "sla-mql-follow-up"},
    "kpi-lead-to-mql": {
        "measure": "CONVERSION_RATE",
        "fromStage": "LEAD",
        "toStage": "MQL",
        "processId": "proc-l2c",
    },
    "kpi-win-rate": {"measure": "DEAL_WIN_RATE"},
    "kpi-revenue": {"measure": "WON_REVENUE"},
    "kpi-chat-response": {"measure": "FIRST_RESPONSE_TIME", "channelId": "ch-chat"},
    "kpi-handover-time": {
        "measure": "STAGE_TIME",
        "fromStage": "CUSTOMER",
        "toStage": "FULFILMENT",
    },
}

# id, name, kind, threshold, unit, window, provider, consumer, step, kpi
_SLAS: list[tuple[str, str, str, float, str, str, str, str, str, str]] = [
    (
        "sla-mql-volume",
        "Marketing delivers MQLs to sales",
        "VOLUME",
        400.0,
        "MQLs",
        "MONTH",
        "t-demand-gen",
        "t-inside-sales",
        "step-mql",
        "kpi-mql-volume",
    ),
    (
        "sla-mql-follow-up",
        "Sales follows up every MQL within 24 hours",
        "RESPONSE_TIME",
        FOLLOW_UP_SLA_HOURS,
        "hours",
        "WEEK",
        "t-demand-gen",
        "t-inside-sales",
        "step-sal",
        "kpi-mql-follow-up",
    ),
    (
        "sla-order-handover",
        "Sales hands won deals to order management within 48 hours",
        "RESPONSE_TIME",
        48.0,
        "hours",
        "MONTH",
        "t-field-sales",
        "t-order-mgmt",
        "step-fulfil",
        "kpi-handover-time",
    ),
]


def _people() -> list[dict[str, Any]]:
    people = []
    for team in _LEAF_TEAMS:
        for k in range(_PEOPLE_PER_TEAM):
            people.append(
                {
                    "id": f"p-{team[2:]}-{k + 1}",
                    "name": f"{team[2:].replace('-', ' ').title()} member {k + 1}",
                    "role": "lead" if k == 0 else "member",
                    "team": team,
                }
            )
    return people


PEOPLE = _people()
PEOPLE_OF_TEAM: dict[str, list[str]] = {}
for _p in PEOPLE:
    PEOPLE_OF_TEAM.setdefault(_p["team"], []).append(_p["id"])


async def write_organisation(graph: Graph) -> WriteSummary:
    """Upsert the static organisation through the general write layer (small)."""
    total = WriteSummary()

    async def nodes(label: str, rows: Sequence[Mapping[str, Any]]) -> None:
        total.merge(await upsert_nodes(graph, label, rows))

    async def rels(kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]) -> None:
        total.merge(await upsert_relationships(graph, kind, rows))

    await nodes("Team", [{k: v for k, v in t.items() if k != "parent"} for t in _TEAMS])
    await rels(K.TEAM_PART_OF_TEAM, [{"from": a, "to": b} for a, b in _PART_OF])
    await nodes("Person", [{k: v for k, v in p.items() if k != "team"} for p in PEOPLE])
    await rels(
        K.PERSON_MEMBER_OF_TEAM,
        [{"from": p["id"], "to": p["team"], "properties": {"role": p["role"]}} for p in PEOPLE],
    )
    await nodes("Service", [{"id": s[0], "name": s[1], "audience": s[2]} for s in _SERVICES])
    await rels(K.TEAM_PROVIDES_SERVICE, [{"from": s[3], "to": s[0]} for s in _SERVICES])
    await rels(
        K.SERVICE_CONSUMED_BY_TEAM, [{"from": s[0], "to": team} for s in _SERVICES for team in s[4]]
    )
    await nodes("System", [{"id": s[0], "name": s[1], "kind": s[2]} for s in _SYSTEMS])
    await rels(K.TEAM_OPERATES_SYSTEM, [{"from": s[3], "to": s[0]} for s in _SYSTEMS])
    await nodes(
        "Channel", [{"id": c[0], "name": c[1], "kind": c[2], "online": c[3]} for c in _CHANNELS]
    )
    await rels(
        K.TEAM_SERVES_CHANNEL, [{"from": team, "to": c[0]} for c in _CHANNELS for team in c[4]]
    )
    await nodes(
        "Campaign",
        [{"id": c[0], "name": c[1], "sourceKind": c[2], "teamId": c[3]} for c in _CAMPAIGNS],
    )
    await nodes("Process", [{"id": p[0], "name": p[1], "lifecycle": p[2]} for p in _PROCESSES])
    await nodes(
        "Step",
        [
            {"id": s[0], "name": s[1], "stage": s[2], "processId": p[0], "order": i + 1}
            for p in _PROCESSES
            for i, s in enumerate(p[3])
        ],
    )
    await rels(
        K.STEP_NEXT_STEP,
        [
            {"from": a[0], "to": b[0]}
            for p in _PROCESSES
            for a, b in zip(p[3], p[3][1:], strict=False)
        ],
    )
    await rels(
        K.TEAM_OWNS_STEP,
        [
            {
                "from": team,
                "to": step,
                "properties": {"from": start, **({"to": end} if end else {})},
            }
            for team, step, start, end in _OWNS
        ],
    )
    await rels(K.SYSTEM_SUPPORTS_STEP, [{"from": a, "to": b} for a, b in _SUPPORTS])
    await nodes(
        "KPI",
        [
            {
                "id": k[0],
                "name": k[1],
                "unit": k[2],
                "direction": k[3],
                "target": k[4],
                "window": k[5],
                "accountableTeamId": k[6],
                "definition": _DEFINITIONS.get(k[0]),
            }
            for k in _KPIS
        ],
    )
    await rels(K.KPI_SHARED_WITH_TEAM, [{"from": k[0], "to": t} for k in _KPIS for t in k[7]])
    measures = {
        "step": K.KPI_MEASURES_STEP,
        "process": K.KPI_MEASURES_PROCESS,
        "channel": K.KPI_MEASURES_CHANNEL,
        "campaign": K.KPI_MEASURES_CAMPAIGN,
    }
    for name, kind in measures.items():
        await rels(
            kind, [{"from": k[0], "to": ref} for k in _KPIS for what, ref in k[8] if what == name]
        )
    await nodes(
        "SLA",
        [
            {
                "id": s[0],
                "name": s[1],
                "kind": s[2],
                "threshold": s[3],
                "unit": s[4],
                "window": s[5],
                "providerTeamId": s[6],
                "consumerTeamId": s[7],
                "stepId": s[8],
                "kpiId": s[9],
            }
            for s in _SLAS
        ],
    )
    return total


# --- customers and their journeys ----------------------------------------------------------


@dataclass
class CustomerData:
    customer: CustomerRecord
    deals: list[DealRecord]
    touchpoints: list[TouchpointRecord]
    follow_up_delay_h: float | None = None


_SEGMENTS = ["SMB", "MID_MARKET", "ENTERPRISE", "CONSUMER"]
_SEGMENT_WEIGHTS = [40, 25, 10, 25]
_NURTURE: list[tuple[str, str, str | None, str]] = [
    # type, channel, team, step
    ("PAGE_VIEW", "ch-web", None, "step-lead"),
    ("DOWNLOAD", "ch-content", None, "step-lead"),
    ("SOCIAL", "ch-social", None, "step-lead"),
    ("EMAIL", "ch-email", "t-demand-gen", "step-lead"),
    ("CHAT", "ch-chat", None, "step-lead"),
    ("PAGE_VIEW", "ch-catalog", None, "step-lead"),
]
_AFTER_SALE: list[tuple[str, str, str | None, str]] = [
    ("TICKET", "ch-care", "t-contact-center", "step-support"),
    ("CALL", "ch-phone", "t-contact-center", "step-support"),
    ("CHAT", "ch-chat", None, "step-support"),
    ("PAGE_VIEW", "ch-app", None, "step-retain"),
    ("EMAIL", "ch-email", "t-contact-center", "step-retain"),
]


def generate_customer(
    seed: int, index: int, touchpoints_per_customer: float = 10.0
) -> CustomerData:
    """One customer with its whole journey, from its own random stream."""
    rng = random.Random(f"{seed}:{index}")
    cid = f"c-{seed}-{index:07d}"
    segment = rng.choices(_SEGMENTS, _SEGMENT_WEIGHTS)[0]
    kind = "PERSON" if segment == "CONSUMER" else "ACCOUNT"
    customer = CustomerRecord(
        id=cid,
        name=f"Customer {seed}-{index}",
        kind=kind,
        segment=segment,
        email=f"contact{index}@customer{seed}.example",
    )
    campaign = rng.choices([c[0] for c in _CAMPAIGNS], _CAMPAIGN_WEIGHTS)[0]
    at = EPOCH + timedelta(seconds=rng.uniform(0, SPAN_DAYS * 86_400))
    events: list[dict[str, Any]] = []

    def touch(
        type_: str,
        channel: str | None,
        team: str | None,
        step: str | None,
        when: datetime,
        *,
        campaign_id: str | None = None,
        value: float | None = None,
        activity: str | None = None,
    ) -> None:
        person = rng.choice(PEOPLE_OF_TEAM[team]) if team in PEOPLE_OF_TEAM else None
        row: dict[str, Any] = {
            "id": f"tp-{seed}-{index:07d}-{len(events):03d}",
            "at": when,
            "type": type_,
            "customer_id": cid,
            "activity": activity or type_.lower(),
        }
        for key, val in (
            ("channel_id", channel),
            ("team_id", team),
            ("step_id", step),
            ("campaign_id", campaign_id),
            ("person_id", person),
            ("value", value),
        ):
            if val is not None:
                row[key] = val
        events.append(row)

    # Target length: varied, mean about touchpoints_per_customer.
    target = max(1, round(rng.gammavariate(2.0, touchpoints_per_customer / 2.0)))
    first_channel, first_type = _CAMPAIGN_CHANNEL[campaign]
    touch(
        first_type,
        first_channel,
        None,
        "step-lead",
        at,
        campaign_id=campaign,
        activity="first_touch",
    )

    stage = "LEAD"
    deals: list[DealRecord] = []
    follow_up: float | None = None
    while stage != "CUSTOMER" and rng.random() < _CONVERSION[stage]:
        nxt = FUNNEL[FUNNEL.index(stage) + 1]
        # Some nurture between stages (not between the MQL hand-off and its follow-up).
        for _ in range(0 if nxt == "SAL" else rng.randint(0, 2)):
            at += timedelta(hours=rng.expovariate(1 / 40))
            t, ch, team, step = rng.choice(_NURTURE)
            touch(t, ch, team, step, at)
        if nxt == "MQL":
            at += timedelta(hours=rng.expovariate(1 / 30))
            touch(
                "FORM_SUBMIT",
                "ch-web",
                None,
                "step-lead",
                at,
                campaign_id=campaign,
                activity="submit_form",
            )
            at += timedelta(minutes=rng.uniform(5, 600))
            touch("EMAIL", "ch-email", "t-demand-gen", "step-mql", at, activity="mql_handoff")
        elif nxt == "SAL":
            if rng.random() < BREACH_RATE:
                delay = rng.uniform(FOLLOW_UP_SLA_HOURS + 0.5, 120.0)
            else:
                delay = rng.uniform(0.1, FOLLOW_UP_SLA_HOURS - 0.5)
            follow_up = delay
            at += timedelta(hours=delay)
            touch("CALL", "ch-phone", "t-inside-sales", "step-sal", at, activity="follow_up_mql")
        elif nxt == "SQL":
            at += timedelta(hours=rng.expovariate(1 / 72))
            touch("MEETING", "ch-phone", "t-inside-sales", "step-sql", at, activity="qualify")
        elif nxt == "OPPORTUNITY":
            at += timedelta(hours=rng.expovariate(1 / 120))
            channel = "ch-partner" if campaign == "cmp-partners" else "ch-agent"
            team = "t-partner-sales" if campaign == "cmp-partners" else "t-field-sales"
            touch("DEMO", channel, team, "step-opportunity", at, activity="demo")
            at += timedelta(hours=rng.expovariate(1 / 96))
            amount = round(rng.lognormvariate(8.5, 0.9), 2)
            touch(
                "QUOTE",
                "ch-email",
                team,
                "step-opportunity",
                at,
                value=amount,
                activity="send_quote",
            )
            deals.append(
                DealRecord(
                    id=f"deal-{seed}-{index:07d}",
                    amount=amount,
                    currency="EUR",
                    opened_at=at,
                    customer_id=cid,
                    team_id=team,
                )
            )
        elif nxt == "CUSTOMER":
            at += timedelta(hours=rng.expovariate(1 / 150))
            deal = deals[-1]
            channel = rng.choice(["ch-shop", "ch-agent", "ch-partner", "ch-store"])
            touch(
                "PURCHASE",
                channel,
                deal.team_id,
                "step-customer",
                at,
                value=deal.amount,
                activity="sign_order",
            )
            deals[-1] = deal.model_copy(update={"closed_at": at, "won": True})
            at += timedelta(hours=rng.uniform(2, 60))
            touch(
                "ORDER",
                "ch-shop" if channel == "ch-shop" else "ch-email",
                "t-order-mgmt",
                "step-fulfil",
                at,
                activity="confirm_order",
            )
            at += timedelta(hours=rng.uniform(12, 96))
            touch("SHIPMENT", None, "t-warehouse", "step-deliver", at, activity="ship")
            at += timedelta(hours=rng.uniform(1, 8))
            touch(
                "INVOICE",
                "ch-email",
                "t-billing",
                "step-bill",
                at,
                value=deal.amount,
                activity="invoice",
            )
        stage = nxt
    if stage == "OPPORTUNITY" and deals:
        at += timedelta(hours=rng.expovariate(1 / 200))
        deals[-1] = deals[-1].model_copy(update={"closed_at": at, "won": False})
    # Pad to the target length: nurture before a sale, care after it.
    pool = _AFTER_SALE if stage == "CUSTOMER" else _NURTURE
    while len(events) < target:
        at += timedelta(hours=rng.expovariate(1 / 60))
        t, ch, team, step = rng.choice(pool)
        touch(t, ch, team, step, at)
    touchpoints = [TouchpointRecord.model_validate(e) for e in events]
    return CustomerData(customer, deals, touchpoints, follow_up)


def generate_customers(
    seed: int, count: int, touchpoints_per_customer: float = 10.0, start: int = 0
) -> Iterator[CustomerData]:
    for index in range(start, start + count):
        yield generate_customer(seed, index, touchpoints_per_customer)


async def write_customer_batch(tx: Tx, batch: Sequence[CustomerData]) -> WriteSummary:
    """One transaction: whole customers, their touchpoints, journey chains and deals."""
    summary = WriteSummary()
    summary.merge(await write_nodes(tx, "Customer", [c.customer for c in batch]))
    deals: list[Record] = [d for c in batch for d in c.deals]
    if deals:
        summary.merge(await write_nodes(tx, "Deal", deals))
        summary.add(
            await tx.run(
                DEAL_REFS,
                rows=[
                    {"id": d.id, "customer": d.customer_id, "team": d.team_id}
                    for c in batch
                    for d in c.deals
                ],
            )
        )
    summary.merge(await write_touchpoints(tx, [t for c in batch for t in c.touchpoints]))
    return summary


DEAL_REFS: LiteralString = """
UNWIND $rows AS row
MATCH (d:Deal {id: row.id})
MATCH (c:Customer {id: row.customer})
MERGE (c)-[:OPENED]->(d)
WITH d, row
MATCH (t:Team {id: row.team})
MERGE (d)-[:OWNED_BY]->(t)
"""


async def seed_organisation(
    graph: Graph,
    customers: int,
    seed: int,
    progress: ProgressCallback | None = None,
    *,
    touchpoints_per_customer: float = 10.0,
    batch_touchpoints: int = DEFAULT_BULK_BATCH,
    writers: int = 1,
) -> SeedSummary:
    """Write the organisation and ``customers`` customers with journeys (idempotent).

    ``progress`` receives a human-readable line (rows so far, rows/s) every
    50,000 touchpoints and at the end. Generation of the next batch overlaps
    with the database writing the current one.
    """
    import time

    started = time.perf_counter()
    summary = SeedSummary(seed=seed)
    org = await write_organisation(graph)
    summary.writes.merge(org)
    summary.organisation_nodes = org.rows
    meter = Progress(f"touchpoints (0/{customers:,} customers)", report=progress)
    per_batch = max(1, int(batch_touchpoints / max(touchpoints_per_customer, 1.0)))

    def make_batch(start: int) -> list[CustomerData]:
        count = min(per_batch, customers - start)
        return list(generate_customers(seed, count, touchpoints_per_customer, start))

    def account(batch: list[CustomerData], writes: WriteSummary) -> None:
        summary.writes.merge(writes)
        for c in batch:
            summary.customers += 1
            summary.touchpoints += len(c.touchpoints)
            summary.deals += len(c.deals)
            summary.deals_won += sum(1 for d in c.deals if d.won)
            if c.follow_up_delay_h is not None:
                summary.follow_ups += 1
                summary.follow_up_breaches += c.follow_up_delay_h > FOLLOW_UP_SLA_HOURS
        meter.what = f"touchpoints ({summary.customers:,}/{customers:,} customers)"
        meter.advance(sum(len(c.touchpoints) for c in batch))

    async def write(batch: list[CustomerData]) -> None:
        async def work(tx: Tx) -> WriteSummary:
            return await write_customer_batch(tx, batch)

        account(batch, await graph.write(work))

    # Generation (a worker thread) runs ahead of the writers; at most ``writers``
    # batches are written at once (disjoint customers, so no chain conflicts),
    # so memory holds at most writers + 1 batches.
    in_flight: set[asyncio.Task[None]] = set()
    for start in range(0, customers, per_batch):
        batch = await asyncio.to_thread(make_batch, start)
        while len(in_flight) >= max(1, writers):
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                in_flight.discard(task)
                task.result()
        in_flight.add(asyncio.create_task(write(batch)))
    if in_flight:
        await asyncio.gather(*in_flight)
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(meter.line() + " (done)")
    return summary
