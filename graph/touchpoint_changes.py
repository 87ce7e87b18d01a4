"""Which touchpoints a write actually changed: read by the database in the write's own
transaction, before and after, so that a replayed (no-op) write reports none.

A touchpoint's state is its properties and its single-valued references (customer,
channel, campaign, team, person, step); the journey links derived from them (NEXT,
REACHED, LATEST) are not part of it. Live subscriptions publish ``touchpointAdded`` for
the changed ones only (``orggraph.events.publish_touchpoints``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, LiteralString

from orggraph.graph.driver import Tx
from orggraph.graph.model import REFS

REF_TYPES: tuple[str, ...] = tuple(sorted({ref.spec.type for ref in REFS["Touchpoint"].values()}))
"""The relationship types of a touchpoint's references (HAD, VIA, FROM, HANDLED_BY, ...)."""
REF_KINDS = frozenset(ref.relationship for ref in REFS["Touchpoint"].values())
"""The relationship kinds of a touchpoint's references."""


def touchpoint_state_of(node: LiteralString) -> LiteralString:
    """The state of the touchpoint bound to ``node`` (null when it is null): its properties
    and its references (relationships of the types ``$refTypes``) as ``TYPE:id`` texts, in
    order. Lean on purpose (texts, not maps): the touchpoint write computes it twice per
    row in its ``MERGE`` statement."""
    return (
        "CASE WHEN " + node + " IS NULL THEN null ELSE {properties: properties(" + node + "), "
        "refs: COLLECT { MATCH (" + node + ")-[r]-(x) WHERE type(r) IN $refTypes "
        "RETURN type(r) + ':' + x.id AS ref ORDER BY ref }} END"
    )


TOUCHPOINT_STATES: LiteralString = (
    "UNWIND $ids AS id OPTIONAL MATCH (t:Touchpoint {id: id}) "
    "RETURN id, " + touchpoint_state_of("t") + " AS state"
)
"""Each touchpoint's state (null when it does not exist), anchored on the id constraint."""


def referenced(state: Mapping[str, Any] | None, rel_type: str) -> str | None:
    """The id a touchpoint's state refers to by a relationship type (``HAD``: its customer)."""
    prefix = rel_type + ":"
    refs: Sequence[str] = (state or {}).get("refs") or []
    return next((ref[len(prefix) :] for ref in refs if ref.startswith(prefix)), None)


def touchpoint_event(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``touchpointAdded`` event of a touchpoint's state, as ``orggraph.events`` reads
    it after a commit: its properties with its customer's and channel's ids."""
    return {
        **state["properties"],
        "customerId": referenced(state, "HAD"),
        "channelId": referenced(state, "VIA"),
    }


async def touchpoint_states(tx: Tx, ids: Iterable[str]) -> dict[str, Any]:
    """The state of each touchpoint id, read inside ``tx``."""
    unique = sorted(set(ids))
    if not unique:
        return {}
    records = await tx.records(TOUCHPOINT_STATES, ids=unique, refTypes=list(REF_TYPES))
    return {record["id"]: record["state"] for record in records}


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Ids whose state differs (created ones included), in id order."""
    return sorted(i for i, state in after.items() if state is not None and state != before.get(i))


def touchpoint_ends(
    kind_ends: Iterable[tuple[str, str, Iterable[Mapping[str, Any]]]],
) -> set[str]:
    """Touchpoint ids at either end of relationship rows (``(source label, target label,
    rows with "from"/"to")``): a relationship write can change their references."""
    ids: set[str] = set()
    for source, target, rows in kind_ends:
        for row in rows:
            if source == "Touchpoint":
                ids.add(str(row["from"]))
            if target == "Touchpoint":
                ids.add(str(row["to"]))
    return ids


# --- deletes ---------------------------------------------------------------------------------

REMOVAL_EVENT: LiteralString = """t {.id, .at,
  customerId: head(COLLECT { MATCH (c:Customer)-[:HAD]->(t) RETURN c.id }),
  channelId: head(COLLECT { MATCH (t)-[:VIA]->(ch:Channel) RETURN ch.id })}"""
"""What a ``touchpointRemoved`` event says of touchpoint ``t``, read before it goes."""

DELETED_TOUCHPOINTS: LiteralString = (
    "UNWIND $ids AS id MATCH (t:Touchpoint {id: id}) RETURN true AS removed, "
    + REMOVAL_EVENT
    + " AS touchpoint"
)
"""The touchpoints about to be deleted, as removal events (their customer is in them)."""


@functools.cache
def touched_by_delete_query(label: LiteralString, owns: bool) -> LiteralString:
    """The touchpoints a delete of ``label`` nodes touches: those referring to the nodes
    (``removed`` when the node owns them: a cascade deletes them) and, for an owner, those
    referring to what it owns (a process's steps): they lose that reference."""
    owned: LiteralString = ""
    if owns:
        owned = (
            " UNION WITH n MATCH (n)-[o]->()-[r]-(t:Touchpoint) "
            "WHERE type(o) IN $ownedTypes AND type(r) IN $refTypes RETURN t, false AS removed"
        )
    return (
        "UNWIND $ids AS id MATCH (n:" + label + " {id: id}) "
        "CALL { WITH n MATCH (n)-[r]-(t:Touchpoint) WHERE type(r) IN $refTypes "
        "RETURN t, type(r) IN $ownedTypes AS removed" + owned + " } "
        "WITH DISTINCT t, removed RETURN removed, " + REMOVAL_EVENT + " AS touchpoint"
    )


@dataclasses.dataclass
class Touched:
    """What a delete does to touchpoints: the ones it deletes (as removal events, read before)
    and the ones whose references it removes (their ids)."""

    removed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    changed: list[str] = dataclasses.field(default_factory=list)

    def customers(self) -> set[str]:
        """The customers of the removed touchpoints (their journeys are rebuilt)."""
        return {event["customerId"] for event in self.removed if event["customerId"]}


async def touched_by_delete(
    tx: Tx, label: LiteralString, ids: Sequence[str], owned_types: Sequence[str]
) -> Touched:
    """Read, before a delete of ``label`` nodes, the touchpoints it will remove or change.
    One round trip."""
    if label == "Touchpoint":
        records = await tx.records(DELETED_TOUCHPOINTS, ids=list(ids))
    else:
        records = await tx.records(
            touched_by_delete_query(label, bool(owned_types)),
            ids=list(ids),
            refTypes=list(REF_TYPES),
            ownedTypes=list(owned_types),
        )
    removed: dict[str, dict[str, Any]] = {}
    changed: set[str] = set()
    for record in records:
        event = dict(record["touchpoint"])
        if record["removed"]:
            removed[event["id"]] = event
        else:
            changed.add(event["id"])
    return Touched(
        removed=[removed[i] for i in sorted(removed)], changed=sorted(changed - set(removed))
    )
