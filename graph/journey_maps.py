"""Journey maps: the directly-follows graph (DFG) of touchpoints, one Cypher query per case notion.

Every query streams: each case's events are ordered and paired with their
successor inside the case, then one aggregation groups the events by
(key, successor key), so memory grows with the number of distinct pairs
(plus the transition times kept for the medians), never with the whole log.
The grouped rows are folded into nodes, edges, start and end activities here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph

# Open ends of a half-given window (so the range index can anchor the query).
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

_KEY: LiteralString = """
  WITH t,
       CASE $by
         WHEN 'TYPE' THEN [t.type, t.type]
         WHEN 'ACTIVITY' THEN [coalesce(t.activity, t.type), coalesce(t.activity, t.type)]
         WHEN 'CHANNEL' THEN head(COLLECT {
            MATCH (t)-[:VIA]->(x:Channel) RETURN [x.id, x.name] ORDER BY x.id })
         WHEN 'STEP' THEN head(COLLECT {
            MATCH (t)-[:AT_STEP]->(x:Step) RETURN [x.id, x.name] ORDER BY x.id })
       END AS keyed
  WITH t, keyed[0] AS key, keyed[1] AS label
  WHERE key IS NOT NULL
  WITH t, key, label ORDER BY t.at, t.id
  RETURN collect({k: key, label: label, at: t.at}) AS trace
}
"""

_GROUPED: LiteralString = """
WITH trace WHERE size(trace) > 0
UNWIND range(0, size(trace) - 1) AS i
WITH trace[i] AS e, CASE WHEN i + 1 < size(trace) THEN trace[i + 1] END AS next,
     CASE WHEN i = 0 THEN 1 ELSE 0 END AS starts,
     CASE WHEN i = size(trace) - 1 THEN 1 ELSE 0 END AS ends
WITH e.k AS key, e.label AS label, next.k AS nextKey, starts, ends,
     CASE WHEN next IS NOT NULL
        THEN (next.at.epochMillis - e.at.epochMillis) / 1000.0 END AS seconds
RETURN key, label, nextKey, count(*) AS events, sum(starts) AS starts, sum(ends) AS ends,
       percentileCont(seconds, 0.5) AS median
"""

_CUSTOMER_TRACES: LiteralString = (
    """
MATCH (c:Customer)
CALL (c) {
  MATCH (c)-[:HAD]->(t:Touchpoint)
  WHERE ($from IS NULL OR t.at >= $from) AND ($to IS NULL OR t.at < $to)
"""
    + _KEY
)

DFG_BY_CUSTOMER: LiteralString = _CUSTOMER_TRACES + _GROUPED
"""The DFG with the customer as case: each customer's touchpoints in (at, id) order.

Touchpoints in the window ``[from, to)`` whose key (type, activity, channel
or step, by ``$by``) is set; an edge joins consecutive keyed touchpoints of a
case. Rows: one per (key, next key) with the events, case starts and ends,
and the median seconds to the next key (percentileCont).
"""

DFG_BY_CUSTOMER_IN_WINDOW: LiteralString = (
    """
MATCH (t:Touchpoint) WHERE t.at >= $from AND t.at < $to
MATCH (c:Customer)-[:HAD]->(t)
WITH DISTINCT c
CALL (c) {
  MATCH (c)-[:HAD]->(t:Touchpoint)
  WHERE t.at >= $from AND t.at < $to
"""
    + _KEY
    + _GROUPED
)
"""``DFG_BY_CUSTOMER`` for a time window.

The customers are found from the Touchpoint ``at`` range index.
"""

DFG_BY_OBJECT: LiteralString = (
    """
MATCH (o:BusinessObject {type: $objectType})
CALL (o) {
  MATCH (o)<-[:CONCERNS]-(t:Touchpoint)
  WHERE ($from IS NULL OR t.at >= $from) AND ($to IS NULL OR t.at < $to)
"""
    + _KEY
    + _GROUPED
)
"""The DFG with a business-object type as case (event knowledge graph).

Anchored on the BusinessObject type index: each object of ``$objectType``
is a case, its events the touchpoints that CONCERN it, in (at, id) order; a
touchpoint concerning several objects belongs to each of their cases
(the object-centric "flattening" pm4py does per object type).
"""


CASES_BEHIND: LiteralString = (
    _CUSTOMER_TRACES
    + """
WITH c, [i IN range(0, size(trace) - 1)
         WHERE toString(trace[i].k) = $source
           AND ($target IS NULL
                OR (i + 1 < size(trace) AND toString(trace[i + 1].k) = $target))] AS hits
WITH c, size(hits) AS times WHERE times > 0
WITH c, times ORDER BY times DESC, c.id
WITH collect({customer: properties(c), times: times}) AS cases
RETURN size(cases) AS total, cases[0..$first] AS cases
"""
)
"""The customers (cases) behind a node or an edge of the customer journey map.

The same keyed traces as ``DFG_BY_CUSTOMER``: with ``$target`` null, the
customers with a touchpoint keyed ``$source``; otherwise those whose trace has
``$source`` directly followed by ``$target``. ``times`` counts the occurrences
per customer; the first ``$first`` customers, most occurrences first (then by
id), and the total. One row.
"""


def _dfg_from_facts(
    source: LiteralString, target: LiteralString, key: LiteralString
) -> LiteralString:
    return (
        """
MATCH ()-[r:NEXT]->()
WHERE r."""
        + source
        + """ IS NOT NULL AND r."""
        + target
        + """ IS NOT NULL AND r.seconds IS NOT NULL
RETURN r."""
        + source
        + """ AS key, r."""
        + target
        + """ AS nextKey, count(*) AS events, percentileCont(r.seconds, 0.5) AS median
UNION ALL
MATCH ()-[:LATEST]->(t)
WITH """
        + key
        + """ AS key WHERE key IS NOT NULL
RETURN key, null AS nextKey, count(*) AS events, null AS median
"""
    )


DFG_FROM_FACTS_BY_TYPE: LiteralString = _dfg_from_facts("fromType", "toType", "t.type")
"""``DFG_BY_CUSTOMER`` by TYPE, all customers and all time, from the facts the write layer
keeps (graph/journeys.py ``set_next_facts``) instead of every touchpoint.

First part: one row per (type, next type) pair of NEXT relationships with its count and
median seconds, aggregated from the relationship index ``index_next_type_pair`` alone
(the planner reads the three properties from the index: no relationship is read).
Second part (``nextKey`` null): per type, how many customers' LATEST touchpoints, i.e.
journeys, end at it (from the relationship type scan of LATEST, which only a customer
has and only towards a touchpoint: no customer is expanded). ``fold_facts`` turns these
into the scan's rows: every touchpoint of a customer is followed by one NEXT or is its
LATEST, and the first of each journey has no NEXT into it, so a key's events are its
outgoing pairs plus its ends and its starts are its events minus its incoming pairs."""

DFG_FROM_FACTS_BY_ACTIVITY: LiteralString = _dfg_from_facts(
    "fromActivity", "toActivity", "coalesce(t.activity, t.type)"
)
"""``DFG_FROM_FACTS_BY_TYPE`` by ACTIVITY (``coalesce(activity, type)``), from the index
``index_next_activity_pair``."""

FROM_FACTS: dict[str, LiteralString] = {
    "TYPE": DFG_FROM_FACTS_BY_TYPE,
    "ACTIVITY": DFG_FROM_FACTS_BY_ACTIVITY,
}
"""The keys whose customer journey map (all time) is read from the facts."""


def fold_facts(rows: list[Any]) -> list[dict[str, Any]]:
    """The rows ``DFG_BY_CUSTOMER`` would return, from those of ``DFG_FROM_FACTS_*``: the
    pairs as they are, then one row per key with its ends (events and ends), its starts
    and no next key."""
    outgoing: dict[str, int] = defaultdict(int)
    incoming: dict[str, int] = defaultdict(int)
    ends: dict[str, int] = defaultdict(int)
    pairs: list[dict[str, Any]] = []
    for row in rows:
        key = row["key"]
        if row["nextKey"] is None:
            ends[key] += row["events"]
            continue
        outgoing[key] += row["events"]
        incoming[row["nextKey"]] += row["events"]
        pairs.append(
            {**_row(key, row["events"], 0, 0), "nextKey": row["nextKey"], "median": row["median"]}
        )
    keys = sorted(set(outgoing) | set(incoming) | set(ends))
    return pairs + [_row(k, ends[k], outgoing[k] + ends[k] - incoming[k], ends[k]) for k in keys]


def _row(key: str, events: int, starts: int, ends: int) -> dict[str, Any]:
    return {
        "key": key,
        "label": key,
        "nextKey": None,
        "events": events,
        "starts": starts,
        "ends": ends,
        "median": None,
    }


def fold(rows: list[Any], min_edge_count: int) -> dict[str, Any]:
    """Nodes, edges, start and end activities (each in key order) from the grouped rows."""
    events: dict[str, int] = defaultdict(int)
    labels: dict[str, Any] = {}
    starts: dict[str, int] = defaultdict(int)
    ends: dict[str, int] = defaultdict(int)
    edges: list[tuple[str, str, int, float | None]] = []
    for row in rows:
        key = str(row["key"])
        events[key] += row["events"]
        labels.setdefault(key, row["label"])
        if row["starts"]:
            starts[key] += row["starts"]
        if row["ends"]:
            ends[key] += row["ends"]
        if row["nextKey"] is not None and row["events"] >= min_edge_count:
            edges.append((key, str(row["nextKey"]), row["events"], row["median"]))
    edges.sort(key=lambda edge: (edge[0], edge[1]))
    keys = sorted(events)
    return {
        "caseCount": sum(starts.values()),
        "nodeKeys": keys,
        "nodeLabels": [labels[k] for k in keys],
        "nodeCounts": [events[k] for k in keys],
        "startKeys": sorted(starts),
        "startCounts": [starts[k] for k in sorted(starts)],
        "endKeys": sorted(ends),
        "endCounts": [ends[k] for k in sorted(ends)],
        "edgeSources": [e[0] for e in edges],
        "edgeTargets": [e[1] for e in edges],
        "edgeCounts": [e[2] for e in edges],
        "edgeMedians": [e[3] for e in edges],
    }


async def directly_follows_graph(
    graph: Graph,
    *,
    by: str,
    object_type: str | None,
    min_edge_count: int,
    window_from: datetime | None,
    window_to: datetime | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"by": by, "from": window_from, "to": window_to}
    if object_type is None and (window_from or window_to):
        params["from"] = window_from or EARLIEST
        params["to"] = window_to or LATEST
        records = await graph.query(DFG_BY_CUSTOMER_IN_WINDOW, **params)
    elif object_type is None and by in FROM_FACTS:
        return fold(fold_facts(await graph.query(FROM_FACTS[by])), min_edge_count)
    elif object_type is None:
        records = await graph.query(DFG_BY_CUSTOMER, **params)
    else:
        records = await graph.query(DFG_BY_OBJECT, objectType=object_type, **params)
    return fold(records, min_edge_count)


async def cases_behind(
    graph: Graph,
    *,
    by: str,
    source: str,
    target: str | None,
    first: int,
    window_from: datetime | None,
    window_to: datetime | None,
) -> dict[str, Any]:
    """``{"total": n, "cases": [{"customer": props, "times": k}, ...]}`` (``CASES_BEHIND``)."""
    window = {"from": window_from, "to": window_to}
    params: dict[str, Any] = {"by": by, "source": source, "target": target, "first": first}
    row = (await graph.query(CASES_BEHIND, **params, **window))[0]
    return {"total": row["total"], "cases": list(row["cases"])}
