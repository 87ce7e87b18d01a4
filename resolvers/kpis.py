"""KPIs and their measurements."""

from __future__ import annotations

import strawberry

from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
from orggraph.schema.inputs import KpiInput, MeasurementInput, NameFilter
from orggraph.schema.types import Kpi, Measurement


@strawberry.type
class KpisQuery:
    kpi = get_field(Kpi, "A KPI by id.")
    kpis = list_field(Kpi, NameFilter, "KPIs, by id.")
    measurement = get_field(Measurement, "A measurement by id.")


@strawberry.type
class KpisMutation:
    upsert_kpi = upsert_one_field(Kpi, KpiInput, "Create or update a KPI.")
    upsert_kpis = upsert_many_field(Kpi, KpiInput, "Create or update KPIs.")
    upsert_measurement = upsert_one_field(Measurement, MeasurementInput, "Record a measurement.")
    upsert_measurements = upsert_many_field(Measurement, MeasurementInput, "Record measurements.")
