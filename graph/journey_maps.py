"""Journey maps: the directly-follows graph (DFG) of touchpoints, one Cypher query per case notion."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, LiteralString

from orggraph.graph.driver import Graph

# Open ends of a half-given window (so the range index can anchor the query).
EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)

# Activity keys, chosen by the $by parameter (never pasted into the query).
BY_KEYS: tuple[str, ...] = ("ACTIVITY", "TYPE", "CHANNEL", "STEP")

_DFG_FROM_TRACES: LiteralString = """
WITH caseId, collect({k: key, label: label, at: t.at}) AS trace
WITH collect(trace) AS traces
CALL (traces) {
  UNWIND traces AS trace
  UNWIND trace AS e
  WITH e.k AS key, e.label AS label, count(*) AS n ORDER BY key
  RETURN collect(key) AS nodeKeys, collect(label) AS nodeLabels, collect(n) AS nodeCounts
}
CALL (traces) {
  UNWIND traces AS trace
  WITH trace[0].k AS key, count(*) AS n ORDER BY key
  RETURN collect(key) AS startKeys, collect(n) AS startCounts
}
CALL (traces) {
  UNWIND traces AS trace
  WITH trace[-1].k AS key, count(*) AS n ORDER BY key
  RETURN collect(key) AS endKeys, collect(n) AS endCounts
}
CALL (traces) {
  UNWIND traces AS trace
  UNWIND range(0, size(trace) - 2) AS i
  WITH trace[i].k AS source, trace[i + 1].k AS target,
       (trace[i + 1].at.epochMillis - trace[i].at.epochMillis) / 1000.0 AS seconds
  WITH source, target, count(*) AS n, percentileCont(seconds, 0.5) AS median
  WHERE n >= $minEdgeCount
  WITH source, target, n, median ORDER BY source, target
  RETURN collect(source) AS edgeSources, collect(target) AS edgeTargets,
         collect(n) AS edgeCounts, collect(median) AS edgeMedians
}
RETURN size(traces) AS caseCount, nodeKeys, nodeLabels, nodeCounts, startKeys, startCounts,
       endKeys, endCounts, edgeSources, edgeTargets, edgeCounts, edgeMedians
"""

_KEY: LiteralString = """
WITH caseId, t,
     CASE $by
       WHEN 'TYPE' THEN [t.type, t.type]
       WHEN 'ACTIVITY' THEN [coalesce(t.activity, t.type), coalesce(t.activity, t.type)]
       WHEN 'CHANNEL' THEN head(COLLECT { MATCH (t)-[:VIA]->(x:Channel) RETURN [x.id, x.name] ORDER BY x.id })
       WHEN 'STEP' THEN head(COLLECT { MATCH (t)-[:AT_STEP]->(x:Step) RETURN [x.id, x.name] ORDER BY x.id })
     END AS keyed
WITH caseId, t, keyed[0] AS key, keyed[1] AS label
WHERE key IS NOT NULL
WITH caseId, t, key, label ORDER BY caseId, t.at, t.id
"""

DFG_BY_CUSTOMER: LiteralString = (
    """
MATCH (c:Customer)-[:HAD]->(t:Touchpoint)
WHERE ($from IS NULL OR t.at >= $from) AND ($to IS NULL OR t.at < $to)
WITH c.id AS caseId, t
"""
    + _KEY
    + _DFG_FROM_TRACES
)
"""The DFG with the customer as case: each customer's touchpoints in (at, id) order.

Touchpoints in the window ``[from, to)`` whose key (type, activity, channel
or step, by ``$by``) is set; an edge joins consecutive keyed touchpoints of a
case. Node counts are event frequencies, start/end counts are cases, edge
medians are seconds (percentileCont). Edges under ``$minEdgeCount`` are left
out (nodes and start/end activities are not). Results are in key order.
"""

DFG_BY_CUSTOMER_IN_WINDOW: LiteralString = (
    """
MATCH (t:Touchpoint) WHERE t.at >= $from AND t.at < $to
MATCH (c:Customer)-[:HAD]->(t)
WITH c.id AS caseId, t
"""
    + _KEY
    + _DFG_FROM_TRACES
)
"""``DFG_BY_CUSTOMER`` for a time window: anchored on the Touchpoint ``at`` range index."""

DFG_BY_OBJECT: LiteralString = (
    """
MATCH (o:BusinessObject {type: $objectType})<-[:CONCERNS]-(t:Touchpoint)
WHERE ($from IS NULL OR t.at >= $from) AND ($to IS NULL OR t.at < $to)
WITH o.id AS caseId, t
"""
    + _KEY
    + _DFG_FROM_TRACES
)
"""The DFG with a business-object type as case (event knowledge graph).

Anchored on the BusinessObject type index: each object of ``$objectType``
is a case, its events the touchpoints that CONCERN it, in (at, id) order; a
touchpoint concerning several objects belongs to each of their cases
(the object-centric "flattening" pm4py does per object type).
"""


async def directly_follows_graph(
    graph: Graph,
    *,
    by: str,
    object_type: str | None,
    min_edge_count: int,
    window_from: datetime | None,
    window_to: datetime | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "by": by,
        "minEdgeCount": min_edge_count,
        "from": window_from,
        "to": window_to,
    }
    if object_type is None and (window_from or window_to):
        params["from"] = window_from or EARLIEST
        params["to"] = window_to or LATEST
        records = await graph.query(DFG_BY_CUSTOMER_IN_WINDOW, **params)
    elif object_type is None:
        records = await graph.query(DFG_BY_CUSTOMER, **params)
    else:
        records = await graph.query(DFG_BY_OBJECT, objectType=object_type, **params)
    return dict(records[0])
