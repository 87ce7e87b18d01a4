"""``orggraph serve``: the GraphQL service, on the embedded Neo4j unless NEO4J_URI is set."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

from orggraph.settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from orggraph.app import StartupHook
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
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (uvicorn); more than 1 needs ORGGRAPH_EVENTS=redis and a "
        "shared database (NEO4J_URI or `orggraph db start`)",
    )
    parser.set_defaults(handler=serve)


# What a worker process (``--workers`` > 1) reads to build the same app as its parent.
DEMO_ENV = "ORGGRAPH_SERVE_DEMO"


def app_for_worker() -> Starlette:
    """The app of one worker process, from the environment the parent prepared."""
    from orggraph.app import create_app
    from orggraph.demo import load_demo

    hooks: list[StartupHook] = [load_demo] if os.environ.get(DEMO_ENV) == "1" else []
    return create_app(Settings(), on_startup=hooks, background_startup=True)


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
    if settings.log_format == "json":
        use_json_logs()
    if args.workers > 1:
        refusal = workers_refusal(settings, args.workers)
        if refusal:
            log.error("%s", refusal)
            return 2
        return serve_workers(settings, args.workers, demo=args.demo)
    app = create_app(
        settings,
        open_graph=recorded_graph,
        on_startup=[load_demo] if args.demo else None,
        background_startup=True,
    )
    log.info(
        "listening at http://%s:%d (GraphQL at /graphql); /readyz answers 200 once start-up "
        "is done",
        settings.host,
        settings.port,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def recorded_graph(settings: Settings) -> contextlib.AbstractAsyncContextManager[Graph]:
    """The service's database, recorded while it runs so that `orggraph db status` shows it
    and `orggraph cypher` uses it (docs/cypher.md)."""
    from orggraph.database import open_graph

    return open_graph(settings, record_as="orggraph serve")


def workers_refusal(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes cannot serve these settings, or None."""
    if settings.events != "redis":
        return (
            f"refusing --workers {workers} without ORGGRAPH_EVENTS=redis: a subscription on "
            "one worker would miss the events of writes served by the others "
            "(docs/operations.md#workers)"
        )
    if settings.uses_embedded_database:
        from orggraph.graph.runtime import running_database

        if running_database(settings.home) is None:
            return (
                f"refusing --workers {workers} on a database of their own each: set NEO4J_URI "
                "or start the shared background database with `orggraph db start` first"
            )
    return None


def serve_workers(settings: Settings, workers: int, *, demo: bool) -> int:
    import uvicorn

    os.environ["ORGGRAPH_HOST"], os.environ["ORGGRAPH_PORT"] = settings.host, str(settings.port)
    os.environ[DEMO_ENV] = "1" if demo else "0"
    log.info("%d workers listening at http://%s:%d", workers, settings.host, settings.port)
    uvicorn.run(
        f"{__name__}:app_for_worker",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
    )
    return 0


def use_json_logs() -> None:
    """ORGGRAPH_LOG_FORMAT=json: every handler of the root logger writes JSON lines."""
    from orggraph.observability import JsonLogFormatter

    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonLogFormatter())


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; anything else (0.0.0.0 included) is exposed."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
