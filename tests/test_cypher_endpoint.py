"""Read-only Cypher for analysts: POST /cypher, the `cypher` field and `orggraph cypher`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from orggraph.api import build_schema
from orggraph.app import create_app
from orggraph.auth import Principal, Role
from orggraph.cli import main
from orggraph.context import Context
from orggraph.graph.cypher import CypherLimits, run_read_only
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes
from orggraph.settings import Settings
from tests.helpers import error_codes, ok

ANALYST = Principal(subject="ana", roles=frozenset({Role.ANALYST}))
ANALYST_PII = Principal(subject="pia", roles=frozenset({Role.ANALYST}), can_read_pii=True)
FUNCTION = Principal(subject="fun", roles=frozenset({Role.FUNCTION}), teams=frozenset({"mkt"}))
LIMITS = CypherLimits(timeout_s=10.0, max_rows=10_000, max_bytes=10_000_000)

# Every way to change the database an analyst might try; each must be refused.
WRITE_FORMS: list[str] = [
    "CREATE (n:Team {id: 'evil'}) RETURN n",
    "MERGE (n:Team {id: 'evil'})",
    "MATCH (n) DETACH DELETE n",
    "MATCH (n:Customer) DELETE n",
    "MATCH (n:Customer) SET n.name = 'x'",
    "MATCH (n:Customer) SET n:Evil",
    "MATCH (n:Customer) REMOVE n.name",
    "MATCH (n:Customer) REMOVE n:Customer",
    "FOREACH (i IN [1] | CREATE (:Team {id: 'evil'}))",
    "MATCH (n:Customer) CALL (n) { SET n.name = 'x' } RETURN n",
    "MATCH (n:Customer) CALL (n) { SET n.name = 'x' } IN TRANSACTIONS RETURN n",
    "CREATE INDEX evil FOR (n:Team) ON (n.name)",
    "DROP CONSTRAINT team_id IF EXISTS",
    "CREATE CONSTRAINT evil FOR (n:Evil) REQUIRE n.id IS UNIQUE",
    "CALL apoc.create.node(['Team'], {id: 'evil'}) YIELD node RETURN node",
    "CALL apoc.cypher.doIt('CREATE (:Team {id: \"evil\"})', {}) YIELD value RETURN value",
    "CALL apoc.cypher.run('MATCH (n) RETURN n', {}) YIELD value RETURN value",
    "RETURN apoc.cypher.runFirstColumnSingle('MATCH (n) RETURN count(n)', {}) AS x",
    "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'SET n.x = 1', {})",
    "LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line",
    "CALL apoc.load.json('file:///etc/passwd') YIELD value RETURN value",
    "CALL db.createLabel('Evil')",
    "CALL db.clearQueryCaches()",
    "CALL dbms.components()",
    "SHOW TRANSACTIONS",
    "SHOW USERS",
    "CREATE DATABASE evil",
    "CREATE USER evil SET PASSWORD 'secret-password'",
    "USE system SHOW DATABASES",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
]


def opened(graph: Graph, customer_id: str, stored: Any) -> str:
    """A customer's email as Cypher returns it (sealed: graph.personal), opened."""
    assert graph.personal is not None and str(stored).startswith("pii:v1:")
    return graph.personal.open("Customer", customer_id, "email", str(stored))


async def seed(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": "mkt", "name": "Marketing"}])
    await upsert_nodes(graph, "Channel", [{"id": "web", "name": "Web", "kind": "WEB"}])
    await upsert_nodes(
        graph,
        "Customer",
        [
            {"id": "c1", "name": "ACME", "email": "buyer@acme.example"},
            {"id": "c2", "name": "Beta", "email": "ops@beta.example"},
        ],
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {
                "id": "t1",
                "at": "2024-03-01T09:00:00Z",
                "type": "PAGE_VIEW",
                "customerId": "c1",
                "channelId": "web",
                "teamId": "mkt",
            },
            {"id": "t2", "at": "2024-03-02T09:00:00Z", "type": "CALL", "customerId": "c1"},
        ],
    )


async def counts(graph: Graph) -> tuple[int, int, int, int]:
    """Nodes, relationships, labels in use, and indexes+constraints."""
    async with graph.driver.session(database=graph.database) as session:
        nodes = await (await session.run("MATCH (n) RETURN count(n) AS c")).single()
        rels = await (await session.run("MATCH ()-[r]->() RETURN count(r) AS c")).single()
        labels = await (
            await session.run("CALL db.labels() YIELD label RETURN count(*) AS c")
        ).single()
        schema = await (await session.run("SHOW INDEXES YIELD name RETURN count(*) AS c")).single()
    assert nodes and rels and labels and schema
    return nodes["c"], rels["c"], labels["c"], schema["c"]


async def run(
    graph: Graph,
    query: str,
    params: dict[str, Any] | None = None,
    *,
    limits: CypherLimits = LIMITS,
    pii: bool = True,
) -> dict[str, Any]:
    return (await run_read_only(graph, query, params or {}, limits, can_read_pii=pii)).to_json()


# --- read-only --------------------------------------------------------------------


@pytest.mark.parametrize("query", WRITE_FORMS)
async def test_every_write_form_is_refused_and_the_graph_is_unchanged(
    graph: Graph, query: str
) -> None:
    from orggraph.errors import OrgGraphError

    await seed(graph)
    before = await counts(graph)
    with pytest.raises(OrgGraphError) as refused:
        await run(graph, query)
    assert refused.value.code in ("CYPHER_NOT_READ_ONLY", "CYPHER_SYNTAX_ERROR"), (
        refused.value.message
    )
    assert await counts(graph) == before
    names = await run(graph, "MATCH (c:Customer) RETURN c.name AS name ORDER BY name")
    assert names["rows"] == [["ACME"], ["Beta"]]


async def test_plain_writes_are_refused_by_the_plan_check_with_its_code(graph: Graph) -> None:
    from orggraph.errors import CypherNotReadOnlyError

    for query in (
        "CREATE (n:Team {id: 'evil'})",
        "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l",
        # A writing procedure the database has (APOC's are not even loaded by the embedded
        # database's allow-list: docs/database-hardening.md).
        "CALL db.createLabel('Evil')",
        "SHOW TRANSACTIONS",
    ):
        with pytest.raises(CypherNotReadOnlyError):
            await run(graph, query)


async def test_reads_allowed_procedures_and_parameters_work(graph: Graph) -> None:
    await seed(graph)
    labels = await run(graph, "CALL db.labels() YIELD label RETURN label ORDER BY label")
    assert ["Customer"] in labels["rows"] and ["Team"] in labels["rows"]
    found = await run(
        graph, "MATCH (c:Customer {id: $id})-[:HAD]->(t) RETURN count(t) AS n", {"id": "c1"}
    )
    assert found["columns"] == ["n"] and found["rows"] == [[2]] and found["truncated"] is False


async def test_a_syntax_error_says_where(graph: Graph) -> None:
    from orggraph.errors import CypherSyntaxError

    with pytest.raises(CypherSyntaxError) as error:
        await run(graph, "MATCH (n RETURN n")
    assert "line 1" in error.value.message


# --- limits -------------------------------------------------------------------------


async def test_a_query_past_the_timeout_is_stopped_with_cypher_timeout(graph: Graph) -> None:
    from orggraph.errors import CypherTimeoutError

    await upsert_nodes(graph, "Team", [{"id": f"t{i}", "name": f"T{i}"} for i in range(300)])
    cartesian = (
        "MATCH (a:Team), (b:Team), (c:Team), (d:Team) "
        "WHERE a.name < b.name + c.name + d.name RETURN count(*)"
    )
    with pytest.raises(CypherTimeoutError) as error:
        await run(graph, cartesian, limits=CypherLimits(timeout_s=1.0))
    assert error.value.extensions()["code"] == "CYPHER_TIMEOUT"


async def test_the_row_cap_truncates_and_says_so(graph: Graph) -> None:
    result = await run(graph, "UNWIND range(1, 100) AS i RETURN i", limits=CypherLimits(max_rows=7))
    assert result["rows"] == [[i] for i in range(1, 8)]
    assert result["truncated"] is True and result["truncatedBy"] == "ROWS"
    exact = await run(graph, "UNWIND range(1, 7) AS i RETURN i", limits=CypherLimits(max_rows=7))
    assert exact["rowCount"] == 7 and exact["truncated"] is False


async def test_the_size_cap_truncates_by_bytes(graph: Graph) -> None:
    # Each row is ["xxxx...x"] of 100 chars: 104 bytes of JSON plus a separator.
    query = "UNWIND range(1, 50) AS i RETURN reduce(s = '', k IN range(1, 100) | s + 'x') AS s"
    result = await run(graph, query, limits=CypherLimits(max_bytes=2 + 105 * 10))
    assert result["rowCount"] == 10 and result["truncatedBy"] == "BYTES"


# --- typed JSON and personal data -----------------------------------------------------


async def test_nodes_relationships_paths_and_values_are_typed(graph: Graph) -> None:
    await seed(graph)
    result = await run(
        graph,
        """
        MATCH p = (c:Customer {id: 'c1'})-[r:HAD]->(t:Touchpoint {id: 't1'})
        RETURN c, r, p, t.at AS at, date('2024-03-01') AS d, duration('P1DT2H') AS du,
               point({x: 1, y: 2}) AS pt, [1, 'a', null] AS list, {k: 1.5} AS map
    """,
    )
    c, r, p, at, d, du, pt, lst, mp = result["rows"][0]
    assert c["type"] == "node" and c["labels"] == ["Customer"]
    assert c["properties"]["id"] == "c1"
    assert opened(graph, "c1", c["properties"]["email"]) == "buyer@acme.example"
    assert r["type"] == "relationship" and r["relType"] == "HAD"
    assert r["start"] == c["elementId"] and r["end"] == p["nodes"][1]["elementId"]
    assert p["type"] == "path" and [n["properties"]["id"] for n in p["nodes"]] == ["c1", "t1"]
    assert [x["relType"] for x in p["relationships"]] == ["HAD"]
    assert at.startswith("2024-03-01T09:00:00") and d == "2024-03-01" and du == "P1DT2H"
    assert pt == {"type": "point", "srid": 7203, "x": 1.0, "y": 2.0}
    assert lst == [1, "a", None] and mp == {"k": 1.5}


async def test_personal_properties_are_masked_for_an_analyst_without_pii(graph: Graph) -> None:
    await seed(graph)
    result = await run(
        graph, "MATCH (c:Customer) RETURN c, properties(c) AS props ORDER BY c.id", pii=False
    )
    assert result["masked"] is True
    assert [row[0]["properties"]["email"] for row in result["rows"]] == [None, None]
    assert [row[1]["email"] for row in result["rows"]] == [None, None]
    assert result["rows"][0][0]["properties"]["name"] == "ACME"
    path = await run(graph, "MATCH p = (:Customer)-[:HAD]->() RETURN p LIMIT 1", pii=False)
    assert path["rows"][0][0]["nodes"][0]["properties"]["email"] is None
    unmasked = await run(graph, "MATCH (c:Customer {id: 'c1'}) RETURN c", pii=True)
    assert unmasked["masked"] is False
    assert opened(graph, "c1", unmasked["rows"][0][0]["properties"]["email"]) == (
        "buyer@acme.example"
    )


async def test_naming_a_personal_property_is_allowed_and_yields_no_plaintext(
    graph: Graph,
) -> None:
    """The data is sealed, so the name check (which refused "email" in a channel id and
    missed computed keys) is gone: any shape returns ciphertext, never the address."""
    await seed(graph)
    await upsert_nodes(graph, "Channel", [{"id": "ch-email", "name": "Email", "kind": "EMAIL"}])
    channel = await run(graph, "MATCH (ch:Channel {id: 'ch-email'}) RETURN ch.id", pii=False)
    assert channel["rows"] == [["ch-email"]]
    for query, params in [
        ("MATCH (c:Customer) RETURN c.email", {}),
        ("MATCH (c:Customer) WHERE c.EMAIL STARTS WITH 'b' RETURN c.id", {}),
        ("MATCH (c:Customer) RETURN c[$k]", {"k": "email"}),
        ("MATCH (c:Customer) RETURN c['em' + 'ail']", {}),
        ("MATCH (c:Customer) WHERE c['em' + 'ail'] STARTS WITH 'b' RETURN c.id", {}),
    ]:
        result = await run(graph, query, params, pii=False)
        assert "acme.example" not in repr(result) and "beta.example" not in repr(result), query
    allowed = await run(graph, "MATCH (c:Customer) RETURN c.id, c.email ORDER BY c.id", pii=True)
    assert [opened(graph, i, e) for i, e in allowed["rows"]] == [
        "buyer@acme.example",
        "ops@beta.example",
    ]


# --- GraphQL field ------------------------------------------------------------------------

CYPHER_FIELD = """
query Q($q: String!, $p: JSON) {
  cypher(query: $q, parameters: $p) { columns rows rowCount truncated truncatedBy masked }
}
"""


async def graphql(graph: Graph, principal: Principal, query: str, params: Any = None) -> Any:
    settings = Settings()
    context = Context.for_request(graph, settings)
    context.principal = principal
    return await build_schema(settings).execute(
        CYPHER_FIELD, variable_values={"q": query, "p": params}, context_value=context
    )


async def test_the_graphql_field_answers_an_analyst_and_masks(graph: Graph) -> None:
    await seed(graph)
    result = await graphql(graph, ANALYST, "MATCH (c:Customer {id: $id}) RETURN c", {"id": "c2"})
    data = ok(result)["cypher"]
    assert data["columns"] == ["c"] and data["rowCount"] == 1 and data["masked"] is True
    assert data["rows"][0][0]["properties"] == {
        "email": None,
        "emailHash": None,
        "id": "c2",
        "name": "Beta",
    }
    pii = ok(await graphql(graph, ANALYST_PII, "MATCH (c:Customer {id: 'c2'}) RETURN c"))["cypher"]
    assert opened(graph, "c2", pii["rows"][0][0]["properties"]["email"]) == "ops@beta.example"


async def test_the_graphql_field_is_forbidden_to_a_function_and_refuses_writes(
    graph: Graph,
) -> None:
    await seed(graph)
    assert error_codes(await graphql(graph, FUNCTION, "RETURN 1")) == ["FORBIDDEN"]
    before = await counts(graph)
    refused = await graphql(graph, ANALYST, "MATCH (n) DETACH DELETE n")
    assert error_codes(refused) == ["CYPHER_NOT_READ_ONLY"]
    assert await counts(graph) == before


# --- HTTP -------------------------------------------------------------------------------


def client_as(settings: Settings, principal: Principal | None) -> TestClient:
    app = create_app(settings)
    if principal is not None:

        async def inject(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            request.state.principal = principal
            return await call_next(request)

        app.add_middleware(BaseHTTPMiddleware, dispatch=inject)
    return TestClient(app)


@pytest.fixture
def analyst_client(test_settings: Settings, graph: Graph) -> Iterator[TestClient]:
    with client_as(test_settings, ANALYST) as client:
        yield client


def test_post_cypher_returns_rows_and_refuses_writes(analyst_client: TestClient) -> None:
    answer = analyst_client.post(
        "/cypher", json={"query": "UNWIND $xs AS x RETURN x * 2 AS y", "parameters": {"xs": [1, 2]}}
    )
    assert answer.status_code == 200
    assert answer.json()["data"]["rows"] == [[2], [4]]
    refused = analyst_client.post("/cypher", json={"query": "CREATE (n:Team {id: 'x'})"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "CYPHER_NOT_READ_ONLY"
    left = analyst_client.post("/cypher", json={"query": "MATCH (n:Team) RETURN count(n)"})
    assert left.json()["data"]["rows"] == [[0]]


def test_post_cypher_bad_bodies_have_codes(analyst_client: TestClient) -> None:
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 400, "BAD_USER_INPUT"),
        (b"[1, 2]", 400, "BAD_USER_INPUT"),
        (b'{"parameters": {}}', 400, "BAD_USER_INPUT"),
        (b'{"query": 5}', 400, "BAD_USER_INPUT"),
        (b'{"query": "RETURN 1", "parameters": [1]}', 400, "BAD_USER_INPUT"),
        (b'{"query": "RETURN $missing"}', 400, "CYPHER_SYNTAX_ERROR"),
    ]
    for body, status, code in cases:
        answer = analyst_client.post(
            "/cypher", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == status, body
        assert answer.json()["errors"][0]["extensions"]["code"] == code, body


def test_post_cypher_is_forbidden_to_a_function_principal(
    test_settings: Settings, graph: Graph
) -> None:
    with client_as(test_settings, FUNCTION) as client:
        answer = client.post("/cypher", json={"query": "RETURN 1"})
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_bodies_over_the_limit_get_413_on_cypher_and_graphql(
    test_settings: Settings, graph: Graph
) -> None:
    small = test_settings.model_copy(update={"max_body_bytes": 1_000})
    padding = "x" * 2_000
    with client_as(small, None) as client:
        cypher = client.post("/cypher", json={"query": "RETURN $p", "parameters": {"p": padding}})
        assert cypher.status_code == 413
        assert cypher.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        gql = client.post("/graphql", json={"query": "{ __typename }", "variables": {"p": padding}})
        assert gql.status_code == 413
        assert gql.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        fine = client.post("/graphql", json={"query": "{ __typename }"})
        assert fine.status_code == 200 and fine.json() == {"data": {"__typename": "Query"}}


# --- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli_database(test_settings: Settings, graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI pointed at the (emptied) test database."""
    monkeypatch.setenv("NEO4J_URI", test_settings.neo4j_uri or "")
    if test_settings.neo4j_password is not None:
        monkeypatch.setenv("NEO4J_PASSWORD", test_settings.neo4j_password.get_secret_value())


def test_the_cli_runs_a_read_and_refuses_a_write(
    cli_database: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cypher", "UNWIND range(1, $n) AS i RETURN i, i * i AS sq", "--param", "n=3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["i", "|", "sq"] and table[-1].split() == ["3", "|", "9"]
    assert main(["cypher", "RETURN $name AS s", "-p", "name=ACME", "--format", "json"]) == 0
    assert '"rows": [\n    [\n      "ACME"' in capsys.readouterr().out
    assert main(["cypher", "CREATE (n:Team {id: 'cli'})"]) == 1
    assert "not read-only" in capsys.readouterr().err


def test_the_cli_writes_csv_with_quoting_and_empty_nulls(
    cli_database: None, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "UNWIND [[1, 'a,b'], [2, null]] AS r RETURN r[0] AS n, r[1] AS s, [r[0]] AS l"
    assert main(["cypher", query, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["n,s,l", '1,"a,b",[1]', "2,,[2]"]
    assert captured.err.strip() == "2 row(s)"
