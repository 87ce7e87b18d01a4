"""Measuring constantly: recompute KPIs on a schedule, publishing ``kpiUpdated``.

``run_kpi_schedule(graph, broker, interval)`` is an async context manager that
runs a background task for its lifetime: every ``interval`` seconds it
recomputes every KPI with a definition over the periods touching the last
``lookback`` (default 35 days: the current and the previous day, week or month),
then publishes each committed computation. A failing run is logged and retried
at the next tick; it never stops the service.

Wire it into the app's lifespan (next to the broker), e.g.
``await stack.enter_async_context(run_kpi_schedule(graph, state.broker, 300))``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from orggraph.errors import OrgGraphError
from orggraph.events import Broker, publish_after_commit
from orggraph.graph.driver import Graph
from orggraph.graph.kpis import KpiComputation, compute_kpis

log = logging.getLogger(__name__)
DEFAULT_LOOKBACK = timedelta(days=35)


def publish_computation(broker: Broker | None, computation: KpiComputation) -> None:
    """kpiUpdated, and slaBreached for off-target SLA compliance, after the commit."""
    publish_after_commit(broker, "kpiUpdated", [computation.event()])
    publish_after_commit(broker, "slaBreached", computation.breaches())


async def recompute_recent(
    graph: Graph, broker: Broker | None, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[KpiComputation]:
    """One scheduled run: every KPI, periods touching the last ``lookback``."""
    since = datetime.now(UTC) - lookback
    return await compute_kpis(
        graph, since=since, on_commit=lambda c: publish_computation(broker, c)
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
