"""What an operator sees of each request: the Prometheus scrape of /metrics, the spans
exported to an in-memory exporter, the JSON log line and the X-Request-ID."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from orggraph.app import create_app
from orggraph.graph.driver import Graph
from orggraph.settings import Settings

MUTATION = 'mutation AddCustomer { upsertCustomer(input: {id: "c1", name: "ACME"}) { id } }'
READ = 'query CustomerName { customer(id: "c1") { name } }'


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def client(
    test_settings: Settings, graph: Graph, spans: InMemorySpanExporter
) -> Iterator[TestClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with TestClient(create_app(test_settings, tracer_provider=provider)) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
    }


def test_metrics_count_requests_by_operation_and_outcome_and_errors_by_code(
    client: TestClient,
) -> None:
    assert client.post("/graphql", json={"query": MUTATION}).status_code == 200
    client.post("/graphql", json={"query": READ})
    client.post("/graphql", json={"query": READ, "operationName": "CustomerName"})
    client.post("/graphql", json={"query": "{ nope }"})
    found = samples(client)
    requests = "orggraph_graphql_requests_total"
    assert found[(requests, (("operation", "anonymous"), ("outcome", "ok")))] == 2
    assert found[(requests, (("operation", "CustomerName"), ("outcome", "ok")))] == 1
    assert found[(requests, (("operation", "anonymous"), ("outcome", "refused")))] == 1
    errors = "orggraph_graphql_errors_total"
    assert found[(errors, (("code", "GRAPHQL_VALIDATION_FAILED"),))] == 1
    latency = "orggraph_graphql_request_duration_seconds_count"
    assert found[(latency, (("operation", "anonymous"),))] == 3
    # The upsert and the two reads went to Neo4j; the refused document did not.
    assert found[("orggraph_database_queries_total", ())] >= 3
    assert found[("orggraph_database_round_trips_per_request_bucket", (("le", "0.0"),))] >= 1
    # Every request's time waiting for Neo4j is observed (zero for the refused document).
    assert found[("orggraph_database_seconds_per_request_count", ())] == 4
    assert found[("orggraph_database_seconds_per_request_sum", ())] > 0
    assert found[("orggraph_event_broker_dropped_events_total", ())] == 0
    statuses = "orggraph_http_responses_total"
    assert found[(statuses, (("path", "/graphql"), ("status", "200")))] == 4


def test_a_span_per_request_with_the_operation_and_children_per_phase_and_resolver(
    client: TestClient, spans: InMemorySpanExporter
) -> None:
    client.post("/graphql", json={"query": MUTATION})
    answer = client.post(
        "/graphql",
        json={"query": READ, "operationName": "CustomerName"},
        headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.name == "POST /graphql CustomerName"]
    assert request.attributes is not None
    assert request.attributes["graphql.operation.name"] == "CustomerName"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["orggraph.request_id"] == answer.headers["x-request-id"]
    # The caller's trace is continued.
    assert f"{request.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    below = [s for s in finished if s.context.trace_id == request.context.trace_id]
    names = {s.name for s in below}
    assert {"GraphQL Parsing", "GraphQL Validation", "GraphQL Resolving: customer"} <= names
    # The read's one round trip is a client span of its own, carrying the query constant.
    (query,) = [s for s in below if s.name == "cypher"]
    assert query.attributes is not None and query.attributes["db.system.name"] == "neo4j"
    assert "MATCH" in str(query.attributes["db.query.text"])
    assert query.parent is not None and query.kind.name == "CLIENT"


def test_one_json_log_line_per_request_with_the_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="orggraph.requests"):
        answer = client.post(
            "/graphql",
            json={"query": READ, "operationName": "CustomerName"},
            headers={"X-Request-ID": "checkout-42"},
        )
    assert answer.headers["x-request-id"] == "checkout-42"
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "orggraph.requests"]
    assert line["requestId"] == "checkout-42"
    assert line["operation"] == "CustomerName"
    assert (line["status"], line["outcome"], line["codes"]) == (200, "ok", [])
    assert line["durationMs"] > 0
    assert line["databaseRoundTrips"] == 1


def test_a_request_without_a_usable_id_gets_a_fresh_one(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
    assert len(first) == len(second) == 32 and first != second
