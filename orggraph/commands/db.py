"""``orggraph db start|stop|status|migrate``: the embedded Neo4j on its own."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from orggraph.settings import Settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "db", help="run the embedded Neo4j in the background, or migrate a database"
    )
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    actions.add_parser("start", help="start the embedded Neo4j in the background").set_defaults(
        handler=start
    )
    actions.add_parser("stop", help="stop the background Neo4j").set_defaults(handler=stop)
    actions.add_parser("status", help="print the background Neo4j's Bolt URI").set_defaults(
        handler=status
    )
    actions.add_parser(
        "migrate", help="apply pending schema migrations (constraints, indexes)"
    ).set_defaults(handler=migrate)


def start(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.database import runtime_config
    from orggraph.graph.runtime import running_database, start_background

    running = running_database(settings.home)
    if running is not None:
        print(f"already running: {running.bolt_uri} (pid {running.pid})")
        return 0
    state = start_background(runtime_config(settings))
    print(f"started: {state.bolt_uri} (pid {state.pid}, home {settings.home})")
    return 0


def stop(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.runtime import stop_background

    if stop_background(settings.home):
        print("stopped")
    else:
        print("not running")
    return 0


def status(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.runtime import running_database

    running = running_database(settings.home)
    if running is None:
        print(f"not running (home {settings.home})")
        return 3
    print(running.bolt_uri)
    return 0


def migrate(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.database import open_graph
    from orggraph.graph.migrations import MIGRATIONS, migrate as apply

    async def run() -> list[int]:
        async with open_graph(settings, apply_migrations=False) as graph:
            return await apply(graph)

    applied = asyncio.run(run())
    if applied:
        print("applied migrations: " + ", ".join(str(v) for v in applied))
    else:
        print(f"up to date (version {MIGRATIONS[-1].version})")
    return 0
