"""Types of the KPI engine and of the live subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.graph.kpis import MEASURES
from orggraph.schema.enums import KpiStatus
from orggraph.schema.types import Measurement, Touchpoint, as_datetime, as_float


def _status(value: Any) -> KpiStatus | None:
    return KpiStatus(value) if value else None


@strawberry.type(description="One period of a KPI computation, with its status.")
class KpiPeriod:
    measurement: Measurement
    status: KpiStatus | None = strawberry.field(description="Against target and direction.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> KpiPeriod:
        return cls(measurement=Measurement.from_props(row), status=_status(row.get("status")))


@strawberry.type(description="A KPI's measurements were (re)computed and committed.")
class KpiUpdate:
    kpi_id: strawberry.ID
    measure: str = strawberry.field(description=f"One of {', '.join(MEASURES)}.")
    team_ids: list[strawberry.ID] = strawberry.field(
        description="Teams accountable for the KPI or sharing it."
    )
    periods: list[KpiPeriod] = strawberry.field(description="The periods computed, oldest first.")

    @strawberry.field(description="The newest complete period computed (not `partial`).")
    def latest(self) -> KpiPeriod | None:
        complete = [p for p in self.periods if not p.measurement.is_partial]
        return complete[-1] if complete else None

    @strawberry.field(description="The current period, when computed: `partial`, still open.")
    def current(self) -> KpiPeriod | None:
        last = self.periods[-1] if self.periods else None
        return last if last is not None and last.measurement.is_partial else None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> KpiUpdate:
        return cls(
            kpi_id=strawberry.ID(event["kpiId"]),
            measure=event["measure"],
            team_ids=[strawberry.ID(t) for t in event["teamIds"]],
            periods=[KpiPeriod.from_row(m) for m in event["measurements"]],
        )


@strawberry.type(description="A touchpoint was written (created or updated) and committed.")
class TouchpointAdded:
    touchpoint: Touchpoint
    customer_id: strawberry.ID | None
    channel_id: strawberry.ID | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> TouchpointAdded:
        customer, channel = event.get("customerId"), event.get("channelId")
        return cls(
            touchpoint=Touchpoint.from_props(event),
            customer_id=strawberry.ID(customer) if customer else None,
            channel_id=strawberry.ID(channel) if channel else None,
        )


@strawberry.type(description="A touchpoint was deleted (by a delete, a cascade or an erasure).")
class TouchpointRemoved:
    id: strawberry.ID
    customer_id: strawberry.ID | None = strawberry.field(description="Its customer, if it had one.")
    channel_id: strawberry.ID | None = strawberry.field(description="Its channel, if it had one.")
    at: datetime | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> TouchpointRemoved:
        customer, channel = event.get("customerId"), event.get("channelId")
        return cls(
            id=strawberry.ID(event["id"]),
            customer_id=strawberry.ID(customer) if customer else None,
            channel_id=strawberry.ID(channel) if channel else None,
            at=as_datetime(event.get("at")),
        )


@strawberry.type(description="An SLA's compliance KPI is off target for a period.")
class SlaBreach:
    sla_id: strawberry.ID
    kpi_id: strawberry.ID
    team_ids: list[strawberry.ID]
    period_start: datetime | None
    compliance: float | None
    sample_size: int

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> SlaBreach:
        return cls(
            sla_id=strawberry.ID(event["slaId"]),
            kpi_id=strawberry.ID(event["kpiId"]),
            team_ids=[strawberry.ID(t) for t in event["teamIds"]],
            period_start=as_datetime(event.get("periodStart")),
            compliance=as_float(event.get("value")),
            sample_size=int(event.get("sampleSize") or 0),
        )
