"""Result types of the SLA compliance and breach traversals (rules: orggraph.graph.slas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.schema.enums import Window
from orggraph.schema.relay import PageInfo
from orggraph.schema.types import Customer, Sla, Step, Team, as_datetime


@strawberry.type(
    description="An SLA's cases (or, for a VOLUME SLA, the period itself) in one period."
)
class SlaPeriod:
    period_start: datetime
    period_end: datetime
    cases: int = strawberry.field(
        description="RESPONSE_TIME: customers whose hand-off started in the period."
    )
    delivered: int = strawberry.field(
        description="VOLUME: customers who first reached the governed step in the period."
    )
    met: int
    breached: int
    open: int = strawberry.field(description="Not decided yet at `asOf`.")
    in_breach_now: int = strawberry.field(description="Breached cases still unanswered at `asOf`.")
    rate: float | None = strawberry.field(description="met / (met + breached); null if none.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SlaPeriod:
        start = as_datetime(row["periodStart"])
        end = as_datetime(row["periodEnd"])
        assert start is not None and end is not None
        return cls(
            period_start=start,
            period_end=end,
            cases=int(row["cases"]),
            delivered=int(row["delivered"]),
            met=int(row["met"]),
            breached=int(row["breached"]),
            open=int(row["open"]),
            in_breach_now=int(row["inBreachNow"]),
            rate=row["rate"],
        )


@strawberry.type(description="An SLA's compliance over a window: totals and the trend per period.")
class SlaComplianceReport:
    sla: Sla
    period: Window
    as_of: datetime
    cases: int
    delivered: int
    met: int
    breached: int
    open: int
    in_breach_now: int
    rate: float | None = strawberry.field(description="met / (met + breached) over the window.")
    trend: list[SlaPeriod]

    @classmethod
    def build(
        cls, sla: dict[str, Any], period: Window, as_of: datetime, trend: list[SlaPeriod]
    ) -> SlaComplianceReport:
        met = sum(p.met for p in trend)
        breached = sum(p.breached for p in trend)
        return cls(
            sla=Sla.from_props(sla),
            period=period,
            as_of=as_of,
            cases=sum(p.cases for p in trend),
            delivered=sum(p.delivered for p in trend),
            met=met,
            breached=breached,
            open=sum(p.open for p in trend),
            in_breach_now=sum(p.in_breach_now for p in trend),
            rate=met / (met + breached) if met + breached else None,
            trend=trend,
        )


@strawberry.type(description="One breached hand-off: a customer answered late, or not yet.")
class SlaBreachCase:
    sla: Sla
    customer: Customer
    provider: Team | None
    consumer: Team | None
    step: Step | None = strawberry.field(description="The governed step.")
    reached_at: datetime = strawberry.field(description="When the hand-off started.")
    responded_at: datetime | None = strawberry.field(
        description="The consumer team's first touchpoint after it; null when none by `asOf`."
    )
    late_seconds: float = strawberry.field(
        description="Seconds past the limit (up to `asOf` when still unanswered)."
    )
    in_breach_now: bool = strawberry.field(description="Still unanswered at `asOf`.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SlaBreachCase:
        reached = as_datetime(row["reachedAt"])
        assert reached is not None
        return cls(
            sla=Sla.from_props(row["sla"]),
            customer=Customer.from_props(row["customer"]),
            provider=Team.from_props(row["provider"]) if row["provider"] else None,
            consumer=Team.from_props(row["consumer"]) if row["consumer"] else None,
            step=Step.from_props(row["step"]) if row["step"] else None,
            reached_at=reached,
            responded_at=as_datetime(row["respondedAt"]),
            late_seconds=float(row["lateSeconds"]),
            in_breach_now=bool(row["inBreachNow"]),
        )


@strawberry.type
class SlaBreachEdge:
    cursor: str
    node: SlaBreachCase


@strawberry.type(description="Breaches in (reachedAt, SLA id, customer id) order.")
class SlaBreachConnection:
    edges: list[SlaBreachEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field(description="The page's breaches, without edges.")
    def nodes(self) -> list[SlaBreachCase]:
        return [edge.node for edge in self.edges]
