"""Channels and campaigns: where touchpoints come from, and who serves the demand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.graph import channels
from orggraph.graph.model import as_utc
from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
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


@strawberry.type
class ChannelsQuery:
    channel = get_field(Channel, "A channel by id.")
    channels = list_field(Channel, ChannelFilter, "Channels, by id, filtered.")
    campaign = get_field(Campaign, "A campaign by id.")
    campaigns = list_field(Campaign, NameFilter, "Campaigns, by id.")
    channel_coverage: list[ChannelCoverage] = strawberry.field(
        resolver=resolve_channel_coverage,
        description=(
            "Every channel's demand in [from, to) (touchpoints, total and per period, busiest "
            "first) against the teams that serve it and its response-time KPIs (latest value "
            "vs target); `unstaffed` marks demand that no team serves."
        ),
    )


@strawberry.type
class ChannelsMutation:
    upsert_channel = upsert_one_field(Channel, ChannelInput, "Create or update a channel.")
    upsert_channels = upsert_many_field(Channel, ChannelInput, "Create or update channels.")
    upsert_campaign = upsert_one_field(Campaign, CampaignInput, "Create or update a campaign.")
    upsert_campaigns = upsert_many_field(Campaign, CampaignInput, "Create or update campaigns.")
