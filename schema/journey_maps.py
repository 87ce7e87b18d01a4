"""Result types of the journey map (directly-follows graph).

Columnar on purpose: a map can have thousands of edges, so each part is one
object holding parallel lists (index i of every list is the i-th node or
edge), not thousands of resolved objects.
"""

from __future__ import annotations

from typing import Any

import strawberry

from orggraph.graph.named_enum import NamedEnum
from orggraph.schema.types import Customer

JourneyMapKey = NamedEnum("JourneyMapKey", "ACTIVITY TYPE CHANNEL STEP")
strawberry.enum(JourneyMapKey, description="What a node of the journey map is.")


@strawberry.type(description="Activities with their frequencies (parallel lists, in key order).")
class JourneyMapNodes:
    keys: list[str]
    labels: list[str | None] = strawberry.field(
        description="Names of channels / steps; the key otherwise."
    )
    counts: list[int] = strawberry.field(description="Touchpoints with this key.")


@strawberry.type(description="Directly-follows edges (parallel lists, in (source, target) order).")
class JourneyMapEdges:
    sources: list[str]
    targets: list[str]
    counts: list[int]
    median_seconds: list[float | None] = strawberry.field(description="Median transition time.")


@strawberry.type(description="Start or end activities: how many cases start (end) with each.")
class JourneyMapEndpoints:
    keys: list[str]
    counts: list[int]


@strawberry.type(description="The directly-follows graph of touchpoints.")
class JourneyMap:
    by: JourneyMapKey
    case_notion: str
    object_type: str | None
    case_count: int
    nodes: JourneyMapNodes
    edges: JourneyMapEdges
    start_activities: JourneyMapEndpoints
    end_activities: JourneyMapEndpoints

    @classmethod
    def from_raw(
        cls, raw: dict[str, Any], by: JourneyMapKey, case_notion: str, object_type: str | None
    ) -> JourneyMap:
        return cls(
            by=by,
            case_notion=case_notion,
            object_type=object_type,
            case_count=raw["caseCount"],
            nodes=JourneyMapNodes(
                keys=[str(k) for k in raw["nodeKeys"]],
                labels=raw["nodeLabels"],
                counts=raw["nodeCounts"],
            ),
            edges=JourneyMapEdges(
                sources=[str(k) for k in raw["edgeSources"]],
                targets=[str(k) for k in raw["edgeTargets"]],
                counts=raw["edgeCounts"],
                median_seconds=raw["edgeMedians"],
            ),
            start_activities=JourneyMapEndpoints(
                keys=[str(k) for k in raw["startKeys"]], counts=raw["startCounts"]
            ),
            end_activities=JourneyMapEndpoints(
                keys=[str(k) for k in raw["endKeys"]], counts=raw["endCounts"]
            ),
        )


@strawberry.type(description="A customer behind a node or an edge of the journey map.")
class JourneyMapCase:
    customer: Customer
    times: int = strawberry.field(
        description="How often its journey passes the node (or takes the edge)."
    )


@strawberry.type(description="The customers (cases) behind a node or an edge of the journey map.")
class JourneyMapCases:
    total_count: int = strawberry.field(description="Every customer behind it.")
    cases: list[JourneyMapCase] = strawberry.field(
        description="The first ones, most occurrences first, then by customer id."
    )

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> JourneyMapCases:
        return cls(
            total_count=raw["total"],
            cases=[
                JourneyMapCase(customer=Customer.from_props(row["customer"]), times=row["times"])
                for row in raw["cases"]
            ],
        )
