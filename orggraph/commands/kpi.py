"""``orggraph kpi compute``: compute KPIs into Measurements (idempotent per period)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

from orggraph.errors import BadInputError
from orggraph.settings import Settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "kpi", help="KPIs computed from the graph"
    )
    commands = parser.add_subparsers(dest="kpi_command", metavar="COMMAND", required=True)
    compute = commands.add_parser(
        "compute",
        help="write one Measurement per period for every KPI with a definition (or --kpi)",
    )
    compute.add_argument("--kpi", metavar="ID", help="only this KPI")
    compute.add_argument(
        "--since",
        metavar="DATE",
        help="first period to compute (ISO date or datetime, UTC; default: the earliest data)",
    )
    compute.set_defaults(handler=compute_command)


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(
            f"--since: not an ISO date or datetime: {text!r}", field="since"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def compute_command(args: argparse.Namespace, settings: Settings) -> int:
    from orggraph.database import open_graph
    from orggraph.graph.kpis import is_partial
    from orggraph.kpi_schedule import recompute_after_write

    since = parse_since(args.since)

    async def run() -> int:
        async with open_graph(settings) as graph:
            computations = await recompute_after_write(graph, settings, since, args.kpi)
        for c in computations:
            if c.error is not None:
                print(f"{c.kpi_id}: not computed: {c.error}")
                continue
            complete = [m for m in c.measurements if not is_partial(m)]
            latest = complete[-1] if complete else None
            summary = (
                f"latest {latest['periodStart'].date()} value={latest['value']} "
                f"sample={latest['sampleSize']} {latest['status']}"
                if latest
                else "no periods"
            )
            print(f"{c.kpi_id}: {len(c.measurements)} period(s); {summary}")
        if not computations:
            print("no KPI with a definition")
        return 1 if any(c.error is not None for c in computations) else 0

    return asyncio.run(run())
