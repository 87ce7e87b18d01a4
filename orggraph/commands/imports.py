"""``orggraph import ...`` (datasets, declarative CSV mappings) and ``orggraph seed``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from orggraph.graph.driver import Graph
from orggraph.settings import Settings

if TYPE_CHECKING:
    from orggraph.graph.importers.bulk import ChangeTracking
    from orggraph.graph.importers.common import ImportSummary

T = TypeVar("T")

# The shared datasets, each read from its directory: (source, help, importer module, function).
DATASETS: tuple[tuple[str, str, str, str], ...] = (
    ("northwind", "the Northwind Traders CSV set", "northwind", "import_northwind"),
    (
        "ocel2-order-management",
        "the OCEL 2.0 order-management log (flat CSV export)",
        "ocel_order_management",
        "import_order_management",
    ),
    (
        "ocel2-p2p",
        "the OCEL 2.0 procure-to-pay log (table CSVs)",
        "ocel_p2p",
        "import_p2p",
    ),
)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import", help="import a shared dataset or any CSV/JSON-lines files by a mapping"
    )
    sources = parser.add_subparsers(dest="import_command", metavar="SOURCE", required=True)

    for source, help_text, module, function in DATASETS:
        dataset = sources.add_parser(source, help=help_text)
        dataset.add_argument("directory", type=Path)
        _no_kpis_option(dataset)
        dataset.set_defaults(handler=_dataset_import(module, function))

    csv = sources.add_parser(
        "csv", help="CSV or JSON-lines files described by a declarative mapping (YAML/JSON)"
    )
    csv.add_argument("--mapping", type=Path, required=True, help="the mapping file")
    csv.add_argument(
        "--rejects",
        type=Path,
        help="skip bad rows into this CSV (file, line, column, reason) instead of stopping",
    )
    csv.add_argument(
        "--batch-size",
        type=int,
        default=5_000,
        help="rows of the first batch; later batches adapt to the time one takes",
    )
    csv.add_argument(
        "--check", action="store_true", help="validate the mapping and every row; write nothing"
    )
    _no_kpis_option(csv)
    csv.set_defaults(handler=import_csv)

    seed = subparsers.add_parser(
        "seed", help="generate a synthetic organisation with customer journeys (deterministic)"
    )
    seed.add_argument("--customers", type=int, default=1_000)
    seed.add_argument("--seed", type=int, default=1)
    seed.add_argument("--touchpoints-per-customer", type=float, default=10.0)
    seed.add_argument("--batch-size", type=int, default=10_000, help="touchpoints per batch")
    seed.add_argument(
        "--writers", type=int, default=1, help="batches written at once (1 is fastest on 2 cores)"
    )
    _no_kpis_option(seed)
    seed.set_defaults(handler=run_seed)


def _run(
    settings: Settings,
    job: Callable[[Graph, ChangeTracking | None], Awaitable[T]],
    args: argparse.Namespace,
) -> T:
    """Run a write job, publish the touchpoints it changed, then recompute every KPI unless
    ``--no-kpis`` (the job has committed: a KPI that cannot be computed is reported, the
    import stands)."""
    from orggraph.database import open_graph

    async def main() -> T:
        async with open_graph(settings) as opened:
            # Bulk work runs under the write budget, never the interactive read bound.
            graph = opened.bounded_by(settings.write_timeout_s, "ORGGRAPH_WRITE_TIMEOUT_S")
            tracking = _tracking(settings)
            result = await job(graph, tracking)
            await _publish_changes(graph, settings, result, tracking)
            if not getattr(args, "no_kpis", False):
                await _recompute_kpis(graph, settings)
            return result

    return asyncio.run(main())


MAX_IMPORT_EVENTS = 10_000
"""An import that changed more touchpoints publishes none of them (subscribers would drown):
its kpiUpdated events say what moved. A bulk load (OCEL datasets, seed) stops tracking its
changes past as many touchpoints written (graph/importers/bulk.py: two reads per batch)."""


def _tracking(settings: Settings) -> ChangeTracking | None:
    """Bulk loads track the touchpoints they change only when someone can hear of them: the
    service shares events through Redis (an import runs in its own process: an in-process
    broker has no subscribers here)."""
    from orggraph.graph.importers.bulk import ChangeTracking

    return ChangeTracking(MAX_IMPORT_EVENTS) if settings.events == "redis" else None


async def _publish_changes(
    graph: Graph, settings: Settings, result: Any, tracking: ChangeTracking | None
) -> None:
    """touchpointAdded for the touchpoints an import or a seed changed, through Redis when
    the service shares events through it; none above ``MAX_IMPORT_EVENTS``."""
    from orggraph.events import publish_touchpoints
    from orggraph.kpi_schedule import command_line_broker

    if settings.events != "redis":
        return
    changed = list(
        dict.fromkeys(getattr(getattr(result, "writes", None), "changed_touchpoints", None) or [])
    )
    if (tracking is not None and tracking.exceeded) or len(changed) > MAX_IMPORT_EVENTS:
        _say(f"over {MAX_IMPORT_EVENTS:,} touchpoints written: no touchpointAdded events")
        return
    if not changed:
        return
    async with command_line_broker(settings) as broker:
        await publish_touchpoints(graph, broker, changed)
    _say(f"touchpointAdded published for {len(changed):,} changed touchpoint(s)")


async def _recompute_kpis(graph: Graph, settings: Settings) -> None:
    from orggraph.errors import OrgGraphError
    from orggraph.kpi_schedule import recompute_after_write

    try:
        computed = await recompute_after_write(graph, settings)
    except OrgGraphError as error:
        _say(f"KPIs not recomputed: {error.message}")
        return
    periods = sum(len(c.measurements) for c in computed)
    _say(f"KPIs recomputed: {len(computed)} KPI(s), {periods} measurement(s)")
    for failed in (c for c in computed if c.error is not None):
        _say(f"KPI {failed.kpi_id} not computed: {failed.error}")


def _no_kpis_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-kpis",
        action="store_true",
        help="do not recompute the KPIs afterwards (default: every KPI with a definition)",
    )


def _dataset_import(module: str, function: str) -> Callable[[argparse.Namespace, Settings], int]:
    """The handler of one shared dataset: ``function`` of ``graph/importers/<module>.py``
    (imported when the command runs) on the directory, then the summary."""

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        importer = importlib.import_module(f"orggraph.graph.importers.{module}")
        run: Callable[..., Awaitable[ImportSummary]] = getattr(importer, function)
        summary = _run(
            settings,
            lambda graph, tracking: run(graph, args.directory, progress=_say, tracking=tracking),
            args,
        )
        print(summary.describe())
        return 0

    return handler


def import_csv(args: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.importers.mapping import load_mapping, run_mapping

    mapping = load_mapping(args.mapping)
    if args.check:
        from orggraph.graph.importers.mapping import check_mapping

        result = check_mapping(mapping, rejects=args.rejects)
        print(result.describe())
        return 0 if not result.rejected else 1
    summary = _run(
        settings,
        lambda graph, _: run_mapping(  # a mapping import always reports its changes
            graph, mapping, rejects=args.rejects, batch_size=args.batch_size, progress=_say
        ),
        args,
    )
    print(summary.describe())
    return 0


def run_seed(args: argparse.Namespace, settings: Settings) -> int:
    from orggraph.graph.seed import seed_organisation

    summary = _run(
        settings,
        lambda graph, tracking: seed_organisation(
            graph,
            customers=args.customers,
            seed=args.seed,
            progress=_say,
            touchpoints_per_customer=args.touchpoints_per_customer,
            batch_touchpoints=args.batch_size,
            writers=args.writers,
            tracking=tracking,
        ),
        args,
    )
    print(
        f"seed {summary.seed}: {summary.customers:,} customers, {summary.touchpoints:,} "
        f"touchpoints, {summary.deals:,} deals ({summary.deals_won:,} won), "
        f"{summary.follow_up_breaches:,}/{summary.follow_ups:,} MQL follow-ups over the SLA; "
        f"{summary.seconds:.1f} s ({summary.touchpoints_per_second:,.0f} touchpoints/s); "
        f"created {summary.writes.nodes_created:,} nodes, "
        f"{summary.writes.relationships_created:,} relationships"
    )
    return 0
