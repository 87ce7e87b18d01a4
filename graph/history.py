"""The history of generic writes: what an upsert or delete actually changed, as
``(:Change)`` records (``graph.changes``) written in the write's own transaction.

The state of the entities a write touches (their properties and the relationships it
can change) is read in bulk before and after the write, one statement per label or
relationship kind of the write, so the history costs a fixed number of round trips
per batch whatever its size; the difference between the two is recorded, so a
replayed write records nothing. Personal data never enters the history: a withheld
property (``withheld``) is recorded as changed with ``WITHHELD`` in place of its values.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString, TypeVar

from orggraph.graph.changes import WITHHELD, ChangeEntry, record_changes
from orggraph.graph.deletes import DEPENDENTS
from orggraph.graph.driver import Tx
from orggraph.graph.erasure import KEPT_CUSTOMER_PROPERTIES, KEPT_TOUCHPOINT_PROPERTIES
from orggraph.graph.model import (
    DERIVED_RELATIONSHIPS,
    PERSONAL_PROPERTIES,
    REFS,
    RELATIONSHIPS,
    SEALED_PROPERTIES,
    RelationshipKind,
)
from orggraph.graph.write_rules import SINGLE_VALUED, WriteSummary

T = TypeVar("T")

ORGANISATION_LABELS: frozenset[str] = frozenset(
    {"Team", "Person", "Process", "Step", "KPI", "SLA", "Channel", "Campaign", "System", "Service"}
)
"""The organisation's labels: their changes are published on ``organisationChanged``."""

# What an erasure keeps of a customer or touchpoint is all the history may copy of them;
# a business object's name and attributes may describe its customer.
_KEPT: dict[str, frozenset[str]] = {
    "Customer": frozenset({*KEPT_CUSTOMER_PROPERTIES, "erasedAt"}),
    "Touchpoint": frozenset(KEPT_TOUCHPOINT_PROPERTIES),
}
_WITHHELD_ALWAYS: dict[str, frozenset[str]] = {
    "BusinessObject": frozenset({"name", "attributes"}),
}


def withheld(label: str, field: str) -> bool:
    """Whether a property's values must never be copied into the history."""
    sealed = SEALED_PROPERTIES.get(label, {})
    hashes = {s.hash_property for s in sealed.values()}
    kept = _KEPT.get(label)
    return (
        field in PERSONAL_PROPERTIES.get(label, frozenset())
        or field in sealed
        or field in hashes
        or field in _WITHHELD_ALWAYS.get(label, frozenset())
        or (kept is not None and field not in kept)
    )


@dataclass(frozen=True)
class Tracked:
    """Entities of one label whose state a write may change: for each id, the
    relationship types to watch and, when given, the only far ends to watch."""

    label: LiteralString
    ids: tuple[str, ...]
    types: tuple[str, ...]
    others: Mapping[str, tuple[str, ...]] | None = None  # id -> far ends; None: any


@functools.cache
def states_query(label: LiteralString) -> LiteralString:
    """Each entity's properties and watched relationships (null when it does not exist),
    anchored on the label's id constraint."""
    return (
        "UNWIND $rows AS row OPTIONAL MATCH (n:" + label + " {id: row.id}) "
        "RETURN row.id AS id, CASE WHEN n IS NULL THEN null ELSE {"
        " properties: properties(n),"
        " rels: COLLECT { MATCH (n)-[r]-(x) WHERE type(r) IN row.types"
        "   AND (row.others IS NULL OR x.id IN row.others)"
        "   RETURN {type: type(r), out: startNode(r) = n, other: x.id, team: x:Team,"
        "           props: properties(r)} AS rel ORDER BY rel.type, rel.other }"
        "} END AS state"
    )


async def read_states(tx: Tx, tracked: Sequence[Tracked]) -> list[dict[str, Any]]:
    """One statement per tracked label: ``{id: state}`` in the order of ``tracked``."""
    states: list[dict[str, Any]] = []
    for item in tracked:
        rows = [
            {
                "id": i,
                "types": list(item.types),
                "others": None if item.others is None else list(item.others.get(i, ())),
            }
            for i in item.ids
        ]
        records = await tx.records(states_query(item.label), rows=rows) if rows else []
        states.append({r["id"]: r["state"] for r in records})
    return states


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if hasattr(value, "to_native"):
        value = value.to_native()
    if isinstance(value, datetime):
        return value.isoformat()
    return json.dumps(value, sort_keys=True, default=str)


def _rel_text(rel: Mapping[str, Any]) -> str:
    props = rel.get("props") or {}
    if not props:
        return str(rel["other"])
    shown = {key: _text(value) for key, value in sorted(props.items())}
    return f"{rel['other']} {json.dumps(shown, sort_keys=True)}"


def _rels_by_type(state: Mapping[str, Any] | None) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for rel in (state or {}).get("rels") or []:
        grouped.setdefault(rel["type"], []).append(rel)
    return grouped


def diff(
    label: str, entity_id: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[ChangeEntry]:
    """The changed properties and relationship types of one entity, before -> after."""
    own_team = (entity_id,) if label == "Team" else ()
    old = dict((before or {}).get("properties") or {})
    new = dict((after or {}).get("properties") or {})
    entries: list[ChangeEntry] = []
    for field in sorted(old.keys() | new.keys()):
        was, now = _text(old.get(field)), _text(new.get(field))
        if was == now:
            continue
        if withheld(label, field):
            was, now = (None if v is None else WITHHELD for v in (was, now))
        entries.append(ChangeEntry(entity_id, label, field, was, now, own_team))
    old_rels, new_rels = _rels_by_type(before), _rels_by_type(after)
    for kind in sorted(old_rels.keys() | new_rels.keys()):
        was_rels, now_rels = old_rels.get(kind, []), new_rels.get(kind, [])
        was_text = "; ".join(_rel_text(r) for r in was_rels) or None
        now_text = "; ".join(_rel_text(r) for r in now_rels) or None
        if was_text == now_text:
            continue
        teams = {str(r["other"]) for r in [*was_rels, *now_rels] if r.get("team")}
        entries.append(
            ChangeEntry(
                entity_id,
                label,
                kind,
                was_text,
                now_text,
                (*own_team, *sorted(teams - {entity_id})),
            )
        )
    return entries


def differences(
    tracked: Sequence[Tracked],
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
) -> list[ChangeEntry]:
    entries: dict[ChangeEntry, None] = {}  # an entity tracked twice is recorded once
    for item, was, now in zip(tracked, before, after, strict=True):
        for entity_id in item.ids:
            found = diff(item.label, entity_id, was.get(entity_id), now.get(entity_id))
            entries.update(dict.fromkeys(found))
    return list(entries)


async def recorded(
    tx: Tx,
    operation: str,
    principal: str,
    tracked: Sequence[Tracked],
    write: Callable[[], Awaitable[T]],
) -> tuple[T, list[dict[str, Any]]]:
    """Run ``write`` inside ``tx`` and record what it changed of ``tracked``: two state
    reads per tracked label and one statement for the records (none when nothing changed)."""
    before = await read_states(tx, tracked)
    result = await write()
    after = await read_states(tx, tracked)
    records = await record_changes(
        tx, operation, principal, None, differences(tracked, before, after)
    )
    return result, records


# --- what each kind of write may change ------------------------------------------------


def _ref_types(label: str) -> tuple[str, ...]:
    return tuple(sorted({ref.spec.type for ref in REFS.get(label, {}).values()}))


def tracked_nodes(label: LiteralString, ids: Iterable[str]) -> Tracked:
    """An upsert of these nodes: their properties and single-valued references."""
    return Tracked(label, tuple(sorted(set(ids))), _ref_types(label))


def tracked_relationships(kind: RelationshipKind, rows: Iterable[Mapping[str, Any]]) -> Tracked:
    """A write of relationships of one kind, seen from their source: the relationships to
    the rows' targets (a single-valued kind: the record's one of the kind, whatever its
    target, from the record's side)."""
    spec = RELATIONSHIPS[kind]
    single = SINGLE_VALUED.get(kind)
    listed = list(rows)
    if single is not None:
        record_label, ref = single
        end = "from" if ref.record_is_source else "to"
        return Tracked(record_label, tuple(sorted({str(r[end]) for r in listed})), (spec.type,))
    others: dict[str, set[str]] = {}
    for row in listed:
        others.setdefault(str(row["from"]), set()).add(str(row["to"]))
    return Tracked(
        spec.source,
        tuple(sorted(others)),
        (spec.type,),
        {source: tuple(sorted(ends)) for source, ends in others.items()},
    )


def tracked_deletes(label: LiteralString, ids: Iterable[str]) -> Tracked:
    """A delete of these nodes: their properties and relationships, but the derived ones
    (the journey chain) and those to their dependents (a customer's touchpoints)."""
    skipped = {*DERIVED_RELATIONSHIPS, *DEPENDENTS.get(label, ())}
    types = {
        spec.type
        for kind, spec in RELATIONSHIPS.items()
        if label in (spec.source, spec.target) and kind not in skipped
    }
    return Tracked(label, tuple(sorted(set(ids))), tuple(sorted(types)))


def organisational(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records that concern the organisation (published on ``organisationChanged``)."""
    return [r for r in records if r.get("entityLabel") in ORGANISATION_LABELS or r.get("teamIds")]


# --- high-volume writes: one summary per batch -------------------------------------------

BULK_PRINCIPAL = "orggraph"
"""Who bulk loads run as: the command line (an import, the demo), not a GraphQL caller."""


async def record_batch(
    tx: Tx,
    operation: str,
    principal: str,
    what: str,
    summary: WriteSummary,
    source: str | None = None,
) -> None:
    """One Change for a whole batch of a bulk import or of the tracking endpoint: who,
    when, the source and the counts, on the entity named after the label or kind written
    (``changes(entityId: "Touchpoint")`` lists them), never a row's values. A batch that
    created and removed nothing (a replay) records nothing: Neo4j's counters cannot tell
    a re-set property from a changed one."""
    if not (
        summary.nodes_created or summary.relationships_created or summary.relationships_deleted
    ):
        return
    counts = {
        "source": source,
        "rows": summary.rows,
        "nodesCreated": summary.nodes_created,
        "relationshipsCreated": summary.relationships_created,
        "relationshipsDeleted": summary.relationships_deleted,
        "propertiesSet": summary.properties_set,
    }
    entry = ChangeEntry(what, "Batch", "batch", None, json.dumps(counts, sort_keys=True))
    await record_changes(tx, operation, principal, None, [entry])
