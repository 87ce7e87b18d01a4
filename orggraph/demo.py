"""The demo organisation loaded by ``orggraph serve --demo``.

It is the synthetic organisation generator at a small size (deterministic),
so a newcomer sees teams, processes, journeys, KPIs and SLAs at once.
Loading is idempotent: restarting with ``--demo`` changes nothing.
"""

from __future__ import annotations

import logging

from orggraph.graph.driver import Graph
from orggraph.settings import Settings

log = logging.getLogger(__name__)

DEMO_CUSTOMERS = 200
DEMO_SEED = 7


async def load_demo(graph: Graph, settings: Settings) -> None:
    from orggraph.graph.seed import seed_organisation

    log.info("loading the demo organisation (%d customers, seed %d)", DEMO_CUSTOMERS, DEMO_SEED)
    await seed_organisation(graph, customers=DEMO_CUSTOMERS, seed=DEMO_SEED)
    from orggraph.graph.demo_history import write_demo_history

    if await write_demo_history(graph):
        log.info("demo history written: one hand-over and one reorganisation")
    from orggraph.graph.kpis import compute_kpis

    computed = await compute_kpis(graph)
    log.info("demo organisation loaded; %d KPI(s) computed", len(computed))
