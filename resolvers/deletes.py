"""``delete<Entity>(id)`` and ``delete<Entities>(ids)`` for every label of the model,
``deleteRelationship(s)`` for every writable kind: generated from the model, so a new
label gets its deletes with no code here (graph.deletes holds the rules)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import strawberry

from orggraph.context import Info
from orggraph.events import broker_of, publish_deletion
from orggraph.graph import deletes
from orggraph.graph.driver import Tx
from orggraph.graph.history import tracked_deletes, tracked_relationships
from orggraph.graph.model import RELATIONSHIPS, RelationshipKind
from orggraph.resolvers.entities import check_batch_size, checked_id
from orggraph.resolvers.history import write_recorded
from orggraph.resolvers.nodes import checked_relationship_rows
from orggraph.schema.deletes import DeleteResult, RelationshipDeleteResult
from orggraph.schema.inputs import RelationshipInput
from orggraph.schema.types import NODE_TYPES

# Plurals the upsert fields already spell this way (upsertPeople, upsertProcesses).
_IRREGULAR_PLURALS = {"Person": "People"}


def field_names(type_name: str) -> tuple[str, str]:
    """(one, many) Python field names of a GraphQL type's deletes: delete_team, delete_teams."""
    plural = _IRREGULAR_PLURALS.get(type_name) or (
        type_name + "es" if type_name.endswith("s") else type_name + "s"
    )
    return f"delete_{_snake(type_name)}", f"delete_{_snake(plural)}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _owned(label: str) -> str:
    kinds = deletes.DEPENDENTS.get(label, ())
    if not kinds:
        return " Its relationships go with it."
    owned = " and ".join(RELATIONSHIPS[kind].target for kind in kinds)
    return (
        f" It owns its {owned} nodes: while it has any the delete is refused (CONFLICT, "
        "naming them) unless `cascade` is true, which deletes them with it."
    )


async def _delete_nodes(
    info: Info, label: str, ids: Sequence[str], cascade: bool
) -> deletes.DeleteSummary:
    """``deletes.delete_nodes`` with the history of what it deleted (graph.history)."""
    literal = deletes.record_label(label)
    unique = deletes.checked_ids(ids)

    async def work(tx: Tx) -> deletes.DeleteSummary:
        return await deletes.delete_nodes_in(tx, literal, unique, cascade=cascade)

    summary = await write_recorded(info, [tracked_deletes(literal, unique)], work)
    await publish_deletion(
        info.context.graph,
        broker_of(info),
        summary.removed_touchpoints,
        summary.changed_touchpoints,
    )
    return summary


def delete_one_field(label: str) -> Any:
    async def resolve(info: Info, id: strawberry.ID, cascade: bool = False) -> DeleteResult:
        summary = await _delete_nodes(info, label, [checked_id(id)], cascade)
        return DeleteResult.from_summary(summary)

    return strawberry.mutation(
        resolver=resolve,
        description=f"Delete a {label} by id (a missing id is reported, not an error)."
        + _owned(label),
    )


def delete_many_field(label: str) -> Any:
    async def resolve(info: Info, ids: list[strawberry.ID], cascade: bool = False) -> DeleteResult:
        check_batch_size(info, ids, "ids")
        summary = await _delete_nodes(info, label, ids, cascade)
        return DeleteResult.from_summary(summary)

    return strawberry.mutation(
        resolver=resolve,
        description=f"Delete {label} nodes by id, in one transaction: all or nothing."
        + _owned(label),
    )


async def _delete_relationships(
    info: Info, kind: RelationshipKind, rows: list[RelationshipInput]
) -> RelationshipDeleteResult:
    prepared = deletes.relationship_rows(kind, checked_relationship_rows(info, rows))

    async def work(tx: Tx) -> deletes.RelationshipDeleteSummary:
        return await deletes.delete_relationships_in(tx, kind, prepared)

    summary = await write_recorded(info, [tracked_relationships(kind, prepared)], work)
    await publish_deletion(info.context.graph, broker_of(info), [], summary.changed_touchpoints)
    return RelationshipDeleteResult.from_summary(summary)


_RELATIONSHIP_RULES = (
    " A kind keyed by a property (OWNS by `from`) deletes the one with the key given in "
    "`properties`, or all between the two ends without it. The journey chain, REACHED "
    "and LATEST are kept true; they themselves cannot be deleted (BAD_USER_INPUT)."
)


@strawberry.type
class RelationshipDeletesMutation:
    @strawberry.mutation(
        description="Delete one relationship (a missing one is reported, not an error)."
        + _RELATIONSHIP_RULES
    )
    async def delete_relationship(
        self, info: Info, kind: RelationshipKind, row: RelationshipInput
    ) -> RelationshipDeleteResult:
        return await _delete_relationships(info, kind, [row])

    @strawberry.mutation(
        description="Delete relationships of one kind, in one transaction." + _RELATIONSHIP_RULES
    )
    async def delete_relationships(
        self, info: Info, kind: RelationshipKind, rows: list[RelationshipInput]
    ) -> RelationshipDeleteResult:
        return await _delete_relationships(info, kind, rows)


def _node_deletes() -> type:
    namespace: dict[str, Any] = {}
    for label, node_type in NODE_TYPES.items():
        one, many = field_names(node_type.__name__)
        namespace[one] = delete_one_field(label)
        namespace[many] = delete_many_field(label)
    return strawberry.type(type("NodeDeletesMutation", (), namespace))


NodeDeletesMutation = _node_deletes()
