"""The KPI engine's mutation: compute KPIs into Measurements, then publish the updates."""

from __future__ import annotations

from datetime import datetime

import strawberry
from orggraph.graph.kpis import compute_kpis
from orggraph.schema.types import Measurement

from orggraph.context import Info
from orggraph.events import broker_of
from orggraph.kpi_engine import publish_computation


@strawberry.type
class KpiEngineMutation:
    @strawberry.mutation(
        description=(
            "Compute one KPI (kpiId) or every KPI with a definition, per period of its window "
            "from `since` (default: the earliest data) to now, writing one Measurement per "
            'period (id "{kpiId}:{periodStart}"; recomputing replaces it). Returns the '
            "measurements, oldest first per KPI; kpiUpdated (and slaBreached) subscribers are "
            "notified as each KPI's write commits."
        )
    )
    async def compute_kpis(
        self, info: Info, kpi_id: strawberry.ID | None = None, since: datetime | None = None
    ) -> list[Measurement]:
        broker = broker_of(info)
        computations = await compute_kpis(
            info.context.graph,
            kpi_id,
            since,
            on_commit=lambda computation: publish_computation(broker, computation),
        )
        return [Measurement.from_props(m) for c in computations for m in c.measurements]
