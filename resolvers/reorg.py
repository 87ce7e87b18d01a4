"""Reorganisation impact: what depends on a team, and what a merge would change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError, NotFoundError
from orggraph.graph import reorg
from orggraph.graph.model import as_utc
from orggraph.resolvers.entities import checked_id
from orggraph.schema.reorg import MAX_IN_FLIGHT_SAMPLE, ReorgImpact, build_reorg_impact

DEFAULT_IN_FLIGHT_SAMPLE = 20


async def resolve_reorg_impact(
    info: Info,
    team_id: strawberry.ID,
    move_to: Annotated[
        strawberry.ID | None,
        strawberry.argument(
            description="What-if: merge the team into this team (nothing is written)."
        ),
    ] = None,
    at: Annotated[
        datetime | None,
        strawberry.argument(description="Ownership valid at this time (default now)."),
    ] = None,
    first: Annotated[
        int, strawberry.argument(description="How many customers in flight to list (latest first).")
    ] = DEFAULT_IN_FLIGHT_SAMPLE,
) -> ReorgImpact:
    team = checked_id(team_id, "teamId")
    target = checked_id(move_to, "moveTo") if move_to is not None else None
    if target == team:
        raise BadInputError("'moveTo' must be another team than 'teamId'", field="moveTo")
    if not 0 <= first <= MAX_IN_FLIGHT_SAMPLE:
        raise BadInputError(f"'first' must be between 0 and {MAX_IN_FLIGHT_SAMPLE}", field="first")
    when = as_utc(at) if at else datetime.now(UTC)
    raw = await reorg.reorg_impact(info.context.graph, team, target, when, first)
    if raw is None:
        raise NotFoundError(f"no Team with id '{team}'", field="teamId")
    if target is not None and raw["target"] is None:
        raise NotFoundError(f"no Team with id '{target}'", field="moveTo")
    return build_reorg_impact(raw, when, first)


@strawberry.type
class ReorgQuery:
    reorg_impact: ReorgImpact = strawberry.field(
        resolver=resolve_reorg_impact,
        description=(
            "Everything that depends on a team, in one traversal: steps and processes it owns, "
            "KPIs it is accountable for, shares or feeds, SLAs as provider or consumer, channels "
            "it serves, campaigns it runs, services it provides and consumes, customers in flight "
            "at its steps; with `moveTo`, the what-if of merging it into that team."
        ),
    )
