"""The compiled read path (schema.entities, graph.entities): every root entity field, nested
to any depth, costs one query, and answers exactly as the resolvers do.

The resolvers' answer is the reference: the same operation runs with ``compiled_reads``
off. Answers are compared as JSON text, so the order of keys counts too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.types import ExecutionResult

from orggraph.api import build_schema
from orggraph.auth import Principal, Role
from orggraph.context import Context
from orggraph.graph.driver import Graph, recording
from orggraph.schema.relay import encode_cursor
from orggraph.settings import Settings
from tests.helpers import error_codes, ok

# Deep selections of every field cost more than a client may ask: the bound is lifted here.
SETTINGS = Settings(max_query_cost=10**15, max_selections=100_000)
COMPILED = build_schema(SETTINGS)
RESOLVED_SETTINGS = Settings(compiled_reads=False, max_query_cost=10**15, max_selections=100_000)
RESOLVED = build_schema(RESOLVED_SETTINGS)
GRAPHQL: GraphQLSchema = COMPILED._schema

ADMIN = Principal("admin", frozenset({Role.ADMIN}), frozenset(), True)
ANALYST = Principal("analyst", frozenset({Role.ANALYST}), frozenset(), False)
FUNCTION_T1 = Principal("member", frozenset({Role.FUNCTION}), frozenset({"t1"}), False)

SEED = """
mutation Seed($input: GraphInput!) { upsertGraph(input: $input) { rows } }
"""

# Ids of the hand-built graph, per GraphQL type (the `x(id)` root fields read these).
IDS: dict[str, list[str]] = {
    "Team": ["t1", "t2", "t3"],
    "Person": ["p1", "p2"],
    "Service": ["s1"],
    "System": ["y1"],
    "Process": ["pr1"],
    "Step": ["st1", "st2"],
    "Channel": ["web", "shop"],
    "Campaign": ["cp1"],
    "Customer": ["c1", "c2", "c3"],
    "BusinessObject": ["o1", "o2"],
    "Deal": ["d1"],
    "KPI": ["k1", "k2"],
    "Measurement": ["m1", "m2"],
    "SLA": ["sla1"],
    "Touchpoint": ["tp1", "tp2", "tp3", "tp4"],
}


def rel(kind: str, *rows: tuple[str, str, dict[str, Any] | None]) -> dict[str, Any]:
    return {
        "kind": kind,
        "rows": [{"from": a, "to": b, "properties": props} for a, b, props in rows],
    }


def graph_input() -> dict[str, Any]:
    return {
        "teams": [
            {"id": "t1", "name": "Marketing", "kind": "FUNCTION", "function": "MARKETING"},
            {"id": "t2", "name": "Sales", "kind": "FUNCTION", "function": "SALES"},
            {"id": "t3", "name": "Web team"},
        ],
        "people": [{"id": "p1", "name": "Ada", "role": "lead"}, {"id": "p2", "name": "Bob"}],
        "services": [{"id": "s1", "name": "Leads", "audience": "INTERNAL"}],
        "systems": [{"id": "y1", "name": "CRM", "kind": "CRM"}],
        "processes": [{"id": "pr1", "name": "Lead to cash", "lifecycle": "CONSOLIDATED"}],
        "steps": [
            {"id": "st1", "name": "Lead", "stage": "LEAD", "processId": "pr1", "order": 1},
            {"id": "st2", "name": "Order", "stage": "CUSTOMER", "processId": "pr1", "order": 2},
        ],
        "channels": [
            {"id": "web", "name": "Web site", "kind": "WEB", "online": True},
            {"id": "shop", "name": "Shop", "kind": "STORE", "online": False},
        ],
        "campaigns": [{"id": "cp1", "name": "Spring", "sourceKind": "PAID", "teamId": "t1"}],
        "customers": [
            {"id": "c1", "name": "ACME", "kind": "ACCOUNT", "email": "buyer@acme.test"},
            {"id": "c2", "name": "Beta", "segment": "smb"},
            {"id": "c3", "name": "Gamma", "kind": "PERSON"},
        ],
        "businessObjects": [
            {"id": "o1", "type": "order", "name": "Order 1", "attributes": {"lines": 2}},
            {"id": "o2", "type": "item"},
        ],
        "deals": [
            {
                "id": "d1",
                "openedAt": "2024-02-01T10:00:00Z",
                "closedAt": "2024-04-01T10:30:00.250Z",
                "amountExact": "120.50",
                "currency": "EUR",
                "won": True,
                "customerId": "c1",
                "teamId": "t2",
            }
        ],
        "kpis": [
            {
                "id": "k1",
                "name": "Leads",
                "unit": "count",
                "direction": "HIGHER_IS_BETTER",
                "target": 10,
                "definition": {"metric": "COUNT"},
                "window": "MONTH",
                "accountableTeamId": "t1",
            },
            {"id": "k2", "name": "Orders", "accountableTeamId": "t2"},
        ],
        "measurements": [
            {"id": "m1", "at": "2024-02-01T00:00:00Z", "periodStart": "2024-01-01T00:00:00Z"}
            | {"value": 7.5, "sampleSize": 3, "kpiId": "k1"},
            {"id": "m2", "at": "2024-03-01T00:00:00Z", "periodStart": "2024-02-01T00:00:00Z"}
            | {"value": 12, "kpiId": "k1"},
        ],
        "slas": [
            {"id": "sla1", "name": "Leads in a day", "threshold": 24, "kind": "RESPONSE_TIME"}
            | {"unit": "h", "providerTeamId": "t1", "consumerTeamId": "t2", "stepId": "st1"}
            | {"kpiId": "k1"}
        ],
        "touchpoints": [
            {"id": "tp1", "at": "2024-03-01T09:00:00.123Z", "type": "PAGE_VIEW"}
            | {"customerId": "c1", "channelId": "web", "campaignId": "cp1", "stepId": "st1"},
            {"id": "tp2", "at": "2024-03-02T09:00:00+02:00", "type": "FORM_SUBMIT"}
            | {"customerId": "c1", "channelId": "web", "teamId": "t1", "personId": "p1"},
            {"id": "tp3", "at": "2024-03-03T09:00:00Z", "type": "PURCHASE", "customerId": "c1"}
            | {"valueExact": "19.99", "attributes": {"coupon": "X"}, "activity": "checkout"},
            {"id": "tp4", "at": "2024-03-04T00:00:00Z", "type": "CALL", "customerId": "c2"}
            | {"channelId": "shop", "stepId": "st2"},
        ],
        "relationships": [
            rel("TEAM_PART_OF_TEAM", ("t3", "t1", None)),
            rel(
                "PERSON_MEMBER_OF_TEAM",
                ("p1", "t1", {"role": "lead"}),
                ("p2", "t1", None),
                ("p2", "t2", {"role": "old", "to": "2020-01-01T00:00:00Z"}),
            ),
            rel("TEAM_PROVIDES_SERVICE", ("t1", "s1", None)),
            rel("SERVICE_CONSUMED_BY_TEAM", ("s1", "t2", None)),
            rel("TEAM_OPERATES_SYSTEM", ("t1", "y1", None)),
            rel("SYSTEM_SUPPORTS_STEP", ("y1", "st1", None)),
            rel("STEP_NEXT_STEP", ("st1", "st2", None)),
            rel(
                "TEAM_OWNS_STEP",
                ("t1", "st1", {"from": "2024-01-01T00:00:00Z", "to": "2024-06-01T12:00:00.5Z"}),
                ("t2", "st1", {"from": "2024-06-01T12:00:00.5Z"}),
            ),
            rel("TEAM_SERVES_CHANNEL", ("t1", "web", None), ("t2", "shop", None)),
            rel("KPI_SHARED_WITH_TEAM", ("k1", "t2", None)),
            rel("KPI_MEASURES_STEP", ("k1", "st1", None)),
            rel("KPI_MEASURES_PROCESS", ("k1", "pr1", None)),
            rel("KPI_MEASURES_CHANNEL", ("k1", "web", None)),
            rel("KPI_MEASURES_CAMPAIGN", ("k1", "cp1", None)),
            rel("TOUCHPOINT_CONCERNS_OBJECT", ("tp3", "o1", {"qualifier": "bought"})),
            rel("OBJECT_RELATED_TO_OBJECT", ("o1", "o2", {"qualifier": "contains"})),
            rel("OBJECT_BELONGS_TO_CUSTOMER", ("o1", "c1", None)),
        ],
    }


async def seed(graph: Graph) -> None:
    ok(await run(graph, RESOLVED, SEED, {"input": graph_input()}))


async def run(
    graph: Graph,
    schema: strawberry.Schema,
    query: str,
    variables: dict[str, Any] | None = None,
    principal: Principal = ADMIN,
) -> ExecutionResult:
    chosen = RESOLVED_SETTINGS if schema is RESOLVED else SETTINGS
    context = Context.for_request(graph, chosen)
    context.principal = principal
    return await schema.execute(query, variable_values=variables, context_value=context)


def as_json(result: ExecutionResult) -> str:
    errors = [(e.message, e.path, (e.extensions or {}).get("code")) for e in result.errors or []]
    return json.dumps({"data": result.data, "errors": errors})


async def both(
    graph: Graph, query: str, variables: dict[str, Any] | None = None, principal: Principal = ADMIN
) -> tuple[str, str, int]:
    """(compiled answer, resolvers' answer, queries the compiled run sent)."""
    with recording() as sent:
        compiled = await run(graph, COMPILED, query, variables, principal)
    resolved = await run(graph, RESOLVED, query, variables, principal)
    return as_json(compiled), as_json(resolved), sent.count


# --- selections ------------------------------------------------------------------------

# Fields that keep their resolvers (their own resolver): left out of the one-query checks.
NOT_COMPILED = {("Process", "lifecycleHistory")}


def compiled_field(owner: GraphQLObjectType, name: str) -> bool:
    """Whether the compiler answers this field: all but the resolver-only fields."""
    return not ((owner.name, name) in NOT_COMPILED or owner.fields[name].deprecation_reason)


def object_of(field_type: Any) -> GraphQLObjectType | None:
    while isinstance(field_type, GraphQLNonNull | GraphQLList):
        field_type = field_type.of_type
    return field_type if isinstance(field_type, GraphQLObjectType) else None


def full_selection(owner: GraphQLObjectType, depth: int) -> str:
    """Every field of ``owner``, and of its objects down to ``depth`` more levels."""
    parts: list[str] = []
    for name, field in owner.fields.items():
        if not compiled_field(owner, name):
            continue
        inner = object_of(field.type)
        if inner is None:
            parts.append(name)
        elif depth > 0:
            parts.append(f"{name} {{ {full_selection(inner, depth - 1)} }}")
    return " ".join(parts) or "__typename"


def entity_roots() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(``x(id)`` root fields, ``xs(...)`` connection root fields), with their type names."""
    query = GRAPHQL.query_type
    assert query is not None
    one: list[tuple[str, str]] = []
    many: list[tuple[str, str]] = []
    for name, field in query.fields.items():
        inner = object_of(field.type)
        if inner is None:
            continue
        if set(field.args) == {"id"} and inner.name in IDS:
            one.append((name, inner.name))
        node = inner.fields.get("edges") and object_of(inner.fields["edges"].type)
        if {"first", "after", "filter"} <= set(field.args) and node:
            node_type = object_of(node.fields["node"].type)
            assert node_type is not None
            many.append((name, node_type.name))
    return one, many


ONE_ROOTS, MANY_ROOTS = entity_roots()


def test_the_compiler_covers_every_generic_root_entity_field() -> None:
    assert len(ONE_ROOTS) == 15
    assert {type_name for _, type_name in MANY_ROOTS} <= set(IDS)
    assert len(MANY_ROOTS) >= 14


async def test_every_root_entity_field_nested_with_every_field_costs_one_query(
    graph: Graph,
) -> None:
    await seed(graph)
    for root, type_name in ONE_ROOTS:
        owner = GRAPHQL.get_type(type_name)
        assert isinstance(owner, GraphQLObjectType)
        query = f"query($id: ID!) {{ {root}(id: $id) {{ {full_selection(owner, 2)} }} }}"
        for node_id in IDS[type_name][:1]:
            compiled, resolved, sent = await both(graph, query, {"id": node_id})
            assert sent == 1, (root, node_id)
            assert compiled == resolved, (root, node_id)
    for root, type_name in MANY_ROOTS:
        owner = GRAPHQL.get_type(type_name)
        assert isinstance(owner, GraphQLObjectType)
        query = (
            f"{{ {root}(first: 2) {{ edges {{ cursor node {{ {full_selection(owner, 1)} }} }} "
            "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
        )
        compiled, resolved, sent = await both(graph, query)
        assert sent == 1, root
        assert compiled == resolved, root


async def test_a_customer_with_its_journey_reads_like_the_resolvers_in_one_query(
    graph: Graph,
) -> None:
    await seed(graph)
    query = """
    query($id: ID!) { customer(id: $id) { __typename id name email kind segment
      touchpoints(first: 2) { id at valueExact attributes channel { name } next { id at } }
      deals { amountExact openedAt closedAt won owner { name } } } }
    """
    compiled, resolved, sent = await both(graph, query, {"id": "c1"})
    assert sent == 1
    assert compiled == resolved
    customer = json.loads(compiled)["data"]["customer"]
    assert customer["email"] == "buyer@acme.test"
    assert [t["at"] for t in customer["touchpoints"]] == [
        "2024-03-01T09:00:00.123000+00:00",
        "2024-03-02T07:00:00+00:00",
    ]
    assert customer["touchpoints"][1]["next"] == {"id": "tp3", "at": "2024-03-03T09:00:00+00:00"}
    assert customer["deals"] == [
        {
            "amountExact": "120.50",
            "openedAt": "2024-02-01T10:00:00+00:00",
            "closedAt": "2024-04-01T10:30:00.250000+00:00",
            "won": True,
            "owner": {"name": "Sales"},
        }
    ]


async def test_relationship_properties_and_current_memberships_as_the_resolvers_read_them(
    graph: Graph,
) -> None:
    await seed(graph)
    query = """
    { team(id: "t1") { members { role person { name teams { role team { id } } } }
      ownedSteps { validFrom validTo step { id } } children(first: 5) { id parents { id } } }
      process(id: "pr1") { steps { order step { id owners { validFrom team { id } } } } } }
    """
    compiled, resolved, sent = await both(graph, query)
    assert sent == 2  # two root fields, one query each
    assert compiled == resolved
    data = json.loads(compiled)["data"]
    # p2's membership of t2 ended in 2020: not listed (graph.nodes.CURRENT_ONLY)
    assert data["team"]["members"] == [
        {
            "role": "lead",
            "person": {"name": "Ada", "teams": [{"role": "lead", "team": {"id": "t1"}}]},
        },
        {"role": None, "person": {"name": "Bob", "teams": [{"role": None, "team": {"id": "t1"}}]}},
    ]
    assert data["team"]["ownedSteps"] == [
        {
            "validFrom": "2024-01-01T00:00:00+00:00",
            "validTo": "2024-06-01T12:00:00.500000+00:00",
            "step": {"id": "st1"},
        }
    ]
    assert [s["order"] for s in data["process"]["steps"]] == [1, 2]


async def test_aliases_fragments_and_directives_shape_the_answer(graph: Graph) -> None:
    await seed(graph)
    query = """
    query($yes: Boolean!, $no: Boolean!) {
      page: customers(first: 2) {
        __typename
        all: edges { at: cursor node { ...named ... on Customer { kind } } }
        nodes { key: id name @skip(if: $yes) segment @include(if: $no) }
        pageInfo { next: hasNextPage endCursor __typename }
      }
    }
    fragment named on Customer {
      id label: name __typename kind touchpoints(first: 1) @include(if: $yes) { id }
    }
    """
    compiled, resolved, sent = await both(graph, query, {"yes": True, "no": False})
    assert sent == 1
    assert compiled == resolved
    page = json.loads(compiled)["data"]["page"]
    assert page["all"][0] == {
        "at": encode_cursor("c1"),
        "node": {
            "id": "c1",
            "label": "ACME",
            "__typename": "Customer",
            "kind": "ACCOUNT",
            "touchpoints": [{"id": "tp1"}],
        },
    }
    assert page["nodes"] == [{"key": "c1"}, {"key": "c2"}]
    assert page["pageInfo"] == {
        "next": True,
        "endCursor": encode_cursor("c2"),
        "__typename": "PageInfo",
    }
    # the same document with other directive values: another plan
    compiled, resolved, _ = await both(graph, query, {"yes": False, "no": True})
    assert compiled == resolved
    assert json.loads(compiled)["data"]["page"]["nodes"][1] == {
        "key": "c2",
        "name": "Beta",
        "segment": "smb",
    }


async def test_pages_filters_and_cursors_as_the_resolvers(graph: Graph) -> None:
    await seed(graph)
    query = """
    query($after: String, $first: Int, $email: String) {
      customers(first: $first, after: $after, filter: {email: $email}) {
        edges { cursor node { id email } } pageInfo { hasNextPage hasPreviousPage }
      }
      touchpoints(first: 10, filter: {atFrom: "2024-03-02T00:00:00Z"}) { nodes { id } }
    }
    """
    cases: list[dict[str, Any]] = [
        {"first": 1},
        {"first": 1, "after": encode_cursor("c1")},
        {"first": 5, "email": "BUYER@acme.test"},
        {"first": 0},
    ]
    for variables in cases:
        compiled, resolved, sent = await both(graph, query, variables)
        assert sent == 2, variables
        assert compiled == resolved, variables
    found = json.loads(compiled)["data"]
    assert [n["id"] for n in found["touchpoints"]["nodes"]] == ["tp2", "tp3", "tp4"]


async def test_where_sort_and_total_of_a_root_connection_in_one_query(graph: Graph) -> None:
    await seed(graph)
    query = """
    query($after: String, $where: CustomerWhere, $sort: [CustomerSort!]) {
      customers(first: 2, after: $after, where: $where, sort: $sort) {
        totalCount edges { cursor node { id name segment } }
        pageInfo { hasNextPage hasPreviousPage endCursor }
      }
    }
    """
    touched = {"touchpoints": {"some": {"at": {"gt": "2024-03-02T00:00:00Z"}}}}
    where = {"OR": [{"name": {"startsWith": "A"}}, touched, {"segment": {"eq": None}}]}
    sort = [{"segment": "DESC"}, {"name": "ASC"}]
    # by hand: all three match (ACME by name, Beta by tp4, Gamma without segment);
    # segment DESC puts nulls first: ACME, Gamma (by name), then Beta (smb)
    seen: list[str] = []
    after = None
    for _ in range(3):
        variables = {"after": after, "where": where, "sort": sort}
        compiled, resolved, sent = await both(graph, query, variables)
        assert sent == 1
        assert compiled == resolved
        page = json.loads(compiled)["data"]["customers"]
        assert page["totalCount"] == 3
        seen += [edge["node"]["id"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == ["c1", "c3", "c2"]
    narrowed = {"where": {"name": {"in": ["Beta", "Gamma"]}, "NOT": {"name": {"eq": "Gamma"}}}}
    compiled, resolved, sent = await both(graph, query, narrowed)
    assert (sent, compiled) == (1, resolved)
    page = json.loads(compiled)["data"]["customers"]
    assert (page["totalCount"], [e["node"]["id"] for e in page["edges"]]) == (1, ["c2"])


async def test_a_total_of_nothing_and_an_empty_page_as_the_resolvers(graph: Graph) -> None:
    await seed(graph)
    query = """
    { none: touchpoints(where: {type: {eq: CALL}, at: {lt: "2024-01-01T00:00:00Z"}})
        { totalCount nodes { id } pageInfo { hasNextPage endCursor } }
      zero: touchpoints(first: 0, sort: [{at: DESC}]) { totalCount edges { cursor } } }
    """
    compiled, resolved, sent = await both(graph, query)
    assert (sent, compiled) == (2, resolved)
    data = json.loads(compiled)["data"]
    assert data["none"] == {
        "totalCount": 0,
        "nodes": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
    assert data["zero"] == {"totalCount": 4, "edges": []}


async def test_where_and_sort_of_relationship_fields_in_one_query(graph: Graph) -> None:
    await seed(graph)
    query = """
    query($types: [TouchpointType!], $sort: [PersonSort!]) {
      customer(id: "c1") {
        touchpoints(where: {type: {in: $types}}, sort: [{at: DESC}]) { id
          concerns(where: {name: {startsWith: "Order"}}) { qualifier object { id } } }
        objects(where: {NOT: {type: {eq: "item"}}}) { id }
      }
      team(id: "t1") { members(first: 1, sort: $sort) { person { name } }
        children(where: {name: {contains: "nothing"}}) { id } }
    }
    """
    variables = {"types": ["PAGE_VIEW", "PURCHASE"], "sort": [{"name": "DESC"}]}
    compiled, resolved, sent = await both(graph, query, variables)
    assert (sent, compiled) == (2, resolved)
    data = json.loads(compiled)["data"]
    # by hand: c1's page view (tp1) and purchase (tp3), newest first; tp3 concerns o1
    assert data["customer"] == {
        "touchpoints": [
            {"id": "tp3", "concerns": [{"qualifier": "bought", "object": {"id": "o1"}}]},
            {"id": "tp1", "concerns": []},
        ],
        "objects": [{"id": "o1"}],
    }
    assert data["team"] == {"members": [{"person": {"name": "Bob"}}], "children": []}


async def test_a_relationship_connection_pages_in_one_query(graph: Graph) -> None:
    await seed(graph)
    query = """
    query($after: String) { customer(id: "c1") {
      touchpointsConnection(first: 2, after: $after, sort: [{at: DESC}]) {
        totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage } }
      objectsConnection(where: {type: {eq: "nothing"}}) { totalCount nodes { id } } } }
    """
    compiled, resolved, sent = await both(graph, query)
    assert (sent, compiled) == (1, resolved)
    customer = json.loads(compiled)["data"]["customer"]
    first = customer["touchpointsConnection"]
    # by hand: c1's three touchpoints, newest first: tp3, tp2, then tp1
    assert [e["node"]["id"] for e in first["edges"]] == ["tp3", "tp2"]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"]) == (3, True)
    assert customer["objectsConnection"] == {"totalCount": 0, "nodes": []}
    after = {"after": first["edges"][-1]["cursor"]}
    compiled, resolved, sent = await both(graph, query, after)
    assert (sent, compiled) == (1, resolved)
    rest = json.loads(compiled)["data"]["customer"]["touchpointsConnection"]
    assert [e["node"]["id"] for e in rest["edges"]] == ["tp1"]
    assert rest["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


async def test_a_count_only_connection_and_a_page_without_filter_send_no_unused_cypher(
    graph: Graph,
) -> None:
    await seed(graph)
    query = """
    query($since: DateTime) { customers(first: 2, sort: [{name: ASC}]) { edges { node { id
        touchpointsConnection(where: {at: {gt: $since}}) { totalCount }
        objectsConnection { aggregate { count } } } } } }
    """
    variables = {"since": "2024-03-01T12:00:00Z"}
    with recording() as sent:
        compiled = as_json(await run(graph, COMPILED, query, variables, ADMIN))
    assert compiled == as_json(await run(graph, RESOLVED, query, variables, ADMIN))
    # no touchpoints or objects read for a page nobody asked for, no deprecated filter
    assert sent.count == 1
    assert "COLLECT" not in sent.queries[0]
    assert "$equals" not in sent.queries[0]
    # by hand: ACME (c1: tp2, tp3 after noon on 1 March; object o1), Beta (c2: tp4)
    edges = json.loads(compiled)["data"]["customers"]["edges"]
    assert [e["node"]["id"] for e in edges] == ["c1", "c2"]
    assert [e["node"]["touchpointsConnection"]["totalCount"] for e in edges] == [2, 1]
    assert [e["node"]["objectsConnection"]["aggregate"]["count"] for e in edges] == [1, 0]
    # the page comes back as one record, not one per customer
    assert sent.queries[0].endswith(" AS page")
    # the deprecated filter, when given, still narrows the compiled page
    filtered = '{ customers(filter: {nameContains: "bet"}) { edges { node { id } } } }'
    with recording() as sent:
        compiled = as_json(await run(graph, COMPILED, filtered, None, ADMIN))
    assert compiled == as_json(await run(graph, RESOLVED, filtered, None, ADMIN))
    assert "$equals" in sent.queries[0]
    assert [e["node"]["id"] for e in json.loads(compiled)["data"]["customers"]["edges"]] == ["c2"]


async def test_the_relationship_properties_of_connection_edges_in_one_query(
    graph: Graph,
) -> None:
    await seed(graph)
    query = """
    { team(id: "t1") { membersConnection(sort: [{name: DESC}]) { edges {
        properties { role from to __typename } node { id } } }
      ownedStepsConnection { edges { p: properties { validFrom: from to } } } }
      process(id: "pr1") { stepsConnection(first: 1) { edges { properties { order } } } } }
    """
    compiled, resolved, sent = await both(graph, query)
    assert (sent, compiled) == (2, resolved)
    data = json.loads(compiled)["data"]
    # by hand: t1's current members, Bob (no role) then Ada (lead), valid since the
    # write layer's default start; t1 owns st1
    since = "1970-01-01T00:00:00+00:00"
    member = {"from": since, "to": None, "__typename": "MemberOfProperties"}
    assert data["team"]["membersConnection"]["edges"] == [
        {"properties": {"role": None, **member}, "node": {"id": "p2"}},
        {"properties": {"role": "lead", **member}, "node": {"id": "p1"}},
    ]
    assert data["team"]["ownedStepsConnection"]["edges"] == [
        {"p": {"validFrom": "2024-01-01T00:00:00+00:00", "to": "2024-06-01T12:00:00.500000+00:00"}}
    ]
    assert data["process"]["stepsConnection"]["edges"] == [{"properties": {"order": 1}}]


async def test_aggregates_of_root_and_relationship_connections_in_one_query(
    graph: Graph,
) -> None:
    await seed(graph)
    query = """
    { customer(id: "c1") {
        touchpointsConnection(first: 1, where: {type: {in: [PAGE_VIEW, PURCHASE]}}) {
          totalCount aggregate { count at { min max __typename } value { sum average } }
          nodes { id } } }
      kpi(id: "k1") { measurementsConnection(first: 0) {
        aggregate { count value { min max average sum } sampleSize { min sum average } } } }
      deals(where: {won: {eq: true}}) {
        aggregate { __typename count amount { min max sum } closedAt { max } } }
      none: touchpoints(where: {at: {lt: "2000-01-01T00:00:00Z"}}) {
        totalCount aggregate { count at { min } value { sum } } }
      customers(first: 1) { totalCount nodes { id dealsConnection { aggregate { count } }
        touchpoints(first: 1) { c: concernsConnection { aggregate { count } } } } } }
    """
    compiled, resolved, sent = await both(graph, query)
    assert (sent, compiled) == (5, resolved)
    data = json.loads(compiled)["data"]
    # by hand: c1's page view tp1 (no value) and purchase tp3 (19.99); the first by time
    assert data["customer"]["touchpointsConnection"] == {
        "totalCount": 2,
        "aggregate": {
            "count": 2,
            "at": {
                "min": "2024-03-01T09:00:00.123000+00:00",
                "max": "2024-03-03T09:00:00+00:00",
                "__typename": "DateTimeAggregateSelection",
            },
            "value": {"sum": 19.99, "average": 19.99},
        },
        "nodes": [{"id": "tp1"}],
    }
    # k1's measurements: values 7.5 and 12, one sample size (3)
    assert data["kpi"]["measurementsConnection"]["aggregate"] == {
        "count": 2,
        "value": {"min": 7.5, "max": 12.0, "average": 9.75, "sum": 19.5},
        "sampleSize": {"min": 3, "sum": 3, "average": 3.0},
    }
    assert data["deals"]["aggregate"] == {
        "__typename": "DealAggregate",
        "count": 1,
        "amount": {"min": 120.5, "max": 120.5, "sum": 120.5},
        "closedAt": {"max": "2024-04-01T10:30:00.250000+00:00"},
    }
    assert data["customers"] == {
        "totalCount": 3,
        "nodes": [
            {
                "id": "c1",
                "dealsConnection": {"aggregate": {"count": 1}},
                "touchpoints": [{"c": {"aggregate": {"count": 0}}}],
            }
        ],
    }
    # nothing matches: no extremes, and Cypher's sum of nothing is 0
    assert data["none"] == {
        "totalCount": 0,
        "aggregate": {"count": 0, "at": {"min": None}, "value": {"sum": 0.0}},
    }


async def test_a_nested_where_through_current_memberships_reads_them_at_now(
    graph: Graph,
) -> None:
    await seed(graph)
    # both sides hold `now`: the memberships' validity and the where's (a regression)
    query = """
    { person(id: "p2") { teams(where: {children: {some: {}}}) { team { id } }
      teamsConnection(where: {children: {some: {}}}) { totalCount } } }
    """
    compiled, resolved, sent = await both(graph, query)
    assert (sent, compiled) == (1, resolved)
    # by hand: p2 is a member of t1 (now) and was of t2; t1 has a child, t3
    assert json.loads(compiled)["data"]["person"] == {
        "teams": [{"team": {"id": "t1"}}],
        "teamsConnection": {"totalCount": 1},
    }


async def test_a_refused_nested_where_fails_as_on_the_resolvers(graph: Graph) -> None:
    await seed(graph)
    deep: dict[str, Any] = {"id": {"eq": "tp1"}}
    for _ in range(12):
        deep = {"NOT": deep}
    query = 'query($w: TouchpointWhere) { customer(id: "c1") { id touchpoints(where: $w) { id } } }'
    compiled, resolved, _ = await both(graph, query, {"w": deep})
    assert compiled == resolved
    assert error_codes(await run(graph, COMPILED, query, {"w": deep})) == ["QUERY_TOO_COMPLEX"]


async def test_bad_arguments_fail_as_they_do_on_the_resolvers(graph: Graph) -> None:
    await seed(graph)
    for query in (
        '{ customer(id: "") { id } }',
        '{ customers(after: "nope") { nodes { id } } }',
        "{ customers(first: 100000) { nodes { id } } }",
        '{ customer(id: "c1") { touchpoints(first: -1) { id } } }',
    ):
        compiled, resolved, _ = await both(graph, query)
        assert compiled == resolved, query
    result = await run(graph, COMPILED, '{ customer(id: "") { id } }')
    assert error_codes(result) == ["BAD_USER_INPUT"]


async def test_personal_data_and_authorization_as_on_the_resolvers(graph: Graph) -> None:
    await seed(graph)
    query = '{ customer(id: "c1") { name email objects(first: 5) { customer { email } } } }'
    for principal in (ADMIN, ANALYST):
        compiled, resolved, sent = await both(graph, query, principal=principal)
        assert sent == 1
        assert compiled == resolved
    masked = json.loads((await both(graph, query, principal=ANALYST))[0])["data"]["customer"]
    assert masked == {"name": "ACME", "email": None, "objects": [{"customer": {"email": None}}]}
    # a team member: `customers` refused at the root, as on the resolvers
    kpis = '{ step(id: "st1") { kpis { id } slas { id } } customers { nodes { id } } }'
    compiled, resolved, _ = await both(graph, kpis, principal=FUNCTION_T1)
    assert compiled == resolved
    assert error_codes(await run(graph, COMPILED, kpis, principal=FUNCTION_T1)) == ["FORBIDDEN"]


async def test_a_team_member_sees_its_teams_kpis_slas_and_measurements_in_one_query(
    graph: Graph,
) -> None:
    await seed(graph)
    query = """
    { step(id: "st1") { kpis { id measurements { id kpi { id } } } slas { id kpi { id } } }
      teams { nodes { id accountableFor { id } sharedKpis { id }
        kpisConnection: accountableForConnection {
          edges { node { id } } pageInfo { endCursor } } } }
      kpis(first: 5) { edges { cursor node { id } } nodes { id }
        pageInfo { hasNextPage endCursor } }
      customer(id: "c1") { name email }
      kpi(id: "k1") { name measurements(first: 1) { id } } }
    """
    compiled, resolved, sent = await both(graph, query, principal=FUNCTION_T1)
    assert (sent, compiled) == (6, resolved)  # what it sees (once), then each root field
    data = json.loads(compiled)["data"]
    # by hand: t1 is accountable for k1 (measured by m1, m2) and provides sla1; k2 is t2's
    assert data["step"] == {
        "kpis": [
            {
                "id": "k1",
                "measurements": [
                    {"id": "m2", "kpi": {"id": "k1"}},
                    {"id": "m1", "kpi": {"id": "k1"}},
                ],
            }
        ],
        "slas": [{"id": "sla1", "kpi": {"id": "k1"}}],
    }
    teams = {team["id"]: team for team in data["teams"]["nodes"]}
    assert (teams["t1"]["accountableFor"], teams["t1"]["sharedKpis"]) == ([{"id": "k1"}], [])
    assert (teams["t2"]["accountableFor"], teams["t2"]["sharedKpis"]) == ([], [{"id": "k1"}])
    # k2 is left out of the edges; the page still ends at it, as on the resolvers
    hidden = teams["t2"]["kpisConnection"]
    assert hidden["edges"] == [] and hidden["pageInfo"]["endCursor"] is not None
    assert [e["node"]["id"] for e in data["kpis"]["edges"]] == ["k1"]
    assert data["kpis"]["nodes"] == [{"id": "k1"}]
    assert data["kpis"]["pageInfo"]["endCursor"] == encode_cursor("k2")
    assert data["customer"] == {"name": "ACME", "email": None}
    assert data["kpi"] == {"name": "Leads", "measurements": [{"id": "m2"}]}


async def test_what_a_team_member_may_not_count_or_reach_fails_as_on_the_resolvers(
    graph: Graph,
) -> None:
    await seed(graph)
    # sla2: t1 provides it, but its KPI is t2's k2, which m3 measures
    sla2 = {"id": "sla2", "name": "Orders", "threshold": 2, "providerTeamId": "t1", "kpiId": "k2"}
    m3 = {"id": "m3", "at": "2024-02-01T00:00:00Z", "periodStart": "2024-01-01T00:00:00Z"}
    extra = {"slas": [sla2], "measurements": [m3 | {"value": 1, "kpiId": "k2"}]}
    ok(await run(graph, RESOLVED, SEED, {"input": extra}))
    for query in (
        "{ kpis { totalCount } }",
        '{ step(id: "st1") { kpisConnection { aggregate { count } } } }',
        "{ teams { nodes { id children(where: {accountableFor: {some: {}}}) { id } } } }",
        "{ slas { nodes { id kpi { id } } } }",
        '{ kpi(id: "k2") { id } }',
        '{ measurement(id: "m3") { id } }',
    ):
        compiled, resolved, _ = await both(graph, query, principal=FUNCTION_T1)
        assert compiled == resolved, query
        assert error_codes(await run(graph, COMPILED, query, principal=FUNCTION_T1)) == [
            "FORBIDDEN"
        ], query


async def test_a_field_with_its_own_resolver_sends_its_root_field_to_the_resolvers(
    graph: Graph,
) -> None:
    await seed(graph)
    query = '{ process(id: "pr1") { name lifecycleHistory { after } steps { order } } }'
    compiled, resolved, sent = await both(graph, query)
    assert compiled == resolved
    assert sent > 1  # root, then the loaders
    assert json.loads(compiled)["data"]["process"]["steps"] == [{"order": 1}, {"order": 2}]


# --- random selections (property-based) ---------------------------------------------------


# Variables a random selection declares: (name, GraphQL type, value).
Declared = list[tuple[str, str, Any]]


def random_selection(
    draw: Callable[[Any], Any], owner: GraphQLObjectType, depth: int, declared: Declared
) -> str:
    """Random fields of ``owner``; relationship fields with random ``first``, ``where``
    and ``sort`` (as variables, added to ``declared``)."""
    names = sorted(owner.fields)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=5, unique=True))
    parts: list[str] = []
    for index, name in enumerate(chosen):
        field = owner.fields[name]
        inner = object_of(field.type)
        if inner is not None and depth <= 0:
            continue
        text = name
        if draw(st.booleans()):
            text = f"a{index}: {text}"
        arguments = []
        if "first" in field.args and draw(st.booleans()):
            arguments.append(f"first: {draw(st.integers(0, 3))}")
        for argument, make in (("where", random_where), ("sort", random_sort)):
            if argument in field.args and draw(st.integers(0, 2)) == 0:
                given = field.args[argument].type
                variable = f"v{len(declared)}"
                declared.append((variable, str(given), make(draw, named_input(given), 1)))
                arguments.append(f"{argument}: ${variable}")
        if arguments:
            text += "(" + ", ".join(arguments) + ")"
        if draw(st.integers(0, 5)) == 0:
            text += draw(st.sampled_from([" @skip(if: $yes)", " @include(if: $yes)"]))
        if inner is not None:
            text += " { " + random_selection(draw, inner, depth - 1, declared) + " }"
        if draw(st.integers(0, 4)) == 0:
            text = f"... on {owner.name} {{ {text} }}"
        parts.append(text)
    if draw(st.integers(0, 4)) == 0:
        parts.append("__typename")
    return " ".join(parts) or "__typename"


def random_operation(draw: Callable[[Any], Any]) -> tuple[str, dict[str, Any]]:
    declared: Declared = [("yes", "Boolean!", draw(st.booleans()))]
    if draw(st.booleans()):
        root, type_name = draw(st.sampled_from(ONE_ROOTS))
        owner = GRAPHQL.get_type(type_name)
        assert isinstance(owner, GraphQLObjectType)
        declared.append(("id", "ID!", draw(st.sampled_from(IDS[type_name]))))
        body = f"{root}(id: $id) {{ {random_selection(draw, owner, 3, declared)} }}"
        return operation(body, declared)
    root, type_name = draw(st.sampled_from(MANY_ROOTS))
    owner = GRAPHQL.get_type(type_name)
    assert isinstance(owner, GraphQLObjectType)
    field = GRAPHQL.query_type.fields[root]  # type: ignore[union-attr]
    arguments = f"first: {draw(st.integers(0, 3))}"
    for argument, make in (("where", random_where), ("sort", random_sort)):
        if draw(st.booleans()):
            given = field.args[argument].type
            declared.append((argument, str(given), make(draw, named_input(given), 2)))
            arguments += f", {argument}: ${argument}"
    node = random_selection(draw, owner, 2, declared)
    body = f"{root}({arguments}) {{ edges {{ cursor node {{ {node} }} }} "
    body += "pageInfo { hasNextPage endCursor }"
    if draw(st.booleans()):
        body += " totalCount"
    if draw(st.booleans()):
        aggregate = object_of(object_of(field.type).fields["aggregate"].type)  # type: ignore[union-attr]
        assert aggregate is not None
        body += f" aggregate {{ {random_selection(draw, aggregate, 1, declared)} }}"
    return operation(body + " }", declared)


def operation(body: str, declared: Declared) -> tuple[str, dict[str, Any]]:
    header = ", ".join(f"${name}: {given}" for name, given, _ in declared)
    return f"query({header}) {{ {body} }}", {name: value for name, _, value in declared}


def named_input(field_type: Any) -> GraphQLInputObjectType:
    while isinstance(field_type, GraphQLNonNull | GraphQLList):
        field_type = field_type.of_type
    assert isinstance(field_type, GraphQLInputObjectType)
    return field_type


# Values a random comparison draws from, per operand type (the hand-built graph's own).
OPERANDS: dict[str, list[Any]] = {
    "ID": [i for ids in IDS.values() for i in ids],
    "String": ["", "A", "Le", "S", "Web", "smb", "order"],
    "Int": [0, 1, 2, 3, 10],
    "Float": [0, 7.5, 10, 12, 19.99, 24],
    "DateTime": ["2024-01-01T00:00:00Z", "2024-03-02T07:00:00Z", "2024-03-03T12:00:00Z"],
    "Boolean": [True, False],
}


def random_where(draw: Callable[[Any], Any], where: GraphQLInputObjectType, depth: int) -> Any:
    """A random ``<Type>Where``: comparisons of its fields, AND/OR/NOT and relationship
    quantifiers, ``depth`` levels deep at most."""
    names = [n for n in where.fields if depth > 0 or n not in ("AND", "OR", "NOT")]
    chosen = draw(st.lists(st.sampled_from(sorted(names)), min_size=0, max_size=2, unique=True))
    value: dict[str, Any] = {}
    for name in chosen:
        inner = named_input(where.fields[name].type)
        if name in ("AND", "OR"):
            value[name] = [
                random_where(draw, where, depth - 1) for _ in range(draw(st.integers(0, 2)))
            ]
        elif name == "NOT":
            value[name] = random_where(draw, where, depth - 1)
        elif set(inner.fields) == {"some", "none", "all"}:
            if depth > 0:
                quantifier = draw(st.sampled_from(["some", "none", "all"]))
                target = named_input(inner.fields[quantifier].type)
                value[name] = {quantifier: random_where(draw, target, depth - 1)}
        else:
            value[name] = random_comparison(draw, inner)
    return value


def random_comparison(draw: Callable[[Any], Any], scalar: GraphQLInputObjectType) -> Any:
    operator = draw(st.sampled_from(sorted(scalar.fields)))
    operand = scalar.fields[operator].type
    while isinstance(operand, GraphQLNonNull | GraphQLList):
        operand = operand.of_type
    if isinstance(operand, GraphQLEnumType):
        values = sorted(operand.values)
    else:
        values = OPERANDS[operand.name]
    if operator == "in":
        return {operator: draw(st.lists(st.sampled_from(values), max_size=3))}
    if operator == "eq" and draw(st.integers(0, 5)) == 0:
        return {operator: None}
    return {operator: draw(st.sampled_from(values))}


def random_sort(draw: Callable[[Any], Any], sort: GraphQLInputObjectType, _: int = 0) -> Any:
    fields = draw(st.lists(st.sampled_from(sorted(sort.fields)), max_size=2, unique=True))
    return [{name: draw(st.sampled_from(["ASC", "DESC"]))} for name in fields]


def drawn_operations(count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` random operations, the same on every run (derandomized)."""
    drawn: list[tuple[str, dict[str, Any]]] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None)
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        drawn.append(random_operation(data.draw))

    collect()
    return drawn


async def test_random_selections_answer_as_the_resolvers(graph: Graph) -> None:
    await seed(graph)
    for query, variables in drawn_operations(150):
        compiled, resolved, _ = await both(graph, query, variables)
        assert compiled == resolved, (query, variables)


async def test_random_selections_of_a_team_member_answer_as_the_resolvers(graph: Graph) -> None:
    await seed(graph)
    for query, variables in drawn_operations(80):
        compiled, resolved, _ = await both(graph, query, variables, FUNCTION_T1)
        assert compiled == resolved, (query, variables)
