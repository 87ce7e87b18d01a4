"""KPIs and their measurements."""

from __future__ import annotations

from typing import Any

import strawberry
from orggraph.graph.kpis import check_definitions, parse_definition
from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
from orggraph.schema.inputs import KpiInput, MeasurementInput, NameFilter
from orggraph.schema.types import Kpi, Measurement

from orggraph.context import Info


async def check_kpi_definitions(info: Info, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """A KPI's definition must be a catalogue measure whose parameters exist in the graph
    (one round trip for the whole batch); a KPI without a definition is not computed."""
    parsed = [
        (f"{where}.definition", parse_definition(row["definition"], f"{where}.definition"))
        for where, row in rows
        if row.get("definition") is not None
    ]
    await check_definitions(info.context.graph, parsed)


@strawberry.type
class KpisQuery:
    kpi = get_field(Kpi, "A KPI by id.")
    kpis = list_field(Kpi, NameFilter, "KPIs, by id.")
    measurement = get_field(Measurement, "A measurement by id.")


@strawberry.type
class KpisMutation:
    upsert_kpi = upsert_one_field(
        Kpi,
        KpiInput,
        "Create or update a KPI. Its `definition` is a catalogue measure (docs/kpis.md), "
        "validated and checked against the graph before anything is written.",
        check_kpi_definitions,
    )
    upsert_kpis = upsert_many_field(
        Kpi,
        KpiInput,
        "Create or update KPIs (definitions checked as for upsertKpi).",
        check_kpi_definitions,
    )
    upsert_measurement = upsert_one_field(Measurement, MeasurementInput, "Record a measurement.")
    upsert_measurements = upsert_many_field(Measurement, MeasurementInput, "Record measurements.")
