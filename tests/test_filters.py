"""The generic API's where, sort, connections, totals and aggregates on a real Neo4j.

The graph (answers computed by hand):

    customer  name   segment  touchpoints (at, type, value)
    c1        Acme   SMB      t1 03-01 PAGE_VIEW -, t2 03-02 PURCHASE 100, t3 03-05 PURCHASE 50
    c2        Acorn  ENT      t4 02-01 CALL -
    c3        Bolt   SMB      (none)
    c4        Zeta   -        t5 04-01 PURCHASE 10

and a process p1 whose steps are s1 (order 2) and s2 (order 1).
"""

from __future__ import annotations

from typing import Any

import pytest

from orggraph.api import build_schema
from orggraph.auth import Principal, Role
from orggraph.context import Context
from orggraph.graph import filters
from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind
from orggraph.settings import Settings
from tests.helpers import error_codes, execute, execute_counted, ok

SEED = "mutation Seed($input: GraphInput!) { upsertGraph(input: $input) { rows } }"


def _touchpoint(id: str, at: str, type: str, customer: str, value: str | None = None) -> Any:
    row = {"id": id, "at": f"2024-{at}T09:00:00Z", "type": type, "customerId": customer}
    return row if value is None else {**row, "valueExact": value}


SEED_INPUT: dict[str, Any] = {
    "customers": [
        {"id": "c1", "name": "Acme", "segment": "SMB"},
        {"id": "c2", "name": "Acorn", "segment": "ENT"},
        {"id": "c3", "name": "Bolt", "segment": "SMB"},
        {"id": "c4", "name": "Zeta"},
    ],
    "touchpoints": [
        _touchpoint("t1", "03-01", "PAGE_VIEW", "c1"),
        _touchpoint("t2", "03-02", "PURCHASE", "c1", "100"),
        _touchpoint("t3", "03-05", "PURCHASE", "c1", "50"),
        _touchpoint("t4", "02-01", "CALL", "c2"),
        _touchpoint("t5", "04-01", "PURCHASE", "c4", "10"),
    ],
    "processes": [{"id": "p1", "name": "Sales"}],
    "steps": [
        {"id": "s1", "name": "Close", "processId": "p1", "order": 2},
        {"id": "s2", "name": "Qualify", "processId": "p1", "order": 1},
    ],
}

CUSTOMERS = """
query Customers($where: CustomerWhere, $sort: [CustomerSort!], $first: Int, $after: String) {
  customers(where: $where, sort: $sort, first: $first, after: $after) {
    totalCount
    edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture
async def seeded(graph: Graph) -> Graph:
    ok(await execute(graph, SEED, {"input": SEED_INPUT}))
    return graph


async def _ids(graph: Graph, **variables: Any) -> list[str]:
    data = ok(await execute(graph, CUSTOMERS, variables))
    return [edge["node"]["id"] for edge in data["customers"]["edges"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"name": {"startsWith": "Ac"}}, ["c1", "c2"]),
        ({"name": {"endsWith": "ta"}}, ["c4"]),
        ({"name": {"contains": "o"}}, ["c2", "c3"]),
        ({"segment": {"in": ["SMB"]}, "NOT": {"name": {"eq": "Bolt"}}}, ["c1"]),
        ({"OR": [{"name": {"eq": "Zeta"}}, {"segment": {"eq": "ENT"}}]}, ["c2", "c4"]),
        ({"AND": [{"segment": {"eq": "SMB"}}, {"id": {"in": ["c3", "c4"]}}]}, ["c3"]),
        ({"segment": {"eq": None}}, ["c4"]),
        ({"touchpoints": {"some": {"type": {"eq": "PURCHASE"}}}}, ["c1", "c4"]),
        ({"touchpoints": {"none": {"type": {"eq": "PURCHASE"}}}}, ["c2", "c3"]),
        ({"touchpoints": {"all": {"type": {"eq": "PURCHASE"}}}}, ["c3", "c4"]),
        ({"touchpoints": {"some": {"value": {"gte": 50}, "at": {"lt": "2024-03-03"}}}}, ["c1"]),
    ],
)
async def test_where_selects_the_customers_computed_by_hand(
    seeded: Graph, where: dict[str, Any], expected: list[str]
) -> None:
    assert await _ids(seeded, where=where) == expected


async def test_sort_pages_one_by_one_with_nulls_last_ascending_and_ties_by_id(
    seeded: Graph,
) -> None:
    for direction, expected in (
        ("ASC", ["c2", "c1", "c3", "c4"]),
        ("DESC", ["c4", "c1", "c3", "c2"]),
    ):
        seen: list[str] = []
        after = None
        for _ in range(5):
            data = ok(
                await execute(
                    seeded,
                    CUSTOMERS,
                    {"sort": [{"segment": direction}], "first": 1, "after": after},
                )
            )["customers"]
            seen += [edge["node"]["id"] for edge in data["edges"]]
            after = data["pageInfo"]["endCursor"]
            if not data["pageInfo"]["hasNextPage"]:
                break
        assert seen == expected, direction


async def test_sort_by_name_descending_and_the_total_counts_every_page(seeded: Graph) -> None:
    data = ok(await execute(seeded, CUSTOMERS, {"sort": [{"name": "DESC"}], "first": 2}))
    assert [edge["node"]["id"] for edge in data["customers"]["edges"]] == ["c4", "c3"]
    assert data["customers"]["totalCount"] == 4
    smb = ok(await execute(seeded, CUSTOMERS, {"where": {"segment": {"eq": "SMB"}}, "first": 1}))
    assert smb["customers"]["totalCount"] == 2


async def test_a_cursor_of_another_sort_is_refused(seeded: Graph) -> None:
    data = ok(await execute(seeded, CUSTOMERS, {"sort": [{"name": "ASC"}], "first": 1}))
    cursor = data["customers"]["pageInfo"]["endCursor"]
    result = await execute(seeded, CUSTOMERS, {"sort": [{"name": "DESC"}], "after": cursor})
    assert error_codes(result) == ["BAD_USER_INPUT"]


async def test_the_deprecated_filter_still_applies_beside_where(seeded: Graph) -> None:
    query = """{ customers(filter: {segment: "SMB"}, where: {name: {startsWith: "B"}}) {
      edges { node { id } } } }"""
    assert [e["node"]["id"] for e in ok(await execute(seeded, query))["customers"]["edges"]] == [
        "c3"
    ]


TOUCHPOINTS_AFTER = """
query Page($after: String) {
  customer(id: "c1") {
    touchpointsConnection(first: 1, after: $after, where: {at: {gt: "2024-03-01T12:00:00Z"}}) {
      totalCount
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage endCursor }
    }
  }
}
"""


async def test_a_relationship_connection_pages_a_where_in_time_order(seeded: Graph) -> None:
    first = ok(await execute(seeded, TOUCHPOINTS_AFTER))["customer"]["touchpointsConnection"]
    assert first["totalCount"] == 2
    assert [edge["node"]["id"] for edge in first["edges"]] == ["t2"]
    assert first["pageInfo"]["hasNextPage"] is True
    cursor = first["pageInfo"]["endCursor"]
    second = ok(await execute(seeded, TOUCHPOINTS_AFTER, {"after": cursor}))
    page = second["customer"]["touchpointsConnection"]
    assert [edge["node"]["id"] for edge in page["edges"]] == ["t3"]
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": page["edges"][0]["cursor"],
    }


async def test_relationship_edges_carry_the_relationship_properties_in_its_order(
    seeded: Graph,
) -> None:
    query = (
        '{ process(id: "p1") { stepsConnection { edges { node { id } properties { order } } } } }'
    )
    edges = ok(await execute(seeded, query))["process"]["stepsConnection"]["edges"]
    assert edges == [
        {"node": {"id": "s2"}, "properties": {"order": 1}},
        {"node": {"id": "s1"}, "properties": {"order": 2}},
    ]


async def test_a_relationship_list_takes_where_and_sort(seeded: Graph) -> None:
    query = """{ customer(id: "c1") {
      touchpoints(where: {type: {eq: PURCHASE}}, sort: [{value: ASC}]) { id } } }"""
    assert ok(await execute(seeded, query))["customer"]["touchpoints"] == [
        {"id": "t3"},
        {"id": "t2"},
    ]


async def test_aggregates_honour_the_where_on_roots_and_relationships(seeded: Graph) -> None:
    query = """{
      customer(id: "c1") { touchpointsConnection {
        aggregate { count at { min max } value { min max average sum } } } }
      touchpoints(where: {type: {eq: PURCHASE}}) { aggregate { count value { sum } } }
    }"""
    data = ok(await execute(seeded, query))
    assert data["customer"]["touchpointsConnection"]["aggregate"] == {
        "count": 3,
        "at": {"min": "2024-03-01T09:00:00+00:00", "max": "2024-03-05T09:00:00+00:00"},
        "value": {"min": 50.0, "max": 100.0, "average": 75.0, "sum": 150.0},
    }
    assert data["touchpoints"]["aggregate"] == {"count": 3, "value": {"sum": 160.0}}


async def test_a_page_of_customers_with_filtered_touchpoint_totals_costs_one_query(
    seeded: Graph,
) -> None:
    query = """{ customers(where: {segment: {eq: "SMB"}}, sort: [{name: ASC}], first: 50) {
      totalCount
      edges { node { id touchpointsConnection(where: {type: {eq: PURCHASE}}) {
        totalCount edges { node { id } } } } } } }"""
    result, log = await execute_counted(seeded, query)
    edges = ok(result)["customers"]["edges"]
    totals = {e["node"]["id"]: e["node"]["touchpointsConnection"]["totalCount"] for e in edges}
    assert totals == {"c1": 2, "c3": 0}
    # compiled (schema.entities): the page, its total, the touchpoints and their totals
    assert log.count == 1


async def test_a_where_nested_too_deep_is_refused_before_any_query(seeded: Graph) -> None:
    where: dict[str, Any] = {"name": {"eq": "x"}}
    for _ in range(8):
        where = {"NOT": where}
    result, log = await execute_counted(seeded, CUSTOMERS, {"where": where})
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"]
    assert log.count == 0


async def test_node_returns_any_entity_through_the_node_interface(seeded: Graph) -> None:
    query = '{ node(id: "c1") { __typename id ... on Customer { name } } }'
    assert ok(await execute(seeded, query))["node"] == {
        "__typename": "Customer",
        "id": "c1",
        "name": "Acme",
    }


def test_where_cypher_takes_property_names_from_the_model_and_values_as_parameters() -> None:
    params = filters.Params("p")
    where = filters.AllOf(
        (
            filters.Compare("name", "startsWith", "x' OR 1=1"),
            filters.Across(
                RelationshipKind.CUSTOMER_HAD_TOUCHPOINT,
                True,
                "some",
                filters.Compare("type", "in", ("CALL",)),
            ),
        )
    )
    cypher = filters.where_cypher("Customer", "c", where, params)
    assert cypher == (
        "(c.name STARTS WITH $p1 AND EXISTS { MATCH (c)-[p3:HAD]->(p2:Touchpoint) "
        "WHERE p2.type IN $p4 })"
    )
    assert params.values == {"p1": "x' OR 1=1", "p4": ["CALL"]}
    with pytest.raises(ValueError, match="not a filterable property"):
        filters.where_cypher("Customer", "c", filters.Compare("email", "eq", "a@b"), params)


async def test_a_team_member_may_not_count_or_filter_through_kpis_it_does_not_see(
    graph: Graph,
) -> None:
    ok(await execute(graph, SEED, {"input": {"teams": [{"id": "t1", "name": "One"}]}}))
    member = Principal("someone", frozenset({Role.FUNCTION}), frozenset({"t1"}), False)
    for query in (
        "{ kpis { totalCount } }",
        "{ kpis { aggregate { count } } }",
        '{ teams(where: {accountableFor: {some: {name: {eq: "Churn"}}}}) { totalCount } }',
        '{ team(id: "t1") { children(where: {OR: [{sharedKpis: {none: {}}}]}) { id } } }',
    ):
        context = Context.for_request(graph, Settings())
        context.principal = member
        result = await build_schema(Settings()).execute(query, context_value=context)
        assert error_codes(result) == ["FORBIDDEN"], query
    allowed = '{ teams(where: {name: {eq: "One"}}) { totalCount } }'
    context = Context.for_request(graph, Settings())
    context.principal = member
    result = await build_schema(Settings()).execute(allowed, context_value=context)
    assert ok(result) == {"teams": {"totalCount": 1}}


async def test_a_where_nested_as_deep_as_a_body_may_be_is_refused_cleanly(graph: Graph) -> None:
    # The HTTP door refuses JSON nested more than 200 levels (test_http); just below that:
    where: dict[str, Any] = {"name": {"eq": "x"}}
    for _ in range(190):
        where = {"NOT": where}
    result, log = await execute_counted(graph, CUSTOMERS, {"where": where})
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"]
    assert log.count == 0
