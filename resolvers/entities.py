"""Generic root fields for every entity: ``x(id)``, ``xs(first, after, filter)``,
``upsertX(input)`` and ``upsertXs(inputs)``.

Domain modules (``teams``, ``customers``, ...) declare their fields with these
factories, so each label's path through the code is the same:
resolver -> ``graph.nodes`` / ``graph.writes`` -> loaders for nested fields.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, LiteralString, TypeVar

import strawberry
from pydantic.alias_generators import to_camel

from orggraph.context import Info
from orggraph.errors import BadInputError, NotFoundError
from orggraph.events import publish_write
from orggraph.graph import nodes, writes
from orggraph.graph.driver import Tx
from orggraph.graph.entities import Uncompilable
from orggraph.graph.filters import SortKey
from orggraph.graph.history import tracked_nodes
from orggraph.graph.model import Record, as_utc, validate_node_id
from orggraph.graph.write_rules import WriteSummary
from orggraph.resolvers.history import write_recorded
from orggraph.schema import filters
from orggraph.schema.entities import Chosen, compiled_one, compiled_page, plan_of
from orggraph.schema.inputs import NameFilter, to_dict
from orggraph.schema.relay import (
    DEFAULT_PAGE_SIZE,
    PageInfo,
    decode_cursor,
    decode_sort_cursor,
    encode_sort_cursor,
    page_size,
)
from orggraph.schema.results import from_fields

# Checks a domain runs on its rows before an upsert writes anything: (info, [(argument
# path, row)]), raising BadInputError naming the field (e.g. a KPI's definition).
UpsertCheck = Callable[[Info, list[tuple[str, dict[str, Any]]]], Awaitable[None]]
# A list field's filter input as the query's filter, for the request (see list_field).
FilterOf = Callable[[Info, Any], nodes.NodeFilter]
T = TypeVar("T")


@strawberry.type
class UpsertResult:
    """What a batch upsert changed. Replaying the same batch reports zero creations."""

    rows: int
    nodes_created: int
    relationships_created: int
    relationships_deleted: int
    properties_set: int

    @classmethod
    def from_summary(cls, summary: WriteSummary) -> UpsertResult:
        """The summary's counts of the same names."""
        return from_fields(cls, summary)


def at_or_now(at: datetime | None) -> datetime:
    """The point in time a query reads the organisation at: ``at`` (as UTC), else now."""
    return as_utc(at) if at else datetime.now(UTC)


def found(value: T | None, label: str, node_id: str, argument: str) -> T:
    """``value``, or the NotFoundError naming the missing ``label`` and the argument."""
    if value is None:
        raise NotFoundError(f"no {label} with id '{node_id}'", field=argument)
    return value


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
        node_id = checked_id(id)
        plan = plan_of(info)
        if plan is not None:  # the whole selection in one query (schema.entities)
            with contextlib.suppress(Uncompilable):
                return await compiled_one(info, plan, node_id)
        props = await info.context.loaders.node_by_id(label).load(node_id)
        return node_type.from_props(props) if props else None

    resolve.__annotations__ = {"info": Info, "id": strawberry.ID, "return": node_type | None}
    return strawberry.field(resolver=resolve, description=description)


def list_field(
    node_type: Any, filter_type: Any, description: str, filter_of: FilterOf | None = None
) -> Any:
    """A Relay page of ``node_type``, by id or in ``sort``'s order, matching ``where`` (and
    the deprecated ``filter``); ``filter_of`` turns the filter input into the query's filter
    where the generic ``node_filter`` does not do (a personal property)."""
    label = node_type.LABEL

    async def resolve(
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: Any = None,
        where: Any = None,
        sort: Any = None,
    ) -> Any:
        limit = page_size(first, DEFAULT_PAGE_SIZE, info.context.settings.max_page_size)
        found = filter_of(info, filter) if filter_of else node_filter(filter)
        chosen = filters.to_where(label, where)
        keys = filters.to_keys(label, sort)
        graph = info.context.graph
        start = decode_sort_cursor(after, keys)
        plan = plan_of(info)
        if plan is not None:  # the whole selection in one query (schema.entities)
            with contextlib.suppress(Uncompilable):
                return await compiled_page(info, plan, Chosen(found, chosen, keys, start), limit)
        if where is None and not keys:  # the id-ordered page, on the id index
            rows = await nodes.list_nodes(graph, label, found, decode_cursor(after), limit + 1)
        else:
            rows = await nodes.list_nodes_where(graph, label, found, chosen, keys, start, limit + 1)

        async def totals(aggregate: bool) -> dict[str, Any]:
            if aggregate:
                return await nodes.aggregate_nodes(graph, label, found, chosen)
            return {"count": await nodes.count_nodes(graph, label, found, chosen)}

        return _connection(label, node_type, rows, limit, after is not None, keys, totals)

    resolve.__annotations__ = {
        "info": Info,
        "first": int | None,
        "after": str | None,
        "filter": Annotated[
            filter_type | None,
            strawberry.argument(deprecation_reason="Use `where`. Removed in the next release."),
        ],
        "where": filters.GENERATED[f"{label}Where"] | None,
        "sort": list[filters.GENERATED[f"{label}Sort"]] | None,  # type: ignore[misc]
        "return": filters.GENERATED[f"{label}Connection"],
    }
    return strawberry.field(resolver=resolve, description=description)


def _connection(
    label: str,
    node_type: Any,
    rows: list[dict[str, Any]],
    limit: int,
    paged: bool,
    keys: tuple[SortKey, ...],
    totals: filters.Totals,
) -> Any:
    page = rows[:limit]
    edge = filters.GENERATED[f"{label}Edge"]
    edges = [
        edge(cursor=encode_sort_cursor(keys, row, {}), node=node_type.from_props(row))
        for row in page
    ]
    info = PageInfo.of([e.cursor for e in edges], has_next=len(rows) > limit, has_previous=paged)
    return filters.GENERATED[f"{label}Connection"](edges=edges, page_info=info, totals=totals)


def upsert_one_field(
    node_type: Any, input_type: Any, description: str, check: UpsertCheck | None = None
) -> Any:
    label = node_type.LABEL

    async def resolve(info: Info, input: Any) -> Any:
        row = to_dict(input)
        if check is not None:
            await check(info, [("input", row)])
        await _write_with_history(info, label, writes.validate_records(label, [row]))
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
        summary = await _write_with_history(info, label, writes.validate_records(label, rows))
        return UpsertResult.from_summary(summary)

    resolve.__annotations__ = {"info": Info, "inputs": list[input_type], "return": UpsertResult}
    return strawberry.field(
        resolver=resolve, description=description + " All rows in one transaction."
    )


async def _write_with_history(
    info: Info, label: LiteralString, records: list[Record]
) -> WriteSummary:
    """Upsert validated records in one transaction, recording what changed (who, when,
    before and after: graph.history), then publish to live subscriptions."""

    async def work(tx: Tx) -> WriteSummary:
        return await writes.write_records(tx, label, records)

    tracked = [tracked_nodes(label, [r.id for r in records])]
    summary = await write_recorded(info, tracked, work)
    await publish_write(info, summary)  # live subscriptions, after commit
    return summary


@dataclass(frozen=True)
class Entity:
    """One label's four root fields, named and described from its noun: ``team(id)`` and
    ``teams(...)`` in a Query, ``upsertTeam`` and ``upsertTeams`` in a Mutation.

    ``describe`` replaces the usual description of a field ("get", "list", "upsert",
    "upserts"); without a ``filter_type`` the label has no list field.
    """

    node_type: Any
    input_type: Any
    noun: str  # "business object": the field `businessObject`
    nouns: str  # "business objects": the field `businessObjects`
    filter_type: Any = None
    article: str = "a"
    describe: Mapping[str, str] = field(default_factory=dict)
    filter_of: FilterOf | None = None
    check: UpsertCheck | None = None

    @property
    def one(self) -> str:
        return self.noun.replace(" ", "_").lower()

    @property
    def many(self) -> str:
        return self.nouns.replace(" ", "_").lower()

    def query_fields(self) -> dict[str, Any]:
        fields = {self.one: get_field(self.node_type, self._described("get"))}
        if self.filter_type is not None:
            described = self._described("list")
            fields[self.many] = list_field(
                self.node_type, self.filter_type, described, self.filter_of
            )
        return fields

    def mutation_fields(self) -> dict[str, Any]:
        node, given = self.node_type, self.input_type
        one, many = self._described("upsert"), self._described("upserts")
        return {
            f"upsert_{self.one}": upsert_one_field(node, given, one, self.check),
            f"upsert_{self.many}": upsert_many_field(node, given, many, self.check),
        }

    def _described(self, what: str) -> str:
        if what in self.describe:
            return self.describe[what]
        filtered = "" if self.filter_type is NameFilter else ", filtered"
        usual = {
            "get": f"{self.article.capitalize()} {self.noun} by id.",
            "list": f"{self.nouns[0].upper()}{self.nouns[1:]}, by id{filtered}.",
            "upsert": f"Create or update {self.article} {self.noun}.",
            "upserts": f"Create or update {self.nouns}.",
        }
        return usual[what]


def entity_query(name: str, *entities: Entity, **fields: Any) -> type:
    """A domain's Query type: its own ``fields``, then each entity's get and list fields."""
    return _root_type(name, [e.query_fields() for e in entities], fields)


def entity_mutation(name: str, *entities: Entity, **fields: Any) -> type:
    """A domain's Mutation type: its own ``fields``, then each entity's two upserts."""
    return _root_type(name, [e.mutation_fields() for e in entities], fields)


def _root_type(name: str, declared: list[dict[str, Any]], fields: dict[str, Any]) -> type:
    namespace = dict(fields)
    for each in declared:
        namespace.update(each)
    return strawberry.type(type(name, (), namespace))


def check_window(
    window_from: datetime | None, window_to: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Naive datetimes are UTC; ``from`` must come before ``to``."""
    start = as_utc(window_from) if window_from else None
    end = as_utc(window_to) if window_to else None
    if start and end and start >= end:
        raise BadInputError("'from' must be before 'to'", field="from")
    return start, end
