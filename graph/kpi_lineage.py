"""A KPI's lineage: what feeds it, how much, and how it stands. One Cypher query."""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph

KPI_LINEAGE: LiteralString = """
MATCH (k:KPI {id: $kpiId})
WITH k,
  COLLECT { MATCH (k)-[:MEASURES]->(x:Process) RETURN x ORDER BY x.id } AS processes,
  COLLECT { MATCH (k)-[:MEASURES]->(x:Channel) RETURN x ORDER BY x.id } AS channels,
  COLLECT { MATCH (k)-[:MEASURES]->(x:Campaign) RETURN x ORDER BY x.id } AS campaigns,
  head(COLLECT { MATCH (k)-[:HAS_MEASUREMENT]->(m:Measurement)
                 WHERE m.periodEnd IS NULL OR m.at >= m.periodEnd
                 RETURN m ORDER BY m.periodStart DESC, m.at DESC LIMIT 1 }) AS latest
WITH k, processes, channels, campaigns, latest,
  COLLECT {
    MATCH (k)-[:MEASURES]->(s:Step) RETURN s
    UNION
    MATCH (k)-[:MEASURES]->(:Process)-[:HAS_STEP]->(s:Step) RETURN s
  } AS steps
CALL (steps, channels, campaigns, latest) {
  WITH steps, channels, campaigns, latest WHERE latest IS NOT NULL
  MATCH (t:Touchpoint)
  WHERE t.at >= latest.periodStart AND t.at < coalesce(latest.periodEnd, latest.at)
  WITH t, steps, channels, campaigns
  WHERE EXISTS { MATCH (t)-[:AT_STEP]->(s) WHERE s IN steps }
     OR EXISTS { MATCH (t)-[:VIA]->(c) WHERE c IN channels }
     OR EXISTS { MATCH (t)-[:FROM]->(c) WHERE c IN campaigns }
  RETURN count(t) AS touchpoints
}
WITH k, processes, channels, campaigns, latest, steps, touchpoints
RETURN k {.*} AS kpi,
  [x IN processes | x {.*}] AS processes,
  [x IN channels | x {.*}] AS channels,
  [x IN campaigns | x {.*}] AS campaigns,
  [x IN steps | x {.*}] AS steps,
  properties(latest) AS latest,
  touchpoints,
  head(COLLECT {
     MATCH (x:Team)-[:ACCOUNTABLE_FOR]->(k) RETURN x {.*} ORDER BY x.id
   }) AS accountable,
  COLLECT { MATCH (k)-[:SHARED_WITH]->(x:Team) RETURN x {.*} ORDER BY x.id } AS sharedWith,
  COLLECT {
    UNWIND steps AS s
    MATCH (x:Team)-[o:OWNS]->(s)
    WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
    RETURN x
    UNION
    UNWIND channels AS c
    MATCH (x:Team)-[:SERVES]->(c)
    RETURN x
    UNION
    UNWIND campaigns AS c
    MATCH (c)-[:RUN_BY]->(x:Team)
    RETURN x
  } AS feedingTeams,
  COLLECT { MATCH (k)-[:HAS_MEASUREMENT]->(m:Measurement)
            RETURN m {.*} ORDER BY m.periodStart DESC, m.id DESC LIMIT $last } AS series
"""
"""A KPI's lineage in one round trip, anchored on the KPI id constraint.

What it MEASURES (steps, processes, channels, campaigns; a measured
process contributes its steps), the touchpoints behind its latest value (at
one of those steps, via one of those channels or from one of those
campaigns, in the latest complete measurement's period ``[periodStart, periodEnd)``,
anchored on the Touchpoint ``at`` range index: the period bounds the work), the
accountable team, the teams it is shared with, the teams that feed it
(owners at ``$at`` of its steps, teams serving its channels, teams running
its campaigns) and its last ``$last`` measurements, newest first.
"""


async def kpi_lineage(graph: Graph, kpi_id: str, at: datetime, last: int) -> dict[str, Any] | None:
    records = await graph.query(KPI_LINEAGE, kpiId=kpi_id, at=at, last=last)
    if not records:
        return None
    raw = dict(records[0])
    raw["feedingTeams"] = sorted((dict(t) for t in raw["feedingTeams"]), key=lambda t: t["id"])
    raw["steps"] = sorted(raw["steps"], key=lambda s: s["id"])
    return raw
