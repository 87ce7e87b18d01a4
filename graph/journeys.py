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
from orggraph.graph.model import Record, RelationshipKind, Stage
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


def _visits(touchpoints: LiteralString, links: LiteralString) -> LiteralString:
    """The touchpoints of the list ``touchpoints`` that are at a step, in its order, each as
    ``{t, step, VIA, FROM}`` (its step, channel and campaign) from ``links`` (per
    touchpoint, ``[type, relationship, end]`` of its outgoing relationships): what the
    first arrivals are computed from, in a rebuild and in an append."""
    return (
        "[i IN range(0, size(" + touchpoints + ") - 1) "
        "WHERE any(l IN " + links + "[i] WHERE l[0] = 'AT_STEP') | "
        "{t: " + touchpoints + "[i], "
        "step: [l IN " + links + "[i] WHERE l[0] = 'AT_STEP' | l[2]][0], "
        "VIA: [l IN " + links + "[i] WHERE l[0] = 'VIA' | l[2]][0], "
        "FROM: [l IN " + links + "[i] WHERE l[0] = 'FROM' | l[2]][0]}]"
    )


_KEPT_FACTS: LiteralString = (
    "[(c)-[r:REACHED|REACHED_VIA|REACHED_FROM|LATEST]->(x) | [type(r), r, x]] AS kept"
)
"""The customer's first-arrival facts and LATEST, ``[type, relationship, end]`` each, in
one walk of its relationships."""

_CUSTOMERS_WITH_CHAINS: LiteralString = (
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
REMOVE c._LOCK_
WITH c
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)
  WITH t ORDER BY t.at, t.id
  RETURN collect(t) AS chain
}
WITH c, chain,
     [t IN chain | [(t)-[r:NEXT|AT_STEP|VIA|FROM]->(x) | [type(r), r, x]]] AS links,
"""
    + _KEPT_FACTS
    + """
WITH c, chain, links, kept, """
    + _visits("chain", "links")
    + """ AS visits
"""
)
"""Each customer of ``$customerIds`` as ``c`` with everything a rebuild of its journey
facts reads, each read once: its touchpoints in (at, id) order as ``chain``; each one's
outgoing NEXT, step, channel and campaign as ``links`` (``[type, relationship, end]``
per relationship, in one walk of the touchpoint's relationships); the customer's kept
facts (REACHED, REACHED_VIA, REACHED_FROM, LATEST) as ``kept``, in one walk of its
relationships; and ``visits``, the touchpoints of ``chain`` at a step, in order, each as
``{t, step, VIA, FROM}``. The parts below compare these lists with what the chain gives
and write only the difference: a MERGE or a typed match per fact walked the customer's
(or the touchpoint's) relationships again each time, and the journey rebuild cost 1.9
times the database hits it costs so (63k against 44k for 100 customers at 100k
touchpoints, the funnel facts included in the second).

The customer is write-locked first so that a concurrent append (``APPEND_TO_JOURNEYS``)
waits for the rebuild, and the other way round: removing a property takes the node's
write lock (held to the commit) even when the property is absent, as ``_LOCK_`` always
is, so the lock writes nothing and counts in no counter. The lock is also why the parts
may CREATE what the lists lack instead of MERGE-ing it: no other transaction writes
this customer's facts until the commit."""

_RELINK_NEXT: LiteralString = (
    """
CALL (chain, links) {
  UNWIND range(0, size(chain) - 1) AS i
  WITH chain[i] AS t, CASE WHEN i + 1 < size(chain) THEN chain[i + 1] END AS successor,
       [l IN links[i] WHERE l[0] = 'NEXT'] AS nexts
  CALL (successor, nexts) {
    UNWIND nexts AS l
    WITH l[1] AS r, l[2] AS other
    WHERE successor IS NULL OR other <> successor
    DELETE r
  }
  CALL (t, successor, nexts) {
    WITH t, successor WHERE successor IS NOT NULL AND NONE(l IN nexts WHERE l[2] = successor)
    CREATE (t)-[r:NEXT]->(successor)
"""
    + set_next_facts("r", "t", "successor")
    + """
  }
  CALL (t, successor, nexts) {
    WITH t, successor, [l IN nexts WHERE l[2] = successor | l[1]][0] AS r
    WHERE r IS NOT NULL AND ($touched IS NULL OR t.id IN $touched OR successor.id IN $touched)
"""
    + set_next_facts("r", "t", "successor")
    + """
  }
}
"""
)
"""The directly-follows chain (NEXT) of ``chain``, from each touchpoint's outgoing NEXT in
``links``: only wrong NEXT relationships are removed and only missing ones created, and
each gets its directly-follows facts (``set_next_facts``) where they differ, so a
replayed batch changes nothing. A NEXT kept between two touchpoints neither of which is
in ``$touched`` (the touchpoints the write changed) keeps its facts unread: they depend
on its ends only, so they are right when they were; ``$touched`` null compares every
NEXT, as the repair of drifted facts (``orggraph db rebuild-derived``) needs."""


def _create_missing(
    fact: LiteralString, firsts: LiteralString, properties: LiteralString
) -> LiteralString:
    """The end of both first-arrival rules: a ``fact`` created, with ``properties`` (over
    ``f``), for each of ``firsts`` whose key is not in ``storedKeys``; closes the rule's
    subquery."""
    return (
        """
  UNWIND [f IN """
        + firsts
        + """ WHERE NOT f.key IN storedKeys] AS f
  WITH c, f, f.x AS x
  CREATE (c)-[:"""
        + fact
        + " "
        + properties
        + """]->(x)
}
"""
    )


def _reset_first_arrivals(
    fact: LiteralString, firsts: LiteralString, key: LiteralString, properties: LiteralString
) -> LiteralString:
    """The one rule that keeps a first-arrival fact (REACHED, REACHED_VIA, REACHED_FROM) of
    customer ``c``: ``firsts`` (a list, each ``{key, x, at, touchpointId}``: the first
    touchpoint per key, its time and id, and ``x`` the node the fact points at) against the
    customer's ``fact`` relationships in ``kept``, keyed by ``key`` (over ``k``, one entry
    of ``kept``). A kept fact whose key is still first-arrived at is set in place where its
    time or touchpoint differ; one whose key is not, and any duplicate, is deleted; a
    first without a kept fact is created with ``properties`` (over ``f``). A replay
    creates, sets and deletes nothing."""
    return (
        """
CALL (c, """
        + firsts
        + """, kept) {
  CALL ("""
        + firsts
        + """, kept) {
    UNWIND [k IN kept WHERE k[0] = '"""
        + fact
        + """'] AS k
    WITH """
        + key
        + """ AS key, k[1] AS r
    WITH key, collect(r) AS found
    WITH key, found, head([f IN """
        + firsts
        + """ WHERE f.key = key]) AS f
    CALL (found, f) {
      WITH head(found) AS r, f
      WHERE f IS NOT NULL AND coalesce(r.at <> f.at OR r.touchpointId <> f.touchpointId, true)
      SET r.at = f.at, r.touchpointId = f.touchpointId
    }
    FOREACH (r IN CASE WHEN f IS NULL THEN found ELSE tail(found) END | DELETE r)
    RETURN collect(key) AS storedKeys
  }
"""
        + _create_missing(fact, firsts, properties)
    )


def _add_first_arrivals(
    fact: LiteralString, firsts: LiteralString, key: LiteralString, properties: LiteralString
) -> LiteralString:
    """The append's side of ``_reset_first_arrivals``: ``firsts`` come from touchpoints all
    later than every touchpoint the customer had (they follow its LATEST), so a kept
    ``fact`` for a key names an earlier touchpoint and stays as it is; a first whose key
    has none is created. Only the kept facts pointing at a node of ``firsts`` are keyed
    (their properties read)."""
    return (
        """
CALL (c, """
        + firsts
        + """, kept) {
  WITH c, """
        + firsts
        + """, [k IN kept WHERE k[0] = '"""
        + fact
        + """' AND k[2] IN [f IN """
        + firsts
        + """ | f.x] | """
        + key
        + """] AS storedKeys
"""
        + _create_missing(fact, firsts, properties)
    )


_REACHED_FIRSTS: LiteralString = """
CALL (visits) {
  UNWIND range(0, size(visits) - 1) AS i
  WITH visits[i].step AS s, visits[i].t AS t ORDER BY i
  WITH s, head(collect(t)) AS first
  RETURN collect({key: [s], x: s, at: first.at, touchpointId: first.id}) AS reachedFirsts
}
"""
"""The first of ``visits`` at each step, as ``reachedFirsts`` (the first arrivals REACHED
keeps, keyed by the step)."""

_REACHED_KEY: LiteralString = "[k[2]]"
_REACHED_PROPERTIES: LiteralString = "{at: f.at, touchpointId: f.touchpointId}"

_RESET_REACHED: LiteralString = _REACHED_FIRSTS + _reset_first_arrivals(
    "REACHED", "reachedFirsts", _REACHED_KEY, _REACHED_PROPERTIES
)
"""The customer's REACHED relationships: one per step it has a touchpoint at, carrying
the first such touchpoint of ``visits`` and its time (``_reset_first_arrivals``). Funnels
read these instead of scanning every touchpoint."""

_RESET_LATEST: LiteralString = """
CALL (c, chain, kept) {
  WITH c, last(chain) AS latest, [k IN kept WHERE k[0] = 'LATEST'] AS stored
  FOREACH (r IN [k IN stored WHERE latest IS NULL OR k[2] <> latest | k[1]] | DELETE r)
  WITH c, latest, stored
  WHERE latest IS NOT NULL AND NONE(k IN stored WHERE k[2] = latest)
  CREATE (c)-[:LATEST]->(latest)
}
"""
"""The customer's LATEST relationship pointed at the end of ``chain``, or removed when it
has none. Traversals that ask "where is each customer now" (customers in flight) scan
customers through it instead of every touchpoint at a step. A replay creates and
deletes nothing."""


# --- first arrivals per step and channel / campaign (funnel facts) ---------------------

_FUNNEL_FIRSTS: LiteralString = """
CALL (visits) {
  UNWIND range(0, size(visits) - 1) AS i
  WITH i, visits[i] AS v, visits[i].step.id AS stepId
  UNWIND [['VIA', v.VIA], ['FROM', v.FROM]] AS k
  WITH k[0] AS ref, stepId, k[1] AS x, v.t AS t, i ORDER BY i
  WITH ref, stepId, x, head(collect(t)) AS first
  WHERE x IS NOT NULL
  WITH collect([ref, {key: [stepId, x], x: x, at: first.at, touchpointId: first.id}]) AS pairs
  RETURN [f IN pairs WHERE f[0] = 'VIA' | f[1]] AS viaFirsts,
         [f IN pairs WHERE f[0] = 'FROM' | f[1]] AS fromFirsts
}
"""
"""The first of ``visits`` at each step via each channel (``viaFirsts``) and from each
campaign (``fromFirsts``), keyed by the step's id and the node: one pass for both."""

_FUNNEL_KEY: LiteralString = "[k[1].stepId, k[2]]"
_FUNNEL_PROPERTIES: LiteralString = "{stepId: f.key[0], at: f.at, touchpointId: f.touchpointId}"

_RESET_FUNNEL_FACTS: LiteralString = (
    _FUNNEL_FIRSTS
    + _reset_first_arrivals("REACHED_VIA", "viaFirsts", _FUNNEL_KEY, _FUNNEL_PROPERTIES)
    + _reset_first_arrivals("REACHED_FROM", "fromFirsts", _FUNNEL_KEY, _FUNNEL_PROPERTIES)
)
"""The customer's funnel facts ``(c)-[:REACHED_VIA {stepId, at, touchpointId}]->
(:Channel)`` and ``-[:REACHED_FROM ...]->(:Campaign)``: one per step and channel
(campaign) the customer has a touchpoint at and via (from), naming the first such
touchpoint of ``visits`` and its time (``_reset_first_arrivals``, the rule REACHED is
kept by, keyed by the step's id and the node). The part of ``REBUILD_JOURNEYS`` that
keeps them: both from one pass over ``visits``, no read of the touchpoints' relationships
of its own. The channel-filtered and campaign-filtered funnels read these instead of
every touchpoint of the channel (campaign). The fact hangs off the channel (campaign)
node so that deleting the node takes its facts with it and a filtered funnel starts
from the node's facts only."""

FUNNEL_REF_KINDS: frozenset[RelationshipKind] = frozenset(
    {RelationshipKind.TOUCHPOINT_VIA_CHANNEL, RelationshipKind.TOUCHPOINT_FROM_CAMPAIGN}
)
"""The touchpoint references the funnel facts depend on: writing or deleting one of them
rebuilds the funnel facts of the touchpoints' customers."""

APPEND_FUNNEL_FACTS: LiteralString = (
    _FUNNEL_FIRSTS
    + _add_first_arrivals("REACHED_VIA", "viaFirsts", _FUNNEL_KEY, _FUNNEL_PROPERTIES)
    + _add_first_arrivals("REACHED_FROM", "fromFirsts", _FUNNEL_KEY, _FUNNEL_PROPERTIES)
)
"""The funnel facts' part of ``APPEND_TO_JOURNEYS``: for a customer's new touchpoints
(its ``visits`` there, all after its LATEST), the first at each step via each channel
and from each campaign, created where no fact is kept for its step and node
(``_add_first_arrivals``). It reads nothing of its own: the new touchpoints' references
and the customer's kept facts are read once for the whole append."""


REBUILD_JOURNEYS: LiteralString = id_anchored(
    _CUSTOMERS_WITH_CHAINS + _RELINK_NEXT + _RESET_REACHED + _RESET_LATEST + _RESET_FUNNEL_FACTS
)
"""Rebuild each customer's journey facts whole from its touchpoints, read once: the
chain (NEXT, with its facts), first arrivals (REACHED), LATEST and the funnel facts
(REACHED_VIA, REACHED_FROM). Anchored on the
Customer id constraint; one statement, so a rebuilt batch costs one round trip and one
read of each customer's touchpoints."""

REBUILD_REACHED_STEPS: LiteralString = id_anchored(_CUSTOMERS_WITH_CHAINS + _RESET_REACHED)
"""Only the REACHED relationships of ``REBUILD_JOURNEYS`` (the backfill of migration 3)."""

REBUILD_LATEST_TOUCHPOINTS: LiteralString = id_anchored(_CUSTOMERS_WITH_CHAINS + _RESET_LATEST)
"""Only the LATEST relationship of ``REBUILD_JOURNEYS`` (the backfill of migration 4)."""

REBUILD_FUNNEL_FACTS: LiteralString = id_anchored(_CUSTOMERS_WITH_CHAINS + _RESET_FUNNEL_FACTS)
"""Only the funnel facts of ``REBUILD_JOURNEYS`` (after a change of a touchpoint's channel
or campaign, which leaves its journey as it was; the backfill of migration 15)."""


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
WITH c, added, """
    + _KEPT_FACTS
    + """
WITH c, added, kept, [k IN kept WHERE k[0] = 'LATEST' | k[2]][0] AS last, added[0] AS first
WITH c, added, kept, last, size(added) > 0 AND (last IS NULL OR first.at > last.at
  OR (first.at = last.at AND first.id > last.id)) AS inOrder
WITH c, added, kept, last, inOrder,
     CASE WHEN inOrder THEN [t IN added | [(t)-[r:AT_STEP|VIA|FROM]->(x) | [type(r), r, x]]]
          ELSE [] END AS links
WITH c, added, kept, last, inOrder, CASE WHEN inOrder THEN """
    + _visits("added", "links")
    + """ ELSE [] END AS visits
CALL (added, last, inOrder) {
  WITH added, last WHERE inOrder
  WITH CASE WHEN last IS NULL THEN added ELSE [last] + added END AS chain
  UNWIND range(0, size(chain) - 2) AS i
  WITH chain[i] AS t, chain[i + 1] AS successor
  CREATE (t)-[r:NEXT]->(successor)
"""
    + set_next_facts("r", "t", "successor")
    + """
}
CALL (c, added, kept, inOrder) {
  WITH c, added, kept WHERE inOrder
  FOREACH (r IN [k IN kept WHERE k[0] = 'LATEST' | k[1]] | DELETE r)
  WITH c, added[size(added) - 1] AS newest
  CREATE (c)-[:LATEST]->(newest)
}
"""
    + _REACHED_FIRSTS
    + _add_first_arrivals("REACHED", "reachedFirsts", _REACHED_KEY, _REACHED_PROPERTIES)
    + APPEND_FUNNEL_FACTS
    + """
RETURN collect(CASE WHEN NOT inOrder THEN c.id END) AS outOfOrder
"""
)
"""Append each customer's new touchpoints (``$appends``: customer id and the ids of
touchpoints it did not have before the write) to its journey, when all of them come
after its LATEST touchpoint in (at, id) order: NEXT from LATEST through them (with their
directly-follows facts, ``set_next_facts``), LATEST moved to the last, and a first-arrival
fact (REACHED per step, the funnel facts per step and channel / campaign) created only
where one of them is the first arrival at its key (``_add_first_arrivals``). Nothing
else of the journey is read or rewritten: the customer's kept facts are read in one walk
of its relationships (``_KEPT_FACTS``) and each new touchpoint's references in one walk
of its own, so the cost is that of the new touchpoints, not of the customers' whole
history. What the append writes is new (its touchpoints did not exist, LATEST is
replaced), so it CREATEs instead of MERGE-ing, which would walk the customer's
relationships again for each.

The customers where that does not hold are returned, untouched, for the full rebuild.
The customer is write-locked before its LATEST is read, so that two transactions
appending to one customer queue instead of both linking from the same LATEST.
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
WITH c, added, chain,
     [t IN chain | [(t)-[r:AT_STEP|VIA|FROM]->(x) | [type(r), r, x]]] AS links,
"""
    + _KEPT_FACTS
    + """
WITH c, added, chain, kept, """
    + _visits("chain", "links")
    + """ AS visits
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
"""
    + _RESET_LATEST
    + _RESET_REACHED
    + _RESET_FUNNEL_FACTS
)
"""Insert each customer's new touchpoints (``$inserts``: customer id and the ids of
touchpoints it did not have before the write) into its journey wherever they fall: the
late ones ``APPEND_TO_JOURNEYS`` refuses. The customer's touchpoints are read once in
(at, id) order; only the NEXT around a new touchpoint change: an old touchpoint now
followed by a new one loses its NEXT (to the touchpoint the new one now precedes) and
gets one to the new touchpoint, a new one gets one to its successor (each with its
directly-follows facts, ``set_next_facts``); LATEST (which moves only when the last is
new) and the first arrivals (REACHED and the funnel facts) are reset from ``chain`` and
the customer's ``visits`` by the rebuild's own parts (``_RESET_LATEST``,
``_RESET_REACHED``, ``_RESET_FUNNEL_FACTS``). No other NEXT
is read or compared, which a rebuild (``REBUILD_JOURNEYS``) does for each. Right
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


def _funnel_key(state: Mapping[str, Any]) -> list[str]:
    """What of a touchpoint's state its funnel facts depend on besides its journey: its
    channel and campaign."""
    return [ref for ref in state["refs"] if ref.startswith(("VIA:", "FROM:"))]


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
    again (``REFRESH_NEXT_FACTS``, one more round trip for the batch); its channel or
    campaign changed: its customer's funnel facts are rebuilt (``rebuild_funnel_facts``)."""
    appends: dict[str, list[str]] = {}
    rebuild: set[str] = set()
    moved: list[str] = []
    relabelled: dict[str, str] = {}
    refunnel: set[str] = set()
    for touchpoint_id, state in sorted(after.items()):
        old = before.get(touchpoint_id)
        if state is None:
            continue
        customer = referenced(state, "HAD")
        if old is not None and _journey_key(old) == _journey_key(state):
            if customer is not None and _facts_key(old) != _facts_key(state):
                relabelled[touchpoint_id] = customer
            if customer is not None and _funnel_key(old) != _funnel_key(state):
                refunnel.add(customer)
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
    summary.merge(await rebuild_chains(tx, rebuild, moved, touched=after))
    refresh = sorted(i for i, customer in relabelled.items() if customer not in rebuild)
    if refresh:
        summary.add(await tx.run(REFRESH_NEXT_FACTS, ids=refresh))
    summary.merge(await rebuild_funnel_facts(tx, refunnel - rebuild))
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
    touched: Iterable[str] | None = None,
) -> WriteSummary:
    """Rebuild these customers' journeys whole (``REBUILD_JOURNEYS``), detaching the
    ``touchpoint_ids`` left without a customer from any chain first. ``touched``: the
    touchpoints the caller's write changed (every other NEXT's directly-follows facts are
    taken as right); None, the default, checks them all."""
    summary = WriteSummary()
    if touchpoint_ids:
        summary.add(await tx.run(DETACH_CHAIN_OF_ORPHAN_TOUCHPOINTS, ids=list(touchpoint_ids)))
    ids = sorted(set(customer_ids))
    if ids:
        written = None if touched is None else sorted(set(touched))
        summary.add(await tx.run(REBUILD_JOURNEYS, customerIds=ids, touched=written))
    return summary


async def rebuild_funnel_facts(tx: Tx, customer_ids: Iterable[str]) -> WriteSummary:
    """These customers' funnel facts (REACHED_VIA, REACHED_FROM) recomputed from their
    touchpoints: after a write that changed a touchpoint's channel or campaign but not its
    place in its journey, or that removed a step, channel or campaign reference."""
    summary = WriteSummary()
    ids = sorted(set(customer_ids))
    if ids:
        summary.add(await tx.run(REBUILD_FUNNEL_FACTS, customerIds=ids))
    return summary


async def rebuild_funnel_facts_of_touchpoints(
    tx: Tx, touchpoint_ids: Sequence[str]
) -> WriteSummary:
    """``rebuild_funnel_facts`` for the customers these touchpoints belong to now."""
    if not touchpoint_ids:
        return WriteSummary()
    return await rebuild_funnel_facts(tx, await customers_of_touchpoints(tx, touchpoint_ids))
