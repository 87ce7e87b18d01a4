"""The HTTP service: GraphQL over HTTP (POST and GET), GraphiQL, health and readiness, and
the answers to bodies it cannot read (always JSON errors with a code)."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from starlette.testclient import TestClient

from orggraph.app import GC_YOUNG_THRESHOLD, create_app
from orggraph.database import open_graph
from orggraph.graph.driver import Graph
from orggraph.settings import Settings


@pytest.fixture
def client(test_settings: Settings, graph: Graph) -> Iterator[TestClient]:
    # ``graph`` empties the database first; the app opens its own driver in its own loop.
    with TestClient(create_app(test_settings)) as test_client:
        yield test_client


def test_healthz_says_the_process_is_up(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_says_database_reachable_and_migrations_applied(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["migrations"] == "applied"


def test_a_running_service_keeps_the_cycle_collector_off_its_start_up_objects(
    test_settings: Settings, graph: Graph
) -> None:
    before = gc.get_threshold()
    with TestClient(create_app(test_settings)) as running:
        assert running.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_readyz_is_503_when_the_database_is_gone(test_settings: Settings) -> None:
    unreachable = test_settings.model_copy(update={"neo4j_uri": "bolt://127.0.0.1:1"})

    @contextlib.asynccontextmanager
    async def lazy(settings: Settings) -> AsyncIterator[Graph]:
        graph = Graph.connect(settings.neo4j_uri or "", None, None, "neo4j", connection_timeout=1)
        yield graph
        await graph.close()

    with TestClient(create_app(unreachable, open_graph=lazy)) as test_client:
        response = test_client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        result = test_client.post("/graphql", json={"query": '{ team(id: "x") { id } }'}).json()
        assert result["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"


def test_graphql_post_writes_and_get_reads(client: TestClient) -> None:
    mutation = 'mutation { upsertCustomer(input: {id: "c1", name: "ACME"}) { id name } }'
    posted = client.post("/graphql", json={"query": mutation})
    assert posted.status_code == 200
    assert posted.json() == {"data": {"upsertCustomer": {"id": "c1", "name": "ACME"}}}
    got = client.get(
        "/graphql",
        params={"query": '{ customer(id: "c1") { name } }'},
        headers={"GraphQL-Preflight": "1"},  # a GET carries no JSON Content-Type
    )
    assert got.json() == {"data": {"customer": {"name": "ACME"}}}


def test_graphiql_is_served_to_browsers(client: TestClient) -> None:
    response = client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_errors_over_http_carry_codes_and_no_internals(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ customer(id: "}).json()
    assert response["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    bad = client.post(
        "/graphql",
        json={"query": "query($id: ID!) { customer(id: $id) { id } }", "variables": {"id": " x"}},
    ).json()
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Traceback" not in str(bad)


def test_open_graph_uses_an_external_uri_when_set(test_settings: Settings) -> None:
    # NEO4J_URI set (as in test_settings): no embedded runtime is started.
    import asyncio

    async def check() -> str:
        async with open_graph(test_settings) as graph:
            records = await graph.query("RETURN 1 AS one")
            return str(records[0]["one"])

    assert asyncio.run(check()) == "1"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_deeply_nested_json_body_is_bad_input_not_a_server_error(client: TestClient) -> None:
    json_type = {"content-type": "application/json"}
    too_deep = [
        '{"query": "{ __typename }", "variables": {"v": ' + nested(1_000) + "}}",
        nested(5_000),  # deeper than Python's recursion limit: json.loads itself gives up
        '{"query": "{ __typename }", "variables": {"v": ' + nested(201) + "}}",
    ]
    for path in ("/graphql", "/cypher"):
        for body in too_deep:
            response = client.post(path, content=body, headers=json_type)
            assert response.status_code == 400, (path, body[:60])
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] == "BAD_USER_INPUT"
            assert "nested more than 200 levels" in error["message"]
    fine = '{"query": "{ __typename }", "variables": {"v": ' + nested(150) + "}}"
    assert client.post("/graphql", content=fine, headers=json_type).json() == {
        "data": {"__typename": "Query"}
    }


def test_invalid_json_a_batch_and_a_scalar_body_get_json_errors_with_a_code(
    client: TestClient,
) -> None:
    json_type = {"content-type": "application/json"}
    cases = {
        b"{not json": "not valid JSON",
        b'[{"query": "{ __typename }"}]': "batches are not accepted",
        b"5": "a JSON object",
        b"\xff\xfe": "not valid JSON",
    }
    for body, said in cases.items():
        response = client.post("/graphql", content=body, headers=json_type)
        assert response.status_code == 400, body
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", body
        assert said in error["message"], (body, error["message"])
    unsupported = client.post(
        "/graphql",
        content=b"{}",
        headers={"content-type": "application/xml", "GraphQL-Preflight": "1"},
    )
    assert unsupported.status_code == 400
    assert unsupported.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad_variables = client.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": nested(300)},
        headers={"GraphQL-Preflight": "1"},
    )
    assert bad_variables.status_code == 400
    assert bad_variables.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_cors_preflight_is_answered_for_listed_origins_only(test_settings: Settings) -> None:
    frontend = "http://localhost:5173"
    settings = test_settings.model_copy(update={"cors_origins": [frontend]})
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization",
    }
    with TestClient(create_app(settings, graph=_unused_graph())) as test_client:
        allowed = test_client.options("/graphql", headers={"origin": frontend, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == frontend
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers
        other = test_client.options(
            "/graphql", headers={"origin": "https://evil.example", **preflight}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        answer = test_client.get("/healthz", headers={"origin": frontend})
        assert answer.headers["access-control-allow-origin"] == frontend
        assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


def test_no_origin_is_allowed_by_default_and_credentials_never_with_any_origin(
    test_settings: Settings,
) -> None:
    with TestClient(create_app(test_settings, graph=_unused_graph())) as test_client:
        preflight = test_client.options(
            "/graphql",
            headers={"origin": "http://localhost:5173", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
    with pytest.raises(ValueError, match="cannot be used with ORGGRAPH_CORS_ORIGINS"):
        Settings(cors_origins="*", cors_allow_credentials=True)


def test_large_answers_are_gzipped_for_clients_that_accept_it(client: TestClient) -> None:
    query = {"query": "{ __schema { types { name description } } }"}
    zipped = client.post("/graphql", json=query, headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json()["data"]["__schema"]["types"]  # httpx inflated it
    plain = client.post("/graphql", json=query, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    small = client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept-encoding": "gzip"}
    )
    assert "content-encoding" not in small.headers


def test_the_port_answers_during_start_up_and_readyz_says_what_it_waits_for(
    test_settings: Settings,
) -> None:
    import threading

    may_open = threading.Event()

    @contextlib.asynccontextmanager
    async def slow(settings: Settings) -> AsyncIterator[Graph]:
        import asyncio

        await asyncio.to_thread(may_open.wait)
        async with open_graph(settings) as opened:
            yield opened

    app = create_app(test_settings, open_graph=slow, background_startup=True)
    with TestClient(app) as test_client:
        try:
            waiting = test_client.get("/readyz")
            early = test_client.post("/graphql", json={"query": '{ team(id: "x") { id } }'})
        finally:
            may_open.set()
        assert waiting.status_code == 503
        assert waiting.json()["status"] == "starting"
        assert waiting.json()["waitingFor"] == "the database (start, connection, migrations)"
        assert early.status_code == 503
        assert early.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert _poll(lambda: test_client.get("/readyz").status_code == 200)


def _poll(condition: Callable[[], bool]) -> bool:
    """Asks until ``condition`` holds (an event in another task, not a duration, decides)."""
    import time

    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _unused_graph() -> Graph:
    """A Graph that is never queried (CORS answers come before any resolver)."""
    return Graph.connect("bolt://127.0.0.1:1", None, None, "neo4j", connection_timeout=1)


def test_several_workers_are_refused_without_the_redis_broker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from orggraph.cli import main

    with caplog.at_level(logging.ERROR):
        assert main(["serve", "--workers", "2"]) == 2
    assert "ORGGRAPH_EVENTS=redis" in caplog.text
