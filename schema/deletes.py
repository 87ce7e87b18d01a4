"""Result types of deletes (nodes of one label, relationships of one kind)."""

from __future__ import annotations

import strawberry

from orggraph.graph.deletes import DeleteSummary, RelationshipDeleteSummary
from orggraph.graph.model import RelationshipKind
from orggraph.schema.results import from_fields


@strawberry.type(
    description=(
        "What a delete did. Ids that did not exist are listed in missingIds, not an error: "
        "a retried delete answers the same ids as missing."
    )
)
class DeleteResult:
    label: str
    deleted_ids: list[strawberry.ID] = strawberry.field(description="Ids deleted now.")
    missing_ids: list[strawberry.ID] = strawberry.field(description="Ids that did not exist.")
    nodes_deleted: int = strawberry.field(
        description="Nodes deleted, with the dependents of a cascade."
    )
    relationships_deleted: int

    @classmethod
    def from_summary(cls, summary: DeleteSummary) -> DeleteResult:
        return from_fields(cls, summary)


@strawberry.type(description="What a relationship delete did.")
class RelationshipDeleteResult:
    kind: RelationshipKind
    relationships_deleted: int
    missing_rows: list[int] = strawberry.field(
        description="Indexes of the rows no relationship matched (already gone, or never there)."
    )

    @classmethod
    def from_summary(cls, summary: RelationshipDeleteSummary) -> RelationshipDeleteResult:
        return from_fields(cls, summary)
