"""Idempotent, batched upserts keyed by ``id`` for every label and relationship: the
entry points (``upsert_nodes``, ``upsert_relationships``) and a batch's body for each.

Rules that hold for every write:

* input is validated (pydantic) before anything is sent: one bad row and the
  whole call writes nothing, with an error naming the row, field and reason;
* each batch is one managed transaction (retried whole on transient errors),
  made of ``UNWIND $rows ... MERGE`` statements, so replaying it changes nothing;
* referenced nodes must exist: a dangling reference fails the batch (NOT_FOUND)
  instead of inventing nodes (the shared rules: ``graph.write_rules``);
* touchpoints keep their customers' journeys in order (``graph.journeys``), and so
  do relationship writes that move a touchpoint between customers or steps.

All Cypher is built from the model's allow-listed labels and types (literal
strings), never from client text; values travel as parameters.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, LiteralString, TypeVar

from pydantic import BaseModel, ValidationError

from orggraph.errors import BadInputError
from orggraph.graph.channels import link_channel_days
from orggraph.graph.driver import Graph, Tx, id_anchored
from orggraph.graph.journeys import (
    CUSTOMERS_OF_TOUCHPOINTS_AT_STEPS,
    FUNNEL_REF_KINDS,
    customers_of_touchpoints,
    rebuild_chains,
    rebuild_funnel_facts_of_touchpoints,
    write_touchpoints,
)
from orggraph.graph.model import (
    DERIVED_RELATIONSHIPS,
    RECORDS,
    REFS,
    RELATIONSHIPS,
    NodeId,
    Record,
    RefSpec,
    RelationshipKind,
    RelationshipSpec,
)
from orggraph.graph.write_rules import (
    SINGLE_VALUED,
    WriteSummary,
    merge_entity,
    node_row,
    ref_clauses,
    ref_row,
    replace_ref_clause,
    require_existing,
    require_existing_refs,
)

log = logging.getLogger(__name__)
DEFAULT_BATCH_SIZE = 2_000
R = TypeVar("R", bound=BaseModel)


# --- validation ----------------------------------------------------------------


def _describe(error: ValidationError, row: int, row_id: Any, what: str) -> BadInputError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(row)"
    reason = first["msg"]
    where = f"{what} row {row}" + (f" (id {row_id!r})" if isinstance(row_id, str) else "")
    return BadInputError(f"{where}: field '{field}': {reason}", row=row, field=field, reason=reason)


def validate_rows(model: type[R], rows: Sequence[Mapping[str, Any]], what: str) -> list[R]:
    """Validate every row before anything is written; the first bad one raises."""
    validated: list[R] = []
    for index, row in enumerate(rows):
        try:
            validated.append(model.model_validate(row))
        except ValidationError as error:
            raise _describe(error, index, row.get("id"), what) from error
    ids = [getattr(item, "id", None) for item in validated]
    _reject_duplicate_ids(ids, what)
    return validated


def validate_records(label: str, rows: Sequence[Mapping[str, Any]]) -> list[Record]:
    if label not in RECORDS:
        raise BadInputError(f"unknown label {label!r}", field="label")
    return validate_rows(RECORDS[label], rows, label)


def _reject_duplicate_ids(ids: Sequence[Any], what: str) -> None:
    seen: dict[Any, int] = {}
    for index, value in enumerate(ids):
        if value is None:
            continue
        if value in seen:
            raise BadInputError(
                f"{what} row {index}: id {value!r} repeats row {seen[value]} of the same batch",
                row=index,
                field="id",
                reason="duplicate id in batch",
            )
        seen[value] = index


def batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@functools.cache
def merge_nodes_query(label: LiteralString) -> LiteralString:
    return "UNWIND $rows AS row " + merge_entity(label, "n")


@functools.cache
def set_ref_query(record_label: LiteralString, ref: RefSpec) -> LiteralString:
    """Replace the record's single relationship of this kind with one to ``row.ref``."""
    return id_anchored(
        "UNWIND $rows AS row MATCH (a:"
        + record_label
        + " {id: row.id})"
        + replace_ref_clause(ref, "row.ref", "row.props")
    )


@functools.cache
def merge_with_refs_query(label: LiteralString) -> LiteralString:
    """One statement for a batch of records: each merged by id with the references its row
    sets, by the single-valued rule (``replace_ref_clause``). The row carries, per reference
    of the label in ``REFS`` order, whether the record sets it (``given``), its target id
    (``refs``) and the relationship's properties (``refProps``)."""
    query: LiteralString = "UNWIND $rows AS row " + merge_entity(label)
    if REFS.get(label):
        query += " WITH a, row" + ref_clauses(label)
    return query


@functools.cache
def merge_relationships_query(spec: RelationshipSpec) -> LiteralString:
    key: LiteralString = ""
    if spec.key_property is not None:
        key = " {" + spec.key_property + ": row.key}"
    return (
        "UNWIND $rows AS row MATCH (a:" + spec.source + " {id: row.from}) "
        "MATCH (b:" + spec.target + " {id: row.to}) "
        "MERGE (a)-[r:" + spec.type + key + "]->(b) SET r += row.props"
    )


async def write_records(tx: Tx, label: LiteralString, records: Sequence[Record]) -> WriteSummary:
    """Upsert one batch of validated records of one label inside ``tx``."""
    if label == "Touchpoint":
        return await write_touchpoints(tx, records)
    return await _write_nodes(tx, label, records)


async def _write_nodes(tx: Tx, label: LiteralString, records: Sequence[Record]) -> WriteSummary:
    summary = WriteSummary(rows=len(records))
    await require_existing_refs(tx, label, records)
    rows = [node_row(tx, label, r) for r in records]
    summary.add(await tx.run(merge_with_refs_query(label), rows=rows))
    return summary


async def write_refs(tx: Tx, label: LiteralString, records: Sequence[Record]) -> WriteSummary:
    """Apply the references each record sets, by the single-valued rule (``set_ref_query``).

    A field the record leaves unset is left alone; one set to None removes the reference.
    Chains are not rebuilt here (the caller knows whose).
    """
    summary = WriteSummary()
    for field, ref in REFS.get(label, {}).items():
        ref_rows = [ref_row(label, field, r) for r in records if field in r.refs()]
        if ref_rows:
            summary.add(await tx.run(set_ref_query(label, ref), rows=ref_rows))
    return summary


class RelationshipRow(BaseModel):
    """One relationship to upsert: ``from`` and ``to`` ids plus its properties."""

    model_config = {"populate_by_name": True, "extra": "forbid"}
    source: NodeId
    target: NodeId
    properties: dict[str, Any] = {}

    def __init__(self, **data: Any) -> None:
        if "from" in data:
            data["source"] = data.pop("from")
        if "to" in data:
            data["target"] = data.pop("to")
        super().__init__(**data)


def validate_relationships(
    kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Validate rows of one relationship kind into query parameters."""
    spec = RELATIONSHIPS[kind]
    what = kind.value
    if kind in DERIVED_RELATIONSHIPS:
        raise BadInputError(
            f"{what} is maintained by orggraph (the journey chain) and cannot be written",
            field="kind",
        )
    prepared: list[dict[str, Any]] = []
    for index, raw in enumerate(rows):
        try:
            row = RelationshipRow(**dict(raw))
            props_model = spec.properties.model_validate(row.properties)
        except ValidationError as error:
            raise _describe(error, index, raw.get("from"), what) from error
        props = props_model.model_dump(by_alias=True, exclude_none=True)
        key = props.pop(spec.key_property, None) if spec.key_property else None
        prepared.append({"from": row.source, "to": row.target, "props": props, "key": key})
    return prepared


def _as_ref_rows(
    kind: RelationshipKind, ref: RefSpec, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One ``set_ref_query`` row per record; a batch giving a record two targets is refused."""
    record_end, other_end = ("from", "to") if ref.record_is_source else ("to", "from")
    chosen: dict[str, dict[str, Any]] = {}
    for index, row in enumerate(rows):
        earlier = chosen.get(row[record_end])
        if earlier is not None and earlier["ref"] != row[other_end]:
            raise BadInputError(
                f"row {index}: {kind.value} is single-valued but {row[record_end]!r} is given "
                f"both {earlier['ref']!r} and {row[other_end]!r} in one batch",
                field=other_end,
            )
        chosen[row[record_end]] = {
            "id": row[record_end],
            "ref": row[other_end],
            "props": row["props"],
        }
    return list(chosen.values())


async def write_relationships(
    tx: Tx, kind: RelationshipKind, rows: Sequence[dict[str, Any]]
) -> WriteSummary:
    spec = RELATIONSHIPS[kind]
    await require_existing(tx, spec.source, [r["from"] for r in rows], kind.value)
    await require_existing(tx, spec.target, [r["to"] for r in rows], kind.value)
    return await merge_relationship_rows(tx, kind, rows)


async def merge_relationship_rows(
    tx: Tx, kind: RelationshipKind, rows: Sequence[dict[str, Any]]
) -> WriteSummary:
    """Write validated rows of one kind (a row whose ends do not exist writes nothing).

    A single-valued kind replaces each record's previous relationship of the kind;
    the journeys the rows touch (moved touchpoints' old and new customers) are rebuilt.
    """
    spec = RELATIONSHIPS[kind]
    summary = WriteSummary(rows=len(rows))
    customers = (
        {r["from"] for r in rows} if kind is RelationshipKind.CUSTOMER_HAD_TOUCHPOINT else set()
    )
    single = SINGLE_VALUED.get(kind)
    if single is None:
        summary.add(await tx.run(merge_relationships_query(spec), rows=list(rows)))
    else:
        record_label, ref = single
        ref_rows = _as_ref_rows(kind, ref, rows)
        if kind is RelationshipKind.CUSTOMER_HAD_TOUCHPOINT:
            # A touchpoint moved to another customer leaves a gap in its former journey.
            customers |= await customers_of_touchpoints(tx, [r["id"] for r in ref_rows])
        summary.add(await tx.run(set_ref_query(record_label, ref), rows=ref_rows))
    if kind is RelationshipKind.CUSTOMER_HAD_TOUCHPOINT:
        summary.merge(await rebuild_chains(tx, customers))
    elif kind is RelationshipKind.TOUCHPOINT_AT_STEP:
        record = await tx.single(CUSTOMERS_OF_TOUCHPOINTS_AT_STEPS, ids=[r["from"] for r in rows])
        summary.merge(await rebuild_chains(tx, record["customerIds"] if record else []))
    elif kind in FUNNEL_REF_KINDS:
        touchpoints = [r["from"] for r in rows]
        if kind is RelationshipKind.TOUCHPOINT_VIA_CHANNEL:
            await link_channel_days(tx, touchpoints)
        summary.merge(await rebuild_funnel_facts_of_touchpoints(tx, touchpoints))
    return summary


# --- public entry points ---------------------------------------------------------------


async def upsert_nodes(graph: Graph, label: str, rows: Sequence[Mapping[str, Any]]) -> WriteSummary:
    """Validate all rows, then upsert them batch by batch (one transaction each)."""
    record_label = RECORDS[label].label
    return await _in_batches(
        graph, validate_records(label, rows), lambda tx, b: write_records(tx, record_label, b)
    )


async def upsert_relationships(
    graph: Graph, kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]
) -> WriteSummary:
    prepared = validate_relationships(kind, rows)
    return await _in_batches(graph, prepared, lambda tx, b: write_relationships(tx, kind, b))


async def _in_batches(
    graph: Graph,
    items: Sequence[Any],
    write_batch: Callable[[Tx, Sequence[Any]], Awaitable[WriteSummary]],
) -> WriteSummary:
    total = WriteSummary()
    for batch in batches(items, DEFAULT_BATCH_SIZE):

        async def work(tx: Tx, batch: Sequence[Any] = batch) -> WriteSummary:
            return await write_batch(tx, batch)

        total.merge(await graph.write(work))
    return total
