"""GraphQL enums: the model's own enums (and the KPI status rule's), registered with
Strawberry as they are.

``strawberry.enum`` marks the class in place, so the names exported here are
the model's classes themselves (one definition, valid as types for mypy).
"""

from __future__ import annotations

import strawberry

from orggraph.graph.kpis import KpiStatus
from orggraph.graph.model import (
    ChannelKind,
    CustomerKind,
    Function,
    KpiDirection,
    Lifecycle,
    RelationshipKind,
    ServiceAudience,
    SlaKind,
    SourceKind,
    Stage,
    SystemKind,
    TeamKind,
    TouchpointType,
    Window,
)

for _enum in (
    TeamKind,
    Function,
    ServiceAudience,
    SystemKind,
    Lifecycle,
    Stage,
    CustomerKind,
    TouchpointType,
    ChannelKind,
    SourceKind,
    KpiDirection,
    Window,
    SlaKind,
    RelationshipKind,
):
    strawberry.enum(_enum)
strawberry.enum(KpiStatus, description="A KPI's latest value against its target.")

__all__ = [
    "TeamKind",
    "Function",
    "ServiceAudience",
    "SystemKind",
    "Lifecycle",
    "Stage",
    "CustomerKind",
    "TouchpointType",
    "ChannelKind",
    "SourceKind",
    "KpiDirection",
    "Window",
    "SlaKind",
    "RelationshipKind",
    "KpiStatus",
]
