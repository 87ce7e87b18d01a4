"""The per-request GraphQL context: the database, settings, and fresh loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from orggraph.auth import LOCAL_ADMIN, Principal
from orggraph.graph.driver import Graph
from orggraph.loaders import Loaders
from orggraph.settings import Settings


@dataclass
class Context:
    graph: Graph
    settings: Settings
    loaders: Loaders
    request: Request | WebSocket | None = None
    response: Response | None = None
    # Who is asking (set by the auth layer; LOCAL_ADMIN when auth is not configured).
    principal: Principal = LOCAL_ADMIN
    extras: dict[str, Any] = field(default_factory=dict)
    # What a WebSocket client sent in connection_init (set by Strawberry).
    connection_params: dict[str, Any] | None = None

    @classmethod
    def for_request(
        cls,
        graph: Graph,
        settings: Settings,
        request: Request | WebSocket | None = None,
        response: Response | None = None,
    ) -> Context:
        return cls(graph, settings, Loaders(graph), request, response)


Info = StrawberryInfo[Context, None]
