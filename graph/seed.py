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

The organisation is data: ``graph/demo/organisation.yaml``, loaded and checked
by ``graph/demo_organisation.py``; this module turns it into rows and generates
the customers, whose journeys use its ids (funnel steps, channels, teams).

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
import enum
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, LiteralString

from orggraph.graph.demo_organisation import (
    TIMELINE_END,
    DemoOrganisation,
    load_demo_organisation,
)
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.importers.bulk import (
    DEFAULT_BULK_BATCH,
    ChangeTracking,
    Progress,
    write_nodes,
    write_touchpoints,
)
from orggraph.graph.kpis import measurement_id, periods, status_of, write_measurements
from orggraph.graph.model import (
    CustomerRecord,
    DealRecord,
    Record,
    RelationshipKind,
    TouchpointRecord,
)
from orggraph.graph.write_rules import WriteSummary
from orggraph.graph.writes import upsert_nodes, upsert_relationships

K = RelationshipKind
ProgressCallback = Callable[[str], None]

SPAN_DAYS = 700
"""Customers start within this many days before the timeline's end (their journeys end
by it: a journey that would run past it is moved back whole, its delays kept)."""
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

# Described in demo/organisation.yaml (validated on load); the journeys below use its ids.
ORGANISATION: DemoOrganisation = load_demo_organisation()
# The SLA the generated follow-ups keep or breach: its consumer team calls the MQL back.
FOLLOW_UP_SLA = "sla-mql-follow-up"
FOLLOW_UP_SLA_HOURS = ORGANISATION.sla(FOLLOW_UP_SLA).threshold
_FOLLOW_UP_TEAM = ORGANISATION.sla(FOLLOW_UP_SLA).consumer

PEOPLE_OF_TEAM: dict[str, list[str]] = {}
for _person in ORGANISATION.people():
    PEOPLE_OF_TEAM.setdefault(_person.team, []).append(_person.id)
_CAMPAIGN_IDS = [c.id for c in ORGANISATION.campaigns]
_CAMPAIGN_WEIGHTS = [c.weight for c in ORGANISATION.campaigns]
# Where a campaign's first touch happens: (channel, touchpoint type).
_FIRST_TOUCH = {
    c.id: (c.first_touch.channel, c.first_touch.type.value) for c in ORGANISATION.campaigns
}

FUNNEL = ("LEAD", "MQL", "SAL", "SQL", "OPPORTUNITY", "CUSTOMER")
# Probability of reaching the next funnel stage from each stage.
_CONVERSION = {"LEAD": 0.6, "MQL": 0.85, "SAL": 0.6, "SQL": 0.7, "OPPORTUNITY": 0.45}

Row = dict[str, Any]


def _present(**values: Any) -> Row:
    """The values that are set: an absent property stays absent on the node."""
    return {key: value for key, value in values.items() if value is not None}


def _value(member: enum.Enum | None) -> Any:
    return None if member is None else member.value


def _node_rows(org: DemoOrganisation) -> list[tuple[str, list[Row]]]:
    """Per label, in an order where every node's references are written before it."""
    steps = [(p, i + 1, s) for p in org.processes for i, s in enumerate(p.steps)]
    return [
        (
            "Team",
            [
                _present(id=t.id, name=t.name, kind=_value(t.kind), function=_value(t.function))
                for t in org.teams
            ],
        ),
        ("Person", [{"id": p.id, "name": p.name, "role": p.role} for p in org.people()]),
        (
            "Service",
            [{"id": s.id, "name": s.name, "audience": s.audience.value} for s in org.services],
        ),
        ("System", [{"id": s.id, "name": s.name, "kind": s.kind.value} for s in org.systems]),
        (
            "Channel",
            [
                {"id": c.id, "name": c.name, "kind": c.kind.value, "online": c.online}
                for c in org.channels
            ],
        ),
        (
            "Campaign",
            [
                {"id": c.id, "name": c.name, "sourceKind": c.source_kind.value, "teamId": c.team}
                for c in org.campaigns
            ],
        ),
        (
            "Process",
            [{"id": p.id, "name": p.name, "lifecycle": p.lifecycle.value} for p in org.processes],
        ),
        (
            "Step",
            [
                {"id": s.id, "name": s.name, "stage": s.stage.value, "processId": p.id, "order": n}
                for p, n, s in steps
            ],
        ),
        (
            "KPI",
            [
                {
                    "id": k.id,
                    "name": k.name,
                    "unit": k.unit,
                    "direction": k.direction.value,
                    "target": k.target,
                    "window": k.window.value,
                    "accountableTeamId": k.accountable,
                    "definition": k.definition,
                }
                for k in org.kpis
            ],
        ),
        (
            "SLA",
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "kind": s.kind.value,
                    "threshold": s.threshold,
                    "unit": s.unit,
                    "window": s.window.value,
                    "providerTeamId": s.provider,
                    "consumerTeamId": s.consumer,
                    "stepId": s.step,
                    "kpiId": s.kpi,
                }
                for s in org.slas
            ],
        ),
    ]


def _links(pairs: Iterable[tuple[str, str]]) -> list[Row]:
    return [{"from": a, "to": b} for a, b in pairs]


def _relationship_rows(org: DemoOrganisation) -> list[tuple[RelationshipKind, list[Row]]]:
    kpis = org.kpis
    return [
        (
            K.TEAM_PART_OF_TEAM,
            _links(
                (t.id, parent)
                for t in org.teams
                for parent in ((t.parent,) if t.parent else ()) + t.also_part_of
            ),
        ),
        (
            K.PERSON_MEMBER_OF_TEAM,
            [{"from": p.id, "to": p.team, "properties": {"role": p.role}} for p in org.people()],
        ),
        (K.TEAM_PROVIDES_SERVICE, _links((s.provider, s.id) for s in org.services)),
        (
            K.SERVICE_CONSUMED_BY_TEAM,
            _links((s.id, team) for s in org.services for team in s.consumers),
        ),
        (K.TEAM_OPERATES_SYSTEM, _links((s.operator, s.id) for s in org.systems)),
        (K.TEAM_SERVES_CHANNEL, _links((team, c.id) for c in org.channels for team in c.served_by)),
        (
            K.STEP_NEXT_STEP,
            _links((a.id, b.id) for p in org.processes for a, b in pairwise(p.steps)),
        ),
        (
            K.TEAM_OWNS_STEP,
            [
                {
                    "from": o.team,
                    "to": s.id,
                    "properties": _present(**{"from": o.valid_from, "to": o.valid_to}),
                }
                for s in org.steps
                for o in s.owners
            ],
        ),
        (K.SYSTEM_SUPPORTS_STEP, _links((y, s.id) for s in org.steps for y in s.supported_by)),
        (K.KPI_SHARED_WITH_TEAM, _links((k.id, t) for k in kpis for t in k.shared_with)),
        (K.KPI_MEASURES_STEP, _links((k.id, r) for k in kpis for r in k.measures.steps)),
        (K.KPI_MEASURES_PROCESS, _links((k.id, r) for k in kpis for r in k.measures.processes)),
        (K.KPI_MEASURES_CHANNEL, _links((k.id, r) for k in kpis for r in k.measures.channels)),
        (K.KPI_MEASURES_CAMPAIGN, _links((k.id, r) for k in kpis for r in k.measures.campaigns)),
    ]


async def write_organisation(
    graph: Graph, organisation: DemoOrganisation = ORGANISATION
) -> WriteSummary:
    """Upsert the static organisation through the general write layer (small)."""
    total = WriteSummary()
    for label, rows in _node_rows(organisation):
        total.merge(await upsert_nodes(graph, label, rows))
    for kind, rows in _relationship_rows(organisation):
        total.merge(await upsert_relationships(graph, kind, rows))
    return total


def reported_measurements(
    seed: int, until: datetime, span_days: int, organisation: DemoOrganisation = ORGANISATION
) -> dict[str, list[dict[str, Any]]]:
    """Per KPI without a definition, one measurement per complete period of its window in
    the ``span_days`` before ``until``, around its target (its own random stream per
    period), as a function would report it after the period ended."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kpi in organisation.kpis:
        if kpi.definition is not None:
            continue
        rows = []
        for start, end in periods(until - timedelta(days=span_days), until, kpi.window):
            if end > until:
                break
            rng = random.Random(f"{seed}:{kpi.id}:{start.isoformat()}")
            low, high = (0.85, 1.3) if kpi.direction.value == "LOWER_IS_BETTER" else (0.7, 1.15)
            value = kpi.target * rng.uniform(low, high)
            value = min(value, 100.0) if kpi.unit == "%" else value
            value = float(round(value)) if kpi.unit == "count" else round(value, 2)
            rows.append(
                {
                    "id": measurement_id(kpi.id, start),
                    "at": end,
                    "periodStart": start,
                    "periodEnd": end,
                    "value": value,
                    "sampleSize": 1,
                    "status": status_of(value, kpi.target, kpi.direction.value),
                }
            )
        out[kpi.id] = rows
    return out


async def write_reported_measurements(
    graph: Graph, seed: int, until: datetime, span_days: int
) -> WriteSummary:
    summary = WriteSummary()
    for kpi_id, rows in reported_measurements(seed, until, span_days).items():
        summary.merge(await write_measurements(graph, kpi_id, rows))
    return summary


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


def timeline_end(today: date | None = None) -> datetime:
    """The instant generated data ends: the start (00:00 UTC) of ``today`` (default: the
    current day), so the same seed loaded on the same day writes the same graph."""
    return datetime.combine(today or datetime.now(UTC).date(), time(), UTC)


def generate_customer(
    seed: int,
    index: int,
    touchpoints_per_customer: float = 10.0,
    until: datetime = TIMELINE_END,
    span_days: int = SPAN_DAYS,
) -> CustomerData:
    """One customer with its whole journey, from its own random stream, started within
    ``span_days`` before ``until`` and ended by ``until``."""
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
    campaign = rng.choices(_CAMPAIGN_IDS, _CAMPAIGN_WEIGHTS)[0]
    at = until - timedelta(days=span_days) + timedelta(seconds=rng.uniform(0, span_days * 86_400))
    events: list[dict[str, Any]] = []

    def touch(
        type_: str,
        channel: str | None,
        team: str | None,
        step: str | None,
        when: datetime,
        *,
        campaign_id: str | None = None,
        value: float | Decimal | None = None,
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
    first_channel, first_type = _FIRST_TOUCH[campaign]
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
            touch("CALL", "ch-phone", _FOLLOW_UP_TEAM, "step-sal", at, activity="follow_up_mql")
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
    deals = _end_by(until, rng, events, deals)
    touchpoints = [TouchpointRecord.model_validate(e) for e in events]
    return CustomerData(customer, deals, touchpoints, follow_up)


def _end_by(
    until: datetime, rng: random.Random, events: list[dict[str, Any]], deals: list[DealRecord]
) -> list[DealRecord]:
    """Move a journey that runs past ``until`` back whole (events in place, deals returned),
    to end within the last three days before it: no data lies in the future."""
    last = max([e["at"] for e in events] + [d.closed_at for d in deals if d.closed_at])
    if last <= until:
        return deals
    back = last - until + timedelta(seconds=rng.uniform(60, 3 * 86_400))
    for event in events:
        event["at"] -= back
    return [
        d.model_copy(
            update={
                "opened_at": d.opened_at - back,
                "closed_at": d.closed_at - back if d.closed_at else None,
            }
        )
        for d in deals
    ]


def generate_customers(
    seed: int,
    count: int,
    touchpoints_per_customer: float = 10.0,
    start: int = 0,
    until: datetime = TIMELINE_END,
    span_days: int = SPAN_DAYS,
) -> Iterator[CustomerData]:
    for index in range(start, start + count):
        yield generate_customer(seed, index, touchpoints_per_customer, until, span_days)


async def write_customer_batch(
    tx: Tx, batch: Sequence[CustomerData], tracking: ChangeTracking | None = None
) -> WriteSummary:
    """One transaction: whole customers, their touchpoints, journey chains and deals (the
    touchpoints it changed reported when ``tracking``, graph/importers/bulk.py)."""
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
    touchpoints = [t for c in batch for t in c.touchpoints]
    summary.merge(await write_touchpoints(tx, touchpoints, tracking=tracking))
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
    today: date | None = None,
    span_days: int = SPAN_DAYS,
    tracking: ChangeTracking | None = None,
) -> SeedSummary:
    """Write the organisation and ``customers`` customers with journeys (idempotent).

    The data ends at the start of ``today`` (default: the current day, UTC) and covers
    ``span_days`` before it; the organisation's dates move with it.

    ``progress`` receives a human-readable line (rows so far, rows/s) every
    50,000 touchpoints and at the end. Generation of the next batch overlaps
    with the database writing the current one.
    """
    import time

    started = time.perf_counter()
    summary = SeedSummary(seed=seed)
    until = timeline_end(today)
    org = await write_organisation(graph, ORGANISATION.shifted(until - TIMELINE_END))
    summary.writes.merge(org)
    summary.organisation_nodes = org.rows
    meter = Progress(f"touchpoints (0/{customers:,} customers)", report=progress)
    per_batch = max(1, int(batch_touchpoints / max(touchpoints_per_customer, 1.0)))

    def make_batch(start: int) -> list[CustomerData]:
        count = min(per_batch, customers - start)
        return list(
            generate_customers(seed, count, touchpoints_per_customer, start, until, span_days)
        )

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
            return await write_customer_batch(tx, batch, tracking)

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
