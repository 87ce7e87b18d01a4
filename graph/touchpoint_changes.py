"""Which touchpoints a write actually changed: read by the database in the write's own
transaction, before and after, so that a replayed (no-op) write reports none.

A touchpoint's state is its properties and its single-valued references (customer,
channel, campaign, team, person, step); the journey links derived from them (NEXT,
REACHED, LATEST) are not part of it. Live subscriptions publish ``touchpointAdded`` for
the changed ones only (``orggraph.events.publish_touchpoints``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, LiteralString

from orggraph.graph.driver import Tx
from orggraph.graph.model import REFS

REF_TYPES: tuple[str, ...] = tuple(sorted({ref.spec.type for ref in REFS["Touchpoint"].values()}))
"""The relationship types of a touchpoint's references (HAD, VIA, FROM, HANDLED_BY, ...)."""

TOUCHPOINT_STATES: LiteralString = """
UNWIND $ids AS id
OPTIONAL MATCH (t:Touchpoint {id: id})
RETURN id, CASE WHEN t IS NULL THEN null ELSE {
  properties: properties(t),
  refs: COLLECT { MATCH (t)-[r]-(x) WHERE type(r) IN $refTypes
                  RETURN type(r) + ':' + x.id AS ref ORDER BY ref }
} END AS state
"""
"""Each touchpoint's state (null when it does not exist), anchored on the id constraint."""


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
