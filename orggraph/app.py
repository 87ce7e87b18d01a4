"""The ASGI application: GraphQL over HTTP and WebSocket, health and readiness.

``create_app(settings, graph=None)`` builds everything; nothing is created at
import time, so tests inject their own settings and database. The lifespan opens
the database, starts the event broker (in-process or Redis, ``ORGGRAPH_EVENTS``)
and, when ``ORGGRAPH_KPI_INTERVAL_S`` is set, the KPI schedule; it stops them in
reverse order on shutdown (the schedule is cancelled before the broker closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

from cross_web import HTTPException
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from orggraph.api import build_schema
from orggraph.auth import ANONYMOUS, LOCAL_ADMIN, Authenticator, Principal, require_cypher_access
from orggraph.context import Context
from orggraph.errors import (
    BadInputError,
    NotFoundError,
    OrgGraphError,
    PayloadTooLargeError,
    UnauthenticatedError,
)
from orggraph.events import make_broker
from orggraph.graph.driver import Graph
from orggraph.graph.migrations import is_up_to_date
from orggraph.graphql_http import (
    GRAPHQL_RESPONSE_JSON,
    LEGACY_JSON,
    REFUSED_KEY,
    OnlyGetAndPost,
    error_as_graphql,
    is_request_error,
    response_media_type,
)
from orggraph.http_security import (
    AllowedHosts,
    CodedTransportWSHandler,
    CodedWSHandler,
    CsrfPrevention,
    cors_middleware,
    decode_json_object,
    error_body,
    is_ide_page,
)
from orggraph.kpi_schedule import run_kpi_schedule
from orggraph.observability import (
    Metrics,
    RequestObservation,
    observed_of,
    tracer_provider_from_environment,
)
from orggraph.persisted import PersistedDocuments, read_manifest
from orggraph.settings import Settings
from orggraph.tracking_http import TrackingApi

log = logging.getLogger(__name__)

# The explorer: a static page at `/` that only talks to /graphql (docs/explorer.md).
EXPLORER_DIR = Path(__file__).parent / "explorer"
# GraphiQL with its assets (React, GraphiQL) in the package: no CDN (docs/operations.md).
GRAPHIQL_DIR = Path(__file__).parent / "graphiql"

# Longer operation names are cut in metrics, spans and logs.
MAX_OPERATION_NAME_LENGTH = 100

# Something that opens the service's database for the app's lifetime.
GraphOpener = Callable[[Settings], contextlib.AbstractAsyncContextManager[Graph]]
StartupHook = Callable[[Graph, Settings], Awaitable[None]]


class OrgGraphGraphQL(GraphQL[Context, None]):
    # Every error frame carries an extensions.code (orggraph.http_security).
    graphql_transport_ws_handler_class = CodedTransportWSHandler
    graphql_ws_handler_class = CodedWSHandler

    def __init__(self, app_state: AppState, persisted: PersistedDocuments, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_state = app_state
        self.persisted = persisted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As Strawberry's, with the GraphQL-over-HTTP rules of ``orggraph.graphql_http``
        (media type by Accept, 400 for request errors under the GraphQL media type), and a
        request it refuses (bad JSON, a batch, an unknown content type, ...) answered in
        the GraphQL error shape with a code, not plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        media_type = response_media_type(request.headers.get("accept"))
        try:
            response = await self.run(request)
        except HTTPException as refused:
            error = (NotFoundError if refused.status_code == 404 else BadInputError)(refused.reason)
            observed = observed_of(scope)
            if observed is not None:
                observed.note_result([error_as_graphql(error)], refused=True)
            response = JSONResponse(error_body(error), status_code=refused.status_code)
        except OrgGraphError as error:  # before GraphQL runs: the database is not open yet
            response = error_response(error)
        if response.media_type == LEGACY_JSON:  # a GraphQL answer, not the GraphiQL page
            response.headers["content-type"] = f"{media_type}; charset=utf-8"
            if scope.get("state", {}).get(REFUSED_KEY) and media_type == GRAPHQL_RESPONSE_JSON:
                response.status_code = 400
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return FileResponse(GRAPHIQL_DIR / "index.html")

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Not for a GET that names its document by hash (persisted queries over GET)."""
        has_extensions = request.query_params.get("extensions") is not None
        return not has_extensions and super().should_render_graphql_ide(request)

    def decode_json(self, data: str | bytes) -> object:
        """Bodies, GET variables and WebSocket messages: one JSON object of bounded depth."""
        return decode_json_object(data, "{query, variables, operationName}")

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except json.JSONDecodeError as error:  # its own message, not Strawberry's generic one
            raise HTTPException(400, error.msg) from error

    async def execute_single(  # noqa: PLR0917 (Strawberry's signature)
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Resolves a persisted document (orggraph.persisted) before Strawberry runs it."""
        observed = observed_of(request.scope)
        if observed is not None and isinstance(request_data.operation_name, str):
            observed.operation = request_data.operation_name[:MAX_OPERATION_NAME_LENGTH]
        try:
            query = self.persisted.resolve(request_data.query, request_data.extensions)
        except OrgGraphError as error:
            return ExecutionResult(data=None, errors=[error_as_graphql(error)])
        return await super().execute_single(
            request,
            request_adapter,
            sub_response,
            context,
            root_value,
            dataclasses.replace(request_data, query=query),
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """A request error (nothing ran) has no ``data`` under the GraphQL media type."""
        body = await super().process_result(request, result)
        refused = is_request_error(result.data, result.errors)
        observed = observed_of(request.scope)
        if observed is not None:
            observed.note_result(result.errors, refused)
        if refused and isinstance(request, Request):
            request.scope.setdefault("state", {})[REFUSED_KEY] = True
            if response_media_type(request.headers.get("accept")) == GRAPHQL_RESPONSE_JSON:
                body.pop("data", None)
        return body

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        graph = self.app_state.require_graph()
        http_response = response if isinstance(response, Response) else None
        context = Context.for_request(graph, self.app_state.settings, request, http_response)
        context.extras["broker"] = self.app_state.broker
        context.principal = self.app_state.principal_of(request)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """With auth on, a WebSocket client sends its credentials in connection_init
        (``{"authorization": "Bearer ..."}``) or in the upgrade request's headers. Without
        valid ones the connection is closed here (4403; the legacy protocol sends
        connection_error), before the client may send any document."""
        authenticator = self.app_state.authenticator
        if authenticator is None:
            return cast(UnsetType, UNSET)  # the default acknowledgement
        params = context.connection_params or {}
        credentials = params.get("authorization") or params.get("Authorization")
        api_key = params.get("apiKey") or params.get("x-api-key")
        try:
            if credentials or api_key:
                context.principal = authenticator.authenticate(
                    str(credentials) if credentials else None, str(api_key) if api_key else None
                )
            elif context.principal is ANONYMOUS:  # nor valid ones in the upgrade request
                authenticator.authenticate(None, None)  # raises: credentials required
        except UnauthenticatedError as error:
            payload: dict[str, object] = {
                "message": error.message,
                "extensions": error.extensions(),
            }
            raise ConnectionRejectionError(payload) from error
        return cast(UnsetType, UNSET)


class Startup:
    """What the service still waits for before it is ready: /readyz says it, the log
    shows each step as it begins."""

    def __init__(self) -> None:
        self.step = "the lifespan"
        self.failure: str | None = None
        self.started = time.monotonic()

    def waiting_for(self, step: str) -> None:
        self.step = step
        log.info("start-up: waiting for %s", step)

    def ready(self) -> None:
        self.step = ""
        log.info("start-up: ready after %.1f s", time.monotonic() - self.started)

    def failed_if_raised(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self.step:
            error = task.exception()
            self.failure = error.message if isinstance(error, OrgGraphError) else repr(error)
            log.error("start-up failed while waiting for %s: %s", self.step, self.failure)

    def describe(self) -> dict[str, object]:
        if self.failure is not None:
            return {"status": "failed", "step": self.step, "reason": self.failure}
        return {
            "status": "starting",
            "waitingFor": self.step or "shutdown",
            "elapsedS": round(time.monotonic() - self.started, 1),
        }


class AppState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.startup = Startup()
        self.authenticator = Authenticator(settings) if settings.auth_configured else None
        self.graph: Graph | None = None
        self.broker = make_broker(settings)  # live subscriptions (orggraph.events)
        self.kpi_schedule: asyncio.Task[None] | None = None  # when ORGGRAPH_KPI_INTERVAL_S

    def require_graph(self) -> Graph:
        if self.graph is None:
            from orggraph.errors import DatabaseUnavailableError

            raise DatabaseUnavailableError("the service is starting; the database is not open yet")
        return self.graph

    def principal_of(self, request: Request | WebSocket) -> Principal:
        """Without auth: LOCAL_ADMIN. With auth: whom ``Authenticated`` (HTTP) or the
        upgrade headers (WebSocket) named, else an anonymous principal with no role."""
        if self.authenticator is None:
            return LOCAL_ADMIN
        found = request.scope.get("state", {}).get("principal")
        if isinstance(found, Principal):
            return found
        try:
            return self.authenticator.authenticate(
                request.headers.get("authorization"), request.headers.get("x-api-key")
            )
        except UnauthenticatedError:
            return ANONYMOUS


def _opener(open_graph: GraphOpener | None) -> GraphOpener:
    if open_graph is not None:
        return open_graph
    from orggraph.database import open_graph as default

    return default


def create_app(
    settings: Settings,
    graph: Graph | None = None,
    open_graph: GraphOpener | None = None,
    on_startup: list[StartupHook] | None = None,
    *,
    background_startup: bool = False,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build the app. Give ``graph`` to reuse an open database, else ``open_graph``
    (default: ``orggraph.database.open_graph``) opens one for the app's lifetime.

    With ``background_startup`` the lifespan returns at once (the port opens) and the
    database, the migrations and the ``on_startup`` hooks follow in a task, /readyz
    saying what it waits for. ``tracer_provider``: OpenTelemetry's, else the one the
    OTEL_* variables describe, else none (no spans)."""
    state = AppState(settings)
    tracer_provider = tracer_provider or tracer_provider_from_environment()
    graphql_app = OrgGraphGraphQL(
        state,
        persisted_documents(settings),
        schema=_traced(build_schema(settings), tracer_provider),
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
    )
    metrics = Metrics(state.broker) if settings.metrics else None
    lifespan = _lifespan(state, graph, _opener(open_graph), on_startup or [], background_startup)
    routes = _routes(state, graphql_app, metrics)
    middleware = _middleware(settings, metrics, tracer_provider)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.orggraph = state
    return app


def persisted_documents(settings: Settings) -> PersistedDocuments:
    manifest = settings.trusted_documents
    trusted = read_manifest(manifest) if manifest is not None else None
    return PersistedDocuments(trusted, settings.apq_cache_size)


def _traced(schema: Schema, tracer_provider: TracerProvider | None) -> Schema:
    """With tracing on, Strawberry's OpenTelemetry extension adds a span per operation
    phase (parsing, validation, execution) and per resolver under the request's span."""
    if tracer_provider is not None:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        traced = functools.partial(OpenTelemetryExtension, tracer_provider=tracer_provider)
        schema.extensions = (*schema.extensions, traced)
    return schema


def _middleware(
    settings: Settings, metrics: Metrics | None, tracer_provider: TracerProvider | None
) -> list[Middleware]:
    """Outermost first: the request id, span, metrics and log line see every answer; a
    Host the service does not answer is refused next (DNS rebinding), upgrades too."""
    middleware = [
        Middleware(
            RequestObservation,
            metrics=metrics,
            tracer_provider=tracer_provider,
            log_requests=settings.access_log,
        ),
        Middleware(AllowedHosts, allowed_hosts=settings.trusted_hosts()),
    ]
    if settings.cors_origins:
        middleware.append(cors_middleware(settings))
    middleware.append(Middleware(GZipMiddleware, minimum_size=settings.gzip_minimum_bytes))
    return middleware


def _routes(state: AppState, graphql_app: OrgGraphGraphQL, metrics: Metrics | None) -> list[Any]:
    settings = state.settings

    def guarded(endpoint: ASGIApp) -> ASGIApp:
        """CSRF prevention, authentication, then the body size limit."""
        limited = BodySizeLimit(endpoint, settings.max_body_bytes)
        return CsrfPrevention(Authenticated(limited, state.authenticator))

    routes: list[Any] = [
        Route("/", explorer, methods=["GET"]),
        Mount("/explorer", StaticFiles(directory=EXPLORER_DIR), name="explorer"),
        Mount("/graphiql", StaticFiles(directory=GRAPHIQL_DIR), name="graphiql"),
        Route("/healthz", _healthz(state), methods=["GET"]),
        Route("/readyz", _readyz(state), methods=["GET"]),
        # No `methods`: OnlyGetAndPost answers the others in the JSON error shape.
        Route("/graphql", OnlyGetAndPost(guarded(graphql_app))),
        WebSocketRoute("/graphql", graphql_app),
        Route("/cypher", guarded(request_response(_cypher_endpoint(state))), methods=["POST"]),
    ]
    # Live tracking (docs/tracking.md): the Segment HTTP API at /v1/*, when write keys are set.
    routes += TrackingApi(settings, state.require_graph, lambda: state.broker).routes()
    if metrics is not None:
        routes.append(Route("/metrics", metrics.endpoint, methods=["GET"]))
    return routes


async def explorer(_: Request) -> Response:
    return FileResponse(EXPLORER_DIR / "index.html")


# --- start-up, health and readiness ----------------------------------------------

# The youngest generation's threshold once started (CPython's default: 700 allocations).
GC_YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """Keep CPython's cycle collector off what start-up built. An analytics answer
    decodes into 10^5 small objects (8,427 won deals' journeys at 1M touchpoints), and
    with the default thresholds the collector walks the whole heap (the schema, the
    driver, every module) several times while they are built: 0.3 s of 0.45 s spent
    building the attribution's journeys in a process holding the schema, 0.13 s with
    this. Start-up's objects live as long as the process, so they are frozen out of
    the collector's walks (``gc.freeze``), and the youngest generation is collected
    every ``GC_YOUNG_THRESHOLD`` allocations: cycles still die, a little later. Both are
    undone when the service stops (a process may start several, as the tests do)."""
    gc.collect()
    gc.freeze()
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, oldest)
        gc.unfreeze()


def _lifespan(
    state: AppState,
    graph: Graph | None,
    opener: GraphOpener,
    on_startup: list[StartupHook],
    background: bool,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    settings = state.settings

    async def run_service(started: asyncio.Event, stop: asyncio.Event) -> None:
        """Everything the service holds open, entered and left in this one task."""
        startup = state.startup
        async with contextlib.AsyncExitStack() as stack:
            startup.waiting_for("the database (start, connection, migrations)")
            opened = (
                graph if graph is not None else await stack.enter_async_context(opener(settings))
            )
            startup.waiting_for("the event broker")
            await state.broker.start()
            stack.push_async_callback(state.broker.aclose)
            for hook in on_startup:
                startup.waiting_for(hook.__name__.replace("_", " "))
                await hook(opened, settings)
            if settings.kpi_interval_s:
                state.kpi_schedule = await stack.enter_async_context(
                    run_kpi_schedule(opened, state.broker, settings.kpi_interval_s)
                )
            state.graph = opened
            stack.enter_context(settled_heap())
            startup.ready()
            started.set()
            try:
                await stop.wait()
            finally:
                state.graph = None

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        started, stop = asyncio.Event(), asyncio.Event()
        service = asyncio.create_task(run_service(started, stop))
        service.add_done_callback(state.startup.failed_if_raised)
        if not background:
            await asyncio.wait(
                [service, asyncio.create_task(started.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            if service.done():
                service.result()  # start-up failed: raise its error
        try:
            yield
        finally:
            stop.set()
            if not started.is_set():
                service.cancel()  # shut down while still starting: stop waiting
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await service

    return lifespan


def _database_health(state: AppState) -> dict[str, str]:
    """The supervisor's word on an embedded database ({} for others): restarting, why."""
    from orggraph.database import supervisor_of

    supervisor = supervisor_of(state.graph) if state.graph is not None else None
    return supervisor.health() if supervisor is not None else {}


def _healthz(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", **_database_health(state)})

    return healthz


def _readyz(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(_: Request) -> Response:
        if state.graph is None:
            return JSONResponse(state.startup.describe(), status_code=503)
        health = _database_health(state)
        if health.get("database", "running") != "running":
            return JSONResponse({"status": "unavailable", **health}, status_code=503)
        try:
            await state.graph.ping()
            migrated = await is_up_to_date(state.graph)
        except OrgGraphError as error:
            return JSONResponse({"status": "unavailable", "reason": error.message}, status_code=503)
        if not migrated:
            return JSONResponse({"status": "migrations pending"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "reachable", "migrations": "applied"})

    return readyz


# --- POST /cypher ---------------------------------------------------------------


def error_response(error: OrgGraphError) -> JSONResponse:
    """The GraphQL error shape, so clients of /graphql and /cypher parse one format."""
    return JSONResponse(error_body(error), status_code=error.http_status)


def request_principal(request: Request) -> Principal:
    """The principal the auth layer put on the request; LOCAL_ADMIN without auth."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else LOCAL_ADMIN


async def _cypher_body(request: Request) -> tuple[Any, Any]:
    try:
        body = decode_json_object(await request.body(), "{query, parameters}")
    except json.JSONDecodeError as error:
        raise BadInputError(error.msg) from error
    if "query" not in body:
        raise BadInputError("'query' is missing", field="query")
    return body["query"], body.get("parameters")


def _cypher_endpoint(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    from orggraph.graph.cypher import run_read_only

    async def cypher(request: Request) -> Response:
        try:
            principal = request_principal(request)
            require_cypher_access(principal)
            query, parameters = await _cypher_body(request)
            result = await run_read_only(
                state.require_graph(),
                query,
                parameters,
                state.settings.cypher_limits(),
                can_read_pii=principal.can_read_pii,
            )
        except OrgGraphError as error:
            return error_response(error)
        return JSONResponse({"data": {**result.to_json(), "elapsedMs": result.elapsed_ms}})

    return cypher


class BodySizeLimit:
    """Refuse (413 PAYLOAD_TOO_LARGE) HTTP request bodies above ``max_bytes``,
    by Content-Length or, when chunked, by counting while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLargeError(
            f"the request body is larger than {self.max_bytes} bytes", maxBytes=self.max_bytes
        )
        await error_response(error)(scope, receive, send)


class Authenticated:
    """Puts the request's principal in ``scope["state"]``; 401 UNAUTHENTICATED when the
    credentials are missing or bad. Without an authenticator (no auth configured) the
    request passes untouched and carries LOCAL_ADMIN. The GraphiQL page itself (a GET
    without a query) is served to anyone: its requests carry their own headers."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator | None) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.authenticator is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = self.authenticator.authenticate(
                request.headers.get("authorization"), request.headers.get("x-api-key")
            )
        except UnauthenticatedError as error:
            response = error_response(error)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
