"""Touchpoints: the events of customer journeys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError
from orggraph.graph import journeys
from orggraph.resolvers.entities import (
    Entity,
    check_window,
    checked_id,
    entity_mutation,
    entity_query,
    found,
)
from orggraph.schema.journeys import (
    Journey,
    JourneyStep,
    JourneyStepConnection,
    JourneyStepEdge,
    TouchpointFilter,
    TouchpointInput,
    stage_of,
)
from orggraph.schema.relay import (
    DEFAULT_PAGE_SIZE,
    PageInfo,
    decode_cursor,
    encode_cursor,
    page_size,
)
from orggraph.schema.types import Customer, Deal, Step, Touchpoint


async def resolve_journey(
    info: Info,
    customer_id: strawberry.ID,
    window_from: Annotated[datetime | None, strawberry.argument(name="from")] = None,
    window_to: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    first: int | None = None,
    after: str | None = None,
) -> Journey:
    customer = checked_id(customer_id, "customerId")
    start, end = check_window(window_from, window_to)
    size = page_size(first, DEFAULT_PAGE_SIZE, info.context.settings.max_page_size)
    cursor = decode_cursor(after)
    raw = await journeys.customer_journey(
        info.context.graph, customer, after=cursor, first=size, window_from=start, window_to=end
    )
    raw = found(raw, "Customer", customer, "customerId")
    if raw["badCursor"]:
        raise BadInputError("'after' is not a touchpoint of this customer", field="after")
    rows = raw["page"]
    edges = [
        JourneyStepEdge(
            cursor=encode_cursor(row["touchpoint"]["id"]), node=JourneyStep.from_row(row)
        )
        for row in rows[:size]
    ]
    furthest = journeys.furthest_stage(raw["stages"])
    last_step = raw["lastStep"]
    return Journey(
        customer=Customer.from_props(raw["customer"]),
        steps=JourneyStepConnection(
            edges=edges,
            page_info=PageInfo.of(
                [e.cursor for e in edges], has_next=len(rows) > size, has_previous=raw["start"] > 0
            ),
            total_count=raw["totalCount"],
        ),
        deals=[Deal.from_props(d) for d in raw["deals"]],
        furthest_stage=stage_of(furthest),
        stalled_at=Step.from_props(last_step) if journeys.stalled(furthest) and last_step else None,
    )


# A touchpoint's upserts also say that the journey chain follows the write.
UPSERTS = {
    "upsert": "Create or update a touchpoint; the journey chain follows.",
    "upserts": "Create or update touchpoints; the journey chain follows.",
}
ENTITIES = (
    Entity(
        Touchpoint, TouchpointInput, "touchpoint", "touchpoints", TouchpointFilter, describe=UPSERTS
    ),
)
JourneysQuery = entity_query(
    "JourneysQuery",
    *ENTITIES,
    journey=strawberry.field(
        resolver=resolve_journey,
        description=(
            "A customer's journey in one traversal: ordered touchpoints (Relay pages) with "
            "channel, campaign, handling team and person, step reached and time since the "
            "previous one; the deals it led to; the furthest stage and where it stalled."
        ),
    ),
)
JourneysMutation = entity_mutation("JourneysMutation", *ENTITIES)
