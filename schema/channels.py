"""Result types of the channel-coverage traversal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.schema.enums import KpiStatus
from orggraph.schema.team_services import kpi_status
from orggraph.schema.types import Channel, Kpi, Measurement, Team, as_datetime


@strawberry.type(description="Touchpoints via a channel in one period.")
class ChannelDemand:
    period_start: datetime
    touchpoints: int


@strawberry.type(
    description="A response-time KPI of a channel with its latest value against target."
)
class ChannelKpi:
    kpi: Kpi
    latest: Measurement | None
    status: KpiStatus


@strawberry.type(
    description="A team serving a channel, with the channel's response-time KPIs it sees."
)
class ServingTeam:
    team: Team
    response_time_kpis: list[ChannelKpi] = strawberry.field(
        description="The channel's response-time KPIs the team is accountable for or shares."
    )


@strawberry.type(description="A channel's demand against the teams that serve it.")
class ChannelCoverage:
    channel: Channel
    touchpoints: int = strawberry.field(description="Touchpoints via the channel in the window.")
    trend: list[ChannelDemand] = strawberry.field(description="Per period, empty ones included.")
    serving_teams: list[ServingTeam]
    response_time_kpis: list[ChannelKpi] = strawberry.field(
        description="KPIs measuring the channel in a time unit (seconds, minutes, hours, days)."
    )
    unstaffed: bool = strawberry.field(description="Demand in the window and no team serves it.")

    @classmethod
    def from_row(cls, row: dict[str, Any], starts: list[datetime]) -> ChannelCoverage:
        counts: dict[datetime, int] = {}
        for d in row["trend"]:
            start = as_datetime(d["periodStart"])
            assert start is not None
            counts[start] = int(d["touchpoints"])
        kpis = [(k, _channel_kpi(k)) for k in row["kpis"]]
        teams = [
            ServingTeam(
                team=Team.from_props(t),
                response_time_kpis=[
                    ck
                    for k, ck in kpis
                    if t["id"] == k["accountable"] or t["id"] in k["sharedWith"]
                ],
            )
            for t in row["servingTeams"]
        ]
        return cls(
            channel=Channel.from_props(row["channel"]),
            touchpoints=int(row["touchpoints"]),
            trend=[ChannelDemand(period_start=s, touchpoints=counts.get(s, 0)) for s in starts],
            serving_teams=teams,
            response_time_kpis=[ck for _, ck in kpis],
            unstaffed=int(row["touchpoints"]) > 0 and not teams,
        )


def _channel_kpi(row: dict[str, Any]) -> ChannelKpi:
    latest = row["latest"]
    return ChannelKpi(
        kpi=Kpi.from_props(row["kpi"]),
        latest=Measurement.from_props(latest) if latest else None,
        status=kpi_status(row["kpi"], latest),
    )
