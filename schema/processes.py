"""Result and input types of the value-stream (process) traversal."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

import strawberry

from orggraph.schema.enums import Stage
from orggraph.schema.types import Process, Sla, Step, Team, as_datetime, as_enum


@strawberry.input(description="Which touchpoints and customers the funnel counts.")
class FunnelFilter:
    window_from: datetime | None = strawberry.field(
        default=None, name="from", description="Touchpoints at or after this time."
    )
    window_to: datetime | None = strawberry.field(
        default=None, name="to", description="Touchpoints before this time."
    )
    channel_id: strawberry.ID | None = None
    campaign_id: strawberry.ID | None = None
    segment: str | None = strawberry.field(default=None, description="Customer segment.")


@strawberry.type
class StepInProcess:
    """The fields a step row of an answer starts with (reorgImpact, teamService): the step,
    its process and its place there. Not in the schema itself: only its subtypes are."""

    step: Step
    process: Process | None
    order: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any], **more: Any) -> Self:
        """From a row's ``step``, ``process`` (or null) and ``order``, and ``more`` fields."""
        process = Process.from_props(row["process"]) if row.get("process") else None
        return cls(
            step=Step.from_props(row["step"]), process=process, order=row.get("order"), **more
        )


@strawberry.type(description="A team owning a step at the asked time, with its validity period.")
class CurrentOwner:
    team: Team
    valid_from: datetime | None
    valid_to: datetime | None


@strawberry.type(description="A step of the value stream with its owners and governing SLAs.")
class ValueStreamStep:
    step: Step
    order: int | None
    owners: list[CurrentOwner]
    slas: list[Sla]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ValueStreamStep:
        props = {k: v for k, v in row.items() if k not in ("owners", "slas", "order")}
        return cls(
            step=Step.from_props(props),
            order=row.get("order"),
            owners=[
                CurrentOwner(
                    team=Team.from_props(o),
                    valid_from=as_datetime(o.get("validFrom")),
                    valid_to=as_datetime(o.get("validTo")),
                )
                for o in row["owners"]
            ],
            slas=[Sla.from_props(s) for s in row["slas"]],
        )


@strawberry.type(description="Work passing between consecutive steps owned by different teams.")
class Handoff:
    from_step: Step
    to_step: Step
    from_teams: list[Team]
    to_teams: list[Team]
    slas: list[Sla] = strawberry.field(description="SLAs governing the later step.")


@strawberry.type(description="One stage of the funnel.")
class FunnelStage:
    stage: Stage | None
    steps: list[Step]
    reached: int = strawberry.field(description="Customers with a touchpoint at one of its steps.")
    conversion_from_previous: float | None = strawberry.field(
        description="reached / reached at the previous stage (null for the first stage or none)."
    )
    conversion_overall: float | None = strawberry.field(
        description="reached / reached at the first stage."
    )
    timed_customers: int = strawberry.field(
        description="Customers that reached this stage and then the next (the time sample)."
    )
    median_seconds_to_next: float | None
    p90_seconds_to_next: float | None


@strawberry.type(description="A process end to end: steps, owners, hand-offs and funnel.")
class ValueStream:
    process: Process
    at: datetime = strawberry.field(description="When the owners are taken.")
    steps: list[ValueStreamStep]
    handoffs: list[Handoff]
    funnel: list[FunnelStage]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def build_value_stream(raw: dict[str, Any], at: datetime) -> ValueStream:
    """Shape the one query's answer: hand-offs and conversions are derived here."""
    steps = [ValueStreamStep.from_row(row) for row in raw["steps"]]
    handoffs = []
    for before, after in zip(steps, steps[1:], strict=False):
        before_ids = {o.team.id for o in before.owners}
        after_ids = {o.team.id for o in after.owners}
        if before_ids != after_ids:
            handoffs.append(
                Handoff(
                    from_step=before.step,
                    to_step=after.step,
                    from_teams=[o.team for o in before.owners],
                    to_teams=[o.team for o in after.owners],
                    slas=after.slas,
                )
            )
    by_index = {row["i"]: row for row in raw["funnel"] if row.get("i") is not None}
    funnel: list[FunnelStage] = []
    first_reached = 0
    previous: int | None = None
    for index, stage in enumerate(raw["stages"]):
        row = by_index.get(index, {})
        reached = int(row.get("reached") or 0)
        if index == 0:
            first_reached = reached
        funnel.append(
            FunnelStage(
                stage=as_enum(Stage, stage),
                steps=[
                    s.step
                    for s in steps
                    if s.step.stage is not None and s.step.stage.value == stage
                ],
                reached=reached,
                conversion_from_previous=None if previous is None else _ratio(reached, previous),
                conversion_overall=_ratio(reached, first_reached),
                timed_customers=int(row.get("timed") or 0),
                median_seconds_to_next=row.get("median"),
                p90_seconds_to_next=row.get("p90"),
            )
        )
        previous = reached
    return ValueStream(
        process=Process.from_props(raw["process"]),
        at=at,
        steps=steps,
        handoffs=handoffs,
        funnel=funnel,
    )
