"""The attribution query as the tests send it, and the dates of their hand-built journeys
(shared by the hand-computed tests and the check against the reference)."""

from __future__ import annotations

from typing import Any

from orggraph.graph.driver import Graph
from tests.helpers import execute, ok

ATTRIBUTION = """
query A($model: AttributionModel!, $by: AttributionDimension!, $from: DateTime, $to: DateTime,
        $half: Float, $currency: String, $split: MarkovSplit) {
  attribution(model: $model, by: $by, from: $from, to: $to, halfLifeDays: $half,
              currency: $currency, markovSplit: $split) {
    model by currency halfLifeDays markovSplit
    rows { key name credit share deals journeys removalEffect }
    wonRevenue attributedRevenue unattributedRevenue dealCount unattributedDeals
    nonConvertingJourneys
  }
}
"""


def at(day: int, hour: int = 0) -> str:
    return f"2024-03-{day:02d}T{hour:02d}:00:00Z"


async def run(graph: Graph, **variables: Any) -> dict[str, Any]:
    return ok(await execute(graph, ATTRIBUTION, variables))["attribution"]  # type: ignore[no-any-return]
