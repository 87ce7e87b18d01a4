"""Hostile GraphQL inputs, derived from the schema itself so no field is missed.

``arguments(field)`` gives a hypothesis strategy for the variables of one root
field: random and huge strings, unicode, Cypher injection attempts, nulls,
malformed dates, unknown enum values, huge numbers and NaN, in every position.
``operation(name, field)`` writes the operation text that takes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from hypothesis import strategies as st

from orggraph.api import build_schema
from orggraph.graph.driver import Graph
from orggraph.graph.migrations import migrate
from orggraph.settings import Settings
from tests.helpers import connect, wipe

SCHEMA = build_schema(Settings())
GRAPHQL: GraphQLSchema = SCHEMA._schema

INJECTIONS: tuple[str, ...] = (
    "'}) DETACH DELETE n //",
    '"}) DETACH DELETE n //',
    "x` DETACH DELETE n //",
    "') MATCH (n) DETACH DELETE n //",
    "$id}) MERGE (:Evil) //",
    "\\u0027}) CALL apoc.create.node(['Evil'], {}) //",
    "'; LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l //",
    "*/ MATCH (n) SET n.pwned = true /*",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "Robert'); DROP TABLE Students;--",
)
MALFORMED_DATES: tuple[str, ...] = (
    "2024-13-45T99:00:00Z",
    "yesterday",
    "",
    "0000-00-00",
    "2024-02-30",
    "1e309",
    "2024-01-01T00:00:00+99:00",
    "0001-01-01T00:00:00+01:00",  # parses, but is before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # parses, but is after year 9999 in UTC
    "0000-01-01T00:00:00Z",
)

huge_text = st.integers(min_value=1_000, max_value=100_000).map(lambda n: "y" * n)
hostile_text: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=40),
    st.sampled_from(INJECTIONS),
    st.text(
        alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF), min_size=1, max_size=20
    ),
    huge_text,
)
hostile_int = st.one_of(st.integers(-10, 10_000), st.integers(min_value=-(2**70), max_value=2**70))
hostile_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 0.0, 5e-324]),
)
json_scalar = st.one_of(
    st.none(), st.booleans(), hostile_int, st.floats(allow_nan=False), hostile_text
)
hostile_json = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)
    ),
    max_leaves=6,
)
hostile_datetime = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(MALFORMED_DATES),
    hostile_text,
)


def scalar_strategy(type_: GraphQLScalarType) -> st.SearchStrategy[Any]:
    name = type_.name
    if name in ("String", "ID"):
        return hostile_text
    if name == "Int":
        return hostile_int
    if name == "Float":
        return hostile_float
    if name == "Boolean":
        return st.one_of(st.booleans(), hostile_text)
    if name in ("DateTime", "Date"):
        return hostile_datetime
    return hostile_json


def value_strategy(type_: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    if isinstance(type_, GraphQLNonNull):
        inner = value_strategy(type_.of_type, depth)
        # Mostly present; sometimes null where the schema says non-null.
        return st.one_of(inner, inner, inner, inner, st.none())
    nullable = _nullable_strategy(type_, depth)
    return st.one_of(st.none(), nullable)


def _nullable_strategy(type_: GraphQLInputType, depth: int) -> st.SearchStrategy[Any]:
    if isinstance(type_, GraphQLList):
        return st.lists(value_strategy(type_.of_type, depth + 1), max_size=3 if depth < 1 else 1)
    if isinstance(type_, GraphQLEnumType):
        return st.sampled_from([*type_.values.keys(), "NOT_A_VALUE", "'}) DETACH DELETE n //"])
    if isinstance(type_, GraphQLInputObjectType):
        fields = {
            name: value_strategy(field.type, depth + 1)
            for name, field in type_.fields.items()
            if depth < 2 or isinstance(field.type, GraphQLNonNull)
        }
        return (
            st.fixed_dictionaries({}, optional=fields)
            if depth >= 3
            else st.fixed_dictionaries(
                {
                    k: v
                    for k, v in fields.items()
                    if isinstance(type_.fields[k].type, GraphQLNonNull)
                },
                optional={
                    k: v
                    for k, v in fields.items()
                    if not isinstance(type_.fields[k].type, GraphQLNonNull)
                },
            )
        )
    assert isinstance(type_, GraphQLScalarType), type_
    return scalar_strategy(type_)


def arguments(field: GraphQLField) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {name: value_strategy(arg.type) for name, arg in field.args.items()}
    )


def selection(field: GraphQLField) -> str:
    named = field.type
    while isinstance(named, (GraphQLNonNull, GraphQLList)):
        named = named.of_type
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
        return " { __typename }"
    return ""


def operation(kind: str, name: str, field: GraphQLField) -> str:
    """``mutation($a: T!, ...) { name(a: $a, ...) { __typename } }``"""
    declared = ", ".join(f"${arg}: {a.type}" for arg, a in field.args.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    head = f"{kind} H({declared})" if declared else kind
    call = f"{name}({passed})" if passed else name
    return f"{head} {{ {call}{selection(field)} }}"


def mutation_fields() -> dict[str, GraphQLField]:
    assert GRAPHQL.mutation_type is not None
    return dict(GRAPHQL.mutation_type.fields)


def query_fields() -> dict[str, GraphQLField]:
    assert GRAPHQL.query_type is not None
    return dict(GRAPHQL.query_type.fields)


# --- valid values carrying a sentinel in every string (for the injection test) ----------


OPTIONAL_INPUT_DEPTH = 2
"""How deep optional input-object fields are filled: the generated ``where`` inputs nest
recursively (a customer's touchpoints' channel's ...), so deeper only required fields."""


def sentinel_value(
    type_: GraphQLInputType, sentinel: str, field_name: str = "", depth: int = 0
) -> Any:
    """A value the schema accepts, with ``sentinel`` in every string position."""
    if isinstance(type_, GraphQLNonNull):
        return sentinel_value(type_.of_type, sentinel, field_name, depth)
    if isinstance(type_, GraphQLList):
        return [sentinel_value(type_.of_type, sentinel, field_name, depth)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: sentinel_value(f.type, sentinel, name, depth + 1)
            for name, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull)
            or depth < OPTIONAL_INPUT_DEPTH
            or not isinstance(get_named_type(f.type), GraphQLInputObjectType)
        }
    assert isinstance(type_, GraphQLNamedType)
    name = type_.name
    if name in ("String", "ID"):
        return _sentinel_string(field_name, sentinel)
    if name == "Int":
        return 1
    if name == "Float":
        return 1.5
    if name == "Boolean":
        return True
    if name in ("DateTime", "Date"):
        return "2024-01-01T00:00:00Z"
    if name == "Decimal":
        return "1.5"  # equal to the Float beside it (money given both ways must agree)
    if field_name == "properties":
        return None  # relationship properties are allow-listed per kind
    return {"note": sentinel, sentinel: [sentinel]}


def _sentinel_string(field_name: str, sentinel: str) -> str:
    """The sentinel, or a value carrying it where the model fixes the format."""
    if field_name == "email":
        return "".join(sentinel.split()) + "@example.com"
    if field_name == "currency":
        return "EUR"  # ISO 4217 pattern: no room for a sentinel
    return sentinel


def sentinel_arguments(field: GraphQLField, sentinel: str) -> dict[str, Any]:
    return {name: _argument_value(name, arg, sentinel) for name, arg in field.args.items()}


def _argument_value(name: str, arg: GraphQLArgument, sentinel: str) -> Any:
    if name in ("first", "last"):
        return 5
    if name in ("after", "before"):
        return None  # cursors are opaque; a sentinel there is a separate decode path
    return sentinel_value(arg.type, sentinel, name)


# --- a database handle usable from synchronous hypothesis tests -------------------------------


@dataclass
class SyncGraph:
    """A Graph on its own event loop, so ``@given`` tests (synchronous) can use it."""

    loop: asyncio.AbstractEventLoop
    graph: Graph

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def fingerprint(self) -> tuple[int, int, int]:
        """Nodes, relationships and properties: any write changes one of them."""

        async def read() -> tuple[int, int, int]:
            async with self.graph.driver.session(database=self.graph.database) as session:
                result = await session.run(
                    "MATCH (n) OPTIONAL MATCH (n)-[r]->() "
                    "WITH n, count(r) AS rels, sum(size(keys(r))) AS rprops "
                    "RETURN count(n) AS nodes, sum(rels) AS rels, "
                    "sum(size(keys(n)) + rprops) AS props"
                )
                record = await result.single()
                assert record is not None
                return record["nodes"], record["rels"], record["props"]

        return self.run(read())  # type: ignore[no-any-return]


def open_sync_graph(settings: Settings) -> Iterator[SyncGraph]:
    loop = asyncio.new_event_loop()
    graph = connect(settings)
    handle = SyncGraph(loop, graph)

    async def empty() -> None:
        await wipe(graph)
        await migrate(graph)

    try:
        handle.run(empty())
        yield handle
    finally:
        handle.run(graph.close())
        loop.close()
