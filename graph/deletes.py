"""Deletes for every label and relationship kind of the model, all or nothing.

Rules that hold for every delete:

* one call is one transaction, made of a bounded number of statements whatever the
  number of ids (find, cascade, delete, rebuild the journeys it touched);
* it is idempotent: an id (or relationship) that does not exist is reported as
  missing in the answer, not an error, so a retried call changes nothing;
* a node that owns dependents (``DEPENDENTS``: a customer's touchpoints and deals, a
  process's steps, a KPI's measurements) is refused with CONFLICT naming them, unless
  the caller asks to cascade; any other relationship simply goes with the node;
* it says which touchpoints it deleted (``removed_touchpoints``, read before they go:
  cascades included) and which lost a reference (``changed_touchpoints``: a deleted
  channel's touchpoints), for the live events published after the commit; a repeated
  delete finds nothing and reports none. Rebuilding the journey chain is not a change
  (graph/touchpoint_changes.py says what a touchpoint's state is);
* the derived relationships stay true: deleting touchpoints (or a customer's HAD,
  or a touchpoint's AT_STEP) rebuilds the journey chain (NEXT), REACHED and LATEST
  of the customers concerned, in the same transaction (``journeys.rebuild_chains``).

All Cypher is built from the model's allow-listed labels and types (literal strings).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, LiteralString

from pydantic import ValidationError

from orggraph.errors import BadInputError, ConflictError
from orggraph.graph.channels import link_channel_days
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.journeys import (
    CUSTOMERS_OF_TOUCHPOINTS_AT_STEPS,
    FUNNEL_REF_KINDS,
    rebuild_chains,
    rebuild_funnel_facts_of_touchpoints,
)
from orggraph.graph.model import (
    DERIVED_RELATIONSHIPS,
    RECORDS,
    RELATIONSHIPS,
    RelationshipKind,
    RelationshipSpec,
    validate_node_id,
)
from orggraph.graph.touchpoint_changes import REF_KINDS, touched_by_delete, touchpoint_ends

K = RelationshipKind

# What a node owns: the far ends of these relationships exist only for it (a touchpoint
# is something that happened to one customer). Deleting the owner needs ``cascade``,
# which deletes them with it. Every other relationship is a reference that goes with
# the node (a touchpoint's channel, a team's members).
DEPENDENTS: dict[str, tuple[RelationshipKind, ...]] = {
    "Customer": (K.CUSTOMER_HAD_TOUCHPOINT, K.CUSTOMER_OPENED_DEAL),
    "Process": (K.PROCESS_HAS_STEP,),
    "KPI": (K.KPI_HAS_MEASUREMENT,),
}
assert all(
    RELATIONSHIPS[kind].source == owner for owner, kinds in DEPENDENTS.items() for kind in kinds
), "an owner is the source of what it owns"
assert not {RELATIONSHIPS[k].target for kinds in DEPENDENTS.values() for k in kinds} & set(
    DEPENDENTS
), "dependents own nothing themselves: a cascade is one level deep"


@dataclass
class DeleteSummary:
    """What a delete did: the ids deleted and missing, and Neo4j's counters."""

    label: str
    deleted_ids: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)
    nodes_deleted: int = 0
    relationships_deleted: int = 0
    removed_touchpoints: list[dict[str, Any]] = field(default_factory=list)
    """The touchpoints deleted, cascades included: id, at, customerId, channelId."""
    changed_touchpoints: list[str] = field(default_factory=list)
    """Touchpoints that lost a reference to a deleted node."""

    def add(self, counters: Any) -> None:
        self.nodes_deleted += counters.nodes_deleted
        self.relationships_deleted += counters.relationships_deleted


@dataclass
class RelationshipDeleteSummary:
    kind: RelationshipKind
    relationships_deleted: int = 0
    missing_rows: list[int] = field(default_factory=list)
    changed_touchpoints: list[str] = field(default_factory=list)
    """Touchpoints that lost one of their references (a channel, a customer...)."""


# --- validation --------------------------------------------------------------------


def record_label(label: str) -> LiteralString:
    """The model's own (literal) spelling of a label a caller names."""
    if label not in RECORDS:
        known = ", ".join(sorted(RECORDS))
        raise BadInputError(f"unknown label {label!r} (one of {known})", field="label")
    return RECORDS[label].label


def checked_ids(ids: Sequence[str], argument: str = "ids") -> list[str]:
    """Valid ids, each once, in the order given."""
    for index, value in enumerate(ids):
        try:
            validate_node_id(value)
        except ValueError as error:
            raise BadInputError(
                f"'{argument}[{index}]' {error}", field=argument, row=index
            ) from error
    return list(dict.fromkeys(ids))


# --- literal Cypher, one per allow-listed label or kind -------------------------------------


def _dependent_pattern(kind: RelationshipKind) -> LiteralString:
    spec = RELATIONSHIPS[kind]
    return "(n)-[:" + spec.type + "]->(:" + spec.target + ")"


@functools.cache
def find_query(label: LiteralString) -> LiteralString:
    """Per id: whether it exists, and its count of each kind of dependent."""
    counts: LiteralString = ", ".join(
        "COUNT { " + _dependent_pattern(kind) + " }" for kind in DEPENDENTS.get(label, ())
    )
    return (
        "UNWIND $ids AS id OPTIONAL MATCH (n:" + label + " {id: id}) "
        "RETURN id, n IS NOT NULL AS found, "
        "CASE WHEN n IS NULL THEN [] ELSE [" + counts + "] END AS dependents"
    )


@functools.cache
def cascade_query(kind: RelationshipKind) -> LiteralString:
    spec = RELATIONSHIPS[kind]
    return (
        "UNWIND $ids AS id MATCH (:" + spec.source + " {id: id})-[:" + spec.type + "]->"
        "(d:" + spec.target + ") DETACH DELETE d"
    )


@functools.cache
def delete_nodes_query(label: LiteralString) -> LiteralString:
    return "UNWIND $ids AS id MATCH (n:" + label + " {id: id}) DETACH DELETE n"


@functools.cache
def delete_relationships_query(spec: RelationshipSpec) -> LiteralString:
    """Per row, the relationships of the kind between the two ends (with the key, when the
    kind has one and the row gives it) are deleted; the count says which rows missed."""
    key: LiteralString = ""
    if spec.key_property is not None:
        key = " WHERE row.key IS NULL OR r." + spec.key_property + " = row.key"
    return (
        "UNWIND $rows AS row OPTIONAL MATCH (:" + spec.source + " {id: row.from})"
        "-[r:" + spec.type + "]->(:" + spec.target + " {id: row.to})" + key + " "
        "WITH row, collect(r) AS found FOREACH (r IN found | DELETE r) "
        "RETURN row.index AS index, size(found) AS deleted"
    )


# --- transaction bodies ------------------------------------------------------------------


async def delete_nodes_in(
    tx: Tx, label: LiteralString, ids: Sequence[str], *, cascade: bool = False
) -> DeleteSummary:
    """Delete these nodes of one label inside ``tx`` (see the module's rules)."""
    summary = DeleteSummary(label)
    records = await tx.records(find_query(label), ids=list(ids))
    owned = DEPENDENTS.get(label, ())
    blocked: list[dict[str, Any]] = []
    for record in records:
        if not record["found"]:
            summary.missing_ids.append(record["id"])
            continue
        summary.deleted_ids.append(record["id"])
        counts = {
            RELATIONSHIPS[kind].target: count
            for kind, count in zip(owned, record["dependents"], strict=True)
            if count
        }
        if counts:
            blocked.append({"id": record["id"], "dependents": counts})
    if blocked and not cascade:
        raise _conflict(label, blocked)
    found = summary.deleted_ids
    if not found:
        return summary
    owned_types = [RELATIONSHIPS[kind].type for kind in owned]
    touched = await touched_by_delete(tx, label, found, owned_types)
    summary.removed_touchpoints = touched.removed
    summary.changed_touchpoints = touched.changed
    customers = touched.customers() if label == "Touchpoint" else set()
    if blocked:
        for kind in owned:
            summary.add(await tx.run(cascade_query(kind), ids=found))
    summary.add(await tx.run(delete_nodes_query(label), ids=found))
    # A deleted channel's touchpoints leave its days (a deleted touchpoint's IN_DAY went
    # with it).
    await link_channel_days(tx, touched.changed)
    if customers:
        # The deleted touchpoints' neighbours are linked again, first arrivals and the
        # latest touchpoint recomputed without them.
        rebuilt = await rebuild_chains(tx, customers)
        summary.relationships_deleted += rebuilt.relationships_deleted
    elif label == "Step" and touched.changed:
        # The touchpoints that were at the step leave its funnel facts.
        await rebuild_funnel_facts_of_touchpoints(tx, touched.changed)
    return summary


def _conflict(label: str, blocked: list[dict[str, Any]]) -> ConflictError:
    def describe(item: dict[str, Any]) -> str:
        parts = ", ".join(f"{count} {other}" for other, count in item["dependents"].items())
        return f"{item['id']!r} ({parts})"

    shown = "; ".join(describe(item) for item in blocked[:5])
    more = f" and {len(blocked) - 5} more" if len(blocked) > 5 else ""
    return ConflictError(
        f"{label} {shown}{more} still has dependents: delete them first, or pass "
        "cascade: true to delete them with it",
        label=label,
        dependents=blocked[:20],
    )


def relationship_rows(
    kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Validated ``{index, from, to, key}`` rows of one writable kind."""
    spec = RELATIONSHIPS[kind]
    if kind in DERIVED_RELATIONSHIPS:
        raise BadInputError(
            f"{kind.value} is maintained by orggraph (from the touchpoints) and cannot be "
            "deleted directly: delete or change the touchpoints instead",
            field="kind",
        )
    prepared: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        for end in ("from", "to"):
            try:
                validate_node_id(row.get(end) or "")
            except ValueError as error:
                raise BadInputError(
                    f"{kind.value} row {index}: field '{end}': {error}", field=end, row=index
                ) from error
        prepared.append(
            {"index": index, "from": row["from"], "to": row["to"], "key": _key(spec, row, index)}
        )
    return prepared


def _key(spec: RelationshipSpec, row: Mapping[str, Any], index: int) -> Any:
    properties = row.get("properties") or {}
    if spec.key_property is None or spec.key_property not in properties:
        return None
    try:
        validated = spec.properties.model_validate(
            {spec.key_property: properties[spec.key_property]}
        )
    except ValidationError as error:
        field = f"properties.{spec.key_property}"
        raise BadInputError(
            f"{spec.kind.value} row {index}: field '{field}': {error.errors()[0]['msg']}",
            field=field,
            row=index,
        ) from error
    return validated.model_dump(by_alias=True)[spec.key_property]


async def delete_relationships_in(
    tx: Tx, kind: RelationshipKind, rows: Sequence[dict[str, Any]]
) -> RelationshipDeleteSummary:
    summary = RelationshipDeleteSummary(kind)
    records = await tx.records(delete_relationships_query(RELATIONSHIPS[kind]), rows=list(rows))
    for record in records:
        summary.relationships_deleted += record["deleted"]
        if not record["deleted"]:
            summary.missing_rows.append(record["index"])
    if kind in REF_KINDS:
        spec = RELATIONSHIPS[kind]
        missing = set(summary.missing_rows)
        deleted = [row for row in rows if row["index"] not in missing]
        summary.changed_touchpoints = sorted(touchpoint_ends([(spec.source, spec.target, deleted)]))
    if summary.relationships_deleted and kind is K.CUSTOMER_HAD_TOUCHPOINT:
        # The touchpoints left without a customer leave their chain.
        customers = {row["from"] for row in rows}
        await rebuild_chains(tx, customers, [row["to"] for row in rows])
    elif summary.relationships_deleted and kind is K.TOUCHPOINT_AT_STEP:
        owners = await tx.single(CUSTOMERS_OF_TOUCHPOINTS_AT_STEPS, ids=[r["from"] for r in rows])
        await rebuild_chains(tx, owners["customerIds"] if owners else [])
    elif summary.relationships_deleted and kind in FUNNEL_REF_KINDS:
        if kind is K.TOUCHPOINT_VIA_CHANNEL:
            await link_channel_days(tx, summary.changed_touchpoints)
        await rebuild_funnel_facts_of_touchpoints(tx, [row["from"] for row in rows])
    return summary


# --- public entry points -------------------------------------------------------------------


async def delete_nodes(
    graph: Graph, label: str, ids: Sequence[str], *, cascade: bool = False
) -> DeleteSummary:
    """Validate, then delete the nodes in one transaction: all or nothing."""
    literal = record_label(label)
    unique = checked_ids(ids)

    async def work(tx: Tx) -> DeleteSummary:
        return await delete_nodes_in(tx, literal, unique, cascade=cascade)

    return await graph.write(work)


async def delete_relationships(
    graph: Graph, kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]
) -> RelationshipDeleteSummary:
    prepared = relationship_rows(kind, rows)

    async def work(tx: Tx) -> RelationshipDeleteSummary:
        return await delete_relationships_in(tx, kind, prepared)

    return await graph.write(work)
