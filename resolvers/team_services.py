"""Teams as services: the end-to-end view of one team."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from orggraph.context import Info
from orggraph.errors import NotFoundError
from orggraph.graph import team_services
from orggraph.graph.model import as_utc
from orggraph.resolvers.entities import checked_id
from orggraph.schema.team_services import TeamService


async def resolve_team_service(
    info: Info, team_id: strawberry.ID, at: datetime | None = None
) -> TeamService:
    team = checked_id(team_id, "teamId")
    when = as_utc(at) if at else datetime.now(UTC)
    raw = await team_services.team_service(info.context.graph, team, when)
    if raw is None:
        raise NotFoundError(f"no Team with id '{team}'", field="teamId")
    return TeamService.from_raw(raw, when)


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
