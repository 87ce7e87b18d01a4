"""GraphQL enums: the model's own enums, exposed as they are."""

from __future__ import annotations

import strawberry

from orggraph.graph import model

TeamKind = strawberry.enum(model.TeamKind)
Function = strawberry.enum(model.Function)
ServiceAudience = strawberry.enum(model.ServiceAudience)
SystemKind = strawberry.enum(model.SystemKind)
Lifecycle = strawberry.enum(model.Lifecycle)
Stage = strawberry.enum(model.Stage)
CustomerKind = strawberry.enum(model.CustomerKind)
TouchpointType = strawberry.enum(model.TouchpointType)
ChannelKind = strawberry.enum(model.ChannelKind)
SourceKind = strawberry.enum(model.SourceKind)
KpiDirection = strawberry.enum(model.KpiDirection)
Window = strawberry.enum(model.Window)
SlaKind = strawberry.enum(model.SlaKind)
RelationshipKind = strawberry.enum(model.RelationshipKind)
