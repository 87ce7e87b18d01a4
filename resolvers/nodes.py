"""Cross-entity fields: ``node(id)``, relationship upserts, and ``upsertGraph``."""

from __future__ import annotations

from typing import Any, cast

import strawberry

from orggraph.context import Info
from orggraph.errors import ConflictError
from orggraph.events import publish_write
from orggraph.graph import nodes, writes
from orggraph.graph.driver import Tx
from orggraph.graph.history import tracked_nodes, tracked_relationships
from orggraph.graph.model import RECORDS, RELATIONSHIPS, Record, RelationshipKind
from orggraph.graph.touchpoint_changes import changed, touchpoint_ends, touchpoint_states
from orggraph.graph.write_rules import WriteSummary
from orggraph.resolvers.entities import UpsertResult, check_batch_size, checked_id
from orggraph.resolvers.history import write_recorded
from orggraph.schema.inputs import (
    GRAPH_INPUT_LABELS,
    GraphInput,
    RelationshipBatchInput,
    RelationshipInput,
    to_dict,
)
from orggraph.schema.types import NODE_TYPES, Node


def relationship_rows(rows: list[RelationshipInput]) -> list[dict[str, Any]]:
    return [
        {"from": row.from_, "to": row.to, "properties": to_dict(row.properties) or {}}
        for row in rows
    ]


def checked_relationship_rows(info: Info, rows: list[RelationshipInput]) -> list[dict[str, Any]]:
    """The rows of one relationship mutation, once their number is within the batch limit."""
    check_batch_size(info, rows, "rows")
    return relationship_rows(rows)


async def _upsert_relationships(
    info: Info, kind: RelationshipKind, rows: list[RelationshipInput]
) -> UpsertResult:
    prepared = writes.validate_relationships(kind, checked_relationship_rows(info, rows))

    async def work(tx: Tx) -> WriteSummary:
        ends = touchpoint_ends([(RELATIONSHIPS[kind].source, RELATIONSHIPS[kind].target, prepared)])
        before = await touchpoint_states(tx, ends)
        summary = await writes.write_relationships(tx, kind, prepared)
        summary.changed_touchpoints = changed(before, await touchpoint_states(tx, ends))
        return summary

    summary = await write_recorded(info, [tracked_relationships(kind, prepared)], work)
    await publish_write(info, summary)  # live subscriptions, after commit
    return UpsertResult.from_summary(summary)


@strawberry.type
class NodesQuery:
    @strawberry.field(description="Any entity by id (CONFLICT if two labels share the id).")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        found = await nodes.find_by_id(info.context.graph, checked_id(id))
        if not found:
            return None
        if len(found) > 1:
            labels = ", ".join(label for label, _ in found)
            raise ConflictError(f"id {id!r} is used by several labels: {labels}", labels=labels)
        label, props = found[0]
        return cast(Node, NODE_TYPES[label].from_props(props))


@strawberry.type
class NodesMutation:
    @strawberry.mutation(
        description=(
            "Create or update one relationship. Kinds that are a single-valued reference "
            "(a touchpoint's customer, channel, campaign, team, person or step; a step's "
            "process; a deal's customer and team; a KPI's accountable team; an SLA's "
            "parties, step and KPI) replace the previous relationship of that record."
        )
    )
    async def upsert_relationship(
        self, info: Info, kind: RelationshipKind, row: RelationshipInput
    ) -> UpsertResult:
        return await _upsert_relationships(info, kind, [row])

    @strawberry.mutation(
        description=(
            "Create or update relationships of one kind, in one transaction. Single-valued "
            "kinds replace as in upsertRelationship; one record given two targets is refused."
        )
    )
    async def upsert_relationships(
        self, info: Info, kind: RelationshipKind, rows: list[RelationshipInput]
    ) -> UpsertResult:
        return await _upsert_relationships(info, kind, rows)

    @strawberry.mutation(
        description="Entities and relationships together, in one transaction: all or nothing."
    )
    async def upsert_graph(self, info: Info, input: GraphInput) -> UpsertResult:
        data = to_dict(input)
        records: list[tuple[str, list[Record]]] = []
        total_rows = 0
        for field, label in GRAPH_INPUT_LABELS:
            rows = data.get(field) or []
            total_rows += len(rows)
            if rows:
                records.append((RECORDS[label].label, writes.validate_records(label, rows)))
        relationships: list[tuple[RelationshipKind, list[dict[str, Any]]]] = []
        for batch in input.relationships or []:
            assert isinstance(batch, RelationshipBatchInput)
            total_rows += len(batch.rows)
            relationships.append(
                (
                    batch.kind,
                    writes.validate_relationships(batch.kind, relationship_rows(batch.rows)),
                )
            )
        check_batch_size(info, [None] * total_rows, "input")

        async def work(tx: Tx) -> WriteSummary:
            summary = WriteSummary()
            ends = touchpoint_ends(
                (RELATIONSHIPS[kind].source, RELATIONSHIPS[kind].target, rows)
                for kind, rows in relationships
            )
            before = await touchpoint_states(tx, ends)
            for label, batch_records in records:
                summary.merge(await writes.write_records(tx, label, batch_records))
            for kind, rows in relationships:
                summary.merge(await writes.write_relationships(tx, kind, rows))
            linked = changed(before, await touchpoint_states(tx, ends))
            summary.changed_touchpoints = sorted({*summary.changed_touchpoints, *linked})
            return summary

        tracked = [tracked_nodes(label, [r.id for r in batch]) for label, batch in records]
        tracked += [tracked_relationships(kind, rows) for kind, rows in relationships]
        summary = await write_recorded(info, tracked, work)
        await publish_write(info, summary)  # live subscriptions, after commit
        return UpsertResult.from_summary(summary)
