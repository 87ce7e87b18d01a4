"""Where the service's Neo4j comes from.

Order of preference: ``NEO4J_URI`` (any external Neo4j: server, cluster,
Aura); else the embedded database already running in the background
(``orggraph db start``); else an embedded database started for the lifetime
of the calling command and stopped when it ends.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from orggraph.graph.driver import Graph
from orggraph.graph.migrations import migrate
from orggraph.graph.personal import personal_data
from orggraph.settings import Settings

log = logging.getLogger(__name__)


def runtime_config(settings: Settings):  # type: ignore[no-untyped-def]
    from orggraph.graph.runtime import RuntimeConfig

    return RuntimeConfig(
        home=settings.home,
        cache_dir=settings.cache_dir,
        bolt_port=settings.bolt_port,
        heap=settings.neo4j_heap,
        pagecache=settings.neo4j_pagecache,
        start_timeout_s=settings.neo4j_start_timeout_s,
    )


def connect(settings: Settings, uri: str) -> Graph:
    password = settings.neo4j_password
    external = bool(settings.neo4j_uri)
    return Graph.connect(
        uri,
        settings.neo4j_user if external and password else None,
        password.get_secret_value() if external and password else None,
        settings.neo4j_database,
        timeout_s=settings.query_timeout_s,
        personal=personal_data(settings),  # the key personal properties are sealed with
        connection_timeout=settings.neo4j_connection_timeout_s,
        connection_acquisition_timeout=settings.neo4j_acquisition_timeout_s,
        max_transaction_retry_time=settings.neo4j_max_retry_time_s,
    )


@contextlib.asynccontextmanager
async def open_graph(settings: Settings, *, apply_migrations: bool = True) -> AsyncIterator[Graph]:
    """Yield a connected, migrated Graph; start an embedded Neo4j if needed."""
    async with contextlib.AsyncExitStack() as stack:
        uri = settings.neo4j_uri or _embedded_uri(settings, stack)
        graph = connect(settings, uri)
        stack.push_async_callback(graph.close)
        await graph.ping()
        if apply_migrations:
            applied = await migrate(graph)
            if applied:
                log.info("applied migrations %s", applied)
        yield graph


def _embedded_uri(settings: Settings, stack: contextlib.AsyncExitStack) -> str:
    from orggraph.graph.runtime import EmbeddedNeo4j, running_database

    running = running_database(settings.home)
    if running is not None:
        log.info("using the background database at %s", running.bolt_uri)
        return running.bolt_uri
    runtime = EmbeddedNeo4j(runtime_config(settings))
    log.info("starting the embedded Neo4j (home %s)", settings.home)
    uri = runtime.start()
    stack.callback(runtime.stop)
    return uri
