"""Generic writes with their history: a resolver's transaction body run with
``graph.history.recorded`` (the changes written in the same transaction, by the
request's principal), the organisation's changes published after the commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from orggraph.context import Info
from orggraph.events import broker_of, publish_after_commit
from orggraph.graph.driver import Tx
from orggraph.graph.history import Tracked, organisational, recorded

TOPIC = "organisationChanged"
T = TypeVar("T")


async def write_recorded(
    info: Info, tracked: Sequence[Tracked], write: Callable[[Tx], Awaitable[T]]
) -> T:
    """``write`` in one transaction with the history of ``tracked``; the operation is
    the GraphQL field (upsertTeam, deleteSteps, ...)."""
    records: list[dict[str, Any]] = []

    async def work(tx: Tx) -> T:
        nonlocal records  # a retried transaction replaces them
        result, records = await recorded(
            tx, info.field_name, info.context.principal.subject, tracked, lambda: write(tx)
        )
        return result

    result = await info.context.graph.write(work)
    publish_after_commit(broker_of(info), TOPIC, organisational(records))
    return result
