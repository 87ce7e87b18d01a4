"""The state of an entity as the writes see it: its properties and the relationships of
the types watched, read in the write's own transaction.

One projection (``state_of``) serves every reader: the history of changes
(``graph.history``: what a write changed, recorded as ``Change`` nodes), the touchpoint
change events (``graph.touchpoint_changes``: which touchpoints ``touchpointAdded``
reports) and the touchpoint write itself, which computes the states before and after in
its ``MERGE`` statement (``graph.writes.write_touchpoints``) instead of reading them in
two more round trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, LiteralString


def state_of(node: LiteralString, types: LiteralString, others: LiteralString) -> LiteralString:
    """The state of the node bound to ``node`` (null when it is null): its properties and
    its relationships whose type is in the list ``types``, to any node when the list
    ``others`` is null, else only to the nodes whose ids it holds; each relationship with
    its type, direction (``out``), far end's id, whether that end is a team, and its
    properties, in (type, far end) order."""
    return (
        "CASE WHEN " + node + " IS NULL THEN null ELSE {properties: properties(" + node + "), "
        "rels: COLLECT { MATCH (" + node + ")-[r]-(x) WHERE type(r) IN " + types + " "
        "AND (" + others + " IS NULL OR x.id IN " + others + ") "
        "RETURN {type: type(r), out: startNode(r) = " + node + ", other: x.id, team: x:Team, "
        "props: properties(r)} AS rel ORDER BY rel.type, rel.other }} END"
    )


def refs_of(state: Mapping[str, Any] | None) -> list[str]:
    """A state's relationships as ``TYPE:far-end-id`` texts, sorted (what a touchpoint's
    references are compared by)."""
    return sorted(f"{rel['type']}:{rel['other']}" for rel in (state or {}).get("rels") or [])
