"""The demo organisation loaded by ``orggraph serve --demo``.

It is the synthetic organisation generator at a small size (deterministic),
so a newcomer sees teams, processes, journeys, KPIs and SLAs at once. Its data
ends on the day it is loaded (the same seed on the same day writes the same
graph), so every KPI has a value for its last complete period, the current
partial one and a trend: the computed KPIs from the generated journeys, the
others (cost per lead, on-time delivery, ...) from reported measurements, one per
complete period, as a function would upload them.
Loading is idempotent on a given day: restarting with ``--demo`` changes nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from orggraph.graph.driver import Graph
from orggraph.settings import Settings

log = logging.getLogger(__name__)

DEMO_CUSTOMERS = 300
DEMO_SEED = 7
DEMO_SPAN_DAYS = 200
"""About six months and a half: each week has a few MQL follow-ups (the weekly SLA's
cases), the quarterly KPIs two complete quarters and the current one."""
DEMO_BATCH_TOUCHPOINTS = 1_000  # small transactions: quick even on a busy machine


async def load_demo(graph: Graph, settings: Settings, now: datetime | None = None) -> None:
    """Write the demo with data up to the start of ``now``'s day (default: now), then
    compute its KPIs at ``now`` (a KPI that fails is logged; start-up goes on)."""
    from orggraph.graph.demo_history import write_demo_history
    from orggraph.graph.kpis import compute_kpis
    from orggraph.graph.seed import seed_organisation, timeline_end, write_reported_measurements

    now = now or datetime.now(UTC)
    started = time.perf_counter()
    log.info(
        "loading the demo organisation (%d customers over %d days up to today, seed %d)",
        DEMO_CUSTOMERS, DEMO_SPAN_DAYS, DEMO_SEED,
    )  # fmt: skip
    today = now.date()
    # Seeding is bulk work: it runs under the write budget, not the interactive one.
    writer = graph.bounded_by(settings.write_timeout_s, "ORGGRAPH_WRITE_TIMEOUT_S")
    await seed_organisation(
        writer,
        customers=DEMO_CUSTOMERS,
        seed=DEMO_SEED,
        today=today,
        span_days=DEMO_SPAN_DAYS,
        batch_touchpoints=DEMO_BATCH_TOUCHPOINTS,
    )
    await write_reported_measurements(writer, DEMO_SEED, timeline_end(today), DEMO_SPAN_DAYS)
    if await write_demo_history(writer):
        log.info("demo history written: one hand-over and one reorganisation")
    computed = await compute_kpis(writer, now=now)
    failed = [c for c in computed if c.error is not None]
    log.info(
        "demo organisation loaded in %.1f s; %d KPI(s) computed%s",
        time.perf_counter() - started,
        len(computed) - len(failed),
        f", {len(failed)} failed" if failed else "",
    )
