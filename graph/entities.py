"""The compiled read path of the generic entity API: one Cypher query per root field.

``schema.entities`` turns a GraphQL root field's selection into a ``Projection`` (which
properties of the node, which relationships to follow with which of theirs); this module
writes it as one query of list projections and ``COLLECT`` subqueries (the way
@neo4j/graphql's translate layer does), so an entity nested to any depth costs one round
trip. Each object comes back as a list of its values in the selection's order (Neo4j
maps do not keep their keys' order), its datetimes as ISO text.

Labels, relationship types and property names come from the model's allow-lists
(``allowed_property``); ids, filters and limits are parameters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, LiteralString

from pydantic import BaseModel

from orggraph.graph.driver import Graph
from orggraph.graph.filters import SortKey, order_by, relationship_pattern, valid_now
from orggraph.graph.model import RECORDS, RelationshipSpec, temporal_properties
from orggraph.graph.nodes import (
    CURRENT_ONLY,
    FILTER_ARGUMENTS,
    aggregations,
    default_keys,
    hashed_anchor,
    nested_order,
)
from orggraph.graph.visibility import visible_cypher

# Variables of the node and relationship at each depth: literals, never built from input.
_NODES: tuple[LiteralString, ...] = ("n", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8")
_NODES += ("n9", "n10", "n11", "n12", "n13", "n14", "n15", "n16", "n17", "n18", "n19", "n20")
_RELS: tuple[LiteralString, ...] = ("r", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8")
_RELS += ("r9", "r10", "r11", "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19", "r20")
MAX_DEPTH = len(_NODES) - 1


class Uncompilable(Exception):
    """The selection holds something the compiler does not translate: the resolvers answer."""


@dataclass(frozen=True)
class Prop:
    """A property of the node (or of the relationship, ``on_relationship``)."""

    name: LiteralString
    on_relationship: bool = False
    temporal: bool = False  # as ISO text
    empty_default: bool = False  # a non-null string: a missing property reads ""
    as_float: bool = False


@dataclass(frozen=True)
class Paired:
    """A property read with what Python needs to read it: a money field as ``[<name>E4,
    <name>]`` (exact: graph.money), a ``personal`` one as ``[id, ciphertext]`` (opened
    with its node's id: graph.personal)."""

    name: LiteralString
    personal: bool = False


@dataclass(frozen=True)
class Const:
    """A value known from the schema alone (``__typename``; null for a masked field)."""

    value: LiteralString | None


@dataclass(frozen=True)
class Before:
    """Whether one datetime property is before another (false when either is missing)."""

    name: LiteralString
    other: LiteralString


@dataclass(frozen=True)
class Far:
    """Inside an edge object (a ``TeamMember``): the node at the relationship's other end."""

    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Hop:
    """A relationship field: the related nodes (or edges) sorted as the resolvers sort
    them, at most ``$<limit>`` of them (one for a ``single`` object field)."""

    spec: RelationshipSpec
    outgoing: bool
    single: bool
    limit: LiteralString  # the parameter's name, also the key of its ``Narrowed``
    columns: tuple[Column, ...]
    narrowed: bool = False  # takes ``where`` and ``sort``: see ``Narrowed``
    visible: bool = False  # only what a team member sees: a single object it does not
    # see reads ``false``, a list leaves it out (after its limit, as the resolvers do)


@dataclass(frozen=True)
class Paged:
    """A relationship field's connection: ``[total or null, $<limit>, $<limit>p,
    $<limit>k, items, aggregate or null]`` (the page's size and one more, whether it
    follows a cursor, the sort keys' tokens), each item ``[sort values then id, rows]``,
    after the request's cursor, in its sort (its ``Narrowed``, always given); the
    aggregate ``[count, fields]`` (``graph.nodes.aggregations``) replaces the total."""

    spec: RelationshipSpec
    outgoing: bool
    limit: LiteralString  # the parameter's name, also the key of its ``Narrowed``
    rows: tuple[tuple[Column, ...], ...]
    total: bool
    aggregate: tuple[LiteralString, ...] | None = None  # the fields of its ``aggregate``
    visible: bool = False  # each item ends with whether a team member sees it
    listed: bool = True  # its edges, nodes or pageInfo are asked: else no items are read


Column = Prop | Paired | Const | Before | Far | Hop | Paged


@dataclass(frozen=True)
class Narrowed:
    """A relationship field's ``where`` and ``sort`` of one request: the condition on its
    far node (``graph.filters.where_cypher``, for the variable ``node``) and the order."""

    node: LiteralString
    where: LiteralString
    keys: tuple[SortKey, ...]
    after: LiteralString | None = None  # a connection's rows after its cursor


# The request's narrowed relationship fields: (Hop.limit, Narrowed) pairs.
Narrowings = tuple[tuple[LiteralString, Narrowed], ...]


@dataclass(frozen=True)
class Projection:
    """What one root field reads of each node: one or more column lists (a connection can
    select its nodes twice, under ``edges`` and ``nodes``, with other fields)."""

    label: LiteralString
    rows: tuple[tuple[Column, ...], ...]


# --- allow-lists ---------------------------------------------------------------------


@functools.cache
def _model_properties(model: type[BaseModel]) -> dict[str, LiteralString]:
    names: dict[str, LiteralString] = {}
    for name, field in model.model_fields.items():
        prop: LiteralString = field.alias or name  # our model's own names
        names[prop] = prop
    return names


# Properties the write layer does not take from a record but computes (graph.kpis writes a
# measurement's period end and status).
COMPUTED_PROPERTIES: dict[str, dict[str, LiteralString]] = {
    "Measurement": {"periodEnd": "periodEnd", "status": "status"},
}


def allowed_property(label: str, name: str) -> LiteralString:
    """``name`` as the model spells it, if the label's nodes have such a property."""
    record = RECORDS.get(label)
    found = _model_properties(record).get(name) if record is not None else None
    found = found or COMPUTED_PROPERTIES.get(label, {}).get(name)
    if found is None:
        raise Uncompilable(f"{label}.{name} is not a property of the model")
    return found


def allowed_relationship_property(spec: RelationshipSpec, name: str) -> LiteralString:
    found = _model_properties(spec.properties).get(name)
    if found is None:
        raise Uncompilable(f"{spec.type}.{name} is not a property of the model")
    return found


# --- Cypher --------------------------------------------------------------------------


def _datetime(value: LiteralString) -> LiteralString:
    """``value`` (a DateTime) as its ISO text, which ``schema.entities`` writes as the
    DateTime scalar does. Written whole in Cypher (date, time, microseconds and offset
    apart) it cost 20 us a value, three times the rest of a page of customers with their
    touchpoints; ``toString`` costs 2 and the rewrite in Python under 1."""
    return "toString(" + value + ")"


def _prop(column: Prop, node: LiteralString, rel: LiteralString) -> LiteralString:
    value = (rel if column.on_relationship else node) + "." + column.name
    if column.temporal:
        return _datetime(value)
    if column.empty_default:
        return "coalesce(" + value + ", '')"
    if column.as_float:
        return "toFloat(" + value + ")"
    return value


# The CALL subqueries the root's projection reads (a connection's aggregate, written before
# it): an aggregating function in the projection, even inside a COLLECT subquery, would make
# it aggregate (Neo4j 5 refuses it), so an aggregate below the root's own relationships is
# not compiled (None: there).
Calls = list[LiteralString] | None


@dataclass(frozen=True)
class _Scope:
    """What a column is written with: the request's narrowed relationship fields (by
    ``Hop.limit``) and the CALL subqueries of the root (None below it)."""

    nested: dict[str, Narrowed]
    calls: Calls = None


def _hop(hop: Hop, depth: int, scope: _Scope) -> LiteralString:
    if depth + 1 > MAX_DEPTH:
        raise Uncompilable("nested deeper than the compiler's variables")
    a, b, r = _NODES[depth], _NODES[depth + 1], _RELS[depth + 1]
    spec = hop.spec
    if hop.outgoing:
        pattern = "(" + a + ")-[" + r + ":" + spec.type + "]->(" + b + ":" + spec.target + ")"
    else:
        pattern = "(" + a + ")<-[" + r + ":" + spec.type + "]-(" + b + ":" + spec.source + ")"
    conditions: list[LiteralString] = [valid_now(r)] if spec.kind in CURRENT_ONLY else []
    order = nested_order(spec, hop.outgoing, r, b)
    narrowed = scope.nested.get(hop.limit) if hop.narrowed else None
    if narrowed is not None:
        if narrowed.node != b:
            raise Uncompilable("a where written for another variable")
        conditions.append(narrowed.where)
        if narrowed.keys:
            order = order_by(narrowed.keys, b, r)
    valid: LiteralString = " WHERE " + " AND ".join(conditions) if conditions else ""
    limit: LiteralString = "1" if hop.single else "$" + hop.limit
    columns = _columns(hop.columns, b, r, depth + 1, _Scope(scope.nested))
    seen = visible_cypher(spec.target if hop.outgoing else spec.source, b)
    if hop.visible and seen is not None:
        if hop.single:
            columns = "CASE WHEN " + seen + " THEN " + columns + " ELSE false END"
        else:
            limit += " WITH " + r + ", " + b + " WHERE " + seen
    items = (
        "COLLECT { MATCH " + pattern + valid + " WITH " + r + ", " + b + " ORDER BY "
        + order + " LIMIT " + limit + " RETURN " + columns + " }"
    )  # fmt: skip
    return "head(" + items + ")" if hop.single else items


def _paged(paged: Paged, depth: int, scope: _Scope) -> LiteralString:
    narrowed = scope.nested.get(paged.limit)
    if depth + 1 > MAX_DEPTH or narrowed is None or narrowed.node != _NODES[depth + 1]:
        raise Uncompilable("a connection without its request's page")
    a, b, r = _NODES[depth], _NODES[depth + 1], _RELS[depth + 1]
    spec = paged.spec
    far = spec.target if paged.outgoing else spec.source
    pattern = relationship_pattern(spec.kind, paged.outgoing, a, r, b)
    conditions: list[LiteralString] = [valid_now(r)] if spec.kind in CURRENT_ONLY else []
    conditions.append(narrowed.where)
    matched = "MATCH " + pattern + " WHERE " + " AND ".join(conditions)
    total: LiteralString = "COUNT { " + matched + " }" if paged.total else "null"
    counted: LiteralString = "null"
    if paged.aggregate == ():  # only its count: no aggregating function
        counted, total = "[COUNT { " + matched + " }, {}]", "null"
    elif paged.aggregate is not None:
        if scope.calls is None:
            raise Uncompilable("an aggregate's fields below the root's own relationships")
        count, found = "c" + paged.limit, "f" + paged.limit
        calls = " CALL (" + a + ") { " + matched + _counted(far, b, paged.aggregate, count, found)
        scope.calls.append(calls + " }")
        counted, total = "[" + count + ", " + found + "]", "null"
    after: LiteralString = " AND " + narrowed.after if narrowed.after is not None else ""
    keys = narrowed.keys or default_keys(spec, paged.outgoing)
    values = _sort_values(keys, far, b, r, temporal_properties(spec.properties))
    below = _Scope(scope.nested)
    rows = ", ".join([_columns(row, b, r, depth + 1, below) for row in paged.rows])
    limit: LiteralString = "$" + paged.limit
    seen = _seen(far, b) if paged.visible else ""
    items: LiteralString = (
        "COLLECT { " + matched + after + " WITH " + r + ", " + b + " ORDER BY "
        + order_by(keys, b, r) + " LIMIT " + limit + " RETURN [" + values + ", [" + rows + "]"
        + seen + "] }"
    ) if paged.listed else "[]"  # fmt: skip
    return (
        "[" + total + ", " + limit + ", " + limit + "p, " + limit + "k, " + items + ", "
        + counted + "]"
    )  # fmt: skip


def _seen(label: str, node: LiteralString) -> LiteralString:
    """``, <whether a team member sees node>``: a page's item's last value."""
    return ", " + (visible_cypher(label, node) or "true")


def _column(
    column: Column, node: LiteralString, rel: LiteralString, depth: int, scope: _Scope
) -> LiteralString:
    if isinstance(column, Prop):
        return _prop(column, node, rel)
    if isinstance(column, Paired):
        # graph.money.exact_property: the exact integer beside the float
        first: LiteralString = node + (".id" if column.personal else "." + column.name + "E4")
        return "[" + first + ", " + node + "." + column.name + "]"
    if isinstance(column, Const):
        return "null" if column.value is None else "'" + column.value + "'"
    if isinstance(column, Before):
        return (
            "coalesce(" + node + "." + column.name + " < " + node + "." + column.other + ", false)"
        )
    if isinstance(column, Far):
        return _columns(column.columns, node, rel, depth, scope)
    if isinstance(column, Paged):
        return _paged(column, depth, scope)
    return _hop(column, depth, scope)


def _columns(
    columns: tuple[Column, ...], node: LiteralString, rel: LiteralString, depth: int, scope: _Scope
) -> LiteralString:
    return "[" + ", ".join([_column(c, node, rel, depth, scope) for c in columns]) + "]"


def _rows(projection: Projection, nested: Narrowings) -> tuple[LiteralString, LiteralString]:
    """The root node's rows, and the CALL subqueries to write before them."""
    calls: list[LiteralString] = []
    root = _Scope(dict(nested), calls)
    rows = ", ".join([_columns(row, "n", "r", 0, root) for row in projection.rows])
    return "[" + rows + "]", "".join(calls)


def variables(depth: int) -> tuple[LiteralString, LiteralString]:
    """The variables of the node at ``depth`` relationships from the root and of the
    relationship that reached it (a where's, a cursor's)."""
    if depth > MAX_DEPTH:
        raise Uncompilable("nested deeper than the compiler's variables")
    return _NODES[depth], _RELS[depth]


@functools.lru_cache(maxsize=1024)
def one_query(projection: Projection, nested: Narrowings = ()) -> LiteralString:
    """One entity by id (anchored on the id uniqueness constraint): its rows."""
    rows, calls = _rows(projection, nested)
    return "MATCH (n:" + projection.label + " {id: $id})" + calls + " RETURN " + rows + " AS rows"


@functools.lru_cache(maxsize=1024)
def page_query(
    projection: Projection,
    hash_property: LiteralString | None,
    keys: tuple[SortKey, ...] = (),
    where: LiteralString = "true",
    after: LiteralString | None = None,
    total: bool = False,
    nested: Narrowings = (),
    aggregate: tuple[LiteralString, ...] | None = None,
    visible: bool = False,
    filtered: bool = True,
) -> LiteralString:
    """A keyset page with the list filters of ``graph.nodes.list_nodes_query`` (on a sealed
    property's hash with ``hash_property``; left out of the text when the request gives
    none, not ``filtered``: the planner cannot drop them, and reads every node's
    properties for them) and the ``where`` expression, in ``keys``
    order then by id: one record, the page as a list of each node's sort values (then its
    id, as a cursor holds them) and rows (a record per node cost the service's driver 3 ms
    more for 100 of them). The page starts after ``$after`` (an id) without keys, after
    the ``after`` expression (``graph.filters.after_cypher``) with them. With ``total`` or
    an ``aggregate`` (its fields), the record also holds how many match over every page
    and the aggregate's fields (``graph.nodes.aggregations``). With ``visible``, each row
    ends with whether a team member sees it."""
    label = projection.label
    anchor: LiteralString = (
        "MATCH (n:" + label + ") WHERE "
        if hash_property is None
        else hashed_anchor(label, hash_property)
    )
    conditions: LiteralString = FILTER_ARGUMENTS + " AND " + where if filtered else where
    matched = anchor + conditions
    start: LiteralString = "n.id > $after" if not keys else after or "true"
    rows, calls = _rows(projection, nested)
    page = (
        anchor + start + " AND " + conditions
        + " WITH n ORDER BY " + order_by(keys, "n") + " LIMIT $limit" + calls + " RETURN "
    )  # fmt: skip
    values = _sort_values(keys, label, "n", "r", ())
    seen = _seen(label, "n") if visible else ""
    if not total and aggregate is None:
        return page + "collect([" + values + ", " + rows + seen + "]) AS page"
    counted = _counted(label, "n", aggregate or (), "total", "fields")
    fields: LiteralString = "fields" if aggregate else "null" if aggregate is None else "{}"
    return (  # the page collected in a CALL, where its rows' own CALLs may stand
        "CALL () { " + matched + counted + " } CALL () { " + page + "collect([" + values
        + ", " + rows + seen + "]) AS page } RETURN total, " + fields + " AS fields, page"
    )  # fmt: skip


def _counted(
    label: str,
    node: LiteralString,
    fields: tuple[LiteralString, ...],
    count: LiteralString,
    found: LiteralString,
) -> LiteralString:
    """`` RETURN`` how many ``node``s as ``count``, with the aggregations of ``fields``
    as ``found`` if any: a constant beside ``count`` would be a grouping key, and no
    row would come back when nothing matches."""
    returned: LiteralString = " RETURN count(" + node + ") AS " + count
    if not fields:
        return returned
    return returned + ", " + aggregations(label, node, fields) + " AS " + found


def _sort_values(
    keys: tuple[SortKey, ...],
    label: str,
    node: LiteralString,
    rel: LiteralString,
    rel_temporal: tuple[LiteralString, ...],
) -> LiteralString:
    """A row's values of ``keys`` then its id, as the resolvers' cursors hold them (a
    datetime as its ISO text: ``graph.nodes.node_properties``)."""
    temporal = temporal_properties(RECORDS[label])
    parts: list[LiteralString] = []
    for key in keys:
        value = key.expression(node, rel)
        dated = key.field.name in (rel_temporal if key.on_relationship else temporal)
        parts.append(_datetime(value) if dated else value)
    return "[" + ", ".join([*parts, node + ".id"]) + "]"


async def fetch_one(graph: Graph, query: LiteralString, **params: Any) -> list[Any] | None:
    records = await graph.query(query, **params)
    return list(records[0]["rows"]) if records else None


@dataclass(frozen=True)
class Found:
    """A root page: [sort values then id, rows] per node (then whether a team member sees
    it: ``page_query``'s ``visible``); the total and the aggregate's fields, when the query
    counted (``page_query``'s ``total`` or ``aggregate``)."""

    page: list[list[Any]]
    total: int | None = None
    fields: dict[str, Any] | None = None


async def fetch_page(graph: Graph, query: LiteralString, counted: bool, **params: Any) -> Found:
    record = (await graph.query(query, **params))[0]
    if not counted:
        return Found(record["page"])
    fields = record["fields"]
    return Found(record["page"], int(record["total"]), None if fields is None else dict(fields))
