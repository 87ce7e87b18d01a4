"""The GraphQL API on a real Neo4j: upserts, reads, pagination, errors, round trips."""

from __future__ import annotations

from typing import Any

import pytest

from orggraph.errors import ConflictError
from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from tests.helpers import error_codes, execute, execute_counted, ok

CUSTOMER_WITH_THREE_TOUCHPOINTS = """
mutation Seed($input: GraphInput!) { upsertGraph(input: $input) { rows nodesCreated } }
"""

JOURNEY = """
query Journey($id: ID!) {
  customer(id: $id) {
    name
    touchpoints { id at type channel { id name } next { id } }
  }
}
"""


def graph_input() -> dict[str, Any]:
    return {
        "channels": [{"id": "web", "name": "Web site", "kind": "WEB"}],
        "customers": [{"id": "c1", "name": "ACME", "kind": "ACCOUNT", "email": "buyer@acme.test"}],
        "touchpoints": [
            {"id": "t3", "at": "2024-03-03T09:00:00Z", "type": "CALL", "customerId": "c1"},
            {
                "id": "t1",
                "at": "2024-03-01T09:00:00Z",
                "type": "PAGE_VIEW",
                "customerId": "c1",
                "channelId": "web",
            },
            {
                "id": "t2",
                "at": "2024-03-02T09:00:00Z",
                "type": "FORM_SUBMIT",
                "customerId": "c1",
                "channelId": "web",
            },
        ],
    }


async def test_a_client_upserts_a_customer_with_three_touchpoints_and_reads_the_ordered_journey(
    graph: Graph,
) -> None:
    created = ok(await execute(graph, CUSTOMER_WITH_THREE_TOUCHPOINTS, {"input": graph_input()}))
    assert created["upsertGraph"] == {"rows": 5, "nodesCreated": 5}
    data = ok(await execute(graph, JOURNEY, {"id": "c1"}))
    touchpoints = data["customer"]["touchpoints"]
    assert [t["id"] for t in touchpoints] == ["t1", "t2", "t3"]
    assert [t["next"] and t["next"]["id"] for t in touchpoints] == ["t2", "t3", None]
    assert touchpoints[0]["channel"] == {"id": "web", "name": "Web site"}
    assert touchpoints[2]["channel"] is None


async def test_upsert_graph_replayed_creates_nothing(graph: Graph) -> None:
    ok(await execute(graph, CUSTOMER_WITH_THREE_TOUCHPOINTS, {"input": graph_input()}))
    again = ok(await execute(graph, CUSTOMER_WITH_THREE_TOUCHPOINTS, {"input": graph_input()}))
    assert again["upsertGraph"]["nodesCreated"] == 0


async def test_single_upsert_returns_the_entity(graph: Graph) -> None:
    data = ok(
        await execute(
            graph,
            'mutation { upsertTeam(input: {id: "mkt", name: "Marketing", kind: FUNCTION,'
            " function: MARKETING}) { id name kind function } }",
        )
    )
    assert data["upsertTeam"] == {
        "id": "mkt",
        "name": "Marketing",
        "kind": "FUNCTION",
        "function": "MARKETING",
    }


async def test_a_bad_row_in_a_batch_mutation_names_row_and_field_and_writes_nothing(
    graph: Graph,
) -> None:
    result = await execute(
        graph,
        "mutation($rows: [CustomerInput!]!) { upsertCustomers(inputs: $rows) { rows } }",
        {"rows": [{"id": "c1", "name": "A"}, {"id": "c2", "name": "B", "email": "not-an-email"}]},
    )
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result.errors is not None
    message = result.errors[0].message
    assert "row 1" in message and "email" in message
    empty = ok(await execute(graph, "{ customers { edges { node { id } } } }"))
    assert empty["customers"]["edges"] == []


async def test_unknown_enum_and_missing_field_get_stable_codes(graph: Graph) -> None:
    unknown = await execute(
        graph, 'mutation { upsertTeam(input: {id: "x", name: "X", kind: SQUAD}) { id } }'
    )
    assert error_codes(unknown) == ["GRAPHQL_VALIDATION_FAILED"]
    missing = await execute(
        graph, "mutation($t: TeamInput!) { upsertTeam(input: $t) { id } }", {"t": {"id": "x"}}
    )
    assert error_codes(missing) == ["BAD_USER_INPUT"]
    assert "name" in (missing.errors or [])[0].message


async def test_a_missing_reference_is_not_found_and_rolls_back_the_whole_graph_write(
    graph: Graph,
) -> None:
    data = graph_input()
    data["touchpoints"][0]["campaignId"] = "no-such-campaign"
    result = await execute(graph, CUSTOMER_WITH_THREE_TOUCHPOINTS, {"input": data})
    assert error_codes(result) == ["NOT_FOUND"]
    assert "no-such-campaign" in (result.errors or [])[0].message
    assert ok(await execute(graph, '{ customer(id: "c1") { id } }'))["customer"] is None


async def test_a_malformed_id_or_cursor_is_bad_user_input(graph: Graph) -> None:
    assert error_codes(await execute(graph, '{ customer(id: "") { id } }')) == ["BAD_USER_INPUT"]
    assert error_codes(
        await execute(graph, '{ customers(after: "%%%") { edges { cursor } } }')
    ) == ["BAD_USER_INPUT"]


async def test_errors_never_leak_python_or_cypher(graph: Graph) -> None:
    result = await execute(graph, "{ customers(first: 100000) { edges { cursor } } }")
    assert error_codes(result) == ["BAD_USER_INPUT"]
    text = str([e.formatted for e in result.errors or []])
    assert "Traceback" not in text and "MATCH" not in text


async def test_lists_paginate_with_cursors_and_filter(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Customer",
        [
            {"id": f"c{i:02d}", "name": f"Customer {i}", "segment": "SMB" if i % 2 else "ENT"}
            for i in range(10)
        ],
    )
    query = """query($after: String) {
      customers(first: 2, after: $after, filter: {segment: "SMB"}) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = ok(await execute(graph, query, {"after": after}))["customers"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["c01", "c03", "c05", "c07", "c09"]


async def test_an_id_names_one_entity_across_labels_so_node_finds_exactly_it(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Team", [{"id": "same", "name": "T"}, {"id": "t1", "name": "T1"}])
    data = ok(await execute(graph, '{ node(id: "t1") { __typename ... on Team { name } } }'))
    assert data["node"] == {"__typename": "Team", "name": "T1"}
    with pytest.raises(ConflictError, match="another label"):
        await upsert_nodes(graph, "Customer", [{"id": "same", "name": "C"}])
    refused = await execute(
        graph, 'mutation { upsertCustomer(input: {id: "same", name: "C"}) { id } }'
    )
    assert error_codes(refused) == ["CONFLICT"]
    message = refused.errors[0].message if refused.errors else ""
    assert message.startswith("the id 'same' is already used") and "Node(" not in message
    assert await graph.query("MATCH (c:Customer) RETURN c") == []
    same = ok(await execute(graph, '{ node(id: "same") { __typename id } }'))
    assert same["node"] == {"__typename": "Team", "id": "same"}
    # Written around the write layer (raw Cypher, no Entity label), it is still reported.
    await graph.driver.execute_query(
        "CREATE (:Customer {id: 'same', name: 'C'})", database_=graph.database
    )
    assert error_codes(await execute(graph, '{ node(id: "same") { __typename } }')) == ["CONFLICT"]


async def test_every_relationship_kind_can_be_upserted_through_graphql(graph: Graph) -> None:
    ok(await execute(graph, CUSTOMER_WITH_THREE_TOUCHPOINTS, {"input": graph_input()}))
    await upsert_nodes(graph, "Team", [{"id": "sales", "name": "Sales"}])
    result = ok(
        await execute(
            graph,
            """mutation { upsertRelationships(kind: TOUCHPOINT_HANDLED_BY_TEAM,
                rows: [{from: "t3", to: "sales"}]) { relationshipsCreated } }""",
        )
    )
    assert result["upsertRelationships"]["relationshipsCreated"] == 1
    data = ok(await execute(graph, '{ touchpoint(id: "t3") { team { id } } }'))
    assert data["touchpoint"]["team"] == {"id": "sales"}


async def _organisation(graph: Graph, customers: int) -> None:
    await upsert_nodes(
        graph, "Team", [{"id": "care", "name": "Care"}, {"id": "sales", "name": "Sales"}]
    )
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "web", "name": "Web", "kind": "WEB"},
            {"id": "chat", "name": "Chat", "kind": "CHAT"},
        ],
    )
    await upsert_nodes(
        graph, "Customer", [{"id": f"c{i}", "name": f"C{i}"} for i in range(customers)]
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {
                "id": f"c{i}-t{j}",
                "at": f"2024-01-{j + 1:02d}T10:00:00Z",
                "type": "CHAT",
                "customerId": f"c{i}",
                "channelId": "web" if j % 2 else "chat",
                "teamId": "care" if j % 2 else "sales",
            }
            for i in range(customers)
            for j in range(3)
        ],
    )


NESTED = """query($n: Int!) { customers(first: $n) { edges { node {
    id touchpoints { id channel { name } team { name } } } } } }"""


async def test_5_or_500_customers_with_nested_fields_cost_the_same_round_trips(
    graph: Graph,
) -> None:
    await _organisation(graph, 500)
    small, small_log = await execute_counted(graph, NESTED, {"n": 5})
    large, large_log = await execute_counted(graph, NESTED, {"n": 500})
    assert len(ok(small)["customers"]["edges"]) == 5
    edges = ok(large)["customers"]["edges"]
    assert len(edges) == 500
    assert all(len(edge["node"]["touchpoints"]) == 3 for edge in edges)
    # one compiled query (schema.entities): the page with every nested field
    assert small_log.count == large_log.count == 1


async def test_team_relationships_resolve_through_loaders(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Team",
        [
            {"id": "grp", "name": "Group", "kind": "GROUP"},
            {"id": "bu", "name": "BU", "kind": "BUSINESS_UNIT"},
            {"id": "mkt", "name": "Marketing", "kind": "FUNCTION"},
        ],
    )
    await upsert_relationships(
        graph,
        RelationshipKind.TEAM_PART_OF_TEAM,
        [{"from": "mkt", "to": "bu"}, {"from": "mkt", "to": "grp"}, {"from": "bu", "to": "grp"}],
    )
    data = ok(
        await execute(
            graph, '{ team(id: "mkt") { parents { id } } grp: team(id: "grp") { children { id } } }'
        )
    )
    assert [t["id"] for t in data["team"]["parents"]] == ["bu", "grp"]
    assert [t["id"] for t in data["grp"]["children"]] == ["bu", "mkt"]


async def test_a_single_relationship_upsert_is_idempotent(graph: Graph) -> None:
    await upsert_nodes(graph, "Person", [{"id": "p1", "name": "Ann"}])
    await upsert_nodes(graph, "Team", [{"id": "sales", "name": "Sales"}])
    mutation = """mutation { upsertRelationship(kind: PERSON_MEMBER_OF_TEAM,
        row: {from: "p1", to: "sales", properties: {role: "lead"}}) { relationshipsCreated } }"""
    assert ok(await execute(graph, mutation))["upsertRelationship"]["relationshipsCreated"] == 1
    assert ok(await execute(graph, mutation))["upsertRelationship"]["relationshipsCreated"] == 0
    data = ok(await execute(graph, '{ person(id: "p1") { teams { role team { id } } } }'))
    assert data["person"]["teams"] == [{"role": "lead", "team": {"id": "sales"}}]
