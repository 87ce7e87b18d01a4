"""Where, sort, connection and aggregate types of every entity, generated from the model.

One generator (``generate``) builds, for each label, from its record's fields
(``graph.filters.filter_fields``) and its to-many relationship fields
(``graph.model.RELATIONSHIP_FIELDS``): ``<Label>Where`` (per field ``{eq, in,
startsWith, ...}`` in the shapes of @neo4j/graphql v7, ``AND``/``OR``/``NOT``,
relationship ``{some, none, all}``),
``<Label>Sort``, ``<Label>Aggregate``, the root ``<Label>Connection`` with its edges,
and ``<Owner><Field>Connection`` for each relationship field, whose edges carry the
relationship's properties. ``to_where`` and ``to_keys`` turn the inputs into the
graph layer's ``Where`` and sort keys.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from strawberry.types.private import is_private

from orggraph.errors import BadInputError, QueryTooComplexError
from orggraph.graph import filters
from orggraph.graph.filters import (
    AGGREGATABLE,
    NUMERIC,
    OPERATORS,
    FieldKind,
    FieldSpec,
    SortKey,
    Where,
)
from orggraph.graph.model import (
    RELATIONSHIP_FIELDS,
    RELATIONSHIPS,
    RelationshipField,
    RelationshipKind,
)
from orggraph.graph.nodes import CURRENT_ONLY
from orggraph.schema.relay import PageInfo

UNSET: Any = strawberry.UNSET

# A where nests at most this deep (AND/OR/NOT and relationships) and holds at most this
# many comparisons: its Cypher grows with both (QUERY_TOO_COMPLEX above them).
MAX_WHERE_DEPTH = 6
MAX_WHERE_CONDITIONS = 50
MAX_SORT_KEYS = 5


@strawberry.enum(description="A sort direction; nulls come last ascending, first descending.")
class SortDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


# Per label, its type's to-many relationship fields by Python name (graph.model).
RELATED: dict[str, dict[str, RelationshipField]] = {
    label: {field.name: field for field in fields if field.many}
    for label, fields in RELATIONSHIP_FIELDS.items()
}
# Every generated type by its GraphQL name.
GENERATED: dict[str, Any] = {}

_PYTHON_OPERATOR = {"in": "in_", "startsWith": "starts_with", "endsWith": "ends_with"}
_SCALARS: dict[FieldKind, Any] = {
    FieldKind.ID: strawberry.ID,
    FieldKind.STRING: str,
    FieldKind.INT: int,
    FieldKind.FLOAT: float,
    FieldKind.DATETIME: datetime,
    FieldKind.BOOLEAN: bool,
}


def _python_operator(operator: str) -> str:
    return _PYTHON_OPERATOR.get(operator, operator)


def declare(
    name: str,
    fields: dict[str, tuple[Any, str | None]],
    *,
    input: bool,
    description: str | None = None,
    base: type | None = None,
    extra: dict[str, Any] | None = None,
    required: frozenset[str] = frozenset(),
) -> Any:
    """A Strawberry input or object type ``name`` with ``fields`` (Python name ->
    (type, GraphQL name or None for the camelCase one)); inputs' fields are optional
    but the ``required`` ones. ``extra`` adds or replaces class attributes (resolver
    fields, fields with a description); ``base`` is the class to fill (created
    beforehand when other types refer to it)."""
    cls: Any = base if base is not None else type(name, (), {})
    cls.__module__ = __name__
    cls.__annotations__ = {}
    for python_name, (annotation, graphql_name) in fields.items():
        cls.__annotations__[python_name] = annotation
        if is_private(annotation):
            continue
        optional = input and python_name not in required
        default = UNSET if optional else dataclasses.MISSING
        setattr(cls, python_name, strawberry.field(default=default, name=graphql_name))
    for python_name, value in (extra or {}).items():
        setattr(cls, python_name, value)
    decorate = strawberry.input if input else strawberry.type
    GENERATED[name] = decorate(cls, name=name, description=description)
    return GENERATED[name]


# --- scalar filters -----------------------------------------------------------------------


def scalar_filters(kind: FieldKind, enum_type: type[enum.Enum] | None = None) -> Any:
    """``<Scalar>ScalarFilters``: the operators of one kind of field (one input per enum)."""
    scalar = enum_type if enum_type is not None else _SCALARS[kind]
    name = f"{enum_type.__name__}EnumScalarFilters" if enum_type else f"{kind.value}ScalarFilters"
    if name in GENERATED:
        return GENERATED[name]
    fields: dict[str, tuple[Any, str | None]] = {}
    for operator in OPERATORS[kind]:
        annotation = list[scalar] if operator == "in" else scalar  # type: ignore[valid-type]
        fields[_python_operator(operator)] = (annotation | None, operator)
    return declare(name, fields, input=True)


# --- aggregates ----------------------------------------------------------------------------


def _iso(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value).split("[", 1)[0])


def aggregate_selection(kind: FieldKind) -> Any:
    """``<Scalar>AggregateSelection``: min and max, and for numbers average and sum."""
    name = f"{kind.value}AggregateSelection"
    if name in GENERATED:
        return GENERATED[name]
    scalar = _SCALARS[kind]
    fields: dict[str, tuple[Any, str | None]] = {"min": (scalar | None, None)}
    fields["max"] = (scalar | None, None)
    if kind in NUMERIC:
        fields["average"] = (float | None, None)
        fields["sum"] = (scalar | None, None)
    return declare(name, fields, input=False)


def _selection(kind: FieldKind, values: dict[str, Any]) -> Any:
    extremes = ("min", "max", "average", "sum") if kind in NUMERIC else ("min", "max")
    values = dict.fromkeys(extremes) | values  # nothing related: no extremes (null)
    if kind is FieldKind.DATETIME:
        values = {key: _iso(value) for key, value in values.items()}
    return GENERATED[f"{kind.value}AggregateSelection"](**values)


def aggregate_type(label: str) -> Any:
    """``<Label>Aggregate``: how many, and per number or date-time field its extremes."""
    fields: dict[str, tuple[Any, str | None]] = {"count": (int, None)}
    for spec in _aggregatable(label):
        fields[spec.python_name] = (aggregate_selection(spec.kind), None)
    return declare(f"{label}Aggregate", fields, input=False)


def _aggregatable(label: str) -> list[FieldSpec]:
    return [s for s in filters.filter_fields(label).values() if s.kind in AGGREGATABLE]


def aggregate_of(label: str, totals: dict[str, Any]) -> Any:
    """The ``<Label>Aggregate`` of ``{count, fields}`` (``graph.nodes.aggregations``)."""
    values = {
        spec.python_name: _selection(spec.kind, dict(totals["fields"].get(spec.name) or {}))
        for spec in _aggregatable(label)
    }
    return GENERATED[f"{label}Aggregate"](count=totals["count"], **values)


# --- connections ----------------------------------------------------------------------------

Totals = Callable[[bool], Awaitable[dict[str, Any]]]


async def _total_count(root: Any) -> int:
    return int((await root.totals(False))["count"])


def _typed(resolve: Callable[..., Any], returns: Any) -> Callable[..., Any]:
    """``resolve`` as a new function returning ``returns`` (one per generated type)."""

    def typed(root: Any) -> Any:
        return resolve(root)

    typed.__annotations__ = {"root": Any, "return": returns}
    return typed


async def _aggregate_of(root: Any) -> Any:
    return aggregate_of(root.label, await root.totals(True))


def _aggregate(returns: Any) -> Callable[..., Any]:
    async def aggregate(root: Any) -> Any:
        return await _aggregate_of(root)

    aggregate.__annotations__ = {"root": Any, "return": returns}
    return aggregate


def _nodes(root: Any) -> list[Any]:
    return [edge.node for edge in root.edges]


def connection_type(name: str, node_type: Any, label: str, edge_properties: Any = None) -> Any:
    """``<name>Connection`` of ``node_type`` with ``<name>Edge``s (carrying the
    relationship's ``edge_properties`` type when given), its page, total and aggregate.
    ``totals(aggregate)`` reads ``{count, fields}`` of what matches, when asked."""
    edge_fields: dict[str, tuple[Any, str | None]] = {"cursor": (str, None)}
    edge_fields["node"] = (node_type, None)
    if edge_properties is not None:
        edge_fields["properties"] = (edge_properties, None)
    edge = declare(f"{name}Edge", edge_fields, input=False)
    fields: dict[str, tuple[Any, str | None]] = {
        "edges": (list[edge], None),  # type: ignore[valid-type]
        "page_info": (PageInfo, None),
        "totals": (strawberry.Private[Totals], None),  # type: ignore[misc]
    }
    resolvers = {
        "total_count": strawberry.field(
            resolver=_total_count, description="How many match, over every page."
        ),
        "aggregate": strawberry.field(
            resolver=_aggregate(GENERATED[f"{label}Aggregate"]),
            description="How many match and the extremes of their fields, over every page.",
        ),
        "nodes": strawberry.field(
            resolver=_typed(_nodes, list[node_type]),
            description="The page's nodes, without edges.",
        ),
    }
    connection = declare(f"{name}Connection", fields, input=False, extra=resolvers)
    connection.label = label
    return connection


# --- the generator ----------------------------------------------------------------------------


def generate(node_types: dict[str, Any]) -> dict[str, Any]:
    """Every label's where, sort, aggregate and connection types (see module doc)."""
    wheres = {label: type(f"{label}Where", (), {}) for label in node_types}
    for label in node_types:
        _where_type(label, wheres)
        declare(
            f"{label}Sort",
            {spec.python_name: (SortDirection | None, None) for spec in _sortable(label)},
            input=True,
            description=f"Sort {label} by one field (several are applied in order).",
        )
        aggregate_type(label)
        connection_type(label, node_types[label], label)
    for owner, fields in RELATED.items():
        for field in fields.values():
            edge_properties = _properties_type(field.kind)
            name = relationship_type_name(owner, field.name)
            target = field.far_label
            connection_type(name, node_types[target], target, edge_properties)
    return GENERATED


def relationship_type_name(owner: str, field: str) -> str:
    """``CustomerTouchpoints``: what a relationship field's connection and edge types
    are named after (``<it>Connection``, ``<it>Edge``)."""
    return owner + field.title().replace("_", "")


def _sortable(label: str) -> list[FieldSpec]:
    return list(filters.filter_fields(label).values())


def _where_type(label: str, wheres: dict[str, type]) -> None:
    where = wheres[label]
    fields: dict[str, tuple[Any, str | None]] = {
        "AND": (list[where] | None, "AND"),  # type: ignore[valid-type]
        "OR": (list[where] | None, "OR"),  # type: ignore[valid-type]
        "NOT": (where | None, "NOT"),
    }
    for spec in filters.filter_fields(label).values():
        fields[spec.python_name] = (scalar_filters(spec.kind, spec.enum_type) | None, None)
    for field in RELATED.get(label, {}).values():
        fields[field.name] = (_relationship_filters(field.far_label, wheres) | None, None)
    declare(
        f"{label}Where",
        fields,
        input=True,
        description=f"Which {label} nodes: every field given must hold.",
        base=where,
    )


def _relationship_filters(target: str, wheres: dict[str, type]) -> Any:
    name = f"{target}RelationshipFilters"
    if name in GENERATED:
        return GENERATED[name]
    fields: dict[str, tuple[Any, str | None]] = {
        quantifier: (wheres[target] | None, None) for quantifier in filters.QUANTIFIERS
    }
    return declare(
        name, fields, input=True, description=f"Related {target} nodes: some, none or all match."
    )


def _properties_type(kind: RelationshipKind) -> Any:
    model: type[BaseModel] = RELATIONSHIPS[kind].properties
    specs = filters.relationship_fields(kind)
    if not specs:
        return None
    name = model.__name__
    if name in GENERATED:
        return GENERATED[name]
    fields: dict[str, tuple[Any, str | None]] = {
        spec.python_name: (_SCALARS[spec.kind] | None, spec.name) for spec in specs.values()
    }
    return declare(
        name, fields, input=False, description=f"Properties of a {RELATIONSHIPS[kind].type}."
    )


def edge_properties(kind: RelationshipKind, rel: dict[str, Any]) -> Any:
    """The edge's properties object of a relationship's stored properties, if it has any."""
    specs = filters.relationship_fields(kind)
    if not specs:
        return None
    values = {
        spec.python_name: _iso(rel.get(spec.name))
        if spec.kind is FieldKind.DATETIME
        else rel.get(spec.name)
        for spec in specs.values()
    }
    return GENERATED[RELATIONSHIPS[kind].properties.__name__](**values)


# --- inputs to the graph layer's where and sort ----------------------------------------------


def to_where(label: str, value: Any, argument: str = "where") -> Where:
    """A ``<Label>Where`` input as ``graph.filters.Where``, bounded in size."""
    where = _where(label, value)
    depth, conditions = filters.measure(where)
    if depth > MAX_WHERE_DEPTH or conditions > MAX_WHERE_CONDITIONS:
        raise QueryTooComplexError(
            f"'{argument}' nests {depth} levels with {conditions} conditions; at most "
            f"{MAX_WHERE_DEPTH} levels and {MAX_WHERE_CONDITIONS} conditions",
            field=argument,
        )
    return where


def _where(label: str, value: Any) -> Where:
    if value is None or value is UNSET:
        return filters.EVERYTHING
    by_python = {spec.python_name: spec for spec in filters.filter_fields(label).values()}
    related = RELATED.get(label, {})
    items: list[Where] = []
    for field in dataclasses.fields(value):
        given = getattr(value, field.name)
        if given is UNSET or given is None:
            continue
        if field.name == "AND":
            items.append(filters.AllOf(tuple(_where(label, item) for item in given)))
        elif field.name == "OR":
            items.append(filters.AnyOf(tuple(_where(label, item) for item in given)))
        elif field.name == "NOT":
            items.append(filters.Not(_where(label, given)))
        elif field.name in related:
            items.extend(_across(related[field.name], given))
        else:
            items.extend(_compares(by_python[field.name], given))
    return items[0] if len(items) == 1 else filters.AllOf(tuple(items))


def _compares(spec: FieldSpec, given: Any) -> list[Where]:
    compares: list[Where] = []
    for operator in OPERATORS[spec.kind]:
        value = getattr(given, _python_operator(operator))
        if value is UNSET or (value is None and operator != "eq"):
            continue
        value = tuple(value) if isinstance(value, list) else value
        compares.append(filters.Compare(spec.name, operator, value))
    return compares


def _across(field: RelationshipField, given: Any) -> list[Where]:
    return [
        filters.Across(
            field.kind,
            field.outgoing,
            quantifier,
            _where(field.far_label, getattr(given, quantifier)),
            field.kind in CURRENT_ONLY,
        )
        for quantifier in filters.QUANTIFIERS
        if getattr(given, quantifier) not in (None, UNSET)
    ]


def to_keys(label: str, sort: list[Any] | None, argument: str = "sort") -> tuple[SortKey, ...]:
    """A ``[<Label>Sort!]`` input as sort keys, in order (the id is always the last)."""
    keys: list[SortKey] = []
    by_python = {spec.python_name: spec for spec in _sortable(label)}
    for item in sort or []:
        for field in dataclasses.fields(item):
            direction = getattr(item, field.name)
            if direction is UNSET or direction is None:
                continue
            spec = by_python[field.name]
            keys.append(filters.sort_key(label, spec.name, direction is SortDirection.DESC))
    if len(keys) > MAX_SORT_KEYS:
        raise BadInputError(f"'{argument}' gives {len(keys)} keys; at most {MAX_SORT_KEYS}")
    return tuple(keys)


def labels_reached(label: str, value: Any) -> set[str]:
    """The labels a where of ``label``, as the GraphQL arguments hold it (a dict by
    GraphQL names), filters through its relationships."""
    reached: set[str] = set()
    pending: list[tuple[str, Any]] = [(label, value)]
    while pending:
        at, item = pending.pop()
        if isinstance(item, list):
            pending.extend((at, each) for each in item)
        if not isinstance(item, dict):
            continue
        related = {to_camel(name): field for name, field in RELATED.get(at, {}).items()}
        for name, given in item.items():
            if name in ("AND", "OR", "NOT"):
                pending.append((at, given))
            elif name in related and isinstance(given, dict):
                target = related[name].far_label
                reached.add(target)
                pending.extend((target, inner) for inner in given.values())
    return reached
