"""The history of organisational changes, as GraphQL types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry

from orggraph.schema.relay import Connection, Edge, PageInfo, encode_cursor
from orggraph.schema.types import as_datetime

# The most changes one page of `changes` returns.
MAX_CHANGES_PAGE = 500


@strawberry.type(
    description=(
        "One recorded change of one entity: a property (`field` is its name) or a "
        "relationship (`field` is its type: OWNS, MEMBER_OF, ...; `before` / `after` are "
        "the ids at its other end), who made it, when, and when it takes effect. Personal "
        "data is never recorded."
    )
)
class ChangeRecord:
    id: strawberry.ID
    operation: str = strawberry.field(
        description="The write that made it: applyReorganisation, handOverProcess, ..."
    )
    principal: str = strawberry.field(description="Who made it (the authenticated subject).")
    recorded_at: datetime
    effective_at: datetime | None
    entity_id: strawberry.ID
    entity_label: str
    field: str
    before: str | None
    after: str | None
    team_ids: list[strawberry.ID] = strawberry.field(description="The teams it concerns.")

    @classmethod
    def from_props(cls, p: dict[str, Any]) -> ChangeRecord:
        return cls(
            id=strawberry.ID(p["id"]),
            operation=p.get("operation", ""),
            principal=p.get("principal", ""),
            recorded_at=as_datetime(p["recordedAt"]) or datetime.min,
            effective_at=as_datetime(p.get("effectiveAt")),
            entity_id=strawberry.ID(p.get("entityId", "")),
            entity_label=p.get("entityLabel", ""),
            field=p.get("field", ""),
            before=p.get("before"),
            after=p.get("after"),
            team_ids=[strawberry.ID(t) for t in p.get("teamIds") or []],
        )


@strawberry.type(name="ChangeRecordConnection")
class ChangeRecordConnection(Connection[ChangeRecord]):
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many changes there are, over every page.")
    async def total_count(self) -> int:
        return await self.count()


def changes_connection(
    rows: list[dict[str, Any]], size: int, count: Callable[[], Awaitable[int]]
) -> ChangeRecordConnection:
    """A page of ``size`` from ``rows`` (one more fetched tells whether a next page exists);
    ``count`` reads the total when asked."""
    edges = [
        Edge(cursor=encode_cursor(str(r["id"])), node=ChangeRecord.from_props(r))
        for r in rows[:size]
    ]
    return ChangeRecordConnection(
        count=count,
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > size,
            has_previous_page=False,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
