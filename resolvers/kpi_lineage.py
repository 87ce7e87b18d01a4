"""KPI lineage: what feeds a KPI and how it stands."""

from __future__ import annotations

from datetime import datetime

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError
from orggraph.graph import kpi_lineage
from orggraph.resolvers.entities import at_or_now, checked_id, found
from orggraph.schema.kpi_lineage import MAX_SERIES, KpiLineage


async def resolve_kpi_lineage(
    info: Info, kpi_id: strawberry.ID, at: datetime | None = None, last: int = 100
) -> KpiLineage:
    kpi = checked_id(kpi_id, "kpiId")
    if not 0 <= last <= MAX_SERIES:
        raise BadInputError(f"'last' must be between 0 and {MAX_SERIES}", field="last")
    when = at_or_now(at)
    lineage = found(
        await kpi_lineage.kpi_lineage(info.context.graph, kpi, when, last), "KPI", kpi, "kpiId"
    )
    return KpiLineage.from_raw(lineage, when)


@strawberry.type
class KpiLineageQuery:
    kpi_lineage: KpiLineage = strawberry.field(
        resolver=resolve_kpi_lineage,
        description=(
            "A KPI's lineage in one traversal: the steps, processes, channels, campaigns and teams "
            "that feed it, the touchpoints behind its latest value, who is accountable and who "
            "it is shared with, its last `last` measurements and its status."
        ),
    )
