"""Channel coverage: demand per channel against the teams that serve it. One Cypher query."""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.model import Window

TIME_UNITS: list[str] = ["seconds", "minutes", "hours", "days"]
"""A KPI with one of these units that MEASURES a channel is a response-time KPI of it."""

TRUNCATE_UNIT: dict[Window, str] = {
    Window.DAY: "day",
    Window.WEEK: "week",
    Window.MONTH: "month",
    Window.QUARTER: "quarter",
    Window.YEAR: "year",
}
"""``datetime.truncate`` units (an allow-list: never client text); weeks start on Monday."""

CHANNEL_COVERAGE: LiteralString = """
CALL () {
  MATCH (t:Touchpoint)-[:VIA]->(ch:Channel)
  WHERE t.at >= $from AND t.at < $to
  WITH ch.id AS channelId, datetime.truncate($unit, t.at) AS periodStart, count(*) AS touchpoints
  RETURN collect({channelId: channelId, periodStart: periodStart, touchpoints: touchpoints})
         AS demand
}
MATCH (ch:Channel)
WITH ch, [d IN demand WHERE d.channelId = ch.id] AS trend
WITH ch, trend,
  COLLECT {
    MATCH (k:KPI)-[:MEASURES]->(ch)
    WHERE toLower(k.unit) IN $timeUnits
    RETURN {kpi: k {.*},
            accountable: head(COLLECT { MATCH (x:Team)-[:ACCOUNTABLE_FOR]->(k)
                                        RETURN x.id ORDER BY x.id }),
            sharedWith: COLLECT { MATCH (k)-[:SHARED_WITH]->(x:Team) RETURN x.id ORDER BY x.id },
            latest: head(COLLECT { MATCH (k)-[:HAS_MEASUREMENT]->(m:Measurement)
                                   WHERE m.periodEnd IS NULL OR m.at >= m.periodEnd
                                   RETURN m {.*} ORDER BY m.periodStart DESC, m.id DESC LIMIT 1 })}
    ORDER BY k.id
  } AS kpis
RETURN ch {.*} AS channel,
  reduce(n = 0, d IN trend | n + d.touchpoints) AS touchpoints,
  trend,
  COLLECT { MATCH (x:Team)-[:SERVES]->(ch) RETURN x {.*} ORDER BY x.id } AS servingTeams,
  kpis
ORDER BY touchpoints DESC, ch.id
"""
"""Every channel's demand in ``[$from, $to)`` and who serves it, in one round trip.

Demand is anchored on the Touchpoint ``at`` range index (the window bounds the
work), counted per channel and per period (``datetime.truncate($unit, t.at)``,
UTC calendar periods) in the same pass. Per channel: its total and non-empty
periods, the teams that SERVE it and its response-time KPIs (KPIs that MEASURE
the channel in a time unit: ``$timeUnits``) with their accountable team, the
teams they are shared with and their latest measurement (newest complete period).
Channels without demand are listed too (with zero).
"""


async def channel_coverage(
    graph: Graph, window_from: datetime, window_to: datetime, period: Window
) -> list[dict[str, Any]]:
    records = await graph.query(
        CHANNEL_COVERAGE,
        unit=TRUNCATE_UNIT[period],
        timeUnits=TIME_UNITS,
        **{"from": window_from, "to": window_to},
    )
    return [dict(r) for r in records]
