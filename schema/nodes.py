"""The input of ``upsertGraph``: every label's upsert inputs and relationship batches."""

from __future__ import annotations

from typing import Any

import strawberry

from orggraph.schema import enums
from orggraph.schema.filters import declare
from orggraph.schema.inputs import INPUTS, RelationshipInput
from orggraph.schema.journeys import TouchpointInput

# Every label's upsert input; the touchpoints' is declared with its domain.
LABEL_INPUTS: dict[str, Any] = {**INPUTS, "Touchpoint": TouchpointInput}


@strawberry.input
class RelationshipBatchInput:
    kind: enums.RelationshipKind
    rows: list[RelationshipInput]


# upsertGraph's lists, in the order it writes them (referenced entities first).
GRAPH_INPUT_LABELS: tuple[tuple[str, str], ...] = (
    ("teams", "Team"),
    ("people", "Person"),
    ("services", "Service"),
    ("systems", "System"),
    ("processes", "Process"),
    ("steps", "Step"),
    ("channels", "Channel"),
    ("campaigns", "Campaign"),
    ("customers", "Customer"),
    ("business_objects", "BusinessObject"),
    ("deals", "Deal"),
    ("kpis", "KPI"),
    ("measurements", "Measurement"),
    ("slas", "SLA"),
    ("touchpoints", "Touchpoint"),
)


def _list_of(item: Any) -> Any:
    return list[item] | None


GraphInput = declare(
    "GraphInput",
    {
        **{field: (_list_of(LABEL_INPUTS[label]), None) for field, label in GRAPH_INPUT_LABELS},
        "relationships": (list[RelationshipBatchInput] | None, None),
    },
    input=True,
    description="Entities and relationships written in one transaction.",
)
