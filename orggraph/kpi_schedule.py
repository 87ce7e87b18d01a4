"""Measuring constantly: recompute KPIs on a schedule, publishing ``kpiUpdated``.

``run_kpi_schedule(graph, broker, interval)`` is an async context manager that
runs a background task for its lifetime: every ``interval`` seconds it
recomputes every KPI with a definition over the periods touching the last
``lookback`` (default 35 days: the current and the previous day, week or month),
then publishes each committed computation. A failing run is logged and retried
at the next tick; it never stops the service.

The app's lifespan runs it when ``ORGGRAPH_KPI_INTERVAL_S`` is set (orggraph/app.py).
Imports and seeding recompute every KPI afterwards (:func:`recompute_after_write`), and
so does ``orggraph kpi compute``; from the command line the events reach the service's
subscribers only through Redis (``ORGGRAPH_EVENTS=redis``), as the CLI is another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from orggraph.errors import OrgGraphError
from orggraph.events import Broker, make_broker, publish_computation
from orggraph.graph.driver import Graph
from orggraph.graph.kpis import KpiComputation, compute_kpis

if TYPE_CHECKING:
    from orggraph.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_LOOKBACK = timedelta(days=35)


async def recompute_recent(
    graph: Graph, broker: Broker | None, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[KpiComputation]:
    """One scheduled run: every KPI, periods touching the last ``lookback``."""
    since = datetime.now(UTC) - lookback
    return await compute_kpis(
        graph, since=since, on_commit=lambda c: publish_computation(broker, c)
    )


@contextlib.asynccontextmanager
async def command_line_broker(settings: Settings) -> AsyncIterator[Broker | None]:
    """The broker a command-line run publishes to: Redis when the service shares events
    through it (so its subscribers hear about the run), else none (nobody would listen)."""
    if settings.events != "redis":
        yield None
        return
    broker = make_broker(settings)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.aclose()  # sends what is queued first


async def recompute_after_write(
    graph: Graph, settings: Settings, since: datetime | None = None, kpi_id: str | None = None
) -> list[KpiComputation]:
    """Recompute KPIs (every one by default, from the earliest data) after a command-line
    write such as an import, publishing kpiUpdated/slaBreached when events go to Redis."""
    async with command_line_broker(settings) as broker:
        return await compute_kpis(
            graph, kpi_id, since, on_commit=lambda c: publish_computation(broker, c)
        )


@contextlib.asynccontextmanager
async def run_kpi_schedule(
    graph: Graph,
    broker: Broker | None,
    interval: float,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> AsyncIterator[asyncio.Task[None]]:
    """Recompute KPIs every ``interval`` seconds (first run right away) until exit."""

    async def loop() -> None:
        while True:
            try:
                computed = await recompute_recent(graph, broker, lookback)
                log.info("recomputed %d KPI(s)", len(computed))
            except OrgGraphError as error:
                log.warning("scheduled KPI computation failed: %s", error.message)
            except Exception:
                log.exception("scheduled KPI computation failed")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="kpi-schedule")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
