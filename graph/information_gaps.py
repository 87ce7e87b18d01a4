"""Information gaps between who moves a KPI and who sees it. One Cypher query.

A KPI is **fed** by the steps it MEASURES and the steps of the processes it
MEASURES (the notion of ``orggraph.graph.kpi_lineage``); a team **owns** a step
at ``$at`` when its OWNS relationship holds then (``from`` <= at, or no
``from``; no ``to`` or ``to`` > at). Two gaps:

* unseen: a team owning some of a KPI's feeding steps, neither accountable for
  the KPI nor a team it is SHARED_WITH (it moves a number it cannot see);
* detached: a KPI whose accountable team owns none of its feeding steps (KPIs
  without feeding steps, or without an accountable team, are not judged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph

INFORMATION_GAPS: LiteralString = """
MATCH (k:KPI)
WITH k, COLLECT {
  MATCH (k)-[:MEASURES]->(s:Step) RETURN s
  UNION
  MATCH (k)-[:MEASURES]->(:Process)-[:HAS_STEP]->(s:Step) RETURN s
} AS steps
WHERE size(steps) > 0
WITH k, steps,
     head(COLLECT { MATCH (x:Team)-[:ACCOUNTABLE_FOR]->(k) RETURN x ORDER BY x.id }) AS accountable
WITH k, steps, accountable, COLLECT {
  UNWIND steps AS s
  MATCH (x:Team)-[o:OWNS]->(s)
  WHERE (o.from IS NULL OR o.from <= $at) AND (o.to IS NULL OR o.to > $at)
  WITH DISTINCT x, s
  RETURN {team: x, step: s,
          sees: EXISTS { (x)-[:ACCOUNTABLE_FOR]->(k) } OR EXISTS { (k)-[:SHARED_WITH]->(x) }} AS o
} AS owned
WITH k, steps, accountable, owned, [o IN owned WHERE NOT o.sees] AS unseen
WITH k, steps, accountable, owned, unseen,
  accountable IS NOT NULL AND none(o IN owned WHERE o.team = accountable) AS detached
WHERE size(unseen) > 0 OR detached
RETURN k {.*} AS kpi,
  properties(accountable) AS accountable,
  detached,
  [s IN steps | s {.*}] AS steps,
  COLLECT { UNWIND unseen AS o WITH o.team AS team, o.step AS step ORDER BY step.id
            WITH team, collect(step {.*}) AS teamSteps
            RETURN {team: team {.*}, steps: teamSteps} ORDER BY team.id } AS unseen,
  COLLECT { UNWIND owned AS o WITH DISTINCT o.team AS team
            RETURN team {.*} ORDER BY team.id } AS owners
ORDER BY kpi.id
"""
"""The KPIs with a gap, one round trip: anchored on the KPI label (a few hundred
nodes at most), each one's feeding steps through its own MEASURES and HAS_STEP
relationships and their owners through the steps' OWNS relationships. Per KPI:
the accountable team, whether it is detached (owns none of the feeding steps),
the feeding steps, the unseen owners with the steps each owns, and all owners.
"""


async def information_gaps(graph: Graph, at: datetime) -> list[dict[str, Any]]:
    records = await graph.query(INFORMATION_GAPS, at=at)
    return [dict(r) for r in records]
