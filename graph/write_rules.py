"""The rules every write shares, whatever its path (GraphQL, imports, tracking, seed).

* every entity is merged by its id and carries the ``Entity`` label (``merge_entity``);
* a single-valued reference (a touchpoint's channel, a deal's customer...) replaces the
  previous one (``replace_ref_clause``);
* a reference names an existing node, or the batch is refused (``require_existing_refs``);
* personal properties leave as ciphertext plus look-up hash (``node_row``);
* a write sums what it changed in a ``WriteSummary``.

``graph.writes`` (every label and relationship), ``graph.journeys`` (touchpoints and
their journeys) and ``graph.history`` build on these; this module imports none of them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

from orggraph.errors import NotFoundError
from orggraph.graph.driver import Tx, id_anchored
from orggraph.graph.model import (
    ENTITY_LABEL,
    RECORDS,
    REF_PROPERTIES,
    REFS,
    Record,
    RefSpec,
    RelationshipKind,
)
from orggraph.graph.personal import seal_properties


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


def merge_entity(label: LiteralString, var: LiteralString = "a") -> LiteralString:
    """``MERGE`` a row's node by its id and set its properties. Every entity also carries
    the Entity label, unique by id (migration 12), so an id names one entity across labels:
    every statement that creates an entity starts with this clause."""
    return (
        "MERGE (" + var + ":" + label + " {id: row.id}) "
        "SET " + var + ":" + ENTITY_LABEL + ", " + var + " += row.props"
    )


_SLOTS: tuple[LiteralString, ...] = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
assert all(len(refs) <= len(_SLOTS) for refs in REFS.values())


@functools.cache
def missing_refs_query(label: LiteralString) -> LiteralString:
    """For each reference kind of the label (``REFS`` order), the ids of ``$ids[slot]``
    naming no node of its target label: every kind checked in one statement."""
    checks: list[LiteralString] = [
        "[id IN $ids[" + slot + "] WHERE NOT EXISTS { MATCH (:" + ref.other_label + " {id: id}) }]"
        for slot, ref in zip(_SLOTS, REFS[label].values(), strict=False)
    ]
    return id_anchored("RETURN [" + ", ".join(checks) + "] AS missing")


def replace_ref_clause(
    ref: RefSpec,
    value: LiteralString,
    props: LiteralString | None = None,
    given: LiteralString = "true",
) -> LiteralString:
    """The single-valued reference rule, shared by every write path (transactional and bulk).

    A unit subquery on the record ``a`` of the current ``row``, entered only when
    ``given`` holds: the record's relationships of this kind to any node but the one
    whose id is ``value`` are deleted (all of them when ``value`` is null), then the one
    to that node is merged (its properties set from ``props``). The record is left
    with at most one target of the kind, the last written one; a replay deletes
    and creates nothing. A target that does not exist is not invented. (``given`` is
    tested outside the two inner subqueries so that a row which does not set the
    reference costs no index seek of its target: in one query graph the planner
    puts the seek first and filters after.)
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
        " CALL (a, row) { WITH a, row WHERE "
        + given
        + " CALL (a, row) { OPTIONAL MATCH "
        + old
        + " "
        "WHERE " + value + " IS NULL OR other.id <> " + value + " DELETE old }"
        " CALL (a, row) { WITH a, row WHERE " + value + " IS NOT NULL "
        "MATCH (b:" + other + " {id: " + value + "}) " + new + set_props + " } }"
    )


def ref_clauses(label: LiteralString) -> LiteralString:
    """The references a ``merge_with_refs_query`` row sets on the record ``a``."""
    clauses: LiteralString = ""
    for slot, (field, ref) in zip(_SLOTS, REFS.get(label, {}).items(), strict=False):
        props = "row.refProps[" + slot + "]" if (label, field) in REF_PROPERTIES else None
        clauses += replace_ref_clause(
            ref, "row.refs[" + slot + "]", props, "row.given[" + slot + "]"
        )
    return clauses


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


def node_row(tx: Tx, label: str, record: Record) -> dict[str, Any]:
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
            ref_row(label, field, record)["props"] if field in refs else {} for field in fields
        ],
    }


def ref_row(label: str, field: str, record: Record) -> dict[str, Any]:
    props: dict[str, Any] = {}
    extra = REF_PROPERTIES.get((label, field))
    if extra is not None:
        attribute, property_name = extra
        value = getattr(record, attribute)
        if value is not None:
            props[property_name] = value
    return {"id": record.id, "ref": record.refs()[field], "props": props}


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


@functools.cache
def missing_ids_query(label: LiteralString) -> LiteralString:
    return (
        "UNWIND $ids AS id OPTIONAL MATCH (n:" + label + " {id: id}) "
        "WITH id, n WHERE n IS NULL RETURN collect(id) AS missing"
    )
