"""Idempotent, batched upserts keyed by ``id`` for every label and relationship.

Rules that hold for every write:

* input is validated (pydantic) before anything is sent: one bad row and the
  whole call writes nothing, with an error naming the row, field and reason;
* each batch is one managed transaction (retried whole on transient errors),
  made of ``UNWIND $rows ... MERGE`` statements, so replaying it changes nothing;
* referenced nodes must exist: a dangling reference fails the batch (NOT_FOUND)
  instead of inventing nodes;
* the per-customer journey chain ``(:Touchpoint)-[:NEXT]->(:Touchpoint)`` is
  kept in ``(at, id)`` order for every customer a batch touches, so touchpoints
  may arrive late, out of order, or move between customers: new touchpoints
  later than their customer's LATEST are appended to it (the live case), any
  other change rebuilds the customer's chain, REACHED and LATEST whole.

All Cypher is built from the model's allow-listed labels and types (literal
strings), never from client text; values travel as parameters.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, TypeVar

from pydantic import BaseModel, ValidationError

from orggraph.errors import BadInputError, NotFoundError
from orggraph.graph.driver import Graph, Tx, keep_plan
from orggraph.graph.model import (
    DERIVED_RELATIONSHIPS,
    ENTITY_LABEL,
    RECORDS,
    REF_PROPERTIES,
    REFS,
    RELATIONSHIPS,
    NodeId,
    Record,
    RefSpec,
    RelationshipKind,
    RelationshipSpec,
)
from orggraph.graph.personal import seal_properties
from orggraph.graph.touchpoint_changes import REF_TYPES, changed, referenced, touchpoint_state_of

log = logging.getLogger(__name__)
DEFAULT_BATCH_SIZE = 2_000
R = TypeVar("R", bound=BaseModel)


@dataclass
class WriteSummary:
    """What a write changed (Neo4j counters, summed over batches)."""

    nodes_created: int = 0
    relationships_created: int = 0
    relationships_deleted: int = 0
    properties_set: int = 0
    rows: int = 0
    changed_touchpoints: list[str] = dataclasses.field(default_factory=list)
    """Touchpoints whose state the write changed (graph/touchpoint_changes.py)."""
    changed_states: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Their states after the write, where the write computed them (``write_touchpoints``):
    their events need no read after the commit (``orggraph.events.touchpoint_event``)."""

    def add(self, counters: Any) -> None:
        self.nodes_created += counters.nodes_created
        self.relationships_created += counters.relationships_created
        self.relationships_deleted += counters.relationships_deleted
        self.properties_set += counters.properties_set

    def merge(self, other: WriteSummary) -> None:
        self.nodes_created += other.nodes_created
        self.relationships_created += other.relationships_created
        self.relationships_deleted += other.relationships_deleted
        self.properties_set += other.properties_set
        self.rows += other.rows
        self.changed_touchpoints += other.changed_touchpoints
        self.changed_states.update(other.changed_states)

    @classmethod
    def total(cls, summaries: Iterable[WriteSummary]) -> WriteSummary:
        """The summaries summed (e.g. over a load's batches)."""
        total = cls()
        for summary in summaries:
            total.merge(summary)
        return total


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


# --- literal Cypher, built once per allow-listed label or relationship ---------------


def merge_entity(label: LiteralString, var: LiteralString = "a") -> LiteralString:
    """``MERGE`` a row's node by its id and set its properties. Every entity also carries
    the Entity label, unique by id (migration 12), so an id names one entity across labels:
    every statement that creates an entity starts with this clause."""
    return (
        "MERGE (" + var + ":" + label + " {id: row.id}) "
        "SET " + var + ":" + ENTITY_LABEL + ", " + var + " += row.props"
    )


@functools.cache
def merge_nodes_query(label: LiteralString) -> LiteralString:
    return "UNWIND $rows AS row " + merge_entity(label, "n")


@functools.cache
def missing_ids_query(label: LiteralString) -> LiteralString:
    return (
        "UNWIND $ids AS id OPTIONAL MATCH (n:" + label + " {id: id}) "
        "WITH id, n WHERE n IS NULL RETURN collect(id) AS missing"
    )


@functools.cache
def missing_refs_query(label: LiteralString) -> LiteralString:
    """For each reference kind of the label (``REFS`` order), the ids of ``$ids[slot]``
    naming no node of its target label: every kind checked in one statement."""
    checks: list[LiteralString] = [
        "[id IN $ids[" + slot + "] WHERE NOT EXISTS { MATCH (:" + ref.other_label + " {id: id}) }]"
        for slot, ref in zip(_SLOTS, REFS[label].values(), strict=False)
    ]
    return keep_plan("RETURN [" + ", ".join(checks) + "] AS missing")


def replace_ref_clause(
    ref: RefSpec,
    value: LiteralString,
    props: LiteralString | None = None,
    given: LiteralString = "true",
) -> LiteralString:
    """The single-valued reference rule, shared by every write path (transactional and bulk).

    Two unit subqueries on the record ``a`` of the current ``row``: when ``given``
    holds, the record's relationships of this kind to any node but the one whose id
    is ``value`` are deleted (all of them when ``value`` is null), then the one to
    that node is merged (its properties set from ``props``). The record is left
    with at most one target of the kind, the last written one; a replay deletes
    and creates nothing. A target that does not exist is not invented.
    """
    spec = ref.spec
    other = ref.other_label
    if ref.record_is_source:
        old: LiteralString = "(a)-[old:" + spec.type + "]->(other:" + other + ")"
        new: LiteralString = "MERGE (a)-[r:" + spec.type + "]->(b)"
    else:
        old = "(a)<-[old:" + spec.type + "]-(other:" + other + ")"
        new = "MERGE (b)-[r:" + spec.type + "]->(a)"
    set_props: LiteralString = " SET r += " + props if props is not None else ""
    return (
        " CALL (a, row) { WITH a, row WHERE " + given + " OPTIONAL MATCH " + old + " "
        "WHERE " + value + " IS NULL OR other.id <> " + value + " DELETE old }"
        " CALL (a, row) { WITH a, row WHERE " + given + " AND " + value + " IS NOT NULL "
        "MATCH (b:" + other + " {id: " + value + "}) " + new + set_props + " }"
    )


@functools.cache
def set_ref_query(record_label: LiteralString, ref: RefSpec) -> LiteralString:
    """Replace the record's single relationship of this kind with one to ``row.ref``."""
    return keep_plan(
        "UNWIND $rows AS row MATCH (a:"
        + record_label
        + " {id: row.id})"
        + replace_ref_clause(ref, "row.ref", "row.props")
    )


_SLOTS: tuple[LiteralString, ...] = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
assert all(len(refs) <= len(_SLOTS) for refs in REFS.values())


def _ref_clauses(label: LiteralString) -> LiteralString:
    """The references a ``merge_with_refs_query`` row sets on the record ``a``."""
    clauses: LiteralString = ""
    for slot, (field, ref) in zip(_SLOTS, REFS.get(label, {}).items(), strict=False):
        props = "row.refProps[" + slot + "]" if (label, field) in REF_PROPERTIES else None
        clauses += replace_ref_clause(
            ref, "row.refs[" + slot + "]", props, "row.given[" + slot + "]"
        )
    return clauses


@functools.cache
def merge_with_refs_query(label: LiteralString) -> LiteralString:
    """One statement for a batch of records: each merged by id with the references its row
    sets, by the single-valued rule (``replace_ref_clause``). The row carries, per reference
    of the label in ``REFS`` order, whether the record sets it (``given``), its target id
    (``refs``) and the relationship's properties (``refProps``)."""
    query: LiteralString = "UNWIND $rows AS row " + merge_entity(label)
    if REFS.get(label):
        query += " WITH a, row" + _ref_clauses(label)
    return query


MERGE_TOUCHPOINTS_WITH_STATES: LiteralString = keep_plan(
    "UNWIND $rows AS row OPTIONAL MATCH (was:Touchpoint {id: row.id}) "
    "WITH row, "
    + touchpoint_state_of("was")
    + " AS before "
    + merge_entity("Touchpoint")
    + " WITH a, row, before"
    + _ref_clauses("Touchpoint")
    + " RETURN row.id AS id, before, "
    + touchpoint_state_of("a")
    + " AS after"
)
"""``merge_with_refs_query`` for touchpoints, returning each one's state before and after
the statement (``touchpoint_state_of``, what ``touchpoint_states`` reads): the write gets
the states its journeys and change events need from the nodes it holds, instead of from
two more round trips. Rows concern distinct touchpoints and a row writes only its own
touchpoint's relationships, so a row's after state is final when it is projected."""


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


CUSTOMERS_OF_TOUCHPOINTS: LiteralString = keep_plan(
    """
UNWIND $ids AS id
MATCH (:Touchpoint {id: id})<-[:HAD]-(c:Customer)
RETURN collect(DISTINCT c.id) AS customerIds
"""
)

DETACH_CHAIN_OF_ORPHAN_TOUCHPOINTS: LiteralString = keep_plan(
    """
UNWIND $ids AS id
MATCH (t:Touchpoint {id: id}) WHERE NOT (t)<-[:HAD]-(:Customer)
MATCH (t)-[r:NEXT]-(:Touchpoint)
DELETE r
"""
)

REBUILD_JOURNEY_CHAINS: LiteralString = keep_plan(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
REMOVE c._LOCK_
WITH c
CALL (c) {
  MATCH (c)-[:HAD]->(t:Touchpoint)
  WITH t ORDER BY t.at, t.id
  WITH collect(t) AS chain
  UNWIND range(0, size(chain) - 1) AS i
  WITH chain[i] AS t, CASE WHEN i + 1 < size(chain) THEN chain[i + 1] END AS successor
  CALL (t, successor) {
    OPTIONAL MATCH (t)-[r:NEXT]->(other:Touchpoint)
    WHERE successor IS NULL OR other <> successor
    DELETE r
  }
  CALL (t, successor) {
    WITH t, successor WHERE successor IS NOT NULL
    MERGE (t)-[:NEXT]->(successor)
  }
}
"""
)
"""Rebuild each customer's directly-follows chain in (at, id) order.

Only wrong NEXT relationships are removed and only missing ones created, so a
replayed batch changes nothing. Anchored on the Customer id constraint. The
customer is write-locked first so that a concurrent append (``APPEND_TO_JOURNEYS``)
waits for the rebuild, and the other way round: removing a property takes the node's
write lock (held to the commit) even when the property is absent, as ``_LOCK_`` always
is, so the lock writes nothing and counts in no counter.
"""


REBUILD_REACHED_STEPS: LiteralString = keep_plan(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)-[:AT_STEP]->(s:Step)
  WITH s, t ORDER BY t.at, t.id
  WITH s, head(collect(t)) AS first
  WHERE s IS NOT NULL
  RETURN collect({step: s, at: first.at, touchpointId: first.id}) AS firsts
}
CALL (c, firsts) {
  OPTIONAL MATCH (c)-[r:REACHED]->(s:Step)
  WHERE NOT s IN [f IN firsts | f.step]
  DELETE r
}
CALL (c, firsts) {
  UNWIND firsts AS f
  WITH c, f, f.step AS s
  MERGE (c)-[r:REACHED]->(s)
  WITH r, f WHERE r.touchpointId IS NULL OR r.touchpointId <> f.touchpointId OR r.at <> f.at
  SET r.at = f.at, r.touchpointId = f.touchpointId
}
"""
)
"""Rebuild each customer's REACHED relationships: one per step it has a touchpoint at,
carrying the first such touchpoint (in (at, id) order) and its time.

Funnels read these instead of scanning every touchpoint. Steps no longer
reached lose their relationship; the others are set in place, so a replay
creates and deletes nothing. Anchored on the Customer id constraint.
"""

REBUILD_LATEST_TOUCHPOINTS: LiteralString = keep_plan(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)
  WITH t ORDER BY t.at DESC, t.id DESC LIMIT 1
  RETURN t AS latest
}
CALL (c, latest) {
  OPTIONAL MATCH (c)-[r:LATEST]->(other:Touchpoint)
  WHERE latest IS NULL OR other <> latest
  DELETE r
}
CALL (c, latest) {
  WITH c, latest WHERE latest IS NOT NULL
  MERGE (c)-[:LATEST]->(latest)
}
"""
)
"""Point each customer's LATEST relationship at the end of its chain (the last
touchpoint in (at, id) order), or remove it when it has none left.

Traversals that ask "where is each customer now" (customers in flight) scan
customers through it instead of every touchpoint at a step. Idempotent like
the chain: a replay creates and deletes nothing.
"""

APPEND_TO_JOURNEYS: LiteralString = keep_plan(
    """
UNWIND $appends AS append
MATCH (c:Customer {id: append.customerId})
REMOVE c._LOCK_
WITH c, append
CALL (append) {
  UNWIND append.ids AS id
  MATCH (t:Touchpoint {id: id})
  WITH t ORDER BY t.at, t.id
  RETURN collect(t) AS added
}
OPTIONAL MATCH (c)-[:LATEST]->(last:Touchpoint)
WITH c, added, last, added[0] AS first
WITH c, added, last, size(added) > 0 AND (last IS NULL OR first.at > last.at
  OR (first.at = last.at AND first.id > last.id)) AS inOrder
CALL (c, added, last, inOrder) {
  WITH added, last WHERE inOrder
  WITH CASE WHEN last IS NULL THEN added ELSE [last] + added END AS chain
  UNWIND range(0, size(chain) - 2) AS i
  WITH chain[i] AS t, chain[i + 1] AS successor
  MERGE (t)-[:NEXT]->(successor)
}
CALL (c, added, inOrder) {
  WITH c, added WHERE inOrder
  OPTIONAL MATCH (c)-[old:LATEST]->(:Touchpoint)
  DELETE old
  WITH DISTINCT c, added[size(added) - 1] AS newest
  MERGE (c)-[:LATEST]->(newest)
}
CALL (c, added, inOrder) {
  WITH c, added WHERE inOrder
  UNWIND added AS t
  MATCH (t)-[:AT_STEP]->(s:Step)
  WITH c, s, t ORDER BY t.at, t.id
  WITH c, s, head(collect(t)) AS first
  MERGE (c)-[r:REACHED]->(s)
  WITH r, first
  WHERE r.at IS NULL OR first.at < r.at OR (first.at = r.at AND first.id < r.touchpointId)
  SET r.at = first.at, r.touchpointId = first.id
}
RETURN collect(CASE WHEN NOT inOrder THEN c.id END) AS outOfOrder
"""
)
"""Append each customer's new touchpoints (``$appends``: customer id and the ids of
touchpoints it did not have before the write) to its journey, when all of them come
after its LATEST touchpoint in (at, id) order: NEXT from LATEST through them, LATEST
moved to the last, REACHED created (or moved earlier) only where one of them is the
first arrival at its step. Nothing else of the journey is read or rewritten, so the
cost is that of the new touchpoints, not of the customers' whole history.

The customers where that does not hold are returned, untouched, for the full rebuild.
The customer is write-locked before its LATEST is read, so that two transactions
appending to one customer queue instead of both linking from the same LATEST.
"""

CUSTOMERS_OF_TOUCHPOINTS_AT_STEPS: LiteralString = keep_plan(
    """
UNWIND $ids AS id
MATCH (c:Customer)-[:HAD]->(:Touchpoint {id: id})
RETURN collect(DISTINCT c.id) AS customerIds
"""
)
"""The customers whose touchpoints a batch of AT_STEP relationships concerns."""


# --- transaction bodies ------------------------------------------------------------


async def require_existing(tx: Tx, label: LiteralString, ids: Iterable[str], what: str) -> None:
    unique = sorted(set(ids))
    if not unique:
        return
    record = await tx.single(missing_ids_query(label), ids=unique)
    _refuse_missing(label, list(record["missing"]) if record else [], what)


def _refuse_missing(label: str, missing: Sequence[str], what: str) -> None:
    if missing:
        shown = ", ".join(repr(item) for item in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise NotFoundError(
            f"{what} refers to {label} {shown}{more}, which does not exist",
            label=label,
            ids=list(missing[:20]),
        )


async def require_existing_refs(tx: Tx, label: LiteralString, records: Sequence[Record]) -> None:
    """Every reference the records set names an existing node (``missing_refs_query``:
    all reference kinds in one round trip); the first kind with a missing one raises."""
    refs = REFS.get(label, {})
    wanted = [
        sorted({r.refs()[field] for r in records if r.refs().get(field) is not None})
        for field in refs
    ]
    if not any(wanted):
        return
    record = await tx.single(missing_refs_query(label), ids=wanted)
    found = list(record["missing"]) if record else []
    for (field, ref), missing in zip(refs.items(), found, strict=False):
        _refuse_missing(ref.other_label, missing, f"{label}.{field}")


async def write_records(tx: Tx, label: LiteralString, records: Sequence[Record]) -> WriteSummary:
    """Upsert one batch of validated records of one label inside ``tx``."""
    if label == "Touchpoint":
        return await write_touchpoints(tx, records)
    return await _write_nodes(tx, label, records)


async def write_touchpoints(tx: Tx, records: Sequence[Record]) -> WriteSummary:
    """Touchpoints are nodes and the journeys they sit in: the customers a batch gives
    touchpoints to, or takes them from, get their chain (NEXT), first arrivals (REACHED)
    and latest touchpoint (LATEST) kept in the same transaction (``maintain_journeys``).

    Three round trips whatever the batch's size: the references checked, the touchpoints
    merged with their states before and after (``MERGE_TOUCHPOINTS_WITH_STATES``, the
    states ``touchpoint_states`` would read), the journeys appended to."""
    summary = WriteSummary(rows=len(records))
    if not records:
        return summary
    await require_existing_refs(tx, "Touchpoint", records)
    rows = [_node_row(tx, "Touchpoint", r) for r in records]
    found, counters = await tx.records_and_counters(
        MERGE_TOUCHPOINTS_WITH_STATES, rows=rows, refTypes=list(REF_TYPES)
    )
    summary.add(counters)
    before = {r["id"]: r["before"] for r in found}
    after = {r["id"]: r["after"] for r in found}
    summary.merge(await maintain_journeys(tx, before, after))
    summary.changed_touchpoints = changed(before, after)
    summary.changed_states = {i: after[i] for i in summary.changed_touchpoints}
    return summary


def _journey_key(state: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """What of a touchpoint's state its journey depends on: its time, customer and step."""
    refs = [ref for ref in state["refs"] if ref.startswith(("HAD:", "AT_STEP:"))]
    return state["properties"].get("at"), refs


async def maintain_journeys(
    tx: Tx, before: Mapping[str, Any], after: Mapping[str, Any]
) -> WriteSummary:
    """Keep the journeys of the touchpoints written (their states before and after the
    write, from ``touchpoint_states``) in order: a new touchpoint is appended to its
    customer's journey when it comes after the customer's LATEST (``APPEND_TO_JOURNEYS``);
    a touchpoint that moved in time, step or customer, and a new one arriving before
    its customer's LATEST, get the customers concerned rebuilt whole (``rebuild_chains``).
    A touchpoint whose time, step and customer did not change costs nothing."""
    appends: dict[str, list[str]] = {}
    rebuild: set[str] = set()
    moved: list[str] = []
    for touchpoint_id, state in sorted(after.items()):
        old = before.get(touchpoint_id)
        if state is None or (old is not None and _journey_key(old) == _journey_key(state)):
            continue
        customer = referenced(state, "HAD")
        if old is None:
            if customer is not None:
                appends.setdefault(customer, []).append(touchpoint_id)
            continue
        moved.append(touchpoint_id)
        rebuild |= {c for c in (customer, referenced(old, "HAD")) if c is not None}
    summary = WriteSummary()
    appending = sorted(c for c in appends if c not in rebuild)
    if appending:
        rows = [{"customerId": c, "ids": appends[c]} for c in appending]
        records, counters = await tx.records_and_counters(APPEND_TO_JOURNEYS, appends=rows)
        summary.add(counters)
        rebuild |= set(records[0]["outOfOrder"]) if records else set()
    summary.merge(await rebuild_chains(tx, rebuild, moved))
    return summary


async def _write_nodes(tx: Tx, label: LiteralString, records: Sequence[Record]) -> WriteSummary:
    summary = WriteSummary(rows=len(records))
    await require_existing_refs(tx, label, records)
    rows = [_node_row(tx, label, r) for r in records]
    summary.add(await tx.run(merge_with_refs_query(label), rows=rows))
    return summary


def _node_row(tx: Tx, label: str, record: Record) -> dict[str, Any]:
    """A ``merge_with_refs_query`` row. Personal properties leave as ciphertext plus
    look-up hash, never as plaintext."""
    refs = record.refs()
    fields = list(REFS.get(label, {}))
    return {
        "id": record.id,
        "props": seal_properties(tx.personal, label, record.id, record.properties()),
        "given": [field in refs for field in fields],
        "refs": [refs.get(field) for field in fields],
        "refProps": [
            _ref_row(label, field, record)["props"] if field in refs else {} for field in fields
        ],
    }


async def write_refs(tx: Tx, label: LiteralString, records: Sequence[Record]) -> WriteSummary:
    """Apply the references each record sets, by the single-valued rule (``set_ref_query``).

    A field the record leaves unset is left alone; one set to None removes the reference.
    Chains are not rebuilt here (the caller knows whose).
    """
    summary = WriteSummary()
    for field, ref in REFS.get(label, {}).items():
        ref_rows = [_ref_row(label, field, r) for r in records if field in r.refs()]
        if ref_rows:
            summary.add(await tx.run(set_ref_query(label, ref), rows=ref_rows))
    return summary


async def customers_of_touchpoints(tx: Tx, touchpoint_ids: Sequence[str]) -> set[str]:
    """The customers these touchpoints belong to now: read before a write that may move
    them, so the journeys they leave are rebuilt too."""
    record = await tx.single(CUSTOMERS_OF_TOUCHPOINTS, ids=list(touchpoint_ids))
    return set(record["customerIds"]) if record else set()


def _ref_row(label: str, field: str, record: Record) -> dict[str, Any]:
    props: dict[str, Any] = {}
    extra = REF_PROPERTIES.get((label, field))
    if extra is not None:
        attribute, property_name = extra
        value = getattr(record, attribute)
        if value is not None:
            props[property_name] = value
    return {"id": record.id, "ref": record.refs()[field], "props": props}


async def rebuild_chains(
    tx: Tx, customer_ids: Iterable[str], touchpoint_ids: Sequence[str] = ()
) -> WriteSummary:
    summary = WriteSummary()
    if touchpoint_ids:
        summary.add(await tx.run(DETACH_CHAIN_OF_ORPHAN_TOUCHPOINTS, ids=list(touchpoint_ids)))
    ids = sorted(set(customer_ids))
    if ids:
        summary.add(await tx.run(REBUILD_JOURNEY_CHAINS, customerIds=ids))
        summary.add(await tx.run(REBUILD_REACHED_STEPS, customerIds=ids))
        summary.add(await tx.run(REBUILD_LATEST_TOUCHPOINTS, customerIds=ids))
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


def _single_valued_kinds() -> dict[RelationshipKind, tuple[LiteralString, RefSpec]]:
    kinds: dict[RelationshipKind, tuple[LiteralString, RefSpec]] = {}
    for label, refs in REFS.items():
        for ref in refs.values():
            assert ref.relationship not in kinds, f"{ref.relationship} is two references"
            kinds[ref.relationship] = (RECORDS[label].label, ref)
    return kinds


SINGLE_VALUED: dict[RelationshipKind, tuple[LiteralString, RefSpec]] = _single_valued_kinds()
"""Kinds that are a record's reference field (a touchpoint has one channel, one
customer...): written as relationships, they replace the record's previous one."""


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
