"""Where, sort and keyset pages of the generic entity API, as Cypher fragments.

Pure functions of the model: the properties a client may filter or sort on are
the records' own fields (``filter_fields``), never names taken from the client;
every value becomes a query parameter. Each fragment is written for a given node
variable, so any query builder (the resolvers' queries in ``graph.nodes``, a
compiler of whole selections) can emit it into its own ``WHERE``:

    params = Params("w")
    cypher = where_cypher("Customer", "n", where, params)  # ... WHERE <cypher>
    await graph.query(query, **params.values)
"""

from __future__ import annotations

import enum
import functools
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, LiteralString

from pydantic import BaseModel

from orggraph.graph.model import (
    PERSONAL_PROPERTIES,
    RECORDS,
    REF_PROPERTIES,
    REFS,
    RELATIONSHIPS,
    RelationshipKind,
    as_utc,
)


class FieldKind(enum.Enum):
    ID = "ID"
    STRING = "String"
    ENUM = "Enum"
    INT = "Int"
    FLOAT = "Float"
    DATETIME = "DateTime"
    BOOLEAN = "Boolean"


# The comparison each operator stands for (the peer's v7 names); a value is a parameter.
COMPARISONS: dict[str, LiteralString] = {
    "eq": " = ",
    "in": " IN ",
    "startsWith": " STARTS WITH ",
    "endsWith": " ENDS WITH ",
    "contains": " CONTAINS ",
    "lt": " < ",
    "lte": " <= ",
    "gt": " > ",
    "gte": " >= ",
}
_EQUALITY = ("eq", "in")
_ORDERED = ("eq", "in", "lt", "lte", "gt", "gte")
OPERATORS: dict[FieldKind, tuple[str, ...]] = {
    FieldKind.ID: _EQUALITY,
    FieldKind.STRING: (*_EQUALITY, "startsWith", "endsWith", "contains"),
    FieldKind.ENUM: _EQUALITY,
    FieldKind.INT: _ORDERED,
    FieldKind.FLOAT: _ORDERED,
    FieldKind.DATETIME: _ORDERED,
    FieldKind.BOOLEAN: ("eq",),
}
NUMERIC = frozenset({FieldKind.INT, FieldKind.FLOAT})
AGGREGATABLE = NUMERIC | {FieldKind.DATETIME}
QUANTIFIERS = ("some", "none", "all")


@dataclass(frozen=True)
class FieldSpec:
    """One property a client may filter, sort or aggregate on."""

    name: LiteralString  # the Neo4j property (camelCase), from the model
    python_name: str
    kind: FieldKind
    enum_type: type[enum.Enum] | None = None


def plain_type(annotation: Any) -> Any:
    """A field's type without ``None`` and ``Annotated`` (``ShortText | None`` -> str)."""
    options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    while typing.get_origin(annotation) is typing.Annotated or len(options) == 1:
        annotation = options[0] if len(options) == 1 else typing.get_args(annotation)[0]
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return annotation


def _kind_of(name: str, annotation: Any) -> tuple[FieldKind, type[enum.Enum] | None] | None:
    if name == "id":
        return FieldKind.ID, None
    annotation = plain_type(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return FieldKind.ENUM, annotation
    simple = {
        str: FieldKind.STRING,
        bool: FieldKind.BOOLEAN,
        int: FieldKind.INT,
        float: FieldKind.FLOAT,
        Decimal: FieldKind.FLOAT,  # money: compared on its float twin (graph.money)
        datetime: FieldKind.DATETIME,
    }
    kind = simple.get(annotation)
    return None if kind is None else (kind, None)  # dicts (attributes, ...) are not filterable


def _fields_of(model: type[BaseModel], left_out: set[str]) -> dict[str, FieldSpec]:
    fields: dict[str, FieldSpec] = {}
    for python_name, info in model.model_fields.items():
        name = info.alias or python_name
        kind = _kind_of(python_name, info.annotation)
        if kind is None or python_name in left_out or name in left_out:
            continue
        fields[name] = FieldSpec(name, python_name, *kind)
    return fields


@functools.cache
def filter_fields(label: str) -> dict[str, FieldSpec]:
    """The label's filterable properties by name: its record's scalar fields, without
    references (relationships), relationship properties and personal properties."""
    left_out = {*REFS.get(label, {}), *PERSONAL_PROPERTIES.get(label, ())}
    left_out |= {ref for (owner, ref), _ in REF_PROPERTIES.items() if owner == label}
    left_out |= {prop for (owner, _), (prop, _) in REF_PROPERTIES.items() if owner == label}
    return _fields_of(RECORDS[label], left_out)


@functools.cache
def relationship_fields(kind: RelationshipKind) -> dict[str, FieldSpec]:
    """The properties of a relationship kind (``OWNS {from, to}``, ``HAS_STEP {order}``)."""
    return _fields_of(RELATIONSHIPS[kind].properties, set())


# --- where ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    field: str
    operator: str
    value: Any  # a tuple for ``in``


@dataclass(frozen=True)
class AllOf:
    items: tuple[Where, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Where, ...]


@dataclass(frozen=True)
class Not:
    item: Where


@dataclass(frozen=True)
class Across:
    """``quantifier`` (some, none, all) of the nodes ``kind`` relates to match ``where``."""

    kind: RelationshipKind
    outgoing: bool
    quantifier: str
    where: Where
    current_only: bool = False  # only relationships valid at ``$now`` (see graph.nodes)


Where = Compare | AllOf | AnyOf | Not | Across
EVERYTHING = AllOf(())


def measure(where: Where) -> tuple[int, int]:
    """(depth, conditions) of a where: its nesting of AND/OR/NOT/relationships and
    the comparisons it holds, counted without recursion."""
    depth = conditions = 0
    pending: list[tuple[Where, int]] = [(where, 1)]
    while pending:
        item, level = pending.pop()
        depth = max(depth, level)
        if isinstance(item, Compare):
            conditions += 1
        elif isinstance(item, (AllOf, AnyOf)):
            pending.extend((inner, level + 1) for inner in item.items)
        elif isinstance(item, Not):
            pending.append((item.item, level + 1))
        else:
            pending.append((item.where, level + 1))
    return depth, conditions


@dataclass
class Params:
    """The parameters of the fragments built for one query; names start with ``prefix``."""

    prefix: LiteralString = "w"
    values: dict[str, Any] = field(default_factory=dict)
    _count: int = 0

    def name(self) -> LiteralString:
        """A fresh name, for a parameter or a variable."""
        self._count += 1
        return self.prefix + str(self._count)

    def add(self, value: Any) -> LiteralString:
        """``$name`` of a new parameter holding ``value``."""
        name = self.name()
        self.values[name] = list(value) if isinstance(value, tuple) else value
        return "$" + name


def where_cypher(
    label: str, variable: LiteralString, where: Where, params: Params
) -> LiteralString:
    """A boolean Cypher expression: ``where`` for the node ``variable`` of ``label``."""
    if isinstance(where, Compare):
        return _compare(label, variable, where, params)
    if isinstance(where, (AllOf, AnyOf)):
        if not where.items:
            return "true" if isinstance(where, AllOf) else "false"
        joint: LiteralString = " AND " if isinstance(where, AllOf) else " OR "
        parts = [where_cypher(label, variable, item, params) for item in where.items]
        return "(" + joint.join(parts) + ")"
    if isinstance(where, Not):
        return "NOT (" + where_cypher(label, variable, where.item, params) + ")"
    return _across(label, variable, where, params)


def _compare(label: str, variable: LiteralString, where: Compare, params: Params) -> LiteralString:
    spec = filter_fields(label).get(where.field)
    if spec is None:
        raise ValueError(f"{label}.{where.field} is not a filterable property of the model")
    if where.operator not in OPERATORS[spec.kind]:
        raise ValueError(f"{where.operator} does not apply to {label}.{where.field}")
    prop: LiteralString = variable + "." + spec.name
    if where.value is None:
        if where.operator != "eq":
            raise ValueError(f"{where.operator} needs a value")
        return prop + " IS NULL"
    value = where.value
    if isinstance(value, tuple):
        value = tuple(_stored(item) for item in value)
    return prop + COMPARISONS[where.operator] + params.add(_stored(value))


def _stored(value: Any) -> Any:
    """A value as the graph stores it: an enum's value; a naive datetime is UTC."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def relationship_pattern(
    spec_kind: RelationshipKind,
    outgoing: bool,
    near: LiteralString,
    rel: LiteralString,
    far: LiteralString,
) -> LiteralString:
    """``(near)-[rel:TYPE]->(far:Label)`` or its reverse, from the model's spec."""
    spec = RELATIONSHIPS[spec_kind]
    if outgoing:
        return "(" + near + ")-[" + rel + ":" + spec.type + "]->(" + far + ":" + spec.target + ")"
    return "(" + near + ")<-[" + rel + ":" + spec.type + "]-(" + far + ":" + spec.source + ")"


def valid_now(rel: LiteralString) -> LiteralString:
    """The relationship ``rel`` is valid at ``$now`` (hierarchy and memberships)."""
    return (
        "(" + rel + ".from IS NULL OR " + rel + ".from <= $now) AND ("
        + rel + ".to IS NULL OR " + rel + ".to > $now)"
    )  # fmt: skip


def _across(label: str, variable: LiteralString, where: Across, params: Params) -> LiteralString:
    spec = RELATIONSHIPS[where.kind]
    if (spec.source if where.outgoing else spec.target) != label:
        raise ValueError(f"{spec.kind.value} does not start at {label}")
    far_label = spec.target if where.outgoing else spec.source
    far, rel = params.name(), params.name()
    pattern = relationship_pattern(where.kind, where.outgoing, variable, rel, far)
    valid: LiteralString = ""
    if where.current_only:
        params.values["now"] = datetime.now(UTC)
        valid = valid_now(rel) + " AND "
    inner = where_cypher(far_label, far, where.where, params)
    if where.quantifier == "some":
        return "EXISTS { MATCH " + pattern + " WHERE " + valid + inner + " }"
    if where.quantifier == "none":
        return "NOT EXISTS { MATCH " + pattern + " WHERE " + valid + inner + " }"
    if where.quantifier == "all":
        return "NOT EXISTS { MATCH " + pattern + " WHERE " + valid + "NOT (" + inner + ") }"
    raise ValueError(f"unknown quantifier {where.quantifier!r}")


# --- sort and keyset pages -------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """Order by one property of the node (or, ``on_relationship``, of the relationship)."""

    field: FieldSpec
    descending: bool = False
    on_relationship: bool = False

    def expression(self, node: LiteralString, rel: LiteralString = "r") -> LiteralString:
        return (rel if self.on_relationship else node) + "." + self.field.name

    @property
    def token(self) -> str:
        """How a cursor names this key (a cursor of another sort is refused)."""
        side = "r." if self.on_relationship else ""
        return side + self.field.name + (" DESC" if self.descending else "")


ID_FIELD = FieldSpec("id", "id", FieldKind.ID)


def sort_key(label: str, name: str, descending: bool) -> SortKey:
    spec = filter_fields(label).get(name)
    if spec is None:
        raise ValueError(f"{label}.{name} is not a sortable property of the model")
    return SortKey(spec, descending)


def order_by(
    keys: tuple[SortKey, ...], node: LiteralString, rel: LiteralString = "r"
) -> LiteralString:
    """The ORDER BY list: ``keys``, then the id (a total, stable order)."""
    parts = [k.expression(node, rel) + (" DESC" if k.descending else "") for k in keys]
    return ", ".join([*parts, node + ".id"])


def after_cypher(
    keys: tuple[SortKey, ...],
    values: list[Any],
    node: LiteralString,
    params: Params,
    rel: LiteralString = "r",
) -> LiteralString:
    """The rows that come after the row whose sort values are ``values`` (the keys' values
    then its id) in ``order_by``'s order. Neo4j sorts nulls last ascending and first
    descending; a datetime value is carried as its ISO text."""
    *key_values, last_id = values
    expression: LiteralString = node + ".id > " + params.add(last_id)
    for key, value in reversed(list(zip(keys, key_values, strict=True))):
        expression = _after_key(key, value, node, rel, params, expression)
    return expression


def _after_key(
    key: SortKey,
    value: Any,
    node: LiteralString,
    rel: LiteralString,
    params: Params,
    then: LiteralString,
) -> LiteralString:
    prop = key.expression(node, rel)
    if value is None:
        # Ascending, nulls are last: only nulls follow. Descending, they come first.
        if key.descending:
            return "(" + prop + " IS NOT NULL OR (" + prop + " IS NULL AND " + then + "))"
        return "(" + prop + " IS NULL AND " + then + ")"
    bound = params.add(value)
    if key.field.kind is FieldKind.DATETIME:
        bound = "datetime(" + bound + ")"
    beyond: LiteralString = " < " if key.descending else " > "
    later = prop + beyond + bound
    if not key.descending:
        later = "(" + later + " OR " + prop + " IS NULL)"
    return "(" + later + " OR (" + prop + " = " + bound + " AND " + then + "))"


def sort_values(keys: tuple[SortKey, ...], props: dict[str, Any], rel: dict[str, Any]) -> list[Any]:
    """A row's values of ``keys`` and its id, as ``after_cypher`` takes them."""
    values = [(rel if k.on_relationship else props).get(k.field.name) for k in keys]
    return [*values, props["id"]]
