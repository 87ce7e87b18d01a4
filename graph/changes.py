"""The history of organisational changes: who changed what, when, before and after.

Every organisational write (a reorganisation applied, a process handed over, a
lifecycle transition) records, in the same transaction, one ``(:Change)`` node
per changed entity property or relationship: the operation, the principal, when
it was recorded and when it takes effect, the entity, the teams it concerns and
the value before and after. Values are ids, names and states only: no personal
data (a customer's sealed email, for one) is ever copied into the history; that
such a property changed is recorded with ``WITHHELD`` for its values. Generic
upserts and deletes record theirs through ``graph.history``.

Change ids sort by recording time (newest last), so a page of history is a
keyset on the id constraint.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph, Tx, id_anchored
from orggraph.graph.model import PERSONAL_PROPERTIES

# The properties of a (:Change) node (docs/model.md lists them).
CHANGE_PROPERTIES: tuple[str, ...] = (
    "id",
    "operation",
    "principal",
    "recordedAt",
    "effectiveAt",
    "entityId",
    "entityLabel",
    "field",
    "before",
    "after",
    "teamIds",
)


@dataclass(frozen=True)
class ChangeEntry:
    """One changed property or relationship of one entity."""

    entity_id: str
    entity_label: str
    field: str  # a property name, or a relationship type (OWNS, MEMBER_OF, ...)
    before: str | None
    after: str | None
    team_ids: tuple[str, ...] = ()


RECORD_CHANGES: LiteralString = id_anchored(
    """
UNWIND $rows AS row
MERGE (c:Change {id: row.id})
ON CREATE SET c.operation = $operation, c.principal = $principal,
  c.recordedAt = $recordedAt, c.effectiveAt = $effectiveAt,
  c.entityId = row.entityId, c.entityLabel = row.entityLabel, c.field = row.field,
  c.before = row.before, c.after = row.after, c.teamIds = row.teamIds
"""
)
"""Record a batch of changes (MERGE on id: a retried transaction writes each once)."""

CHANGES_OF: LiteralString = """
CALL () {
  MATCH (c:Change) WHERE c.entityId = $entityId AND ($after IS NULL OR c.id < $after)
  RETURN c
  UNION
  MATCH (c:Change) WHERE $entityId IN c.teamIds AND ($after IS NULL OR c.id < $after)
  RETURN c
}
RETURN c {.*} AS change ORDER BY c.id DESC LIMIT $limit
"""
"""The changes of an entity, or concerning a team, newest first, after a cursor.

The entity's own changes come from the ``entityId`` index; those that only
concern a team (an item moved to or from it) from its ``teamIds`` list.
"""


WITHHELD = "(withheld)"
"""Stands for a personal value in the history: it changed, what it was is not kept."""


def _without_personal(entry: ChangeEntry) -> ChangeEntry:
    if entry.field not in PERSONAL_PROPERTIES.get(entry.entity_label, frozenset()):
        return entry
    before, after = (None if v is None else WITHHELD for v in (entry.before, entry.after))
    return dataclasses.replace(entry, before=before, after=after)


def new_change_id(recorded_at: datetime, index: int) -> str:
    """Sortable by recording time, then by position in its operation; unique."""
    stamp = recorded_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"chg-{stamp}-{index:05d}-{uuid.uuid4().hex[:12]}"


async def record_changes(
    tx: Tx,
    operation: str,
    principal: str,
    effective_at: datetime | None,
    entries: list[ChangeEntry],
) -> list[dict[str, Any]]:
    """Write the history of one operation in ``tx``; returns the records written."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": new_change_id(now, i),
            "entityId": e.entity_id,
            "entityLabel": e.entity_label,
            "field": e.field,
            "before": e.before,
            "after": e.after,
            "teamIds": list(e.team_ids),
        }
        for i, e in enumerate(_without_personal(x) for x in entries)
    ]
    if rows:
        await tx.run(
            RECORD_CHANGES,
            rows=rows,
            operation=operation,
            principal=principal,
            recordedAt=now,
            effectiveAt=effective_at,
        )
    common = {
        "operation": operation,
        "principal": principal,
        "recordedAt": now,
        "effectiveAt": effective_at,
    }
    return [{**common, **row} for row in rows]


COUNT_CHANGES_OF: LiteralString = """
CALL () {
  MATCH (c:Change) WHERE c.entityId = $entityId RETURN c
  UNION
  MATCH (c:Change) WHERE $entityId IN c.teamIds RETURN c
}
RETURN count(c) AS total
"""
"""How many changes ``CHANGES_OF`` pages through, over every page."""


async def count_changes_of(graph: Graph, entity_id: str) -> int:
    records = await graph.query(COUNT_CHANGES_OF, entityId=entity_id)
    return int(records[0]["total"]) if records else 0


async def changes_of(
    graph: Graph, entity_id: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    records = await graph.query(CHANGES_OF, entityId=entity_id, after=after, limit=limit)
    return [dict(r["change"]) for r in records]
