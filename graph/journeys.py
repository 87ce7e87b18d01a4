"""A customer's journey: one Cypher query, anchored on the Customer id constraint."""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.model import Stage

# The order of stages for "furthest stage reached": the Stage enum's own order.
STAGE_ORDER: list[str] = [stage.value for stage in Stage]
_CUSTOMER_RANK = STAGE_ORDER.index(Stage.CUSTOMER.value)

CUSTOMER_JOURNEY: LiteralString = """
MATCH (c:Customer {id: $customerId})
OPTIONAL MATCH (c)-[:HAD]->(cursor:Touchpoint {id: $after})
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)
  WHERE ($from IS NULL OR t.at >= $from) AND ($to IS NULL OR t.at < $to)
  OPTIONAL MATCH (t)-[:AT_STEP]->(s:Step)
  WITH t, s ORDER BY t.at, t.id
  RETURN collect(CASE WHEN t IS NOT NULL THEN {t: t, s: s} END) AS rows
}
WITH c, cursor, rows,
     CASE WHEN cursor IS NULL THEN 0
          ELSE size([r IN rows
                     WHERE r.t.at < cursor.at OR (r.t.at = cursor.at AND r.t.id <= cursor.id)])
     END AS start
CALL (rows, start) {
  UNWIND rows[start..start + $first + 1] AS r
  WITH r.t AS t, r.s AS s
  RETURN collect({
    touchpoint: t {.*},
    step: s {.*},
    channel: head(COLLECT { MATCH (t)-[:VIA]->(x:Channel) RETURN x {.*} ORDER BY x.id }),
    campaign: head(COLLECT { MATCH (t)-[:FROM]->(x:Campaign) RETURN x {.*} ORDER BY x.id }),
    team: head(COLLECT { MATCH (t)-[:HANDLED_BY]->(x:Team) RETURN x {.*} ORDER BY x.id }),
    person: head(COLLECT { MATCH (t)-[:HANDLED_BY]->(x:Person) RETURN x {.*} ORDER BY x.id }),
    previousAt: head(COLLECT { MATCH (p:Touchpoint)-[:NEXT]->(t) RETURN p.at })
  }) AS page
}
RETURN c {.*} AS customer,
       ($after IS NOT NULL AND cursor IS NULL) AS badCursor,
       size(rows) AS totalCount,
       start,
       COLLECT {
          UNWIND rows AS r WITH r WHERE r.s IS NOT NULL RETURN DISTINCT r.s.stage
        } AS stages,
       CASE WHEN size(rows) > 0 THEN properties(rows[-1].s) END AS lastStep,
       page,
       COLLECT {
         MATCH (c)-[:OPENED]->(d:Deal)
         WHERE size(rows) > 0 AND d.openedAt >= rows[0].t.at AND ($to IS NULL OR d.openedAt < $to)
         RETURN d {.*} ORDER BY d.openedAt, d.id
       } AS deals
"""
"""One customer's journey in one round trip.

Anchored on the Customer id constraint; walks only that customer's HAD
touchpoints (optionally in the window ``[from, to)``), in (at, id) order.
Returns the window's size, the keyset position of the ``after`` cursor, the
stages reached, the step of the last touchpoint, one page (``first + 1``
rows, to tell whether there is a next page) with each touchpoint's channel,
campaign, handling team and person, step, and the time of the touchpoint
before it in the customer's chain; and the deals the customer opened from
the window's first touchpoint on (before ``to`` when given).
"""


async def customer_journey(
    graph: Graph,
    customer_id: str,
    *,
    after: str | None,
    first: int,
    window_from: datetime | None,
    window_to: datetime | None,
) -> dict[str, Any] | None:
    """The journey's raw answer, or None when the customer does not exist."""
    records = await graph.query(
        CUSTOMER_JOURNEY,
        customerId=customer_id,
        after=after,
        first=first,
        **{"from": window_from, "to": window_to},
    )
    return dict(records[0]) if records else None


def furthest_stage(stages: list[str]) -> str | None:
    """The highest stage reached, in the Stage enum's order (unknown stages ignored)."""
    ranked = [STAGE_ORDER.index(s) for s in stages if s in STAGE_ORDER]
    return STAGE_ORDER[max(ranked)] if ranked else None


def stalled(furthest: str | None) -> bool:
    """A journey stalls when its furthest stage comes before CUSTOMER (or it has none)."""
    return furthest is None or STAGE_ORDER.index(furthest) < _CUSTOMER_RANK
