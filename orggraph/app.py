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
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
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
from orggraph.http_security import (
    AllowedHosts,
    CodedTransportWSHandler,
    CodedWSHandler,
    CsrfPrevention,
    decode_json_object,
    error_body,
)
from orggraph.kpi_schedule import run_kpi_schedule
from orggraph.settings import Settings
from orggraph.tracking_http import TrackingApi

log = logging.getLogger(__name__)

# The explorer: a static page at `/` that only talks to /graphql (docs/explorer.md).
EXPLORER_DIR = Path(__file__).parent / "explorer"

# Something that opens the service's database for the app's lifetime.
GraphOpener = Callable[[Settings], contextlib.AbstractAsyncContextManager[Graph]]
StartupHook = Callable[[Graph, Settings], Awaitable[None]]


class OrgGraphGraphQL(GraphQL[Context, None]):
    # Every error frame carries an extensions.code (orggraph.http_security).
    graphql_transport_ws_handler_class = CodedTransportWSHandler
    graphql_ws_handler_class = CodedWSHandler

    def __init__(self, app_state: AppState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_state = app_state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As Strawberry's, but a request it refuses (bad JSON, a batch, an unknown content
        type, ...) is answered in the GraphQL error shape with a code, not plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as refused:
            error = (NotFoundError if refused.status_code == 404 else BadInputError)(refused.reason)
            response = JSONResponse(error_body(error), status_code=refused.status_code)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """Bodies, GET variables and WebSocket messages: one JSON object of bounded depth."""
        return decode_json_object(data, "{query, variables, operationName}")

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except json.JSONDecodeError as error:  # its own message, not Strawberry's generic one
            raise HTTPException(400, error.msg) from error

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


class AppState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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
) -> Starlette:
    """Build the app. Give ``graph`` to reuse an open database, else ``open_graph``
    (default: ``orggraph.database.open_graph``) opens one for the app's lifetime."""
    state = AppState(settings)
    graphql_app = OrgGraphGraphQL(
        state,
        schema=build_schema(settings),
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if graph is not None:
                opened = graph
            else:
                opened = await stack.enter_async_context(_opener(open_graph)(settings))
            state.graph = opened
            await state.broker.start()
            stack.push_async_callback(state.broker.aclose)
            for hook in on_startup or []:
                await hook(opened, settings)
            if settings.kpi_interval_s:
                state.kpi_schedule = await stack.enter_async_context(
                    run_kpi_schedule(opened, state.broker, settings.kpi_interval_s)
                )
            yield
            state.graph = None

    def database_health() -> dict[str, str]:
        """The supervisor's word on an embedded database ({} for others): restarting, why."""
        from orggraph.database import supervisor_of

        supervisor = supervisor_of(state.graph) if state.graph is not None else None
        return supervisor.health() if supervisor is not None else {}

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", **database_health()})

    async def readyz(_: Request) -> Response:
        if state.graph is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        health = database_health()
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

    async def explorer(_: Request) -> Response:
        return FileResponse(EXPLORER_DIR / "index.html")

    routes: list[Any] = [
        Route("/", explorer, methods=["GET"]),
        Mount("/explorer", StaticFiles(directory=EXPLORER_DIR), name="explorer"),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(
            "/graphql",
            CsrfPrevention(
                Authenticated(
                    BodySizeLimit(graphql_app, settings.max_body_bytes), state.authenticator
                )
            ),
            methods=["GET", "POST"],
        ),
        WebSocketRoute("/graphql", graphql_app),
        Route(
            "/cypher",
            CsrfPrevention(
                Authenticated(
                    BodySizeLimit(
                        request_response(_cypher_endpoint(state)), settings.max_body_bytes
                    ),
                    state.authenticator,
                )
            ),
            methods=["POST"],
        ),
    ]
    # Live tracking (docs/tracking.md): the Segment HTTP API at /v1/*, when write keys are set.
    routes += TrackingApi(settings, state.require_graph, lambda: state.broker).routes()
    # A Host the service does not answer is refused first (DNS rebinding), upgrades too.
    hosts = Middleware(AllowedHosts, allowed_hosts=settings.trusted_hosts())
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[hosts])
    app.state.orggraph = state
    return app


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
        request = Request(scope)
        if request.method == "GET" and "query" not in request.query_params:
            await self.app(scope, receive, send)
            return
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
