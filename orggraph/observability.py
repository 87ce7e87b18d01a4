"""What an operator sees of each request: metrics, traces, a log line, a request id.

All with the ecosystem's own libraries (docs/operations.md#observability):

* ``/metrics`` in the Prometheus text format (``prometheus-client``, one registry per
  app): GraphQL requests by operation and outcome, their latency, errors by code,
  database round trips per request, event-broker drops, HTTP answers by status.
* Traces with the OpenTelemetry SDK, configured by the standard ``OTEL_*`` variables
  (:func:`tracer_provider_from_environment`): a span per HTTP request (continuing a
  caller's ``traceparent``) and, through Strawberry's ``OpenTelemetryExtension``, per
  GraphQL operation phase and resolver.
* One JSON line per request on the ``orggraph.requests`` logger: request id, method,
  path, status, operation, outcome, error codes, duration, database round trips.
* ``X-Request-ID``: a client's short printable id is kept, else a fresh one is made; it
  is echoed on the answer, logged, and (the header being set on the request for the
  layers below) written into the Neo4j transaction metadata.

Operation names are chosen by clients, so the metric label takes at most
``MAX_OPERATION_LABELS`` distinct names; later ones are counted as ``other``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import propagate, trace
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orggraph.events import Broker
from orggraph.graph.driver import QueryLog, recording, tracing_queries
from orggraph.schema.tracing import REQUEST_ID_HEADER, request_id_of

access_log = logging.getLogger("orggraph.requests")

MAX_OPERATION_LABELS = 200
OBSERVED_KEY = "orggraph.observed"  # scope["state"] key of the request's Observed
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ROUND_TRIP_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 50)


@dataclass
class Observed:
    """What the GraphQL view learnt about a request, for the metrics and the log line."""

    request_id: str
    operation: str | None = None
    outcome: str = "ok"  # ok | field_errors | refused (a request error: nothing ran)
    codes: list[str] = field(default_factory=list)
    graphql: bool = False  # a GraphQL request was answered (not the GraphiQL page)

    def note_result(self, errors: Iterable[Any] | None, refused: bool) -> None:
        found = list(errors or ())
        self.graphql = True
        self.codes = [str((error.extensions or {}).get("code", "INTERNAL")) for error in found]
        if refused:
            self.outcome = "refused"
        elif found:
            self.outcome = "field_errors"


def observed_of(scope: Scope) -> Observed | None:
    found = scope.get("state", {}).get(OBSERVED_KEY)
    return found if isinstance(found, Observed) else None


class BrokerDrops(Collector):
    """Events dropped for slow subscribers, read from the broker at scrape time."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "orggraph_event_broker_dropped_events",
            "Events dropped because a subscriber's queue was full (drop-oldest)",
        )
        family.add_metric([], self.broker.dropped_total)
        yield family


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self, broker: Broker) -> None:
        self.registry = CollectorRegistry()
        counter = functools.partial(Counter, registry=self.registry)
        histogram = functools.partial(Histogram, registry=self.registry)
        self.http_responses = counter(
            "orggraph_http_responses", "HTTP answers by path and status", ["path", "status"]
        )
        self.requests = counter(
            "orggraph_graphql_requests",
            "GraphQL requests over HTTP by operation name and outcome",
            ["operation", "outcome"],
        )
        self.latency = histogram(
            "orggraph_graphql_request_duration_seconds",
            "Time to answer a GraphQL request over HTTP",
            ["operation"],
            buckets=LATENCY_BUCKETS,
        )
        self.errors = counter(
            "orggraph_graphql_errors", "GraphQL errors by extensions.code", ["code"]
        )
        self.round_trips = histogram(
            "orggraph_database_round_trips_per_request",
            "Cypher queries sent to Neo4j for one HTTP request",
            buckets=ROUND_TRIP_BUCKETS,
        )
        self.queries = counter(
            "orggraph_database_queries", "Cypher queries sent to Neo4j on behalf of HTTP requests"
        )
        self.database_time = histogram(
            "orggraph_database_seconds_per_request",
            "Time one HTTP request spent waiting for Neo4j's answers",
            buckets=LATENCY_BUCKETS,
        )
        self.registry.register(BrokerDrops(broker))
        self._operations: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._operations:
            return name
        if len(self._operations) >= MAX_OPERATION_LABELS:
            return "other"
        self._operations.add(name)
        return name

    def record(
        self, path: str, status: int, observed: Observed, took_s: float, queries: QueryLog
    ) -> None:
        self.http_responses.labels(path, str(status)).inc()
        self.round_trips.observe(queries.count)
        self.queries.inc(queries.count)
        self.database_time.observe(queries.seconds)
        if not observed.graphql:
            return
        operation = self.operation_label(observed.operation)
        self.requests.labels(operation, observed.outcome).inc()
        self.latency.labels(operation).observe(took_s)
        for code in observed.codes:
            self.errors.labels(code).inc()

    async def endpoint(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def tracer_provider_from_environment() -> trace.TracerProvider | None:
    """An SDK TracerProvider exporting as the standard OTEL_* variables say, or None when
    tracing is not asked for (no exporter, no OTLP endpoint, or OTEL_SDK_DISABLED)."""
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or exporter_name == "none" or not (exporter_name or endpoint):
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:  # "otlp", the specification's default; endpoint, headers, ... from OTEL_EXPORTER_OTLP_*
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "orggraph")})
    provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_* tune it
    return provider


def _with_request_id(scope: Scope, request_id: str) -> Scope:
    """The scope with exactly one X-Request-ID header: the id everyone below reads."""
    name = REQUEST_ID_HEADER.encode()
    headers = [(key, value) for key, value in scope.get("headers", []) if key.lower() != name]
    headers.append((name, request_id.encode()))
    return {**scope, "headers": headers}


class RequestObservation:
    """The outermost middleware: request id, span, metrics and the access log line."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics | None,
        tracer_provider: trace.TracerProvider | None,
        log_requests: bool,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = trace.get_tracer("orggraph", tracer_provider=tracer_provider)
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Request(scope))
        scope = _with_request_id(scope, request_id)
        observed = Observed(request_id)
        scope.setdefault("state", {})[OBSERVED_KEY] = observed
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        started = time.perf_counter()
        parent = propagate.extract(dict(Headers(scope=scope)))
        name = f"{scope['method']} {scope['path']}"
        span_kind = trace.SpanKind.SERVER
        with (
            self.tracer.start_as_current_span(name, context=parent, kind=span_kind) as span,
            recording() as queries,
            tracing_queries(self._query_span if span.is_recording() else None),
        ):
            try:
                await self.app(scope, receive, answer)
            finally:
                took = time.perf_counter() - started
                self._span_attributes(span, scope, status, observed, queries.count)
                if self.metrics is not None:
                    self.metrics.record(scope["path"], status, observed, took, queries)
                if self.log_requests:
                    self._log(scope, status, observed, took, queries.count)

    def _query_span(self, query: str) -> contextlib.AbstractContextManager[Any]:
        """A client span per Cypher query: its text is one of the service's named
        constants (values travel as parameters), so it carries no client data."""
        attributes = {"db.system.name": "neo4j", "db.query.text": query}
        return self.tracer.start_as_current_span(
            "cypher", kind=trace.SpanKind.CLIENT, attributes=attributes
        )

    @staticmethod
    def _span_attributes(
        span: trace.Span, scope: Scope, status: int, observed: Observed, trips: int
    ) -> None:
        if not span.is_recording():
            return
        span.set_attribute("http.request.method", scope["method"])
        span.set_attribute("url.path", scope["path"])
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("orggraph.request_id", observed.request_id)
        span.set_attribute("orggraph.database.round_trips", trips)
        if observed.operation:
            span.set_attribute("graphql.operation.name", observed.operation)
            span.update_name(f"{scope['method']} {scope['path']} {observed.operation}")
        if observed.codes:
            span.set_attribute("orggraph.error_codes", observed.codes)
        if status >= 500:
            span.set_status(trace.StatusCode.ERROR)

    @staticmethod
    def _log(scope: Scope, status: int, observed: Observed, took_s: float, trips: int) -> None:
        line = {
            "requestId": observed.request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "operation": observed.operation,
            "outcome": observed.outcome if observed.graphql else None,
            "codes": observed.codes,
            "durationMs": round(took_s * 1000, 3),
            "databaseRoundTrips": trips,
        }
        access_log.info(json.dumps(line, separators=(",", ":")))


class JsonLogFormatter(logging.Formatter):
    """Every log record as one JSON object (``ORGGRAPH_LOG_FORMAT=json``); the request
    log's own JSON message is merged in rather than quoted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
        }
        message = record.getMessage()
        if record.name == access_log.name:
            line.update(json.loads(message))
        else:
            line["message"] = message
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)
