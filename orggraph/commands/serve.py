"""``orggraph serve``: the GraphQL service, on the embedded Neo4j unless NEO4J_URI is set."""

from __future__ import annotations

import argparse
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from orggraph.settings import Settings

if TYPE_CHECKING:
    from orggraph.graph.driver import Graph

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the GraphQL service (starts the embedded Neo4j if needed)"
    )
    parser.add_argument("--host", help="bind address (default ORGGRAPH_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default ORGGRAPH_PORT, 8000)")
    parser.add_argument(
        "--demo", action="store_true", help="load the built-in demo organisation at start-up"
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from orggraph.app import create_app
    from orggraph.demo import load_demo

    updates: dict[str, Any] = {}
    if args.host:
        updates["host"] = args.host
    if args.port is not None:
        updates["port"] = args.port
    settings = settings.model_copy(update=updates)
    if not settings.auth_configured and not is_loopback(settings.host):
        log.error(
            "refusing to serve on %s without authentication: anyone who can reach it could "
            "read and write everything. Bind to 127.0.0.1 (the default), or configure "
            "ORGGRAPH_JWT_SECRET, ORGGRAPH_JWT_PUBLIC_KEY_FILE, ORGGRAPH_JWKS_FILE or "
            "ORGGRAPH_API_KEYS_FILE (docs/security.md).",
            settings.host,
        )
        return 2
    app = create_app(
        settings, open_graph=recorded_graph, on_startup=[load_demo] if args.demo else None
    )
    log.info("GraphQL (and GraphiQL) at http://%s:%d/graphql", settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def recorded_graph(settings: Settings) -> contextlib.AbstractAsyncContextManager[Graph]:
    """The service's database, recorded while it runs so that `orggraph db status` shows it
    and `orggraph cypher` uses it (docs/cypher.md)."""
    from orggraph.database import open_graph

    return open_graph(settings, record_as="orggraph serve")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; anything else (0.0.0.0 included) is exposed."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
