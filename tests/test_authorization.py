"""Authorization by role, enforced once in the schema layer; personal fields masked.

The organisation: teams t1 and t2; KPI k1 (t1 accountable), k2 (t2 accountable,
shared with t1), k3 (t2 only); SLA s1 (t1 provides to t2), s2 (t2 to itself).
A FUNCTION member of t1 therefore sees k1, k2 and s1, and nothing else of that kind.
"""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.types import ExecutionResult

from orggraph.api import build_schema
from orggraph.auth import LOCAL_ADMIN, Principal, Role
from orggraph.context import Context
from orggraph.graph.driver import Graph
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from orggraph.schema.authorization import FUNCTION_ROOT_FIELDS, Scope, root_rule
from orggraph.settings import Settings
from tests.helpers import error_codes, ok

SCHEMA = build_schema(Settings())


def member(*roles: Role, teams: tuple[str, ...] = (), pii: bool = False) -> Principal:
    return Principal("someone", frozenset(roles), frozenset(teams), pii)


FUNCTION_T1 = member(Role.FUNCTION, teams=("t1",))
ANALYST = member(Role.ANALYST)
WRITER = member(Role.WRITER)


async def run(
    graph: Graph,
    principal: Principal,
    query: str,
    variables: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> ExecutionResult:
    context = Context.for_request(graph, settings or Settings())
    context.principal = principal
    return await SCHEMA.execute(query, variable_values=variables, context_value=context)


async def seed(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": t, "name": t} for t in ("t1", "t2")])
    await upsert_nodes(graph, "KPI", [{"id": k, "name": k} for k in ("k1", "k2", "k3")])
    await upsert_relationships(
        graph,
        K.TEAM_ACCOUNTABLE_FOR_KPI,
        [{"from": "t1", "to": "k1"}, {"from": "t2", "to": "k2"}, {"from": "t2", "to": "k3"}],
    )
    await upsert_relationships(graph, K.KPI_SHARED_WITH_TEAM, [{"from": "k2", "to": "t1"}])
    await upsert_nodes(
        graph,
        "SLA",
        [{"id": "s1", "name": "s1", "threshold": 24}, {"id": "s2", "name": "s2", "threshold": 24}],
    )
    await upsert_relationships(
        graph, K.SLA_PROVIDER_TEAM, [{"from": "s1", "to": "t1"}, {"from": "s2", "to": "t2"}]
    )
    await upsert_relationships(
        graph, K.SLA_CONSUMER_TEAM, [{"from": "s1", "to": "t2"}, {"from": "s2", "to": "t2"}]
    )
    await upsert_nodes(graph, "Customer", [
        {"id": "c1", "name": "Ada", "email": "ada@example.com"}])  # fmt: skip


def test_every_root_field_has_a_rule_for_team_members() -> None:
    schema = SCHEMA._schema
    assert schema.query_type is not None and schema.subscription_type is not None
    reads = set(schema.query_type.fields) | set(schema.subscription_type.fields)
    # A new query or subscription without a rule for FUNCTION fails here.
    assert reads == set(FUNCTION_ROOT_FIELDS)


def test_mutations_are_for_writers_and_admins_only() -> None:
    assert SCHEMA._schema.mutation_type is not None
    for name in SCHEMA._schema.mutation_type.fields:
        assert root_rule(LOCAL_ADMIN, "Mutation", name) is Scope.ANY
        assert root_rule(WRITER, "Mutation", name) is Scope.ANY
        for principal in (ANALYST, FUNCTION_T1, member()):
            assert root_rule(principal, "Mutation", name) is Scope.DENIED, (name, principal)


def test_reads_by_role() -> None:
    assert SCHEMA._schema.query_type is not None
    for name in SCHEMA._schema.query_type.fields:
        assert root_rule(ANALYST, "Query", name) is Scope.ANY
        expected = Scope.DENIED if name == "cypher" else Scope.ANY
        assert root_rule(WRITER, "Query", name) is expected
        assert root_rule(member(), "Query", name) is Scope.DENIED
        assert root_rule(FUNCTION_T1, "Query", name) is FUNCTION_ROOT_FIELDS[name][0]


async def test_a_mutation_by_an_analyst_is_forbidden_and_writes_nothing(graph: Graph) -> None:
    mutation = 'mutation { upsertTeam(input: {id: "t9", name: "Nine"}) { id } }'
    for principal in (ANALYST, FUNCTION_T1):
        assert error_codes(await run(graph, principal, mutation)) == ["FORBIDDEN"]
    assert await graph.query("MATCH (t:Team {id: 't9'}) RETURN t") == []
    ok(await run(graph, WRITER, mutation))
    assert len(await graph.query("MATCH (t:Team {id: 't9'}) RETURN t")) == 1


async def test_a_team_member_reads_its_own_team_and_the_kpis_it_is_given(graph: Graph) -> None:
    await seed(graph)
    own = ok(
        await run(
            graph, FUNCTION_T1, '{ team(id: "t1") { id accountableFor { id } sharedKpis { id } } }'
        )
    )
    assert own["team"] == {
        "id": "t1",
        "accountableFor": [{"id": "k1"}],
        "sharedKpis": [{"id": "k2"}],
    }
    assert error_codes(await run(graph, FUNCTION_T1, '{ team(id: "t2") { id } }')) == ["FORBIDDEN"]
    assert error_codes(await run(graph, FUNCTION_T1, '{ kpi(id: "k3") { id } }')) == ["FORBIDDEN"]
    assert ok(await run(graph, FUNCTION_T1, '{ kpi(id: "k2") { id } }'))["kpi"] == {"id": "k2"}
    assert error_codes(await run(graph, FUNCTION_T1, '{ sla(id: "s2") { id } }')) == ["FORBIDDEN"]
    assert ok(await run(graph, FUNCTION_T1, '{ sla(id: "s1") { id } }'))["sla"] == {"id": "s1"}


async def test_no_kpi_leaks_through_a_nested_field_or_a_list(graph: Graph) -> None:
    await seed(graph)
    # t2 is accountable for k2 (shared with t1) and k3 (not): only k2 shows, at any depth.
    teams = ok(
        await run(graph, FUNCTION_T1, "{ teams { edges { node { id accountableFor { id } } } } }")
    )
    by_team = {e["node"]["id"]: e["node"]["accountableFor"] for e in teams["teams"]["edges"]}
    assert by_team == {"t1": [{"id": "k1"}], "t2": [{"id": "k2"}]}
    kpis = ok(await run(graph, FUNCTION_T1, "{ kpis { edges { node { id } } } }"))
    assert [e["node"]["id"] for e in kpis["kpis"]["edges"]] == ["k1", "k2"]
    slas = ok(await run(graph, FUNCTION_T1, "{ slas { edges { node { id } } } }"))
    assert [e["node"]["id"] for e in slas["slas"]["edges"]] == ["s1"]
    # the same lists, unfiltered, for an analyst
    everything = ok(await run(graph, ANALYST, "{ kpis { edges { node { id } } } }"))
    assert [e["node"]["id"] for e in everything["kpis"]["edges"]] == ["k1", "k2", "k3"]


async def test_organisation_wide_reads_are_refused_to_team_members(graph: Graph) -> None:
    await seed(graph)
    for query in (
        "{ customers { edges { node { id } } } }",
        '{ cypher(query: "RETURN 1") { columns } }',
        '{ reorgImpact(teamId: "t1") { team { id } } }',
    ):
        assert error_codes(await run(graph, FUNCTION_T1, query)) == ["FORBIDDEN"], query
    assert error_codes(await run(graph, WRITER, '{ cypher(query: "RETURN 1") { columns } }')) == [
        "FORBIDDEN"
    ]
    assert error_codes(await run(graph, member(), "{ teams { edges { node { id } } } }")) == [
        "FORBIDDEN"
    ]


async def test_visibility_costs_one_query_per_request(graph: Graph) -> None:
    from orggraph.graph.driver import recording

    await seed(graph)
    query = "{ teams { edges { node { id accountableFor { id } sharedKpis { id } } } } }"
    resolvers = Settings(compiled_reads=False)
    with recording() as as_admin:
        ok(await run(graph, LOCAL_ADMIN, query, settings=resolvers))
    with recording() as as_member:
        ok(await run(graph, FUNCTION_T1, query, settings=resolvers))
    assert as_member.count == as_admin.count + 1
    with recording() as compiled:  # what it sees, then the root field's one query
        ok(await run(graph, FUNCTION_T1, query))
    assert compiled.count == 2


@pytest.mark.parametrize(
    ("principal", "email"),
    [
        (LOCAL_ADMIN, "ada@example.com"),
        (member(Role.ANALYST, pii=True), "ada@example.com"),
        (ANALYST, None),
        (WRITER, None),
        (FUNCTION_T1, None),
    ],
)
async def test_personal_fields_are_masked_without_the_pii_permission(
    graph: Graph, principal: Principal, email: str | None
) -> None:
    await seed(graph)
    data = ok(await run(graph, principal, '{ customer(id: "c1") { name email } }'))
    assert data["customer"] == {"name": "Ada", "email": email}


async def test_a_measurement_is_seen_by_its_kpi_not_by_its_id(graph: Graph) -> None:
    """An id is the writer's choice: "k1:..." on k3 stays hidden, "zzz" on k1 shows."""
    await seed(graph)
    await upsert_nodes(
        graph,
        "Measurement",
        [
            {"id": "k1:2024-01-01", "kpiId": "k3", "at": "2024-01-02T00:00:00Z",
             "periodStart": "2024-01-01T00:00:00Z", "value": 1.0},
            {"id": "zzz", "kpiId": "k1", "at": "2024-01-02T00:00:00Z",
             "periodStart": "2024-01-01T00:00:00Z", "value": 2.0},
        ],
    )  # fmt: skip
    hidden = await run(graph, FUNCTION_T1, '{ measurement(id: "k1:2024-01-01") { id } }')
    assert error_codes(hidden) == ["FORBIDDEN"]
    shown = ok(await run(graph, FUNCTION_T1, '{ measurement(id: "zzz") { id value } }'))
    assert shown["measurement"] == {"id": "zzz", "value": 2.0}
    listed = ok(await run(graph, FUNCTION_T1, '{ kpi(id: "k1") { measurements { id } } }'))
    assert listed["kpi"]["measurements"] == [{"id": "zzz"}]
    as_analyst = ok(await run(graph, ANALYST, '{ measurement(id: "k1:2024-01-01") { id } }'))
    assert as_analyst["measurement"] == {"id": "k1:2024-01-01"}
