"""``orggraph db start|stop|status|password|migrate|backup|restore``: the embedded Neo4j;
``orggraph db check-derived|rebuild-derived``: the facts the write layer keeps, on any Neo4j.

The embedded Bolt asks for user ``neo4j`` and the password kept in
``ORGGRAPH_HOME/bolt-password``: ``status`` prints the address and the user,
``password`` the password (to the home's owner only), for analysts' Cypher clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
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
    actions.add_parser(
        "status", help="print the background Neo4j's Bolt URI and user"
    ).set_defaults(handler=status)
    actions.add_parser(
        "password", help="print the embedded Neo4j's Bolt password (user neo4j)"
    ).set_defaults(handler=password)
    actions.add_parser(
        "migrate", help="apply pending schema migrations (constraints, indexes)"
    ).set_defaults(handler=migrate)
    checking = actions.add_parser(
        "check-derived",
        help="report customers (and touchpoints) whose derived facts (NEXT, REACHED, LATEST, "
        f"IN_DAY) drifted from their touchpoints (exit {DRIFT_FOUND} when any did)",
    )
    _customer_option(checking, "check only this customer (repeatable)")
    checking.set_defaults(handler=check_derived)
    rebuilding = actions.add_parser(
        "rebuild-derived", help="recompute the derived facts from the touchpoints"
    )
    _customer_option(rebuilding, "rebuild only this customer (repeatable)")
    rebuilding.set_defaults(handler=rebuild_derived)
    saving = actions.add_parser(
        "backup", help="copy the stopped embedded database to a .tar.gz (offline backup)"
    )
    saving.add_argument("output", type=Path, help="the archive to write, e.g. orggraph.tar.gz")
    saving.set_defaults(handler=backup)
    loading = actions.add_parser(
        "restore", help="put a backup in ORGGRAPH_HOME (the database must be stopped)"
    )
    loading.add_argument("archive", type=Path, help="an archive written by `orggraph db backup`")
    loading.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing database (it is moved aside, not deleted)",
    )
    loading.set_defaults(handler=restore)


DRIFT_FOUND = 4
"""``check-derived``'s exit code when a derived fact drifted (1 is any other failure)."""


def _customer_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--customer", dest="customers", action="append", metavar="ID", help=help)


def start(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.database import runtime_config
    from orggraph.graph.runtime import running_database, start_background

    running = running_database(settings.home)
    if running is not None:
        print(f"already running: {running.bolt_uri} (pid {running.pid})")
        return 0
    state = start_background(runtime_config(settings))
    print(f"started: {state.bolt_uri} (pid {state.pid}, home {settings.home})")
    print(_credentials_hint())
    return 0


def stop(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.runtime import EmbeddedNeo4jError, stop_background

    try:
        stopped = stop_background(settings.home)
    except EmbeddedNeo4jError as error:
        print(f"not stopped: {error}", file=sys.stderr)
        return 2
    if stopped:
        print("stopped")
    else:
        print("not running")
    return 0


def status(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.runtime import describe, running_database

    running = running_database(settings.home)
    if running is None:
        print(f"not running (home {settings.home})")
        return 3
    print(running.bolt_uri)
    print(_credentials_hint())
    print(f"served by {describe(running)}")
    return 0


def _credentials_hint() -> str:
    from orggraph.graph.runtime import BOLT_USER

    return f"user: {BOLT_USER} (password: `orggraph db password`)"


def password(_: argparse.Namespace, settings: Settings) -> int:
    """The password is an admin credential (Neo4j Community has no roles): only the owner of
    the home may read it, which the file's 0600 mode also says."""
    from orggraph.graph.runtime import PASSWORD_FILE, bolt_password

    path = settings.home / PASSWORD_FILE
    try:
        owner = path.stat().st_uid if path.exists() else settings.home.stat().st_uid
    except FileNotFoundError:
        owner = os.getuid()  # no home yet: it is created for this user
    if owner != os.getuid():
        print(f"refused: {path} belongs to another user", file=sys.stderr)
        return 2
    try:
        print(bolt_password(settings.home))
    except OSError as error:
        print(f"cannot read the password: {error}", file=sys.stderr)
        return 2
    return 0


def migrate(_: argparse.Namespace, settings: Settings) -> int:
    from orggraph.database import open_graph
    from orggraph.graph.migrations import MIGRATIONS
    from orggraph.graph.migrations import migrate as apply

    async def run() -> list[int]:
        async with open_graph(settings, apply_migrations=False) as graph:
            return await apply(graph)

    applied = asyncio.run(run())
    if applied:
        print("applied migrations: " + ", ".join(str(v) for v in applied))
    else:
        print(f"up to date (version {MIGRATIONS[-1].version})")
    return 0


def backup(args: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.backups import BackupError
    from orggraph.graph.backups import backup as write_backup

    try:
        summary = write_backup(settings.home, args.output, progress=print)
    except BackupError as error:
        print(f"backup refused: {error}")
        return 2
    print(
        f"backup written: {summary.archive} ({summary.files} files, {summary.bytes / 1e6:.1f} MB)"
    )
    return 0


def restore(args: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.backups import BackupError
    from orggraph.graph.backups import restore as read_backup

    try:
        kept = read_backup(settings.home, args.archive, replace=args.replace)
    except BackupError as error:
        print(f"restore refused: {error}")
        return 2
    if kept is not None:
        print(f"the previous database was moved to {kept}")
    print(f"restored {args.archive} into {settings.home}; start it with `orggraph db start`")
    return 0


def check_derived(args: argparse.Namespace, settings: Settings) -> int:
    """Per fact: customers checked, drifted, and the first few drifted with what differs."""
    from orggraph.database import open_graph
    from orggraph.graph.derived import Drift
    from orggraph.graph.derived import check_derived as check

    async def run() -> list[Drift]:
        async with open_graph(settings) as graph:
            return await check(graph, args.customers, progress=_say)

    drifts = asyncio.run(run())
    for drift in drifts:
        print(f"{drift.fact}: {drift.checked:,} {drift.unit} checked, {drift.drifted:,} drifted")
        for customer, problems in drift.examples.items():
            print(f"  {customer}: {', '.join(problems)}")
        if drift.drifted > len(drift.examples):
            print(f"  ... and {drift.drifted - len(drift.examples):,} more")
    if any(drift.drifted for drift in drifts):
        print("drift found: `orggraph db rebuild-derived` recomputes the facts")
        return DRIFT_FOUND
    return 0


def rebuild_derived(args: argparse.Namespace, settings: Settings) -> int:
    """Per family of facts: customers rebuilt and the relationships and properties changed."""
    from orggraph.database import open_graph
    from orggraph.graph.derived import Rebuilt
    from orggraph.graph.derived import rebuild_derived as rebuild

    async def run() -> list[Rebuilt]:
        async with open_graph(settings) as graph:
            return await rebuild(graph, args.customers, progress=_say)

    for rebuilt in asyncio.run(run()):
        changes = rebuilt.changes
        print(
            f"{rebuilt.family}: {rebuilt.rebuilt:,} {rebuilt.unit} rebuilt; "
            f"{changes.relationships_created:,} relationships created, "
            f"{changes.relationships_deleted:,} deleted, {changes.properties_set:,} properties set"
        )
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
