"""Generic reads of entities and their relationships, for every label of the model.

The label, relationship type and sort key of each query come from the model's
allow-lists (literal strings); ids, filters and limits are parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.filters import (
    AGGREGATABLE,
    EVERYTHING,
    FieldKind,
    Params,
    SortKey,
    Where,
    after_cypher,
    filter_fields,
    order_by,
    relationship_fields,
    relationship_pattern,
    sort_key,
    valid_now,
    where_cypher,
)
from orggraph.graph.model import (
    LABELS,
    RECORDS,
    SEALED_PROPERTIES,
    RelationshipKind,
    RelationshipSpec,
    temporal_properties,
)
from orggraph.graph.money import SCALE, exact_property


def _properties(variable: LiteralString, temporal: tuple[LiteralString, ...]) -> LiteralString:
    """``properties(x)``, with datetime properties sent as ISO strings (see
    ``temporal_properties``; ``schema.types.as_datetime`` reads both forms)."""
    if not temporal:
        return "properties(" + variable + ")"
    overrides: LiteralString = ", ".join(
        [name + ": toString(" + variable + "." + name + ")" for name in temporal]
    )
    return variable + " {.*, " + overrides + "}"


def node_properties(label: LiteralString, variable: LiteralString = "n") -> LiteralString:
    return _properties(variable, temporal_properties(RECORDS[label]))


@functools.cache
def nodes_by_id_query(label: LiteralString) -> LiteralString:
    """Entities of one label by id (anchored on the id uniqueness constraint)."""
    return (
        "UNWIND $ids AS id MATCH (n:" + label + " {id: id}) "
        "RETURN n.id AS id, " + node_properties(label) + " AS props"
    )


@functools.cache
def list_nodes_query(label: LiteralString) -> LiteralString:
    """A keyset page of one label ordered by id, with typed equality filters.

    ``$equals`` maps property names (from the GraphQL filter's allow-listed
    fields) to values; ``$nameContains`` is a case-insensitive substring;
    ``$atFrom``/``$atTo`` bound the ``at`` property (touchpoints, measurements).
    ``$after`` is the last id of the previous page, "" for the first: a plain range
    on the id lets the planner walk the id index in order and stop after ``$limit``
    rows (``$after IS NULL OR ...`` made it scan and sort the whole label: 29 -> 8
    ms for a page of 100 of 89,000 customers).
    """
    return "MATCH (n:" + label + ") WHERE " + _filtered_page(label)


FILTER_ARGUMENTS: LiteralString = (
    "all(key IN keys($equals) WHERE n[key] = $equals[key]) "
    "AND ($nameContains IS NULL OR toLower(n.name) CONTAINS toLower($nameContains)) "
    "AND ($atFrom IS NULL OR n.at >= $atFrom) AND ($atTo IS NULL OR n.at < $atTo)"
)
"""The deprecated ``filter:`` arguments of a list (``NodeFilter``), for the node ``n``."""

LIST_FILTERS: LiteralString = "n.id > $after AND " + FILTER_ARGUMENTS
"""After a node pattern ``n`` and ``WHERE``: the list filters and the keyset page
(``NodeFilter.params``, ``$after``)."""


def _filtered_page(label: LiteralString) -> LiteralString:
    """After a node pattern ``n`` and ``WHERE``: the list filters, the keyset page, its rows."""
    return (
        LIST_FILTERS
        + " RETURN n.id AS id, "
        + node_properties(label)
        + " AS props ORDER BY n.id LIMIT $limit"
    )


def hashed_anchor(label: LiteralString, hash_property: LiteralString) -> LiteralString:
    """``MATCH (n:label)`` anchored on a sealed property's look-up hash (``$hashes``), then
    ``AND``: see ``hashed_list_nodes_query``."""
    prop = _hash_property(label, hash_property)
    return (
        "MATCH (n:" + label + ") USING INDEX n:" + label + "(" + prop + ") "
        "WHERE n." + prop + " IN $hashes AND "
    )


def _hash_property(label: LiteralString, hash_property: LiteralString) -> LiteralString:
    sealed = SEALED_PROPERTIES.get(label, {}).values()
    if hash_property not in {spec.hash_property for spec in sealed}:
        raise ValueError(f"{label}.{hash_property} is not a look-up hash of the model")
    return hash_property


@functools.cache
def hashed_list_nodes_query(label: LiteralString, hash_property: LiteralString) -> LiteralString:
    """``list_nodes_query`` for the nodes whose sealed value has one of ``$hashes`` as its
    look-up hash (an equality filter on a personal property, see graph.personal): anchored
    on that property's index, then the same filters, order and page. The hint is needed:
    left alone, the planner walks the id index in order (the ``$after`` range) and filters
    every node of the label."""
    return hashed_anchor(label, hash_property) + _filtered_page(label)


def nested_order(
    spec: RelationshipSpec, outgoing: bool, r: LiteralString = "r", b: LiteralString = "b"
) -> LiteralString:
    """The ORDER BY of a nested relationship field's items (``default_keys``, then the
    id), over relationship ``r`` and the node ``b`` at its other end."""
    return order_by(default_keys(spec, outgoing), b, r)


CURRENT_ONLY: frozenset[RelationshipKind] = frozenset(
    {RelationshipKind.TEAM_PART_OF_TEAM, RelationshipKind.PERSON_MEMBER_OF_TEAM}
)
"""Kinds whose nested fields (a team's parents, children and members, a person's teams)
list only the relationships valid now: the hierarchy and memberships that ended (a
reorganisation applied) stay in the graph for the organisation as of a past date."""


VALID_NOW: LiteralString = valid_now("r")


def _find_any_label_by_id() -> LiteralString:
    branches: LiteralString = ""
    for label in LABELS:
        if branches:
            branches += " UNION ALL "
        branches += (
            "MATCH (n:" + label + " {id: $id}) RETURN '" + label + "' AS label, "
            "properties(n) AS props"
        )
    return "CALL () { " + branches + " } RETURN label, props"


FIND_ANY_LABEL_BY_ID: LiteralString = _find_any_label_by_id()
"""Which label(s) hold an id: one index lookup per label, in one query."""


@dataclass(frozen=True)
class Related:
    props: dict[str, Any]
    rel: dict[str, Any]


async def nodes_by_id(
    graph: Graph, label: LiteralString, ids: list[str]
) -> dict[str, dict[str, Any]]:
    records = await graph.query(nodes_by_id_query(label), ids=ids)
    return {record["id"]: dict(record["props"]) for record in records}


async def related(
    graph: Graph, spec: RelationshipSpec, outgoing: bool, ids: list[str], limit: int
) -> dict[str, list[Related]]:
    """For each id, the related entities over one relationship kind in the field's own
    order (``default_keys``), at most ``limit``."""
    return await related_page(graph, spec, outgoing, ids, RelatedPage(), limit)


async def find_by_id(graph: Graph, node_id: str) -> list[tuple[str, dict[str, Any]]]:
    records = await graph.query(FIND_ANY_LABEL_BY_ID, id=node_id)
    return [(record["label"], dict(record["props"])) for record in records]


@dataclass(frozen=True)
class NodeFilter:
    equals: dict[str, Any]
    name_contains: str | None = None
    at_from: Any = None
    at_to: Any = None
    # A sealed property's equality filter: its hash property and the hashes that match.
    hashed: tuple[LiteralString, list[str]] | None = None

    @property
    def given(self) -> bool:
        """Whether any of ``FILTER_ARGUMENTS`` narrows the list."""
        return bool(self.equals) or any(
            value is not None for value in (self.name_contains, self.at_from, self.at_to)
        )

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "equals": self.equals,
            "nameContains": self.name_contains,
            "atFrom": self.at_from,
            "atTo": self.at_to,
        }
        if self.hashed is not None:
            params["hashes"] = self.hashed[1]
        return params


async def list_nodes(
    graph: Graph, label: LiteralString, node_filter: NodeFilter, after: str | None, limit: int
) -> list[dict[str, Any]]:
    query = (
        list_nodes_query(label)
        if node_filter.hashed is None
        else hashed_list_nodes_query(label, node_filter.hashed[0])
    )
    records = await graph.query(query, after=after or "", limit=limit, **node_filter.params())
    return [dict(record["props"]) for record in records]


# --- where, sort, counts and aggregates (graph.filters) ----------------------------------


def _matched(
    label: LiteralString, node_filter: NodeFilter, where: Where, params: Params
) -> LiteralString:
    """``MATCH (n:label) WHERE`` the deprecated filter arguments and ``where``."""
    anchor: LiteralString = "MATCH (n:" + label + ") "
    hashed: LiteralString = ""
    if node_filter.hashed is not None:
        prop = _hash_property(label, node_filter.hashed[0])
        anchor += "USING INDEX n:" + label + "(" + prop + ") "
        hashed = "n." + prop + " IN $hashes AND "
    return (
        anchor
        + "WHERE "
        + hashed
        + FILTER_ARGUMENTS
        + " AND "
        + where_cypher(label, "n", where, params)
    )


async def list_nodes_where(
    graph: Graph,
    label: LiteralString,
    node_filter: NodeFilter,
    where: Where,
    keys: tuple[SortKey, ...],
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A keyset page of one label matching ``where``, in ``keys`` order then by id;
    ``after`` holds the sort values of the last row of the previous page."""
    params = Params()
    query = _matched(label, node_filter, where, params)
    if after is not None:
        query += " AND " + after_cypher(keys, after, "n", params)
    query += (
        " RETURN n.id AS id, " + node_properties(label) + " AS props "
        "ORDER BY " + order_by(keys, "n") + " LIMIT $limit"
    )
    records = await graph.query(query, limit=limit, **node_filter.params(), **params.values)
    return [dict(record["props"]) for record in records]


async def count_nodes(
    graph: Graph, label: LiteralString, node_filter: NodeFilter, where: Where
) -> int:
    params = Params()
    query = _matched(label, node_filter, where, params) + " RETURN count(n) AS total"
    records = await graph.query(query, **node_filter.params(), **params.values)
    return int(records[0]["total"]) if records else 0


def aggregations(
    label: str, variable: LiteralString, only: Collection[str] | None = None
) -> LiteralString:
    """A Cypher map of the label's aggregatable properties (those named in ``only`` when
    given): ``{at: {min, max}, value: {min, max, average, sum}}`` over the rows of
    ``variable`` (datetimes as ISO text; money from its exact integer, so a sum carries no
    float error: graph.money)."""
    parts: list[LiteralString] = []
    money = RECORDS[label].money_fields
    for spec in filter_fields(label).values():
        if spec.kind not in AGGREGATABLE or (only is not None and spec.name not in only):
            continue
        prop: LiteralString = variable + "." + spec.name
        if spec.kind is FieldKind.DATETIME:
            each: LiteralString = (
                "min: toString(min(" + prop + ")), max: toString(max(" + prop + "))"
            )
        else:
            scaled: LiteralString = ""
            if spec.name in money:
                prop = variable + "." + exact_property(spec.name)
                scaled = " / " + f"{SCALE}.0"
            each = (
                "min: min(" + prop + ")" + scaled + ", max: max(" + prop + ")" + scaled + ", "
                "average: avg(" + prop + ")" + scaled + ", sum: sum(" + prop + ")" + scaled
            )
        parts.append(spec.name + ": {" + each + "}")
    return "{" + ", ".join(parts) + "}"


async def aggregate_nodes(
    graph: Graph, label: LiteralString, node_filter: NodeFilter, where: Where
) -> dict[str, Any]:
    """``{count, fields}`` of the nodes matching: see ``aggregations``."""
    params = Params()
    query = (
        _matched(label, node_filter, where, params)
        + " RETURN count(n) AS count, " + aggregations(label, "n") + " AS fields"
    )  # fmt: skip
    records = await graph.query(query, **node_filter.params(), **params.values)
    if not records:  # a label without aggregatable fields groups by its constant `{}`
        return {"count": 0, "fields": {}}
    return {"count": records[0]["count"], "fields": dict(records[0]["fields"])}


def default_keys(spec: RelationshipSpec, outgoing: bool) -> tuple[SortKey, ...]:
    """A relationship field's own order, before the id: a process's steps by their
    order, touchpoints in time, measurements newest period first, ownerships by start."""
    other = spec.target if outgoing else spec.source
    if spec.type == "HAS_STEP":
        return (SortKey(relationship_fields(spec.kind)["order"], on_relationship=True),)
    if other == "Touchpoint":
        return (sort_key(other, "at", False),)
    if other == "Measurement":
        return (sort_key(other, "periodStart", True),)
    if spec.type == "OWNS":
        return (SortKey(relationship_fields(spec.kind)["from"], on_relationship=True),)
    return ()


def _related_match(
    spec: RelationshipSpec, outgoing: bool, where: Where, params: Params
) -> LiteralString:
    """For each of ``$ids``, the relationships ``r`` to the nodes ``b`` matching ``where``."""
    near: LiteralString = "a:" + (spec.source if outgoing else spec.target) + " {id: id}"
    other = spec.target if outgoing else spec.source
    valid: LiteralString = VALID_NOW + " AND " if spec.kind in CURRENT_ONLY else ""
    return (
        "UNWIND $ids AS id MATCH " + relationship_pattern(spec.kind, outgoing, near, "r", "b")
        + " WHERE " + valid + where_cypher(other, "b", where, params)
    )  # fmt: skip


@dataclass(frozen=True)
class RelatedPage:
    """Which related nodes to read: matching ``where``, in ``keys`` order (the field's
    own order when empty) then by id, after the row whose sort values are ``after``."""

    where: Where = EVERYTHING
    keys: tuple[SortKey, ...] = ()
    after: tuple[Any, ...] | None = None


async def related_page(
    graph: Graph,
    spec: RelationshipSpec,
    outgoing: bool,
    ids: list[str],
    page: RelatedPage,
    limit: int,
) -> dict[str, list[Related]]:
    other = spec.target if outgoing else spec.source
    keys = page.keys or default_keys(spec, outgoing)
    params = Params()
    query = _related_match(spec, outgoing, page.where, params)
    if page.after is not None:
        query += " AND " + after_cypher(keys, list(page.after), "b", params)
    query += (
        " WITH id, r, b ORDER BY " + order_by(keys, "b") + " "
        "RETURN id, collect({props: " + node_properties(other, "b") + ", rel: "
        + _properties("r", temporal_properties(spec.properties)) + "})[..$limit] AS items"
    )  # fmt: skip
    values = {"now": datetime.now(UTC)} | params.values  # a where may hold `now` already
    records = await graph.query(query, ids=ids, limit=limit, **values)
    return {
        record["id"]: [Related(dict(i["props"]), dict(i["rel"])) for i in record["items"]]
        for record in records
    }


async def related_totals(
    graph: Graph,
    spec: RelationshipSpec,
    outgoing: bool,
    ids: list[str],
    where: Where,
    aggregate: bool = False,
) -> dict[str, dict[str, Any]]:
    """Per id, ``{count, fields}`` of its related nodes matching ``where`` (``fields``
    computed only when ``aggregate``: see ``aggregations``)."""
    params = Params()
    other = spec.target if outgoing else spec.source
    fields: LiteralString = aggregations(other, "b") if aggregate else "{}"
    query = (
        _related_match(spec, outgoing, where, params)
        + " RETURN id, count(b) AS count, " + fields + " AS fields"
    )  # fmt: skip
    values = {"now": datetime.now(UTC)} | params.values  # a where may hold `now` already
    records = await graph.query(query, ids=ids, **values)
    return {
        record["id"]: {"count": record["count"], "fields": dict(record["fields"])}
        for record in records
    }
