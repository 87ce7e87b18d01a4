"""Information gaps: teams moving numbers they cannot see, KPIs detached from their steps."""

from __future__ import annotations

from datetime import datetime

import strawberry

from orggraph.context import Info
from orggraph.graph import information_gaps
from orggraph.resolvers.entities import at_or_now
from orggraph.schema.information_gaps import InformationGaps


async def resolve_information_gaps(info: Info, at: datetime | None = None) -> InformationGaps:
    return InformationGaps.from_rows(
        await information_gaps.information_gaps(info.context.graph, at_or_now(at))
    )


@strawberry.type
class InformationGapsQuery:
    information_gaps: InformationGaps = strawberry.field(
        resolver=resolve_information_gaps,
        description=(
            "With step ownership as at `at` (default now): teams owning steps that feed a KPI "
            "neither accountable to nor shared with them (`unseen`), and KPIs whose accountable "
            "team owns none of their feeding steps (`detached`)."
        ),
    )
