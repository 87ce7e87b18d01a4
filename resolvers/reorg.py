"""Reorganisation impact: what depends on a team, and what a merge would change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError, NotFoundError
from orggraph.graph import reorg
from orggraph.graph.model import as_utc
from orggraph.resolvers.changes import recorder
from orggraph.resolvers.entities import at_or_now, checked_id, found
from orggraph.schema.reorg import (
    MAX_IN_FLIGHT_SAMPLE,
    MAX_PLAN_ITEMS,
    HandOverInput,
    ReorganisationOutcome,
    ReorganisationPlanInput,
    ReorgImpact,
    build_outcome,
    build_reorg_impact,
)

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
    when = at_or_now(at)
    raw = await reorg.reorg_impact(info.context.graph, team, target, when, first)
    raw = found(raw, "Team", team, "teamId")
    if target is not None and raw["target"] is None:
        raise NotFoundError(f"no Team with id '{target}'", field="moveTo")
    return build_reorg_impact(raw, when, first)


def checked_plan(plan: ReorganisationPlanInput) -> reorg.Plan:
    if plan.size() > MAX_PLAN_ITEMS:
        raise BadInputError(f"a plan holds at most {MAX_PLAN_ITEMS} items", field="plan")
    ids = [
        *(x for m in plan.merges for x in (m.team_id, m.into)),
        *(x for n in plan.new_teams for x in (n.id, n.part_of) if x is not None),
        *(x for m in plan.moves for x in (m.item_id, m.from_team, m.to_team)),
        *(r.team_id for r in plan.renames),
    ]
    for value in ids:
        checked_id(value, "plan")
    for name in [n.name for n in plan.new_teams] + [r.name for r in plan.renames]:
        if not name.strip() or len(name) > 200:
            raise BadInputError("a team name must be 1 to 200 characters", field="plan")
    return plan.to_plan(as_utc(plan.effective_at))


async def resolve_reorganisation_preview(
    info: Info, plan: ReorganisationPlanInput
) -> ReorganisationOutcome:
    checked = checked_plan(plan)
    changes = await reorg.preview_reorganisation(info.context.graph, checked)
    return build_outcome(checked.at, changes, applied=False)


async def resolve_apply_reorganisation(
    info: Info, plan: ReorganisationPlanInput
) -> ReorganisationOutcome:
    checked = checked_plan(plan)
    record = recorder(info, "applyReorganisation", checked.at, reorg.history_entries)
    changes = await reorg.apply_reorganisation(info.context.graph, checked, record.write)
    record.publish()
    return build_outcome(checked.at, changes, applied=True)


async def resolve_hand_over_process(
    info: Info,
    hand_over: HandOverInput,
    preview: Annotated[
        bool, strawberry.argument(description="Only answer what it would change.")
    ] = False,
) -> ReorganisationOutcome:
    ids = [hand_over.process_id, hand_over.to_team, *hand_over.from_teams]
    ids += [x for o in hand_over.step_owners for x in (o.step_id, o.team_id)]
    if len(ids) > MAX_PLAN_ITEMS:
        raise BadInputError(f"a hand-over names at most {MAX_PLAN_ITEMS} ids", field="handOver")
    for value in ids:
        checked_id(value, "handOver")
    if str(hand_over.to_team) in {str(t) for t in hand_over.from_teams}:
        raise BadInputError("'toTeam' must not be one of 'fromTeams'", field="toTeam")
    handover = hand_over.to_handover(as_utc(hand_over.effective_at))
    graph = info.context.graph
    if preview:
        changes = await reorg.preview_handover(graph, handover)
        return build_outcome(handover.at, changes, applied=False)
    record = recorder(info, "handOverProcess", handover.at, reorg.history_entries)
    changes = await reorg.apply_handover(graph, handover, record.write)
    record.publish()
    return build_outcome(handover.at, changes, applied=True)


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

    reorganisation_preview: ReorganisationOutcome = strawberry.field(
        resolver=resolve_reorganisation_preview,
        description=(
            "The changes a reorganisation plan would make at its date, computed exactly as "
            "`applyReorganisation` computes them (nothing is written). Refused whole, like "
            "the apply, when the plan contradicts the organisation."
        ),
    )


@strawberry.type
class ReorgMutation:
    apply_reorganisation: ReorganisationOutcome = strawberry.field(
        resolver=resolve_apply_reorganisation,
        description=(
            "Apply a reorganisation plan in one transaction, effective at its date: "
            "ownerships, memberships and hierarchy end at that date and start for the new "
            "team; channels, campaigns, KPIs, SLA roles and services pass over. Refused whole "
            "(CONFLICT, NOT_FOUND or BAD_USER_INPUT naming the item) on any conflict. Applying "
            "the same plan again changes nothing. Each change is recorded in `changes`."
        ),
    )
    hand_over_process: ReorganisationOutcome = strawberry.field(
        resolver=resolve_hand_over_process,
        description=(
            "The Digital Hub hand-over of a CONSOLIDATED process to group teams at a date "
            "(see HandOverInput), in one transaction, recorded in `changes`; with "
            "`preview: true`, only the changes it would make. Applying it again changes "
            "nothing; a process in another lifecycle state is a CONFLICT."
        ),
    )
