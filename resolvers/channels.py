"""Channels and campaigns: where touchpoints come from, and who serves the demand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.graph import channels
from orggraph.graph.model import as_utc
from orggraph.resolvers.entities import Entity, entity_mutation, entity_query
from orggraph.resolvers.slas import window_periods
from orggraph.schema.channels import ChannelCoverage
from orggraph.schema.enums import Window
from orggraph.schema.inputs import CampaignInput, ChannelFilter, ChannelInput, NameFilter
from orggraph.schema.types import Campaign, Channel


async def resolve_channel_coverage(
    info: Info,
    window_from: Annotated[datetime, strawberry.argument(name="from")],
    window_to: Annotated[datetime, strawberry.argument(name="to")],
    period: Window = Window.WEEK,
) -> list[ChannelCoverage]:
    spans = window_periods(window_from, window_to, period)
    rows = await channels.channel_coverage(
        info.context.graph, as_utc(window_from), as_utc(window_to), period
    )
    starts = [start for start, _ in spans]
    return [ChannelCoverage.from_row(row, starts) for row in rows]


ENTITIES = (
    Entity(Channel, ChannelInput, "channel", "channels", ChannelFilter),
    Entity(Campaign, CampaignInput, "campaign", "campaigns", NameFilter),
)
ChannelsQuery = entity_query(
    "ChannelsQuery",
    *ENTITIES,
    channel_coverage=strawberry.field(
        resolver=resolve_channel_coverage,
        description=(
            "Every channel's demand in [from, to) (touchpoints, total and per period, busiest "
            "first) against the teams that serve it and its response-time KPIs (latest value "
            "vs target); `unstaffed` marks demand that no team serves."
        ),
    ),
)
ChannelsMutation = entity_mutation("ChannelsMutation", *ENTITIES)
