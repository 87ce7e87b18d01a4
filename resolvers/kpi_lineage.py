"""KPI lineage: what feeds a KPI and how it stands."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError, NotFoundError
from orggraph.graph import kpi_lineage
from orggraph.graph.model import as_utc
from orggraph.resolvers.entities import checked_id
from orggraph.schema.kpi_lineage import MAX_SERIES, KpiLineage


async def resolve_kpi_lineage(
    info: Info, kpi_id: strawberry.ID, at: datetime | None = None, last: int = 100
) -> KpiLineage:
    kpi = checked_id(kpi_id, "kpiId")
    if last < 0 or last > MAX_SERIES:
        raise BadInputError(f"'last' must be between 0 and {MAX_SERIES}", field="last")
    when = as_utc(at) if at else datetime.now(UTC)
    raw = await kpi_lineage.kpi_lineage(info.context.graph, kpi, when, last)
    if raw is None:
        raise NotFoundError(f"no KPI with id '{kpi}'", field="kpiId")
    return KpiLineage.from_raw(raw, when)


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
