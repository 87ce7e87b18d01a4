"""Teams as services: the end-to-end view of one team."""

from __future__ import annotations

from datetime import datetime

import strawberry

from orggraph.context import Info
from orggraph.graph import team_services
from orggraph.resolvers.entities import at_or_now, checked_id, found
from orggraph.schema.team_services import TeamService


async def resolve_team_service(
    info: Info, team_id: strawberry.ID, at: datetime | None = None
) -> TeamService:
    team = checked_id(team_id, "teamId")
    when = at_or_now(at)
    raw = await team_services.team_service(info.context.graph, team, when)
    return TeamService.from_raw(found(raw, "Team", team, "teamId"), when)


@strawberry.type
class TeamServicesQuery:
    team_service: TeamService = strawberry.field(
        resolver=resolve_team_service,
        description=(
            "A team as a service in one traversal: hierarchy, services provided (to whom) and "
            "consumed, steps owned (current at `at`, default now, or past), own and shared KPIs "
            "with latest value against target, SLAs as provider and consumer with compliance."
        ),
    )
