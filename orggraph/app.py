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
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from orggraph.context import Context
from orggraph.errors import OrgGraphError
from orggraph.events import make_broker
from orggraph.graph.driver import Graph
from orggraph.graph.migrations import is_up_to_date
from orggraph.kpi_engine import run_kpi_schedule
from orggraph.schema import build_schema
from orggraph.settings import Settings

log = logging.getLogger(__name__)

# Something that opens the service's database for the app's lifetime.
GraphOpener = Callable[[Settings], contextlib.AbstractAsyncContextManager[Graph]]
StartupHook = Callable[[Graph, Settings], Awaitable[None]]


class OrgGraphGraphQL(GraphQL[Context, None]):
    def __init__(self, app_state: AppState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_state = app_state

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        graph = self.app_state.require_graph()
        http_response = response if isinstance(response, Response) else None
        context = Context.for_request(graph, self.app_state.settings, request, http_response)
        context.extras["broker"] = self.app_state.broker
        return context


class AppState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.graph: Graph | None = None
        self.broker = make_broker(settings)  # live subscriptions (orggraph.events)
        self.kpi_schedule: asyncio.Task[None] | None = None  # when ORGGRAPH_KPI_INTERVAL_S

    def require_graph(self) -> Graph:
        if self.graph is None:
            from orggraph.errors import DatabaseUnavailableError

            raise DatabaseUnavailableError("the service is starting; the database is not open yet")
        return self.graph


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

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if state.graph is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            await state.graph.ping()
            migrated = await is_up_to_date(state.graph)
        except OrgGraphError as error:
            return JSONResponse({"status": "unavailable", "reason": error.message}, status_code=503)
        if not migrated:
            return JSONResponse({"status": "migrations pending"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "reachable", "migrations": "applied"})

    routes: list[Any] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.orggraph = state
    return app
