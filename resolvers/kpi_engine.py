"""The KPI engine's mutation: compute KPIs into Measurements, then publish the updates."""

from __future__ import annotations

from datetime import datetime

import strawberry

from orggraph.context import Info
from orggraph.events import broker_of, publish_after_commit
from orggraph.graph.kpis import KpiComputation, compute_kpis
from orggraph.schema.types import Measurement


def publish_computations(info: Info, computations: list[KpiComputation]) -> None:
    """kpiUpdated (and slaBreached for off-target SLA compliance) for committed computations."""
    broker = broker_of(info)
    publish_after_commit(broker, "kpiUpdated", (c.event() for c in computations))
    publish_after_commit(broker, "slaBreached", (b for c in computations for b in c.breaches()))


@strawberry.type
class KpiEngineMutation:
    @strawberry.mutation(
        description=(
            "Compute one KPI (kpiId) or every KPI with a definition, per period of its window "
            "from `since` (default: the earliest data) to now, writing one Measurement per "
            "period (id \"{kpiId}:{periodStart}\"; recomputing replaces it). Returns the "
            "measurements, oldest first per KPI; subscribers of kpiUpdated are notified."
        )
    )
    async def compute_kpis(
        self, info: Info, kpi_id: strawberry.ID | None = None, since: datetime | None = None
    ) -> list[Measurement]:
        computations = await compute_kpis(
            info.context.graph, kpi_id, since, on_commit=lambda c: publish_computations(info, [c])
        )
        return [Measurement.from_props(m) for c in computations for m in c.measurements]
