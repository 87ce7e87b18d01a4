"""Result type of the KPI-lineage traversal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.schema.enums import KpiStatus
from orggraph.schema.team_services import kpi_status
from orggraph.schema.types import Campaign, Channel, Kpi, Measurement, Process, Step, Team

# The most measurements `kpiLineage(last:)` returns.
MAX_SERIES = 1000


@strawberry.type(description="Where a KPI comes from, who owns and sees it, and how it stands.")
class KpiLineage:
    kpi: Kpi
    at: datetime = strawberry.field(description="When step owners are taken.")
    status: KpiStatus = strawberry.field(description="Latest value against target.")
    latest: Measurement | None
    series: list[Measurement] = strawberry.field(description="Measurements, oldest period first.")
    steps: list[Step] = strawberry.field(description="Steps measured, directly or via a process.")
    processes: list[Process]
    channels: list[Channel]
    campaigns: list[Campaign]
    touchpoints_behind_latest: int = strawberry.field(
        description="Touchpoints feeding it in the latest measurement's period."
    )
    accountable_team: Team | None
    shared_with: list[Team]
    feeding_teams: list[Team] = strawberry.field(
        description="Owners of its steps, teams serving its channels, running its campaigns."
    )
    unaware_teams: list[Team] = strawberry.field(
        description="Feeding teams it is neither accountable to nor shared with (information gap)."
    )

    @classmethod
    def from_raw(cls, raw: dict[str, Any], at: datetime) -> KpiLineage:
        accountable = raw.get("accountable")
        feeding = [Team.from_props(t) for t in raw["feedingTeams"]]
        aware = {t["id"] for t in raw["sharedWith"]} | (
            {accountable["id"]} if accountable else set()
        )
        latest = raw.get("latest")
        return cls(
            kpi=Kpi.from_props(raw["kpi"]),
            at=at,
            status=kpi_status(raw["kpi"], latest),
            latest=Measurement.from_props(latest) if latest else None,
            series=[Measurement.from_props(m) for m in reversed(raw["series"])],
            steps=[Step.from_props(s) for s in raw["steps"]],
            processes=[Process.from_props(p) for p in raw["processes"]],
            channels=[Channel.from_props(c) for c in raw["channels"]],
            campaigns=[Campaign.from_props(c) for c in raw["campaigns"]],
            touchpoints_behind_latest=raw["touchpoints"],
            accountable_team=Team.from_props(accountable) if accountable else None,
            shared_with=[Team.from_props(t) for t in raw["sharedWith"]],
            feeding_teams=feeding,
            unaware_teams=[t for t in feeding if t.id not in aware],
        )
