"""Journey maps: the directly-follows graph (DFG) of touchpoints, one Cypher query per case notion.

Every query streams: each case's events are ordered and paired with their
successor inside the case, then one aggregation groups the events by
(key, successor key), so memory grows with the number of distinct pairs
(plus the transition times kept for the medians), never with the whole log.
The grouped rows are folded into nodes, edges, start and end activities here.
"""

from __future__ import annotations

import math
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
    from_facts: bool = True,
) -> dict[str, Any]:
    """The DFG's nodes and edges (``fold``). The customer case over an open window or one of
    whole UTC days is read from the derived facts unless ``from_facts`` is off (the scan,
    kept as their reference); anything else is scanned."""
    days = whole_days(window_from, window_to)
    if object_type is None and days is not None and from_facts:
        return await directly_follows_graph_from_facts(
            graph, by=by, days=days, min_edge_count=min_edge_count
        )
    params: dict[str, Any] = {"by": by, "from": window_from, "to": window_to}
    if object_type is None and (window_from or window_to):
        params["from"] = window_from or EARLIEST
        params["to"] = window_to or LATEST
        records = await graph.query(DFG_BY_CUSTOMER_IN_WINDOW, **params)
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


# --- derived facts: the directly-follows counts per key and day, kept on write ---------------
#
# Each customer's keyed traces are summarised as a multiset of *atoms*, one per event
# ``(by, key, "", day, 0, day)`` and one per directly-follows pair ``(by, key, next, day,
# ms, toDay)`` (``day``: UTC epoch day of the event, ``ms``: milliseconds to the next
# event, ``toDay``: the next event's day). The atoms of one ``(by, day)`` are kept on one
# ``JourneyMapDay`` node as a list of strings (``atom_text``): a handful of nodes per day
# whatever the volume, so an import batch or a year's answer touches few nodes. The
# customer's trace itself is kept on its ``JourneyTrace`` node, so that a write subtracts
# exactly the atoms the customer contributed before.
#
# A window ``[D1, D2)`` of whole days reads the facts of its days only: the events are the
# event atoms, the edges the pair atoms whose ``toDay`` is before ``D2`` (both ends inside),
# and a key's starts (ends) are its events minus the edges into (out of) it inside the
# window: exactly the traces the scan cuts out of the window.

DIMENSIONS: tuple[str, ...] = ("TYPE", "ACTIVITY", "CHANNEL", "STEP")
"""The keys the facts are kept for (``JourneyMapKey``), in the trace lists' order."""
NO_KEY = ""
DAY_MS = 86_400_000
FIRST_DAY = -(10**7)
LAST_DAY = 10**7

Atom = tuple[str, str, str, int, int, int]
"""``(by, key, next, day, ms, toDay)``; ``next`` is ``""`` for an event."""
DayKey = tuple[str, int]
"""``(by, day)``: the atoms one ``JourneyMapDay`` holds."""

JOURNEY_TRACES: LiteralString = """
UNWIND $customerIds AS customerId
OPTIONAL MATCH (stored:JourneyTrace {customerId: customerId})
OPTIONAL MATCH (c:Customer {id: customerId})
CALL (c) {
  MATCH (c)-[:HAD]->(t:Touchpoint)
  WITH t ORDER BY t.at, t.id
  RETURN collect([t.at.epochSeconds, t.at.nanosecond, t.id,
    coalesce(t.type, ''), coalesce(t.activity, t.type, ''),
    coalesce(head(COLLECT { MATCH (t)-[:VIA]->(x:Channel) RETURN x.id ORDER BY x.id }), ''),
    coalesce(head(COLLECT { MATCH (t)-[:AT_STEP]->(x:Step) RETURN x.id ORDER BY x.id }), '')
  ]) AS touches
}
RETURN customerId, stored.trace AS stored, touches
"""
"""Per customer id: its stored trace (``JourneyTrace.trace``, null when none) and its
touchpoints now, in ``(at, id)`` order, as ``[epoch seconds, nanosecond, id, type, activity
or type, channel id, step id]`` (``''`` for none). Anchored on the Customer id and
JourneyTrace constraints."""

STORED_JOURNEY_TRACES: LiteralString = """
UNWIND $customerIds AS customerId
OPTIONAL MATCH (j:JourneyTrace {customerId: customerId})
RETURN customerId, j.trace AS stored
"""
"""Per customer id its stored trace (null when none), on the JourneyTrace constraint."""

WRITE_DERIVED_JOURNEYS: LiteralString = """
CALL () {
  UNWIND $rows AS row
  MERGE (f:JourneyMapDay {id: row.id})
  ON CREATE SET f.by = row.by, f.day = row.day
  SET f._LOCK_ = true
  REMOVE f._LOCK_
  WITH f, row, coalesce(f.atoms, []) AS atoms, [g IN row.gone | g[0]] AS gone
  WITH f, row, CASE WHEN size(gone) = 0 THEN atoms ELSE
    [a IN atoms WHERE NOT a IN gone] + reduce(back = [], g IN row.gone |
      back + [i IN range(1, size([a IN atoms WHERE a = g[0]]) - g[1]) | g[0]])
    END AS kept
  SET f.atoms = kept + row.add
  WITH f WHERE size(f.atoms) = 0
  DELETE f
}
CALL () {
  UNWIND $traces AS row
  MERGE (j:JourneyTrace {customerId: row.customerId})
  SET j.trace = row.trace
  WITH j, row WHERE size(row.trace) = 0
  DELETE j
}
"""
"""Apply atom deltas and store the customers' new traces (``graph.derived`` sends them in
chunks, so no query holds a whole import batch at once).

Each day is write-locked before it is read (rows come in id order, so two writers queue
instead of deadlocking): the ``gone`` atoms (``[text, copies]``) taken out of its list, the
``add`` ones appended; concurrent writes to one day add up. A day left without atoms is
deleted. A trace is its ``JOURNEY_TRACES`` touches flattened as strings; a customer
without touchpoints keeps none."""

JOURNEY_MAP_FROM_FACTS: LiteralString = """
CALL () {
  MATCH (f:JourneyMapDay) WHERE f.by = $by AND f.day >= $fromDay AND f.day < $toDay
  RETURN collect(f.atoms) AS days
}
RETURN days, CASE $by
  WHEN 'CHANNEL' THEN COLLECT { MATCH (x:Channel) RETURN [x.id, x.name] }
  WHEN 'STEP' THEN COLLECT { MATCH (x:Step) RETURN [x.id, x.name] }
  ELSE [] END AS labels
"""
"""The journey map's atoms for days ``[$fromDay, $toDay)`` of key ``$by`` (one list per
day) and, for channels and steps, every channel's or step's name (read now: a handful).
Anchored on the JourneyMapDay ``(by, day)`` index: the cost is that of the days asked and
their atoms, not of the touchpoints."""

JOURNEY_MAP_DAYS_PAGE: LiteralString = """
MATCH (f:JourneyMapDay) WHERE f.id > $after
RETURN f.id AS id, f.atoms AS atoms ORDER BY f.id LIMIT $size
"""
"""One page of every day's atoms, in id order (for ``check-derived``)."""

JOURNEY_TRACE_PAGE: LiteralString = """
MATCH (j:JourneyTrace) WHERE j.customerId > $after
RETURN j.customerId AS id ORDER BY j.customerId LIMIT $size
"""
"""One page of the customers with a stored trace, in id order."""


SEPARATOR = "\x1f"
"""Between the parts of a fact's id (a control character: ids and types never hold one)."""


def day_id(key: DayKey) -> str:
    """A ``JourneyMapDay``'s id: ``by`` and ``day`` joined by ``SEPARATOR``."""
    return f"{key[0]}{SEPARATOR}{key[1]}"


def parse_day_id(value: str) -> DayKey:
    by, day = value.split(SEPARATOR)
    return by, int(day)


def atom_text(atom: Atom) -> str:
    """An atom as kept in its day's list: the key alone for an event, else key, next key,
    ms and next day joined by ``SEPARATOR``."""
    _, key, nxt, _, ms, to_day = atom
    return key if nxt == NO_KEY else SEPARATOR.join((key, nxt, str(ms), str(to_day)))


def atom_of(day: DayKey, text: str) -> Atom:
    by, at_day = day
    parts = text.split(SEPARATOR)
    if len(parts) == 1:
        return by, text, NO_KEY, at_day, 0, at_day
    return by, parts[0], parts[1], at_day, int(parts[2]), int(parts[3])


def flatten_trace(touches: list[list[Any]]) -> list[str]:
    """A trace as stored on ``JourneyTrace`` (one flat list of strings)."""
    return [str(value) for touch in touches for value in touch]


TRACE_WIDTH = 3 + len(DIMENSIONS)
"""A touch of a trace: epoch seconds, nanosecond, id, then one key per dimension."""


def unflatten_trace(stored: list[str] | None) -> list[list[Any]]:
    values = stored or []
    return [
        [int(values[i]), int(values[i + 1]), *values[i + 2 : i + TRACE_WIDTH]]
        for i in range(0, len(values), TRACE_WIDTH)
    ]


def trace_atoms(touches: list[list[Any]]) -> list[Atom]:
    """The atoms of one customer's touches (``JOURNEY_TRACES``' form, in ``(at, id)``
    order): per dimension, the keyed touchpoints and each one's successor."""
    atoms: list[Atom] = []
    for column, by in enumerate(DIMENSIONS, start=3):
        keyed = [
            (touch[0] * 1000 + touch[1] // 1_000_000, touch[column])
            for touch in touches
            if touch[column] != NO_KEY
        ]
        for i, (ms, key) in enumerate(keyed):
            day = ms // DAY_MS
            atoms.append((by, key, NO_KEY, day, 0, day))
            if i + 1 < len(keyed):
                next_ms, next_key = keyed[i + 1]
                atoms.append((by, key, next_key, day, next_ms - ms, next_ms // DAY_MS))
    return atoms


def percentile_cont(values: list[float], percentile: float) -> float | None:
    """Cypher's ``percentileCont`` (linear interpolation), so facts and scan agree exactly."""
    if not values:
        return None
    ordered = sorted(values)
    index = percentile * (len(ordered) - 1)
    floor, ceil = math.floor(index), math.ceil(index)
    if floor == ceil or ceil == len(ordered):
        return ordered[floor]
    return ordered[floor] * (ceil - index) + ordered[ceil] * (index - floor)


def rows_from_facts(days: list[list[str]], labels: dict[str, Any] | None, to_day: int) -> list[Any]:
    """The scan's grouped rows (``_GROUPED``) rebuilt from the atoms of a window's days: a
    pair counts when its next event is before ``to_day`` too. A key is its own label
    unless ``labels`` names it."""
    events: dict[str, int] = defaultdict(int)
    edges: dict[tuple[str, str], list[float]] = defaultdict(list)
    into: dict[str, int] = defaultdict(int)
    out: dict[str, int] = defaultdict(int)
    for atoms in days:
        for text in atoms:
            parts = text.split(SEPARATOR)
            if len(parts) == 1:
                events[text] += 1
            elif int(parts[3]) < to_day:
                edges[(parts[0], parts[1])].append(int(parts[2]) / 1000.0)
    for (key, nxt), seconds in edges.items():
        out[key] += len(seconds)
        into[nxt] += len(seconds)
    rows: list[dict[str, Any]] = [
        {
            "key": key,
            "label": key if labels is None else labels.get(key),
            "nextKey": nxt,
            "events": len(seconds),
            "starts": 0,
            "ends": 0,
            "median": percentile_cont(seconds, 0.5),
        }
        for (key, nxt), seconds in edges.items()
    ]
    for key, count in events.items():
        rows.append(
            {
                "key": key,
                "label": key if labels is None else labels.get(key),
                "nextKey": None,
                "events": count - out[key],
                "starts": count - into[key],
                "ends": count - out[key],
                "median": None,
            }
        )
    return rows


def whole_days(window_from: datetime | None, window_to: datetime | None) -> tuple[int, int] | None:
    """The window as ``[first day, end day)`` when both ends are UTC midnights (or open),
    else None: the facts are per day, so other windows are read from the touchpoints."""
    days: list[int] = []
    for bound, open_end in ((window_from, FIRST_DAY), (window_to, LAST_DAY)):
        if bound is None:
            days.append(open_end)
            continue
        ms = round(bound.timestamp() * 1000)
        if ms % DAY_MS:
            return None
        days.append(ms // DAY_MS)
    return days[0], days[1]


async def directly_follows_graph_from_facts(
    graph: Graph, *, by: str, days: tuple[int, int], min_edge_count: int
) -> dict[str, Any]:
    """``directly_follows_graph`` for the customer case, read from the facts (one round trip)."""
    records = await graph.query(JOURNEY_MAP_FROM_FACTS, by=by, fromDay=days[0], toDay=days[1])
    row = records[0]
    named = by in ("CHANNEL", "STEP")
    labels = {key: label for key, label in row["labels"]} if named else None
    return fold(rows_from_facts(list(row["days"]), labels, days[1]), min_edge_count)
