"""Reorganisation impact: everything that depends on a team, and a merge's what-if.

One Cypher query (anchored on the Team id constraint) reads the team's
dependants; the what-if of merging it into another team is computed from
that one answer in Python, without writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.team_services import SERVICES_OF_TEAM

REORG_IMPACT: LiteralString = (
    """
MATCH (team:Team {id: $teamId})
OPTIONAL MATCH (target:Team {id: $moveTo})
CALL (team) {
  MATCH (team)-[o:OWNS]->(s:Step)
  WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
  WITH DISTINCT s
  WITH collect(s) AS owned, sum(COUNT { (s)<-[:AT_STEP]-() }) AS touchesAtOwned
  CALL () { MATCH (x:Customer) RETURN count(x) AS customers }
  CALL (owned, touchesAtOwned, customers) {
    WITH owned, touchesAtOwned, customers WHERE touchesAtOwned <= customers
    UNWIND owned AS s
    MATCH (s)<-[:AT_STEP]-(t:Touchpoint)<-[:LATEST]-(c:Customer)
    RETURN s, c, t
    UNION
    WITH owned, touchesAtOwned, customers WHERE touchesAtOwned > customers
    MATCH (c:Customer)-[:LATEST]->(t:Touchpoint)-[:AT_STEP]->(s:Step)
    WHERE s IN owned
    RETURN s, c, t
  }
  WITH s, c, t
  WHERE NOT EXISTS { MATCH (c)-[:OPENED]->(d:Deal) WHERE d.closedAt >= t.at }
  WITH s, c, t.at AS at ORDER BY at DESC, c.id
  WITH s, count(c) AS n, collect([c, at])[..$first] AS latest
  RETURN collect({step: s {.*}, customers: n}) AS inFlightByStep,
         collect([x IN latest | {customer: properties(x[0]), at: x[1], stepId: s.id}])
           AS inFlightSamples
}
RETURN team {.*} AS team, target {.*} AS target, inFlightByStep, inFlightSamples,
  COLLECT {
    MATCH (team)-[o:OWNS]->(s:Step)
    WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
    WITH DISTINCT s
    OPTIONAL MATCH (p:Process)-[h:HAS_STEP]->(s)
    RETURN {step: s {.*}, process: p {.*}, order: h.order}
    ORDER BY p.id, h.order, s.id
  } AS ownedSteps,
  COLLECT {
    MATCH (team)-[o:OWNS]->(:Step)<-[:HAS_STEP]-(p:Process)
    WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
    WITH DISTINCT p
    RETURN {process: p {.*}, steps: COLLECT {
      MATCH (p)-[h:HAS_STEP]->(s:Step)
      RETURN {step: s {.*}, order: h.order,
              owners: COLLECT {
                MATCH (x:Team)-[ow:OWNS]->(s)
                WHERE ow.from <= $at AND (ow.to IS NULL OR ow.to > $at)
                RETURN DISTINCT x {.*} ORDER BY x.id
              },
              slas: COLLECT { MATCH (sla:SLA)-[:GOVERNS]->(s) RETURN sla {.*} ORDER BY sla.id }}
      ORDER BY h.order, s.id
    }}
    ORDER BY p.id
  } AS processes,
  COLLECT {
     MATCH (team)-[:ACCOUNTABLE_FOR]->(k:KPI) RETURN k {.*} ORDER BY k.id
   } AS accountableKpis,
  COLLECT { MATCH (k:KPI)-[:SHARED_WITH]->(team) RETURN k {.*} ORDER BY k.id } AS sharedKpis,
  COLLECT {
    MATCH (k:KPI)-[:MEASURES]->(x)
    WHERE (x:Step AND EXISTS {
             MATCH (team)-[o:OWNS]->(x) WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at) })
       OR (x:Process AND EXISTS {
             MATCH (team)-[o:OWNS]->(:Step)<-[:HAS_STEP]-(x)
             WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at) })
       OR (x:Channel AND EXISTS { (team)-[:SERVES]->(x) })
       OR (x:Campaign AND EXISTS { (x)-[:RUN_BY]->(team) })
    WITH k, x ORDER BY x.id
    WITH k, collect(DISTINCT {
                  kind: head([l IN labels(x)
                              WHERE l IN ['Step', 'Process', 'Channel', 'Campaign']]),
                  id: x.id, name: x.name}) AS through
    RETURN {kpi: k {.*}, through: through,
            accountable: head(COLLECT {
              MATCH (a:Team)-[:ACCOUNTABLE_FOR]->(k) RETURN a {.*} ORDER BY a.id })}
    ORDER BY k.id
  } AS fedKpis,
  COLLECT {
    MATCH (sla:SLA)-[:PROVIDER|CONSUMER]->(team)
    WITH DISTINCT sla
    RETURN {sla: sla {.*},
            provider: head(COLLECT {
              MATCH (sla)-[:PROVIDER]->(x:Team) RETURN x {.*} ORDER BY x.id }),
            consumer: head(COLLECT {
              MATCH (sla)-[:CONSUMER]->(x:Team) RETURN x {.*} ORDER BY x.id }),
            step: head(COLLECT { MATCH (sla)-[:GOVERNS]->(x:Step) RETURN x {.*} ORDER BY x.id })}
    ORDER BY sla.id
  } AS slas,
  COLLECT {
    MATCH (team)-[:SERVES]->(ch:Channel)
    RETURN {channel: ch {.*},
            teams: COLLECT {
              MATCH (x:Team)-[:SERVES]->(ch) WHERE x <> team RETURN x {.*} ORDER BY x.id }}
    ORDER BY ch.id
  } AS channels,
  COLLECT { MATCH (cmp:Campaign)-[:RUN_BY]->(team) RETURN cmp {.*} ORDER BY cmp.id } AS campaigns,
"""
    + SERVICES_OF_TEAM
    + """
"""
)
"""What depends on a team, in one round trip (Team id constraint anchor).

Ownership is the ``OWNS`` relationships valid at ``$at``. ``ownedSteps``:
the steps the team owns, with their process and order. ``processes``: every
process holding one of them, all its steps in order with their owners at
``$at`` and governing SLAs (to compute hand-offs). ``accountableKpis``,
``sharedKpis``; ``fedKpis``: KPIs that MEASURE one of its steps, a process
holding one, a channel it SERVES or a campaign RUN_BY it (``through`` says
which), with their accountable team. ``slas``: SLAs it is PROVIDER or
CONSUMER of, with both parties and the step governed. ``channels`` it
serves with the other teams serving each; ``campaigns`` it runs; services it
``provides`` (with consumers) and ``consumes`` (with providers).
Customers in flight: customers whose LATEST touchpoint (the end of their
chain, kept by the write layer) is AT_STEP a step the team owns and who have
no deal closed at or after that touchpoint: a count per step and, per step,
the ``$first`` most recent. They are found from the smaller side: the
touchpoints at the owned steps when those are fewer than the customers (a
degree count), else every customer's LATEST touchpoint (an early funnel step
can hold most of the log).
``target``: the team ``$moveTo`` (null when absent or not found).
"""


async def reorg_impact(
    graph: Graph, team_id: str, move_to: str | None, at: datetime, first: int
) -> dict[str, Any] | None:
    """The raw answer, or None when the team does not exist."""
    records = await graph.query(REORG_IMPACT, teamId=team_id, moveTo=move_to, at=at, first=first)
    return dict(records[0]) if records else None


# --- the merge what-if (pure) ------------------------------------------------------------


@dataclass(frozen=True)
class HandoffChange:
    process_id: str
    from_step: dict[str, Any]
    to_step: dict[str, Any]
    # Owner ids of both steps, now and after the merge.
    before: tuple[frozenset[str], frozenset[str]]
    after: tuple[frozenset[str], frozenset[str]]


@dataclass
class MergeEffects:
    handoffs_removed: list[HandoffChange] = field(default_factory=list)
    handoffs_added: list[HandoffChange] = field(default_factory=list)
    handoffs_changed: list[HandoffChange] = field(default_factory=list)


def _moved(owners: frozenset[str], team: str, target: str) -> frozenset[str]:
    return frozenset(target if o == team else o for o in owners)


def merge_handoffs(processes: list[dict[str, Any]], team: str, target: str) -> MergeEffects:
    """Hand-offs (consecutive steps whose owner sets differ) before and after the merge."""
    effects = MergeEffects()
    for process in processes:
        steps = process["steps"]
        for before_step, after_step in zip(steps, steps[1:], strict=False):
            owners = (
                frozenset(t["id"] for t in before_step["owners"]),
                frozenset(t["id"] for t in after_step["owners"]),
            )
            moved = (_moved(owners[0], team, target), _moved(owners[1], team, target))
            was, now = owners[0] != owners[1], moved[0] != moved[1]
            change = HandoffChange(
                process_id=process["process"]["id"],
                from_step=before_step["step"],
                to_step=after_step["step"],
                before=owners,
                after=moved,
            )
            if was and not now:
                effects.handoffs_removed.append(change)
            elif now and not was:
                effects.handoffs_added.append(change)
            elif was and now and owners != moved:
                effects.handoffs_changed.append(change)
    return effects
