"""Read-only Cypher for analysts: POST /cypher, the `cypher` field and `orggraph cypher`.

The read-only check is the service's own wall (graph/cypher.py), an allow-list over the
whole plan; the database's wall (no file URLs, no network, allow-listed procedures,
memory limits) is tested on its own in tests/test_database_hardening.py. Last, client
strings never reach a query text: every root field of the schema is called with a
Cypher-injection string in every string position, every query text sent over Bolt is
recorded, and none may contain it; the calls must also reach the database (else the
test would prove nothing), and the graph keeps exactly the nodes the upserts were
meant to write.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import neo4j
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

import orggraph.graph
from orggraph.api import build_schema
from orggraph.app import create_app
from orggraph.auth import Principal, Role
from orggraph.cli import main
from orggraph.context import Context
from orggraph.errors import (
    CypherNotReadOnlyError,
    CypherQueryFailedError,
    CypherSyntaxError,
    OrgGraphError,
)
from orggraph.graph.cypher import READ_OPERATORS, CypherLimits, run_read_only
from orggraph.graph.driver import Graph, recording
from orggraph.graph.writes import upsert_nodes
from orggraph.settings import Settings
from tests.helpers import error_codes, ok
from tests.hostile import (
    SCHEMA,
    SyncGraph,
    mutation_fields,
    open_sync_graph,
    operation,
    query_fields,
    sentinel_arguments,
)

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
    assert c["type"] == "node" and c["labels"] == [
        "Customer",
        "Entity",
    ]  # Entity: ids unique across labels
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


# --- the read-only check: an allow-list over the whole plan ------------------------------


async def read_rows(
    graph: Graph, query: str, params: dict[str, Any] | None = None
) -> list[list[Any]]:
    """The rows of a read as the driver returns them, for a caller without the PII claim."""
    result = await run_read_only(graph, query, params or {}, LIMITS, can_read_pii=False)
    return result.rows


async def test_a_file_read_nested_in_a_case_expression_is_refused(graph: Graph) -> None:
    """The review's critical finding: the subquery is planned inside the expression."""
    query = (
        "RETURN CASE WHEN rand() < 2 THEN "
        "COLLECT { LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l[0] } END AS x"
    )
    with pytest.raises(CypherNotReadOnlyError) as refused:
        await read_rows(graph, query)
    assert "COLLECT { } subquery inside an expression uses" in refused.value.message
    assert "LOAD" in refused.value.message


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("CALL { LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l } RETURN l", "LoadCSV"),
        ("SHOW PROCEDURES", "ShowProcedures"),
        ("CALL db.info() YIELD name RETURN name", "db.info"),
        # loaded by the database, but not on the analysts' lists
        ("CALL apoc.create.vNode(['X'], {}) YIELD node RETURN node", "apoc.create.vNode"),
        ("RETURN apoc.diff.nodes(null, null) AS x", "apoc.diff.nodes"),
    ],
)
async def test_what_the_allow_lists_do_not_hold_is_refused_and_named(
    graph: Graph, query: str, named: str
) -> None:
    with pytest.raises(CypherNotReadOnlyError) as refused:
        await read_rows(graph, query)
    assert named in refused.value.message


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("CALL apoc.load.json('http://127.0.0.1:9/') YIELD value RETURN value", "apoc.load.json"),
        ("CALL apoc.util.sleep(10)", "apoc.util.sleep"),
        ("RETURN apoc.cypher.runFirstColumnSingle('RETURN 1', {}) AS x", "apoc.cypher"),
        ("RETURN `apoc`.`cypher`.runFirstColumnSingle('RETURN 1', {}) AS x", "apoc.cypher"),
    ],
)
async def test_what_the_database_does_not_load_is_unknown_to_it(
    graph: Graph, query: str, named: str
) -> None:
    """The first wall: these are not even loaded (the service's check would refuse them
    too, on a database that has them)."""
    with pytest.raises((CypherNotReadOnlyError, CypherSyntaxError)) as refused:
        await read_rows(graph, query)
    assert named in refused.value.message


@pytest.mark.parametrize(
    "query",
    [
        "MATCH (t:Team) RETURN t.id AS id, COUNT { (t)-[:OWNS]->() } AS owned ORDER BY id",
        "MATCH (t:Team) WHERE EXISTS { MATCH (t)-[:OWNS]->(s:Step) WHERE s.id = 's1' } "
        "RETURN t.id AS id",
        "MATCH (t:Team) RETURN t.id AS id, COLLECT { MATCH (t)-[:OWNS]->(s) RETURN s.id } AS s",
        "MATCH (t:Team) CALL (t) { MATCH (t)-[:OWNS]->(s) RETURN count(s) AS n } "
        "RETURN t.id AS id, n",
        "MATCH (t:Team) RETURN t.id AS id UNION MATCH (s:Step) RETURN s.id AS id",
        "MATCH (t:Team) RETURN [(t)-[:OWNS]->(s) | s.id] AS steps",
        "MATCH (t:Team) RETURN head(COLLECT { MATCH (t)-[:OWNS]->(s:Step) RETURN s.id "
        "ORDER BY s.id }) AS first",
        "MATCH (t:Team) RETURN CASE WHEN t.id = 'a' THEN COUNT { MATCH (t)-[:OWNS]->(s) "
        "WHERE s.id STARTS WITH 's' RETURN s } ELSE -1 END AS n",
        "RETURN date.truncate('month', date('2024-05-03')) AS d, "
        "apoc.text.join(['a', 'b'], ',') AS j, apoc.coll.sum([1, 2]) AS s",
        "CALL db.labels() YIELD label RETURN label",
        "MATCH p = shortestPath((:Team {id: 'a'})-[*..3]-(:Step {id: 's1'})) RETURN length(p)",
    ],
)
async def test_ordinary_reads_pass_the_check(graph: Graph, query: str) -> None:
    await upsert_nodes(graph, "Team", [{"id": "a", "name": "A"}])
    await upsert_nodes(graph, "Step", [{"id": "s1", "name": "S1"}])
    await graph.write(lambda tx: tx.run("MATCH (t:Team {id: 'a'}), (s:Step {id: 's1'}) "
                                         "MERGE (t)-[:OWNS {from: datetime()}]->(s)"))  # fmt: skip
    rows = await read_rows(graph, query)
    assert rows, query


def _read_constants() -> list[tuple[str, str]]:
    """Every read-only Cypher constant of the service's own graph layer."""
    found: list[tuple[str, str]] = []
    writes = re.compile(r"\b(CREATE|MERGE|SET|DELETE|REMOVE|DROP|FOREACH)\b")
    for info in pkgutil.walk_packages(orggraph.graph.__path__, "orggraph.graph."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                name.isupper()
                and not name.startswith("_")
                and isinstance(value, str)
                and re.match(r"\s*(MATCH|OPTIONAL MATCH|UNWIND|WITH|CALL \(|RETURN)\b", value)
                and not writes.search(value)
            ):
                found.append((f"{info.name}.{name}", value))
    return found


async def test_the_services_own_read_queries_pass_the_check(graph: Graph) -> None:
    """The allow-list is wide enough for real queries: every read query the service
    itself runs plans only to allowed operators and functions (EXPLAIN, nothing runs)."""
    from orggraph.graph.cypher import _catalogue, check_plan

    constants = _read_constants()
    assert len(constants) > 20
    seen_operators: set[str] = set()
    planned = 0
    async with graph.driver.session(database=graph.database) as session:
        catalogue = await _catalogue(graph, session)
        for name, query in constants:
            try:
                summary = await (await session.run("EXPLAIN " + query)).consume()
            except neo4j.exceptions.CypherSyntaxError:
                continue  # a fragment, composed into whole queries elsewhere
            planned += 1
            try:
                check_plan(summary, graph.database, catalogue)
            except CypherNotReadOnlyError as error:
                pytest.fail(f"{name}: {error.message}")
            stack = [summary.plan]
            while stack:
                plan = stack.pop()
                assert plan is not None
                seen_operators.add(str(plan["operatorType"]).split("@")[0].split("(")[0])
                stack.extend(plan.get("children", []))
    assert seen_operators <= READ_OPERATORS
    assert planned > 20


async def test_a_shortest_path_from_a_node_to_itself_is_the_queries_fault(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": "a", "name": "A"}])
    with pytest.raises(CypherQueryFailedError) as failed:
        await read_rows(graph, "MATCH (a:Team) MATCH p = shortestPath((a)-[*]-(a)) RETURN p")
    assert failed.value.extensions()["code"] == "CYPHER_QUERY_FAILED"
    assert "start and end nodes are the same" in failed.value.message


async def test_a_datetime_the_driver_cannot_hold_is_a_clear_error(graph: Graph) -> None:
    with pytest.raises(CypherQueryFailedError) as failed:
        await read_rows(graph, "RETURN datetime('0001-01-01T00:00:00+01:00') AS x")
    assert failed.value.extensions()["column"] == "x"
    assert await read_rows(
        graph, "RETURN toString(datetime('0001-01-01T00:00:00+01:00')) AS x"
    ) == [["0001-01-01T00:00:00+01:00"]]


# --- nested shapes around forbidden clauses (property-based) -----------------------------

# Each core is a complete subquery body returning one column `v`; none may ever run.
FORBIDDEN_CORES: tuple[str, ...] = (
    "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l[0] AS v",
    "LOAD CSV FROM 'http://127.0.0.1:9/' AS l RETURN l[0] AS v",
    "CALL apoc.load.json('file:///etc/passwd') YIELD value RETURN value AS v",
    "CALL dbms.listConfig() YIELD name RETURN name AS v",
    "CALL db.createLabel('Evil') RETURN 1 AS v",
    "CREATE (x:Evil) RETURN x AS v",
    "MERGE (x:Evil {id: 1}) RETURN x AS v",
    "MATCH (x) SET x.evil = 1 RETURN x AS v",
    "UNWIND [1] AS i RETURN apoc.cypher.runFirstColumnSingle('CREATE (:Evil) RETURN 1', {}) AS v",
    "CALL apoc.util.sleep(1) RETURN 1 AS v",
    "CALL apoc.export.csv.all('/tmp/x.csv', {}) YIELD file RETURN file AS v",
)


_FORBIDDEN_WORDS = ("LOAD CSV", "LoadCSV", "apoc.", "dbms.", "db.", "Create", "Merge", "Set")


async def _plan_mentions(graph: Graph, query: str, words: tuple[str, ...]) -> bool:
    async with graph.driver.session(database=graph.database) as session:
        summary = await (await session.run("EXPLAIN " + query)).consume()
    stack = [summary.plan]
    while stack:
        plan = stack.pop()
        assert plan is not None
        text = str(plan["operatorType"]) + str(plan.get("args", {}).get("Details", ""))
        if any(word in text for word in words):
            return True
        stack.extend(plan.get("children", []))
    return False


def _wrap(core: str, shape: str) -> str:
    """``core`` (a subquery body returning ``v``) inside one more level of nesting."""
    return {
        "case_collect": f"RETURN CASE WHEN rand() < 2 THEN COLLECT {{ {core} }} END AS v",
        "case_count": f"RETURN CASE WHEN rand() < 2 THEN COUNT {{ {core} }} ELSE 0 END AS v",
        "case_exists": f"RETURN CASE WHEN EXISTS {{ {core} }} THEN 1 END AS v",
        "collect": f"RETURN COLLECT {{ {core} }} AS v",
        "count": f"RETURN COUNT {{ {core} }} AS v",
        "where_exists": f"UNWIND [1] AS i WITH i WHERE EXISTS {{ {core} }} RETURN i AS v",
        "comprehension": f"RETURN [i IN [1, 2] WHERE size(COLLECT {{ {core} }}) > 0 | i] AS v",
        "call": f"CALL () {{ {core} }} RETURN v",
        "optional_call": f"OPTIONAL CALL () {{ {core} }} RETURN v",
        "union": f"RETURN 1 AS v UNION CALL () {{ {core} }} RETURN v",
        "with_then": f"WITH 1 AS i CALL (i) {{ {core} }} RETURN v",
        "coalesce": f"RETURN coalesce(null, head(COLLECT {{ {core} }})) AS v",
        "reduce": f"RETURN reduce(s = 0, x IN COLLECT {{ {core} }} | s + 1) AS v",
    }[shape]


SHAPES = (
    "case_collect", "case_count", "case_exists", "collect", "count", "where_exists",
    "comprehension", "call", "optional_call", "union", "with_then", "coalesce", "reduce",
)  # fmt: skip


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    core=st.sampled_from(FORBIDDEN_CORES),
    shapes=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3),
)
async def test_a_forbidden_clause_is_refused_at_any_depth_of_nesting(
    graph: Graph, core: str, shapes: list[str]
) -> None:
    query = core
    for shape in shapes:
        query = _wrap(query, shape)
    try:
        rows = await read_rows(graph, query)
    except (CypherNotReadOnlyError, CypherSyntaxError):
        pass  # refused by the plan check, or not even valid Cypher: never ran
    except OrgGraphError as error:
        pytest.fail(f"{query}: ran and failed with {error.code}: {error.message}")
    else:
        # Only when the planner dropped the forbidden part as dead code (a COUNT that
        # never reads the column): then no operator of the plan does it.
        assert "root:" not in repr(rows)
        assert not await _plan_mentions(graph, query, _FORBIDDEN_WORDS), (query, rows)
    evil = await graph.query("MATCH (x) WHERE x:Evil OR x.evil IS NOT NULL RETURN count(x) AS n")
    assert evil[0]["n"] == 0


# --- client strings never reach a query text ---------------------------------------------


# Valid as an id (printable, no surrounding blanks), hostile as Cypher text.
SENTINELS = (
    "zq7'})DETACH/**/DELETE/**/n//",
    'zq8"}) MATCH (n) DETACH DELETE n //',
    "zq9`) CALL apoc.create.node(['Evil'],{}) //",
)


@pytest.fixture(scope="module")
def db(test_settings: Settings) -> Iterator[SyncGraph]:
    yield from open_sync_graph(test_settings)


def call(db: SyncGraph, kind: str, name: str, field: Any, sentinel: str) -> tuple[Any, list[str]]:
    text = operation(kind, name, field)
    variables = sentinel_arguments(field, sentinel)
    context = Context.for_request(db.graph, Settings())
    with recording() as log:
        result = db.run(SCHEMA.execute(text, variable_values=variables, context_value=context))
    return result, log.queries


@pytest.mark.parametrize("sentinel", SENTINELS)
def test_no_mutation_puts_a_client_string_into_query_text(db: SyncGraph, sentinel: str) -> None:
    unreached = []
    for name, field in sorted(mutation_fields().items()):
        result, queries = call(db, "mutation", name, field, sentinel)
        for query in queries:
            assert sentinel not in query, f"{name} pasted a client string into Cypher"
            assert "zq" not in query, name
        if not queries:
            unreached.append((name, [e.message for e in result.errors or []]))
        codes = [(e.extensions or {}).get("code") for e in result.errors or []]
        assert "INTERNAL" not in codes, (name, result.errors)
    # Most mutations must have reached Neo4j with the hostile strings as parameters.
    assert len(unreached) <= 3, [n for n, _ in unreached]


@pytest.mark.parametrize("sentinel", SENTINELS)
def test_no_query_field_puts_a_client_string_into_query_text(db: SyncGraph, sentinel: str) -> None:
    reached = 0
    fields = {n: f for n, f in query_fields().items() if n != "cypher"}  # its text IS the query
    for name, field in sorted(fields.items()):
        if not field.args:
            continue
        result, queries = call(db, "query", name, field, sentinel)
        for query in queries:
            assert sentinel not in query, f"{name} pasted a client string into Cypher"
        reached += bool(queries)
        codes = [(e.extensions or {}).get("code") for e in result.errors or []]
        assert "INTERNAL" not in codes, (name, result.errors)
    assert reached > 0


def test_hostile_ids_are_stored_as_data_and_nothing_else_is_written(db: SyncGraph) -> None:
    # Its own id: the tests above wrote the sentinels as ids of other labels, and an id
    # names one entity across labels.
    sentinel = SENTINELS[0].replace("zq7", "zqT")
    upsert = (
        "mutation($id: ID!, $n: String!) { upsertTeam(input: {id: $id, name: $n}) { id name } }"
    )
    context = Context.for_request(db.graph, Settings())
    result = db.run(
        SCHEMA.execute(
            upsert, variable_values={"id": sentinel, "n": sentinel}, context_value=context
        )
    )
    assert result.errors is None and result.data == {
        "upsertTeam": {"id": sentinel, "name": sentinel}
    }

    async def labels() -> list[str]:
        async with db.graph.driver.session(database=db.graph.database) as session:
            found = await session.run("MATCH (n:Evil) RETURN count(n) AS c")
            record = await found.single()
            assert record is not None
            return [str(record["c"])]

    assert db.run(labels()) == ["0"]


def test_the_cli_writes_csv_with_quoting_and_empty_nulls(
    cli_database: None, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "UNWIND [[1, 'a,b'], [2, null]] AS r RETURN r[0] AS n, r[1] AS s, [r[0]] AS l"
    assert main(["cypher", query, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["n,s,l", '1,"a,b",[1]', "2,,[2]"]
    assert captured.err.strip() == "2 row(s)"
