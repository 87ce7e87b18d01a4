"""Generic root fields for every entity: ``x(id)``, ``xs(first, after, filter)``,
``upsertX(input)`` and ``upsertXs(inputs)``.

Domain modules (``teams``, ``customers``, ...) declare their fields with these
factories, so each label's path through the code is the same:
resolver -> ``graph.nodes`` / ``graph.writes`` -> loaders for nested fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import strawberry
from pydantic.alias_generators import to_camel

from orggraph.context import Info
from orggraph.errors import BadInputError, NotFoundError
from orggraph.events import publish_write
from orggraph.graph import nodes, writes
from orggraph.graph.driver import Tx
from orggraph.graph.model import as_utc, validate_node_id
from orggraph.schema.inputs import to_dict
from orggraph.schema.relay import (
    DEFAULT_PAGE_SIZE,
    Connection,
    Edge,
    PageInfo,
    decode_cursor,
    encode_cursor,
    page_size,
)

# Checks a domain runs on its rows before an upsert writes anything: (info, [(argument
# path, row)]), raising BadInputError naming the field (e.g. a KPI's definition).
UpsertCheck = Callable[[Info, list[tuple[str, dict[str, Any]]]], Awaitable[None]]


@strawberry.type
class UpsertResult:
    """What a batch upsert changed. Replaying the same batch reports zero creations."""

    rows: int
    nodes_created: int
    relationships_created: int
    relationships_deleted: int
    properties_set: int

    @classmethod
    def from_summary(cls, summary: writes.WriteSummary) -> UpsertResult:
        return cls(
            rows=summary.rows,
            nodes_created=summary.nodes_created,
            relationships_created=summary.relationships_created,
            relationships_deleted=summary.relationships_deleted,
            properties_set=summary.properties_set,
        )


def checked_id(value: str, argument: str = "id") -> str:
    try:
        return validate_node_id(value)
    except ValueError as error:
        raise BadInputError(f"'{argument}' {error}", field=argument) from error


def node_filter(value: Any) -> nodes.NodeFilter:
    """A typed GraphQL filter as equality map + name/at bounds (names allow-listed)."""
    if value is None:
        return nodes.NodeFilter(equals={})
    fields = to_dict(value)
    name_contains = fields.pop("name_contains", None)
    at_from = fields.pop("at_from", None)
    at_to = fields.pop("at_to", None)
    equals = {to_camel(key): item for key, item in fields.items() if item is not None}
    return nodes.NodeFilter(equals, name_contains, at_from, at_to)


def check_batch_size(info: Info, rows: Sequence[Any], argument: str) -> None:
    maximum = info.context.settings.max_batch_size
    if len(rows) > maximum:
        raise BadInputError(
            f"'{argument}' holds {len(rows)} rows; at most {maximum} per request",
            field=argument,
        )


def get_field(node_type: Any, description: str) -> Any:
    label = node_type.LABEL

    async def resolve(info: Info, id: strawberry.ID) -> Any:
        props = await info.context.loaders.node_by_id(label).load(checked_id(id))
        return node_type.from_props(props) if props else None

    resolve.__annotations__ = {"info": Info, "id": strawberry.ID, "return": node_type | None}
    return strawberry.field(resolver=resolve, description=description)


def list_field(node_type: Any, filter_type: Any, description: str) -> Any:
    label = node_type.LABEL

    async def resolve(
        info: Info, first: int | None = None, after: str | None = None, filter: Any = None
    ) -> Any:
        limit = page_size(first, DEFAULT_PAGE_SIZE, info.context.settings.max_page_size)
        rows = await nodes.list_nodes(
            info.context.graph, label, node_filter(filter), decode_cursor(after), limit + 1
        )
        return _connection(node_type, rows, limit, after is not None)

    resolve.__annotations__ = {
        "info": Info,
        "first": int | None,
        "after": str | None,
        "filter": filter_type | None,
        "return": Connection[node_type],
    }
    return strawberry.field(resolver=resolve, description=description)


def _connection(node_type: Any, rows: list[dict[str, Any]], limit: int, paged: bool) -> Any:
    page = rows[:limit]
    edges = [Edge(cursor=encode_cursor(row["id"]), node=node_type.from_props(row)) for row in page]
    info = PageInfo(
        has_next_page=len(rows) > limit,
        has_previous_page=paged,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, page_info=info)


def upsert_one_field(
    node_type: Any, input_type: Any, description: str, check: UpsertCheck | None = None
) -> Any:
    label = node_type.LABEL

    async def resolve(info: Info, input: Any) -> Any:
        row = to_dict(input)
        if check is not None:
            await check(info, [("input", row)])
        summary = await writes.upsert_nodes(info.context.graph, label, [row])
        await publish_write(info, summary)  # live subscriptions, after commit
        props = (await nodes.nodes_by_id(info.context.graph, label, [input.id])).get(input.id)
        if props is None:  # deleted concurrently
            raise NotFoundError(f"{label} {input.id!r} vanished after the upsert")
        return node_type.from_props(props)

    resolve.__annotations__ = {"info": Info, "input": input_type, "return": node_type}
    return strawberry.field(resolver=resolve, description=description)


def upsert_many_field(
    node_type: Any, input_type: Any, description: str, check: UpsertCheck | None = None
) -> Any:
    label = node_type.LABEL

    async def resolve(info: Info, inputs: list[Any]) -> UpsertResult:
        check_batch_size(info, inputs, "inputs")
        rows = [to_dict(item) for item in inputs]
        if check is not None:
            await check(info, [(f"inputs[{i}]", row) for i, row in enumerate(rows)])
        records = writes.validate_records(label, rows)

        async def work(tx: Tx) -> writes.WriteSummary:
            return await writes.write_records(tx, label, records)

        summary = await info.context.graph.write(work)
        await publish_write(info, summary)  # live subscriptions, after commit
        return UpsertResult.from_summary(summary)

    resolve.__annotations__ = {"info": Info, "inputs": list[input_type], "return": UpsertResult}
    return strawberry.field(
        resolver=resolve, description=description + " All rows in one transaction."
    )


def check_window(
    window_from: datetime | None, window_to: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Naive datetimes are UTC; ``from`` must come before ``to``."""
    start = as_utc(window_from) if window_from else None
    end = as_utc(window_to) if window_to else None
    if start and end and start >= end:
        raise BadInputError("'from' must be before 'to'", field="from")
    return start, end
