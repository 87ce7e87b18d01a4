"""Customer journeys: the chain each customer's touchpoints form, written and read.

Writing: every touchpoint write of every path (``upsertTouchpoints``, ``upsertGraph``,
imports, tracking, the seed) goes through ``write_touchpoints``, and every change of a
journey's members through ``maintain_journeys`` or ``rebuild_chains``. The chain
``(:Touchpoint)-[:NEXT]->(:Touchpoint)`` is kept in ``(at, id)`` order for every customer
a batch touches, so touchpoints may arrive late, out of order, or move between
customers: new touchpoints later than their customer's LATEST are appended to it (the
live case), any other change rebuilds the customer's chain, its first arrivals per step
(REACHED) and LATEST whole.

Reading: ``customer_journey``, one Cypher query anchored on the Customer id constraint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.channels import link_channel_days, moved_in_channel_days
from orggraph.graph.driver import Graph, Tx, id_anchored
from orggraph.graph.model import Record, Stage
from orggraph.graph.touchpoint_changes import REF_TYPES, changed, referenced, touchpoint_state_of
from orggraph.graph.write_rules import (
    WriteSummary,
    merge_entity,
    node_row,
    ref_clauses,
    require_existing_refs,
)

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


# --- the chain written ---------------------------------------------------------------


MERGE_TOUCHPOINTS_WITH_STATES: LiteralString = id_anchored(
    "UNWIND $rows AS row OPTIONAL MATCH (was:Touchpoint {id: row.id}) "
    "WITH row, "
    + touchpoint_state_of("was")
    + " AS before "
    + merge_entity("Touchpoint")
    + " WITH a, row, before"
    + ref_clauses("Touchpoint")
    + " RETURN row.id AS id, before, "
    + touchpoint_state_of("a")
    + " AS after"
)
"""``merge_with_refs_query`` for touchpoints, returning each one's state before and after
the statement (``touchpoint_state_of``, what ``touchpoint_states`` reads): the write gets
the states its journeys and change events need from the nodes it holds, instead of from
two more round trips. Rows concern distinct touchpoints and a row writes only its own
touchpoint's relationships, so a row's after state is final when it is projected."""


def next_facts(source: LiteralString, target: LiteralString) -> LiteralString:
    """The directly-follows facts of a NEXT from ``source`` to ``target``, as a map: the
    ends' type and activity (``coalesce(activity, type)``, the journey map's ACTIVITY key)
    and the seconds between them, computed as the journey map's scan computes them
    (``DFG_BY_CUSTOMER``), so that an aggregation of the facts equals the scan's."""
    return (
        "{fromType: " + source + ".type, toType: " + target + ".type, "
        "fromActivity: coalesce(" + source + ".activity, " + source + ".type), "
        "toActivity: coalesce(" + target + ".activity, " + target + ".type), "
        "seconds: (" + target + ".at.epochMillis - " + source + ".at.epochMillis) / 1000.0}"
    )


def set_next_facts(
    rel: LiteralString, source: LiteralString, target: LiteralString
) -> LiteralString:
    """The one rule every statement that makes or keeps a NEXT relationship ends with:
    ``rel`` (from ``source`` to ``target``) gets its directly-follows facts (``next_facts``)
    unless it carries them already, so a replay sets no property. A clause list that
    continues the query (it filters the rows it is given: use it last, in a subquery)."""
    return (
        " WITH " + rel + ", " + next_facts(source, target) + " AS facts"
        " WHERE NOT coalesce(" + rel + " {.fromType, .toType, .fromActivity, .toActivity, "
        ".seconds} = facts, false)"
        " SET " + rel + " += facts"
    )


REFRESH_NEXT_FACTS: LiteralString = id_anchored(
    """
UNWIND $ids AS id
MATCH (:Touchpoint {id: id})-[r:NEXT]-(:Touchpoint)
WITH DISTINCT r
WITH r, startNode(r) AS a, endNode(r) AS b
"""
    + set_next_facts("r", "a", "b")
)
"""The NEXT relationships into and out of these touchpoints (at most two each) given the
facts of their ends again: after a write that changed a touchpoint's type or activity
but not its place in its journey (which no chain rebuild follows)."""


SET_CUSTOMERS_NEXT_FACTS: LiteralString = id_anchored(
    """
UNWIND $customerIds AS customerId
MATCH (:Customer {id: customerId})-[:HAD]->(a:Touchpoint)-[r:NEXT]->(b:Touchpoint)
"""
    + set_next_facts("r", "a", "b")
)
"""Every NEXT relationship out of these customers' touchpoints given its facts (where they
differ): the backfill of a graph whose chains were written before the facts existed."""


CUSTOMERS_OF_TOUCHPOINTS: LiteralString = id_anchored(
    """
UNWIND $ids AS id
MATCH (:Touchpoint {id: id})<-[:HAD]-(c:Customer)
RETURN collect(DISTINCT c.id) AS customerIds
"""
)

DETACH_CHAIN_OF_ORPHAN_TOUCHPOINTS: LiteralString = id_anchored(
    """
UNWIND $ids AS id
MATCH (t:Touchpoint {id: id}) USING INDEX t:Touchpoint(id)
WHERE NOT (t)<-[:HAD]-(:Customer)
MATCH (t)-[r:NEXT]-(:Touchpoint)
DELETE r
"""
)

_CUSTOMERS_WITH_CHAINS: LiteralString = """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
REMOVE c._LOCK_
WITH c
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)
  WITH t ORDER BY t.at, t.id
  RETURN collect(t) AS chain
}
"""
"""Each customer of ``$customerIds`` as ``c`` with its touchpoints in (at, id) order as
``chain``, read once for all the facts a rebuild keeps. The customer is write-locked
first so that a concurrent append (``APPEND_TO_JOURNEYS``) waits for the rebuild, and the
other way round: removing a property takes the node's write lock (held to the commit)
even when the property is absent, as ``_LOCK_`` always is, so the lock writes nothing
and counts in no counter."""

_RELINK_NEXT: LiteralString = (
    """
CALL (chain) {
  UNWIND range(0, size(chain) - 1) AS i
  WITH chain[i] AS t, CASE WHEN i + 1 < size(chain) THEN chain[i + 1] END AS successor
  CALL (t, successor) {
    OPTIONAL MATCH (t)-[r:NEXT]->(other:Touchpoint)
    WITH t, successor,
         collect(CASE WHEN other = successor THEN r END) AS kept,
         collect(CASE WHEN successor IS NULL OR other <> successor THEN r END) AS wrong
    FOREACH (w IN wrong + kept[1..] | DELETE w)
    WITH t, successor, kept WHERE successor IS NOT NULL
    CALL (t, successor, kept) {
      WITH t, successor WHERE size(kept) = 0
      CREATE (t)-[r:NEXT]->(successor)
      RETURN r
    UNION ALL
      WITH kept WHERE size(kept) > 0
      RETURN kept[0] AS r
    }
    WITH r, t, successor
    WHERE size(kept) = 0 OR $touched IS NULL OR t.id IN $touched OR successor.id IN $touched
"""
    + set_next_facts("r", "t", "successor")
    + """
  }
}
"""
)
"""The directly-follows chain (NEXT) of ``chain``: each touchpoint's outgoing NEXT read
once; a wrong one (or a second to the right successor) removed, a missing one created,
and each gets its directly-follows facts (``set_next_facts``) where they differ, so a
replayed batch changes nothing. ``$touched``: the touchpoints a write changed, when the
caller knows them; a kept NEXT between two others keeps its facts unread, since they
depend only on its ends (null: every NEXT is compared, as a repair needs). No MERGE:
the customer's lock (``_CUSTOMERS_WITH_CHAINS``) already keeps every other writer of
this chain waiting, and a MERGE would expand each touchpoint's relationships a second
time."""

_RESET_REACHED: LiteralString = """
CALL (c, chain) {
  UNWIND range(0, size(chain) - 1) AS i
  WITH i, chain[i] AS t
  MATCH (t)-[:AT_STEP]->(s:Step)
  WITH s, t ORDER BY i
  WITH s, head(collect(t)) AS first
  RETURN collect({step: s, at: first.at, touchpointId: first.id}) AS firsts
}
CALL (c, firsts) {
  OPTIONAL MATCH (c)-[r:REACHED]->(s:Step)
  WITH c, firsts, [f IN firsts | f.step] AS reached,
       collect(CASE WHEN r IS NOT NULL THEN {r: r, step: s} END) AS had
  FOREACH (h IN [h IN had WHERE NOT h.step IN reached] | DELETE h.r)
  FOREACH (h IN had |
    FOREACH (f IN [f IN firsts WHERE f.step = h.step
                   AND (h.r.at <> f.at OR h.r.touchpointId <> f.touchpointId
                        OR h.r.touchpointId IS NULL)] |
      FOREACH (r IN [h.r] | SET r.at = f.at, r.touchpointId = f.touchpointId)))
  FOREACH (f IN [f IN firsts WHERE NOT f.step IN [h IN had | h.step]] |
    FOREACH (s IN [f.step] | CREATE (c)-[:REACHED {at: f.at, touchpointId: f.touchpointId}]->(s)))
}
"""
"""The customer's REACHED relationships: one per step it has a touchpoint at, carrying
the first such touchpoint of ``chain`` and its time. Funnels read these instead of
scanning every touchpoint. The customer's REACHED are read once and compared with the
first arrivals: steps no longer reached lose their relationship, the others are set in
place where they differ, missing ones are created, so a replay creates, deletes and
sets nothing."""

_RESET_LATEST: LiteralString = """
CALL (c, chain) {
  WITH c, last(chain) AS latest
  OPTIONAL MATCH (c)-[r:LATEST]->(other:Touchpoint)
  WHERE latest IS NULL OR other <> latest
  DELETE r
}
CALL (c, chain) {
  WITH c, last(chain) AS latest WHERE latest IS NOT NULL
  MERGE (c)-[:LATEST]->(latest)
}
"""
"""The customer's LATEST relationship pointed at the end of ``chain``, or removed when it
has none. Traversals that ask "where is each customer now" (customers in flight) scan
customers through it instead of every touchpoint at a step. A replay creates and
deletes nothing."""

REBUILD_JOURNEYS: LiteralString = id_anchored(
    _CUSTOMERS_WITH_CHAINS + _RELINK_NEXT + _RESET_REACHED + _RESET_LATEST
)
"""Rebuild each customer's journey facts whole from its touchpoints, read once: the
chain (NEXT, with its facts), first arrivals (REACHED) and LATEST. Anchored on the
Customer id constraint; one statement, so a rebuilt batch costs one round trip and one
read of each customer's touchpoints."""

REBUILD_REACHED_STEPS: LiteralString = id_anchored(_CUSTOMERS_WITH_CHAINS + _RESET_REACHED)
"""Only the REACHED relationships of ``REBUILD_JOURNEYS`` (the backfill of migration 3)."""

REBUILD_LATEST_TOUCHPOINTS: LiteralString = id_anchored(_CUSTOMERS_WITH_CHAINS + _RESET_LATEST)
"""Only the LATEST relationship of ``REBUILD_JOURNEYS`` (the backfill of migration 4)."""

APPEND_TO_JOURNEYS: LiteralString = id_anchored(
    """
UNWIND $appends AS append
MATCH (c:Customer {id: append.customerId})
REMOVE c._LOCK_
WITH c, append
CALL (append) {
  UNWIND append.ids AS id
  MATCH (t:Touchpoint {id: id})
  WITH t ORDER BY t.at, t.id
  RETURN collect(t) AS added
}
OPTIONAL MATCH (c)-[latest:LATEST]->(last:Touchpoint)
WITH c, added, latest, last, added[0] AS first
WITH c, added, latest, last, size(added) > 0 AND (last IS NULL OR first.at > last.at
  OR (first.at = last.at AND first.id > last.id)) AS inOrder
CALL (c, added, last, inOrder) {
  WITH added, last WHERE inOrder
  WITH CASE WHEN last IS NULL THEN added ELSE [last] + added END AS chain
  UNWIND range(0, size(chain) - 2) AS i
  WITH chain[i] AS t, chain[i + 1] AS successor
  CREATE (t)-[r:NEXT]->(successor)
"""
    + set_next_facts("r", "t", "successor")
    + """
}
CALL (c, added, latest, inOrder) {
  WITH c, added, latest WHERE inOrder
  FOREACH (old IN CASE WHEN latest IS NULL THEN [] ELSE [latest] END | DELETE old)
  WITH c, added[size(added) - 1] AS newest
  CREATE (c)-[:LATEST]->(newest)
}
CALL (c, added, inOrder) {
  WITH c, added WHERE inOrder
  UNWIND added AS t
  MATCH (t)-[:AT_STEP]->(s:Step)
  WITH c, s, t ORDER BY t.at, t.id
  WITH c, s, head(collect(t)) AS first
  MERGE (c)-[r:REACHED]->(s)
  WITH r, first
  WHERE r.at IS NULL OR first.at < r.at OR (first.at = r.at AND first.id < r.touchpointId)
  SET r.at = first.at, r.touchpointId = first.id
}
RETURN collect(CASE WHEN NOT inOrder THEN c.id END) AS outOfOrder
"""
)
"""Append each customer's new touchpoints (``$appends``: customer id and the ids of
touchpoints it did not have before the write) to its journey, when all of them come
after its LATEST touchpoint in (at, id) order: NEXT from LATEST through them (with their
directly-follows facts, ``set_next_facts``), LATEST
moved to the last, REACHED created (or moved earlier) only where one of them is the
first arrival at its step. Nothing else of the journey is read or rewritten, so the
cost is that of the new touchpoints, not of the customers' whole history.

The customers where that does not hold are returned, untouched, for the full rebuild.
The customer is write-locked before its LATEST is read, so that two transactions
appending to one customer queue instead of both linking from the same LATEST. The new
NEXT and LATEST are created, not merged: the touchpoints appended did not exist before
the write, so no relationship to them can exist yet (a re-sent batch finds them and
appends nothing), and the LATEST read first is the one deleted, so the customer's
relationships are expanded once instead of three times.
"""

INSERT_INTO_JOURNEYS: LiteralString = id_anchored(
    """
UNWIND $inserts AS insert
MATCH (c:Customer {id: insert.customerId})
REMOVE c._LOCK_
WITH c, insert.ids AS added
CALL (c) {
  MATCH (c)-[:HAD]->(t:Touchpoint)
  WITH t ORDER BY t.at, t.id
  RETURN collect(t) AS chain
}
CALL (chain, added) {
  UNWIND range(0, size(chain) - 2) AS i
  WITH chain[i] AS t, chain[i + 1] AS successor, added
  WITH t, successor, t.id IN added AS isNew
  WHERE isNew OR successor.id IN added
  CALL (t, isNew) {
    WITH t WHERE NOT isNew
    OPTIONAL MATCH (t)-[old:NEXT]->(:Touchpoint)
    DELETE old
  }
  CREATE (t)-[r:NEXT]->(successor)
"""
    + set_next_facts("r", "t", "successor")
    + """
}
CALL (c, chain, added) {
  WITH c, last(chain) AS newest WHERE newest.id IN added
  OPTIONAL MATCH (c)-[old:LATEST]->(:Touchpoint)
  WITH c, newest, collect(old) AS olds
  FOREACH (old IN olds | DELETE old)
  CREATE (c)-[:LATEST]->(newest)
}
CALL (c, chain, added) {
  UNWIND range(0, size(chain) - 1) AS i
  WITH c, i, chain[i] AS t, added
  WHERE t.id IN added
  MATCH (t)-[:AT_STEP]->(s:Step)
  WITH c, s, t ORDER BY i
  WITH c, s, head(collect(t)) AS first
  MERGE (c)-[r:REACHED]->(s)
  WITH r, first
  WHERE r.at IS NULL OR first.at < r.at OR (first.at = r.at AND first.id < r.touchpointId)
  SET r.at = first.at, r.touchpointId = first.id
}
"""
)
"""Insert each customer's new touchpoints (``$inserts``: customer id and the ids of
touchpoints it did not have before the write) into its journey wherever they fall: the
late ones ``APPEND_TO_JOURNEYS`` refuses. The customer's touchpoints are read once in
(at, id) order; only the NEXT around a new touchpoint change: an old touchpoint now
followed by a new one loses its NEXT (to the touchpoint the new one now precedes) and
gets one to the new touchpoint, a new one gets one to its successor (each with its
directly-follows facts, ``set_next_facts``); LATEST moves when the last is new; REACHED
is created or moved earlier where a new touchpoint is the first at its step. No other
NEXT is read or compared, which a rebuild (``REBUILD_JOURNEYS``) does for each. Right
only for touchpoints that did not exist before the write, so nothing can point at them
yet: moved touchpoints take the rebuild. The customer is write-locked first, as for the
append."""


CUSTOMERS_OF_TOUCHPOINTS_AT_STEPS: LiteralString = id_anchored(
    """
UNWIND $ids AS id
MATCH (c:Customer)-[:HAD]->(:Touchpoint {id: id})
RETURN collect(DISTINCT c.id) AS customerIds
"""
)
"""The customers whose touchpoints a batch of AT_STEP relationships concerns."""


async def write_touchpoints(
    tx: Tx, records: Sequence[Record], *, references_written: bool = False
) -> WriteSummary:
    """Touchpoints are nodes and the journeys they sit in: the customers a batch gives
    touchpoints to, or takes them from, get their chain (NEXT), first arrivals (REACHED)
    and latest touchpoint (LATEST) kept in the same transaction (``maintain_journeys``).

    Three round trips whatever the batch's size: the references checked, the touchpoints
    merged with their states before and after (``MERGE_TOUCHPOINTS_WITH_STATES``, the
    states ``touchpoint_states`` would read), the journeys appended to. A caller that
    merged every node the records refer to earlier in ``tx`` (the tracking rows) says so
    with ``references_written``, and the check, which could find nothing, is skipped."""
    summary = WriteSummary(rows=len(records))
    if not records:
        return summary
    if not references_written:
        await require_existing_refs(tx, "Touchpoint", records)
    rows = [node_row(tx, "Touchpoint", r) for r in records]
    found, counters = await tx.records_and_counters(
        MERGE_TOUCHPOINTS_WITH_STATES, rows=rows, refTypes=list(REF_TYPES)
    )
    summary.add(counters)
    before = {r["id"]: r["before"] for r in found}
    after = {r["id"]: r["after"] for r in found}
    summary.merge(await maintain_journeys(tx, before, after))
    await link_channel_days(tx, moved_in_channel_days(before, after))
    summary.changed_touchpoints = changed(before, after)
    summary.changed_states = {i: after[i] for i in summary.changed_touchpoints}
    return summary


def _journey_key(state: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """What of a touchpoint's state its journey depends on: its time, customer and step."""
    refs = [ref for ref in state["refs"] if ref.startswith(("HAD:", "AT_STEP:"))]
    return state["properties"].get("at"), refs


def _facts_key(state: Mapping[str, Any]) -> tuple[Any, Any]:
    """What of a touchpoint's state its NEXT relationships' facts depend on besides its
    time: its type and activity."""
    properties = state["properties"]
    return properties.get("type"), properties.get("activity")


async def maintain_journeys(
    tx: Tx, before: Mapping[str, Any], after: Mapping[str, Any]
) -> WriteSummary:
    """Keep the journeys of the touchpoints written (their states before and after the
    write, from ``touchpoint_states``) in order: a new touchpoint is appended to its
    customer's journey when it comes after the customer's LATEST (``APPEND_TO_JOURNEYS``),
    and inserted where it falls when it does not (``INSERT_INTO_JOURNEYS``, one more round
    trip for the batches that have late ones); a touchpoint that moved in time, step or
    customer gets the customers concerned rebuilt whole (``rebuild_chains``).
    A touchpoint whose time, step and customer did not change costs nothing, unless its
    type or activity changed: then the NEXT relationships at its ends get their facts
    again (``REFRESH_NEXT_FACTS``, one more round trip for the batch)."""
    appends: dict[str, list[str]] = {}
    rebuild: set[str] = set()
    moved: list[str] = []
    relabelled: dict[str, str] = {}
    for touchpoint_id, state in sorted(after.items()):
        old = before.get(touchpoint_id)
        if state is None:
            continue
        customer = referenced(state, "HAD")
        if old is not None and _journey_key(old) == _journey_key(state):
            if customer is not None and _facts_key(old) != _facts_key(state):
                relabelled[touchpoint_id] = customer
            continue
        if old is None:
            if customer is not None:
                appends.setdefault(customer, []).append(touchpoint_id)
            continue
        moved.append(touchpoint_id)
        rebuild |= {c for c in (customer, referenced(old, "HAD")) if c is not None}
    summary = WriteSummary()
    appending = sorted(c for c in appends if c not in rebuild)
    if appending:
        rows = [{"customerId": c, "ids": appends[c]} for c in appending]
        records, counters = await tx.records_and_counters(APPEND_TO_JOURNEYS, appends=rows)
        summary.add(counters)
        late = sorted(records[0]["outOfOrder"]) if records else []
        if late:
            inserts = [{"customerId": c, "ids": appends[c]} for c in late]
            summary.add(await tx.run(INSERT_INTO_JOURNEYS, inserts=inserts))
    summary.merge(await rebuild_chains(tx, rebuild, moved, touched=sorted(after)))
    refresh = sorted(i for i, customer in relabelled.items() if customer not in rebuild)
    if refresh:
        summary.add(await tx.run(REFRESH_NEXT_FACTS, ids=refresh))
    return summary


async def customers_of_touchpoints(tx: Tx, touchpoint_ids: Sequence[str]) -> set[str]:
    """The customers these touchpoints belong to now: read before a write that may move
    them, so the journeys they leave are rebuilt too."""
    record = await tx.single(CUSTOMERS_OF_TOUCHPOINTS, ids=list(touchpoint_ids))
    return set(record["customerIds"]) if record else set()


async def rebuild_chains(
    tx: Tx,
    customer_ids: Iterable[str],
    touchpoint_ids: Sequence[str] = (),
    *,
    touched: Sequence[str] | None = None,
) -> WriteSummary:
    """Rebuild these customers' journeys whole (``REBUILD_JOURNEYS``), after detaching
    the chains of ``touchpoint_ids`` that no customer has any more. ``touched``: every
    touchpoint whose properties the write changed, when the caller knows them all (only
    NEXT at their ends, or new ones, get their facts compared); None compares every NEXT."""
    summary = WriteSummary()
    if touchpoint_ids:
        summary.add(await tx.run(DETACH_CHAIN_OF_ORPHAN_TOUCHPOINTS, ids=list(touchpoint_ids)))
    ids = sorted(set(customer_ids))
    if ids:
        touched_ids = None if touched is None else list(touched)
        summary.add(await tx.run(REBUILD_JOURNEYS, customerIds=ids, touched=touched_ids))
    return summary
