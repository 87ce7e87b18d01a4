"""The history of organisational changes: recording it with each write, reading it back,
and the live `organisationChanged` subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from orggraph.context import Info
from orggraph.errors import InternalError
from orggraph.events import broker_of, publish_after_commit
from orggraph.graph.changes import ChangeEntry, changes_of, count_changes_of, record_changes
from orggraph.graph.driver import Tx
from orggraph.resolvers.entities import checked_id
from orggraph.resolvers.history import TOPIC
from orggraph.schema.changes import (
    MAX_CHANGES_PAGE,
    ChangeRecord,
    ChangeRecordConnection,
    changes_connection,
)
from orggraph.schema.relay import DEFAULT_PAGE_SIZE, decode_cursor, page_size

C = TypeVar("C")


class Recorder(Generic[C]):
    """Records an operation's changes in its transaction, publishes them after the commit."""

    def __init__(
        self,
        info: Info,
        operation: str,
        effective_at: datetime | None,
        entries: Callable[[list[C]], list[ChangeEntry]],
    ) -> None:
        self.info = info
        self.operation = operation
        self.effective_at = effective_at
        self.entries = entries
        self.records: list[dict[str, Any]] = []

    async def write(self, tx: Tx, changes: list[C]) -> None:
        """Called inside the write transaction (a retry rewrites the same records)."""
        self.records = await record_changes(
            tx,
            self.operation,
            self.info.context.principal.subject,
            self.effective_at,
            self.entries(changes),
        )

    def publish(self) -> None:
        """Called after the commit: one `organisationChanged` event per record."""
        publish_after_commit(broker_of(self.info), TOPIC, self.records)


def recorder(
    info: Info,
    operation: str,
    effective_at: datetime | None,
    entries: Callable[[list[C]], list[ChangeEntry]],
) -> Recorder[C]:
    return Recorder(info, operation, effective_at, entries)


async def resolve_changes(
    info: Info,
    entity_id: Annotated[
        strawberry.ID,
        strawberry.argument(description="An entity's id; a team's id also lists what moved."),
    ],
    first: int | None = None,
    after: str | None = None,
) -> ChangeRecordConnection:
    entity = checked_id(entity_id, "entityId")
    size = page_size(first, DEFAULT_PAGE_SIZE, MAX_CHANGES_PAGE)
    rows = await changes_of(info.context.graph, entity, decode_cursor(after), size + 1)
    graph = info.context.graph
    return changes_connection(rows, size, lambda: count_changes_of(graph, entity))


@strawberry.type
class ChangesQuery:
    changes: ChangeRecordConnection = strawberry.field(
        resolver=resolve_changes,
        description=(
            "The recorded changes of an entity (and, for a team, of everything moved to or "
            "from it), newest first: who, when, effective when, before and after."
        ),
    )


def concerning(team_id: str | None, entity_id: str | None) -> Callable[[dict[str, Any]], bool]:
    """Accept a change event concerning ``team_id`` (when given) and about ``entity_id``."""

    def accept(event: dict[str, Any]) -> bool:
        teams = event.get("teamIds") or []
        return (team_id is None or str(team_id) in teams) and (
            entity_id is None or event.get("entityId") == str(entity_id)
        )

    return accept


@strawberry.type
class ChangesSubscription:
    @strawberry.subscription(
        description="Organisational changes as they commit (reorganisations, hand-overs, "
        "lifecycle transitions, and the upserts and deletes of the organisation's entities "
        "and of whatever concerns a team); filter by a team they concern or by entity."
    )
    async def organisation_changed(
        self,
        info: Info,
        team_id: strawberry.ID | None = None,
        entity_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[ChangeRecord, None]:
        broker = broker_of(info)
        if broker is None:
            raise InternalError("live subscriptions are not available here (no event broker)")
        async with broker.subscribe(TOPIC, concerning(team_id, entity_id)) as events:
            async for event in events:
                yield ChangeRecord.from_props(event)
