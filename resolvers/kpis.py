"""KPIs and their measurements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError
from orggraph.events import broker_of, publish_computation
from orggraph.graph.kpis import check_definitions, compute_kpis, kpi_value, parse_definition
from orggraph.resolvers.entities import Entity, entity_mutation, entity_query
from orggraph.schema.inputs import KpiInput, MeasurementInput, NameFilter
from orggraph.schema.kpis import KpiValue
from orggraph.schema.types import Kpi, Measurement


async def check_kpi_definitions(info: Info, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """A KPI's definition must be a catalogue measure whose parameters exist in the graph
    (one round trip for the whole batch); a KPI without a definition is not computed."""
    parsed = [
        (f"{where}.definition", parse_definition(row["definition"], f"{where}.definition"))
        for where, row in rows
        if row.get("definition") is not None
    ]
    await check_definitions(info.context.graph, parsed)


ENTITIES = (
    Entity(
        Kpi,
        KpiInput,
        "KPI",
        "KPIs",
        NameFilter,
        check=check_kpi_definitions,
        describe={
            "upsert": "Create or update a KPI. Its `definition` is a catalogue measure "
            "(docs/kpis.md), validated and checked against the graph before anything is written.",
            "upserts": "Create or update KPIs (definitions checked as for upsertKpi).",
        },
    ),
    Entity(
        Measurement,
        MeasurementInput,
        "measurement",
        "measurements",
        describe={"upsert": "Record a measurement.", "upserts": "Record measurements."},
    ),
)


async def resolve_kpi_value(
    info: Info, kpi_id: strawberry.ID, last_days: int | None = None, all_time: bool = False
) -> KpiValue:
    if (last_days is None) == (not all_time):
        raise BadInputError("kpiValue: give either lastDays or allTime: true", field="lastDays")
    return KpiValue.from_row(await kpi_value(info.context.graph, str(kpi_id), last_days))


KpisQuery = entity_query(
    "KpisQuery",
    *ENTITIES,
    kpi_value=strawberry.field(
        resolver=resolve_kpi_value,
        description=(
            "A KPI's value over the last `lastDays` days up to now (a rolling window), or "
            "over all its data (`allTime: true`): give exactly one. Computed on request by "
            "the KPI's definition; calendar periods are its stored `measurements`."
        ),
    ),
)
KpisMutation = entity_mutation("KpisMutation", *ENTITIES)


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
