"""Journey maps: the directly-follows graph of touchpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError
from orggraph.graph import journey_maps
from orggraph.resolvers.entities import check_window
from orggraph.schema.journey_maps import JourneyMap, JourneyMapCases, JourneyMapKey
from orggraph.schema.relay import page_size

CUSTOMER_CASE = "customer"
OBJECT_CASE = "object"
MAX_OBJECT_TYPE_LENGTH = 100
MAX_KEY_LENGTH = 500
DEFAULT_CASES = 20


async def resolve_journey_map(
    info: Info,
    by: JourneyMapKey,
    case_notion: str = CUSTOMER_CASE,
    object_type: str | None = None,
    min_edge_count: int = 1,
    window_from: Annotated[datetime | None, strawberry.argument(name="from")] = None,
    window_to: Annotated[datetime | None, strawberry.argument(name="to")] = None,
) -> JourneyMap:
    if case_notion not in (CUSTOMER_CASE, OBJECT_CASE):
        raise BadInputError(
            f"'caseNotion' must be '{CUSTOMER_CASE}' or '{OBJECT_CASE}'", field="caseNotion"
        )
    if case_notion == OBJECT_CASE and not object_type:
        raise BadInputError(
            "'objectType' is required when caseNotion is 'object'", field="objectType"
        )
    if case_notion == CUSTOMER_CASE and object_type is not None:
        raise BadInputError("'objectType' needs caseNotion 'object'", field="objectType")
    if object_type is not None and len(object_type) > MAX_OBJECT_TYPE_LENGTH:
        raise BadInputError("'objectType' is too long", field="objectType")
    if min_edge_count < 1:
        raise BadInputError("'minEdgeCount' must be at least 1", field="minEdgeCount")
    start, end = check_window(window_from, window_to)
    raw = await journey_maps.directly_follows_graph(
        info.context.graph,
        by=by.value,
        object_type=object_type,
        min_edge_count=min_edge_count,
        window_from=start,
        window_to=end,
    )
    return JourneyMap.from_raw(raw, by, case_notion, object_type)


def checked_key(value: str | None, argument: str) -> str | None:
    if value is not None and not 0 < len(value) <= MAX_KEY_LENGTH:
        raise BadInputError(
            f"'{argument}' must be 1 to {MAX_KEY_LENGTH} characters", field=argument
        )
    return value


async def resolve_journey_map_cases(
    info: Info,
    by: JourneyMapKey,
    source: str,
    target: str | None = None,
    window_from: Annotated[datetime | None, strawberry.argument(name="from")] = None,
    window_to: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    first: int | None = None,
) -> JourneyMapCases:
    start, end = check_window(window_from, window_to)
    raw = await journey_maps.cases_behind(
        info.context.graph,
        by=by.value,
        source=str(checked_key(source, "source")),
        target=checked_key(target, "target"),
        first=page_size(first, DEFAULT_CASES, info.context.settings.max_page_size),
        window_from=start,
        window_to=end,
    )
    return JourneyMapCases.from_raw(raw)


@strawberry.type
class JourneyMapsQuery:
    journey_map: JourneyMap = strawberry.field(
        resolver=resolve_journey_map,
        description=(
            "The directly-follows graph of touchpoints keyed by activity, type, channel or step: "
            "node frequencies, edge counts with median transition seconds, start and end "
            "activities. The case is the customer, or (caseNotion 'object') each business "
            "object of objectType. Edges seen fewer than minEdgeCount times are hidden."
        ),
    )
    journey_map_cases: JourneyMapCases = strawberry.field(
        resolver=resolve_journey_map_cases,
        description=(
            "The customers behind a node (source) or an edge (source then target) of the "
            "customer journey map with the same `by` and window: how often each passes it, "
            "most first; their journeys are `journey(customerId:)`."
        ),
    )
