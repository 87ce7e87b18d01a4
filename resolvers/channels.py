"""Channels and campaigns: where touchpoints come from."""

from __future__ import annotations

import strawberry

from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
from orggraph.schema.inputs import CampaignInput, ChannelFilter, ChannelInput, NameFilter
from orggraph.schema.types import Campaign, Channel


@strawberry.type
class ChannelsQuery:
    channel = get_field(Channel, "A channel by id.")
    channels = list_field(Channel, ChannelFilter, "Channels, by id, filtered.")
    campaign = get_field(Campaign, "A campaign by id.")
    campaigns = list_field(Campaign, NameFilter, "Campaigns, by id.")


@strawberry.type
class ChannelsMutation:
    upsert_channel = upsert_one_field(Channel, ChannelInput, "Create or update a channel.")
    upsert_channels = upsert_many_field(Channel, ChannelInput, "Create or update channels.")
    upsert_campaign = upsert_one_field(Campaign, CampaignInput, "Create or update a campaign.")
    upsert_campaigns = upsert_many_field(Campaign, CampaignInput, "Create or update campaigns.")
