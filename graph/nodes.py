"""Generic reads of entities and their relationships, for every label of the model.

The label, relationship type and sort key of each query come from the model's
allow-lists (literal strings); ids, filters and limits are parameters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.model import (
    LABELS,
    RECORDS,
    SEALED_PROPERTIES,
    RelationshipKind,
    RelationshipSpec,
    temporal_properties,
)


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


LIST_FILTERS: LiteralString = (
    "n.id > $after "
    "AND all(key IN keys($equals) WHERE n[key] = $equals[key]) "
    "AND ($nameContains IS NULL OR toLower(n.name) CONTAINS toLower($nameContains)) "
    "AND ($atFrom IS NULL OR n.at >= $atFrom) AND ($atTo IS NULL OR n.at < $atTo)"
)
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


def sort_key(
    spec: RelationshipSpec, outgoing: bool, r: LiteralString = "r", b: LiteralString = "b"
) -> LiteralString:
    """The order of a nested relationship field's items, over relationship ``r`` and the
    node ``b`` at its other end."""
    other = spec.target if outgoing else spec.source
    if spec.type == "HAS_STEP":
        return r + ".order, " + b + ".id"
    if other == "Touchpoint":
        return b + ".at, " + b + ".id"
    if other == "Measurement":
        return b + ".periodStart DESC, " + b + ".id"
    if spec.type == "OWNS":
        return r + ".from, " + b + ".id"
    return b + ".id"


CURRENT_ONLY: frozenset[RelationshipKind] = frozenset(
    {RelationshipKind.TEAM_PART_OF_TEAM, RelationshipKind.PERSON_MEMBER_OF_TEAM}
)
"""Kinds whose nested fields (a team's parents, children and members, a person's teams)
list only the relationships valid now: the hierarchy and memberships that ended (a
reorganisation applied) stay in the graph for the organisation as of a past date."""


def valid_now(r: LiteralString) -> LiteralString:
    """Relationship ``r`` is valid at ``$now`` (see ``CURRENT_ONLY``)."""
    return (
        "("
        + r
        + ".from IS NULL OR "
        + r
        + ".from <= $now) AND ("
        + r
        + ".to IS NULL OR "
        + r
        + ".to > $now)"
    )


VALID_NOW: LiteralString = valid_now("r")


@functools.cache
def related_query(spec: RelationshipSpec, outgoing: bool) -> LiteralString:
    """For each id, the related entities over one relationship kind, sorted, capped."""
    other = spec.target if outgoing else spec.source
    if outgoing:
        pattern: LiteralString = (
            "(a:" + spec.source + " {id: id})-[r:" + spec.type + "]->(b:" + spec.target + ")"
        )
    else:
        pattern = "(a:" + spec.target + " {id: id})<-[r:" + spec.type + "]-(b:" + spec.source + ")"
    valid: LiteralString = " WHERE " + VALID_NOW if spec.kind in CURRENT_ONLY else ""
    return (
        "UNWIND $ids AS id MATCH " + pattern + valid + " "
        "WITH id, r, b ORDER BY " + sort_key(spec, outgoing) + " "
        "RETURN id, collect({props: "
        + node_properties(other, "b")
        + ", rel: "
        + _properties("r", temporal_properties(spec.properties))
        + "})[..$limit] AS items"
    )


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
    records = await graph.query(
        related_query(spec, outgoing), ids=ids, limit=limit, now=datetime.now(UTC)
    )
    return {
        record["id"]: [Related(dict(i["props"]), dict(i["rel"])) for i in record["items"]]
        for record in records
    }


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
