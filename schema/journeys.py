"""Touchpoints' input and filter, and the result types of the customer-journey traversal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.schema.enums import Stage
from orggraph.schema.inputs import list_filter, record_input
from orggraph.schema.relay import PageInfo
from orggraph.schema.types import (
    Campaign,
    Channel,
    Customer,
    Deal,
    Person,
    Step,
    Team,
    Touchpoint,
    as_enum,
)

TouchpointInput = record_input(
    "Touchpoint", "A touchpoint; the *Id fields link it (replacing earlier links)."
)
TouchpointFilter = list_filter(
    "Touchpoint",
    "type",
    "activity",
    extra={"at_from": (datetime | None, None), "at_to": (datetime | None, None)},
)


@strawberry.type(description="One touchpoint of a journey, with what it went through.")
class JourneyStep:
    touchpoint: Touchpoint
    channel: Channel | None
    campaign: Campaign | None
    team: Team | None = strawberry.field(description="The team that handled it.")
    person: Person | None = strawberry.field(description="The person who handled it.")
    step: Step | None = strawberry.field(description="The process step it reached.")
    since_previous: float | None = strawberry.field(
        description="Seconds since the customer's previous touchpoint (null for the first)."
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JourneyStep:
        touchpoint = row["touchpoint"]
        previous_at = row.get("previousAt")
        since: float | None = None
        if previous_at is not None and touchpoint.get("at") is not None:
            delta = touchpoint["at"].to_native() - previous_at.to_native()
            since = delta.total_seconds()

        def maybe(kind: Any, key: str) -> Any:
            props = row.get(key)
            return kind.from_props(props) if props else None

        return cls(
            touchpoint=Touchpoint.from_props(touchpoint),
            channel=maybe(Channel, "channel"),
            campaign=maybe(Campaign, "campaign"),
            team=maybe(Team, "team"),
            person=maybe(Person, "person"),
            step=maybe(Step, "step"),
            since_previous=since,
        )


@strawberry.type
class JourneyStepEdge:
    cursor: str
    node: JourneyStep


@strawberry.type(description="A page of a journey's touchpoints, in (at, id) order.")
class JourneyStepConnection:
    edges: list[JourneyStepEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Touchpoints in the journey's window.")

    @strawberry.field(description="The page's steps, without edges.")
    def nodes(self) -> list[JourneyStep]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A customer's end-to-end journey: touchpoints, deals, stage reached.")
class Journey:
    customer: Customer
    steps: JourneyStepConnection
    deals: list[Deal] = strawberry.field(
        description="Deals the customer opened from the window's first touchpoint on."
    )
    furthest_stage: Stage | None = strawberry.field(
        description="The highest stage reached (Stage enum order: LEAD < MQL < ... < CUSTOMER ...)."
    )
    stalled_at: Step | None = strawberry.field(
        description="The step of the last touchpoint, when the furthest stage is before CUSTOMER."
    )


def stage_of(value: str | None) -> Any:
    return as_enum(Stage, value) if value else None
