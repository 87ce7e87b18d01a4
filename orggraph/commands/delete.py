"""``orggraph delete LABEL ids... | --ids FILE [--cascade]``: the API's deletes from a shell.

Same rules as ``delete<Entities>`` (docs/model.md), one transaction per batch of
``ORGGRAPH_MAX_BATCH_SIZE`` ids (all or nothing per batch); an id that does not exist is
reported, not an error; a node owning dependents is refused unless ``--cascade``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from orggraph.errors import BadInputError
from orggraph.settings import Settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "delete", help="delete nodes of one label by id (one transaction, all or nothing)"
    )
    parser.add_argument("label", help="the label, e.g. Customer, Touchpoint, KPI")
    parser.add_argument("ids", nargs="*", help="the ids to delete")
    parser.add_argument(
        "--ids", dest="ids_file", type=Path, metavar="FILE", help="a file of ids, one a line"
    )
    parser.add_argument(
        "--cascade", action="store_true", help="also delete what the nodes own (see docs)"
    )
    parser.set_defaults(handler=delete_command)


def read_ids(args: argparse.Namespace) -> list[str]:
    ids = list(args.ids)
    if args.ids_file is not None:
        try:
            text = args.ids_file.read_text(encoding="utf-8")
        except OSError as error:
            raise BadInputError(
                f"--ids: cannot read {args.ids_file}: {error}", field="ids"
            ) from None
        ids += [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise BadInputError("no ids given (as arguments or with --ids FILE)", field="ids")
    return ids


def delete_command(args: argparse.Namespace, settings: Settings) -> int:
    from orggraph.database import open_graph
    from orggraph.events import publish_deletion
    from orggraph.graph.deletes import delete_nodes
    from orggraph.kpi_schedule import command_line_broker

    ids = read_ids(args)

    size = settings.max_batch_size

    async def run() -> int:
        deleted = missing = nodes = relationships = 0
        async with open_graph(settings) as graph, command_line_broker(settings) as broker:
            # A transaction per batch keeps a long list within the database's memory; a run
            # stopped half way is simply run again (deletes are idempotent). Its events go
            # to the service's subscribers when they share events through Redis.
            for start in range(0, len(ids), size):
                summary = await delete_nodes(
                    graph, args.label, ids[start : start + size], cascade=args.cascade
                )
                await publish_deletion(
                    graph, broker, summary.removed_touchpoints, summary.changed_touchpoints
                )
                deleted += len(summary.deleted_ids)
                missing += len(summary.missing_ids)
                nodes += summary.nodes_deleted
                relationships += summary.relationships_deleted
                for item in summary.missing_ids:
                    print(f"missing: {item}")
        print(
            f"{args.label}: {deleted} deleted, {missing} missing; {nodes} nodes and "
            f"{relationships} relationships deleted in all"
        )
        return 0

    return asyncio.run(run())
