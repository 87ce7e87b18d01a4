"""Derived facts: what the write layer keeps beside the touchpoints, checked and rebuilt.

The write layer keeps some facts in the same transaction as the touchpoints they come
from (graph/journeys.py), so that readers need not scan every touchpoint. This module
is the registry of those facts, for ``orggraph db check-derived`` and ``orggraph db
rebuild-derived``: each ``DerivedFact`` names an invariant and a parameterised check
that, for one batch of customer ids, returns the customers whose stored fact differs
from what their touchpoints give, with a short description of the difference; each
``FactFamily`` groups the facts one rebuild keeps (the journeys: ``rebuild_chains``),
with the ``Sweep`` over every touchpoint for what of them hangs off no customer. A new
family is one more entry of ``FAMILIES``; the journey map's directly-follows facts ride
on the NEXT chain, and the funnel's first arrivals per step and channel / campaign
(REACHED_VIA, REACHED_FROM) are rebuilt with the chain, so the journeys' rebuild keeps
them.

A check states the invariant in its own terms (what must hold of the stored facts)
instead of recomputing the facts with the rebuild's Cypher, so a fault of the rebuild
is caught too. Both walk customers in id order, a page at a time (keyset on the
Customer id constraint): memory stays that of one page whatever the graph's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import LiteralString

from orggraph.errors import NotFoundError
from orggraph.graph.channels import link_channel_days
from orggraph.graph.driver import Graph, Tx, id_anchored
from orggraph.graph.importers.bulk import Progress
from orggraph.graph.journeys import rebuild_chains
from orggraph.graph.migrations import customer_pages
from orggraph.graph.write_rules import WriteSummary

PAGE_SIZE = 1_000
"""Customers per check transaction and per rebuild transaction."""

LOOSE_PAGE_SIZE = 10_000
"""Touchpoints per transaction of the sweep for chains no customer has."""

EXAMPLES = 10
"""Drifted customer ids kept per fact for the report."""

CHECK_JOURNEY_CHAINS: LiteralString = id_anchored(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)
  WITH t ORDER BY t.at, t.id
  WITH collect(t) AS chain
  UNWIND range(0, size(chain) - 1) AS i
  WITH chain[i] AS t,
       CASE WHEN i + 1 < size(chain) THEN chain[i + 1] END AS successor,
       CASE WHEN i > 0 THEN chain[i - 1] END AS predecessor
  WITH COUNT { (t)-[:NEXT]->() } AS outgoing,
       CASE WHEN successor IS NULL THEN 0 ELSE COUNT { (t)-[:NEXT]->(successor) } END AS forward,
       COUNT { ()-[:NEXT]->(t) } AS incoming,
       CASE WHEN predecessor IS NULL THEN 0
            ELSE COUNT { (predecessor)-[:NEXT]->(t) } END AS backward,
       successor
  RETURN sum(CASE WHEN successor IS NOT NULL AND forward = 0 THEN 1 ELSE 0 END) AS missing,
         sum(outgoing - CASE WHEN forward > 0 THEN 1 ELSE 0 END) AS extraOut,
         sum(incoming - CASE WHEN backward > 0 THEN 1 ELSE 0 END) AS extraIn
}
WITH c, missing, extraOut, extraIn
WHERE missing > 0 OR extraOut > 0 OR extraIn > 0
RETURN c.id AS customerId,
       [p IN [CASE WHEN missing > 0 THEN toString(missing) + ' missing' END,
              CASE WHEN extraOut > 0 THEN toString(extraOut) + ' extra (out)' END,
              CASE WHEN extraIn > 0 THEN toString(extraIn) + ' extra (in)' END]
        WHERE p IS NOT NULL] AS problems
ORDER BY customerId
"""
)
"""The customers (of ``$customerIds``) whose NEXT chain is not their touchpoints in
``(at, id)`` order: a NEXT missing between two consecutive touchpoints; a NEXT out of one
of their touchpoints to anything but its successor (a skip, a link into another customer's
journey, a duplicate); a NEXT into one of their touchpoints from anything but its
predecessor (from another customer's or an orphan touchpoint). A stray NEXT between two
customers' touchpoints names both. One row per drifted customer, with the counts."""

_FIRST_ARRIVALS_INVARIANTS: LiteralString = """
WITH c, visits, stored, [x IN stored | x.step] AS reached,
     [x IN stored | [v IN visits WHERE v.step = x.step AND v.id = x.id]] AS named
WITH c, visits, stored, reached, named,
     [i IN range(0, size(stored) - 1) WHERE size(named[i]) = 0 OR any(v IN visits
        WHERE v.step = reached[i] AND (v.at < named[i][0].at
          OR (v.at = named[i][0].at AND v.id < named[i][0].id)))] AS wrongTargets
WITH c,
     size(COLLECT { UNWIND visits AS v WITH v WHERE NOT v.step IN reached
                    RETURN DISTINCT v.step }) AS missing,
     size([s IN reached WHERE NONE(v IN visits WHERE v.step = s)]) AS extra,
     size([i IN range(0, size(reached) - 1) WHERE reached[i] IN reached[0..i]]) AS duplicated,
     size([i IN wrongTargets WHERE any(v IN visits WHERE v.step = reached[i])]) AS wrongTarget,
     size([i IN range(0, size(stored) - 1) WHERE NOT i IN wrongTargets
           AND NOT coalesce(stored[i].at = named[i][0].at, false)]) AS wrongTime
WHERE missing > 0 OR extra > 0 OR duplicated > 0 OR wrongTarget > 0 OR wrongTime > 0
RETURN c.id AS customerId,
       [p IN [CASE WHEN missing > 0 THEN toString(missing) + ' missing' END,
              CASE WHEN extra > 0 THEN toString(extra) + ' extra' END,
              CASE WHEN duplicated > 0 THEN toString(duplicated) + ' duplicated' END,
              CASE WHEN wrongTarget > 0 THEN toString(wrongTarget) + ' wrong target' END,
              CASE WHEN wrongTime > 0 THEN toString(wrongTime) + ' wrong time' END]
        WHERE p IS NOT NULL] AS problems
ORDER BY customerId
"""
"""The invariants of first arrivals, over ``visits`` (a customer's touchpoints, each as
``{step, id, at}``, ``step`` the key a first arrival is kept per) and ``stored`` (its
facts, as ``{step, id, at}``): shared by REACHED (per step) and the funnel facts (per
step and channel, per step and campaign)."""

CHECK_FIRST_ARRIVALS: LiteralString = id_anchored(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)-[:AT_STEP]->(s:Step)
  RETURN collect(CASE WHEN s IS NOT NULL THEN {step: s.id, id: t.id, at: t.at} END) AS visits
}
CALL (c) {
  OPTIONAL MATCH (c)-[r:REACHED]->(s:Step)
  RETURN collect(CASE WHEN s IS NOT NULL THEN {step: s.id, id: r.touchpointId, at: r.at} END)
         AS stored
}
"""
    + _FIRST_ARRIVALS_INVARIANTS
)
"""The customers (of ``$customerIds``) whose REACHED relationships are not one per step
they have a touchpoint at, naming the first such touchpoint in ``(at, id)`` order
(``touchpointId``) and its time (``at``): a step reached without REACHED (missing); a
REACHED to a step none of their touchpoints is at (extra); two REACHED to one step
(duplicated); a REACHED naming no touchpoint of theirs at its step, or one that another
comes before (wrong target); naming the right one with another time (wrong time).

Stated as those invariants over the customer's (step, touchpoint) visits, read once from
the customer's side (a pattern ending on the step let the planner expand from the step,
through every touchpoint at it), rather than by recomputing the first arrivals as the
rebuild does."""


def _check_first_arrivals_by(
    fact: LiteralString, ref: LiteralString, label: LiteralString
) -> LiteralString:
    """The check of a funnel fact (graph/journeys.py ``_reset_first_arrivals``): the first
    arrivals' invariants with a step and a ``label`` node (channel, campaign) as the key."""
    return id_anchored(
        """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)-[:AT_STEP]->(s:Step)
  OPTIONAL MATCH (t)-[:"""
        + ref
        + "]->(x:"
        + label
        + """)
  RETURN collect(CASE WHEN x IS NOT NULL THEN {step: [s.id, x.id], id: t.id, at: t.at} END)
         AS visits
}
CALL (c) {
  OPTIONAL MATCH (c)-[r:"""
        + fact
        + "]->(x:"
        + label
        + """)
  RETURN collect(CASE WHEN x IS NOT NULL THEN {step: [r.stepId, x.id], id: r.touchpointId,
                                               at: r.at} END) AS stored
}
"""
        + _FIRST_ARRIVALS_INVARIANTS
    )


CHECK_FIRST_ARRIVALS_VIA: LiteralString = _check_first_arrivals_by("REACHED_VIA", "VIA", "Channel")
"""The customers (of ``$customerIds``) whose REACHED_VIA relationships are not one per
step and channel they have a touchpoint at and via, to the channel, carrying the step's
id (``stepId``), naming the first such touchpoint in ``(at, id)`` order and its time:
missing, extra, duplicated, wrong target, wrong time as for REACHED."""

CHECK_FIRST_ARRIVALS_FROM: LiteralString = _check_first_arrivals_by(
    "REACHED_FROM", "FROM", "Campaign"
)
"""``CHECK_FIRST_ARRIVALS_VIA`` for REACHED_FROM: per step and campaign."""

CHECK_LATEST_TOUCHPOINTS: LiteralString = id_anchored(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
WITH c,
     COLLECT {
       MATCH (c)-[:HAD]->(t:Touchpoint)
       RETURN t ORDER BY t.at DESC, t.id DESC LIMIT 1
     } AS last,
     COLLECT { MATCH (c)-[:LATEST]->(t) RETURN t } AS stored
WITH c, size(last) AS expected, size(stored) AS kept,
     size([t IN stored WHERE size(last) = 0 OR t <> last[0]]) AS wrong
WHERE kept <> expected OR wrong > 0
RETURN c.id AS customerId,
       [p IN [CASE WHEN kept < expected THEN 'missing' END,
              CASE WHEN kept > 1 THEN toString(kept) + ' LATEST' END,
              CASE WHEN expected = 0 AND kept > 0 THEN 'extra (no touchpoints)' END,
              CASE WHEN expected > 0 AND wrong > 0 THEN 'wrong target' END]
        WHERE p IS NOT NULL] AS problems
ORDER BY customerId
"""
)
"""The customers (of ``$customerIds``) whose LATEST relationships are not exactly one, to
their last touchpoint in ``(at, id)`` order (none when they have no touchpoint): missing,
two or more, one without touchpoints, one to another touchpoint (wrong target, which
includes another customer's)."""

CHECK_NEXT_FACTS: LiteralString = id_anchored(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
CALL (c) {
  OPTIONAL MATCH (c)-[:HAD]->(a:Touchpoint)-[r:NEXT]->(b:Touchpoint)
  WITH r, a, b, (b.at.epochMillis - a.at.epochMillis) / 1000.0 AS seconds
  RETURN sum(CASE WHEN r IS NULL THEN 0
                  WHEN r.fromType = a.type AND r.toType = b.type
                   AND r.fromActivity = coalesce(a.activity, a.type)
                   AND r.toActivity = coalesce(b.activity, b.type)
                   AND r.seconds = seconds THEN 0
                  ELSE 1 END) AS wrong
}
WITH c, wrong WHERE wrong > 0
RETURN c.id AS customerId, [toString(wrong) + ' wrong'] AS problems
ORDER BY customerId
"""
)
"""The customers (of ``$customerIds``) with a NEXT out of one of their touchpoints whose
directly-follows facts are not those of its ends: ``fromType`` and ``toType`` their
types, ``fromActivity`` and ``toActivity`` their activities (``coalesce(activity,
type)``), ``seconds`` the seconds from one to the other (a fact missing counts as wrong).
The journey map by type and activity reads these instead of the touchpoints."""

STRAY_NEXT_SOURCES: LiteralString = id_anchored(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})-[:HAD]->(:Touchpoint)<-[:NEXT]-(source:Touchpoint)
OPTIONAL MATCH (owner:Customer)-[:HAD]->(source)
WITH source, owner WHERE owner IS NULL OR owner <> c
RETURN collect(DISTINCT owner.id) AS customerIds,
       collect(DISTINCT CASE WHEN owner IS NULL THEN source.id END) AS orphanIds
"""
)
"""Where the NEXT relationships into these customers' touchpoints from outside their
journeys come from: the customers owning their sources (whose rebuild removes them, as a
rebuild rewrites what leaves a journey) and the sources no customer has (whose chain
``rebuild_chains`` detaches)."""

REMOVE_DUPLICATE_JOURNEY_FACTS: LiteralString = id_anchored(
    """
UNWIND $customerIds AS customerId
MATCH (c:Customer {id: customerId})
CALL (c) {
  MATCH (c)-[r:REACHED|LATEST]->(x)
  WITH type(r) AS kind, x, collect(r) AS found WHERE size(found) > 1
  FOREACH (r IN tail(found) | DELETE r)
}
CALL (c) {
  MATCH (c)-[:HAD]->(:Touchpoint)-[r:NEXT]->(x)
  WITH startNode(r) AS t, x, collect(r) AS found WHERE size(found) > 1
  FOREACH (r IN tail(found) | DELETE r)
}
"""
)
"""Keep one of two or more parallel REACHED, LATEST or NEXT relationships of these
customers' journeys (the write path's MERGE never makes them, so only a hand-made edit
can): the rebuild's MERGE would keep them all. A replay finds none."""

TOUCHPOINT_PAGE: LiteralString = """
MATCH (t:Touchpoint) WHERE t.id > $after
WITH t ORDER BY t.id LIMIT $size
WITH collect(t) AS page
RETURN size(page) AS seen, page[-1].id AS last,
       [t IN page WHERE NOT EXISTS { (t)<-[:HAD]-(:Customer) } AND EXISTS { (t)-[:NEXT]-() }
        | t.id] AS loose
"""
"""One page of touchpoints in id order (keyset on the id constraint): how many, the last
id, and those with a NEXT although no customer has them (a chain hanging off nothing,
which no customer's check sees when both ends are such touchpoints). One row per page:
a row per touchpoint made the sweep ten times slower."""

CHANNEL_DAY_PAGE: LiteralString = """
MATCH (t:Touchpoint) WHERE t.id > $after
WITH t ORDER BY t.id LIMIT $size
WITH t, head(COLLECT { MATCH (t)-[:VIA]->(ch:Channel) RETURN ch.id }) AS channelId,
     COLLECT { MATCH (t)-[:IN_DAY]->(d) RETURN d } AS days
WITH t, channelId, days,
     date(datetime({epochMillis: t.at.epochMillis})) AS day
WITH collect({id: t.id, wrong: size(days) <> CASE WHEN channelId IS NULL THEN 0 ELSE 1 END
     OR any(d IN days WHERE NOT d:ChannelDay OR d.channelId <> channelId OR d.day <> day
                         OR d.channelId IS NULL OR d.day IS NULL)}) AS page
RETURN size(page) AS seen, page[-1].id AS last, [p IN page WHERE p.wrong | p.id] AS loose
"""
"""One page of touchpoints in id order (keyset on the id constraint): how many, the last
id, and those whose IN_DAY is not exactly one relationship to the ChannelDay of their
channel and UTC day (none without a channel): missing, to another day or channel,
duplicated, or to something else. A ChannelDay's degree then counts exactly the
touchpoints via its channel that day, which is what channel coverage reads."""

STATEMENTS: tuple[LiteralString, ...] = (
    CHECK_JOURNEY_CHAINS,
    CHECK_FIRST_ARRIVALS,
    CHECK_FIRST_ARRIVALS_VIA,
    CHECK_FIRST_ARRIVALS_FROM,
    CHECK_LATEST_TOUCHPOINTS,
    CHECK_NEXT_FACTS,
    STRAY_NEXT_SOURCES,
    REMOVE_DUPLICATE_JOURNEY_FACTS,
    TOUCHPOINT_PAGE,
    CHANNEL_DAY_PAGE,
)
"""This module's statements: each starts from an id constraint (a seek) and expands from
there, so a page costs what its journeys hold (tests plan them)."""


Rebuild = Callable[[Tx, list[str]], Awaitable[WriteSummary]]


@dataclass(frozen=True)
class DerivedFact:
    """One derived fact: its name and the check of its invariant (docstring of ``check``)."""

    name: str
    check: LiteralString


@dataclass(frozen=True)
class Sweep:
    """A fact that hangs off no customer, checked over every touchpoint: ``page`` takes
    ``$after`` and ``$size`` and returns one row, ``seen``, ``last`` (the keyset) and
    ``loose`` (the ids at fault); ``repair`` mends those ids in one transaction."""

    name: str
    page: LiteralString
    problem: str
    repair: Callable[[Tx, list[str]], Awaitable[WriteSummary]]


@dataclass(frozen=True)
class FactFamily:
    """Facts one rebuild keeps together (for one batch of customer ids, in one transaction,
    idempotent), and the sweeps for what of them no customer holds."""

    name: str
    facts: tuple[DerivedFact, ...]
    rebuild: Rebuild
    sweeps: tuple[Sweep, ...] = ()


async def rebuild_journeys(tx: Tx, customer_ids: list[str]) -> WriteSummary:
    """The journeys of these customers rebuilt (``rebuild_chains``), with the journeys
    their touchpoints' stray incoming NEXT leave from, and parallel duplicates removed."""
    summary = WriteSummary()
    summary.add(await tx.run(REMOVE_DUPLICATE_JOURNEY_FACTS, customerIds=customer_ids))
    stray = await tx.single(STRAY_NEXT_SOURCES, customerIds=customer_ids)
    owners = list(stray["customerIds"]) if stray else []
    orphans = list(stray["orphanIds"]) if stray else []
    summary.merge(await rebuild_chains(tx, [*customer_ids, *owners], orphans))
    return summary


async def detach_chains(tx: Tx, touchpoint_ids: list[str]) -> WriteSummary:
    """The chains of these touchpoints no customer has, detached (``rebuild_chains``)."""
    return await rebuild_chains(tx, (), touchpoint_ids)


JOURNEYS = FactFamily(
    "journeys",
    (
        DerivedFact("journey chain (NEXT)", CHECK_JOURNEY_CHAINS),
        DerivedFact("first arrivals (REACHED)", CHECK_FIRST_ARRIVALS),
        DerivedFact("latest touchpoint (LATEST)", CHECK_LATEST_TOUCHPOINTS),
        DerivedFact("directly-follows facts (NEXT properties)", CHECK_NEXT_FACTS),
        DerivedFact("first arrivals per channel (REACHED_VIA)", CHECK_FIRST_ARRIVALS_VIA),
        DerivedFact("first arrivals per campaign (REACHED_FROM)", CHECK_FIRST_ARRIVALS_FROM),
    ),
    rebuild_journeys,
    (
        Sweep(
            "chains of touchpoints no customer has (NEXT)",
            TOUCHPOINT_PAGE,
            "NEXT without a customer",
            detach_chains,
        ),
    ),
)


async def no_customer_facts(tx: Tx, customer_ids: list[str]) -> WriteSummary:
    """The channel days hang off no customer (their sweep repairs them): never called,
    as a family without per-customer facts is left out of the customer pages."""
    return WriteSummary()


CHANNEL_DAYS = FactFamily(
    "channel days",
    (),
    no_customer_facts,
    (
        Sweep(
            "touchpoints per channel and day (IN_DAY)",
            CHANNEL_DAY_PAGE,
            "IN_DAY not its channel's day",
            link_channel_days,
        ),
    ),
)

FAMILIES: tuple[FactFamily, ...] = (JOURNEYS, CHANNEL_DAYS)
"""Every family of derived facts; a new one is added here."""


def all_facts() -> list[DerivedFact]:
    return [fact for family in FAMILIES for fact in family.facts]


def all_sweeps() -> list[Sweep]:
    return [sweep for family in FAMILIES for sweep in family.sweeps]


# --- walking the customers --------------------------------------------------------------


MISSING_CUSTOMERS: LiteralString = """
UNWIND $ids AS id
OPTIONAL MATCH (c:Customer {id: id})
WITH id WHERE c IS NULL
RETURN collect(id) AS missing
"""
"""Which of the given customer ids name no customer."""


async def given_customers(graph: Graph, customer_ids: Sequence[str]) -> list[str]:
    """The customer ids given, distinct, in id order; an id naming no customer is an error
    (naming the first few), before anything is checked or written."""
    ids = sorted(set(customer_ids))
    records = await graph.query(MISSING_CUSTOMERS, ids=ids)
    missing = [str(i) for i in records[0]["missing"]] if records else []
    if missing:
        shown = ", ".join(repr(i) for i in missing[:EXAMPLES])
        more = f" and {len(missing) - EXAMPLES} more" if len(missing) > EXAMPLES else ""
        raise NotFoundError(f"no customer with id {shown}{more}", ids=missing[:EXAMPLES])
    return ids


COUNT_CUSTOMERS: LiteralString = "MATCH (c:Customer) RETURN count(c) AS total"
"""How many customers there are (from the count store: no scan)."""

COUNT_TOUCHPOINTS: LiteralString = "MATCH (t:Touchpoint) RETURN count(t) AS total"
"""How many touchpoints there are (from the count store: no scan)."""


async def _count(graph: Graph, query: LiteralString) -> int:
    records = await graph.query(query)
    return int(records[0]["total"]) if records else 0


async def customer_count(graph: Graph) -> int:
    return await _count(graph, COUNT_CUSTOMERS)


async def swept_pages(
    graph: Graph, sweep: Sweep, size: int = LOOSE_PAGE_SIZE
) -> AsyncIterator[tuple[int, list[str]]]:
    """Every touchpoint in id order, a page per read transaction: per page, how many
    touchpoints it held and the ids of those at fault."""
    after = ""
    while True:
        records = await graph.query(sweep.page, after=after, size=size)
        seen = int(records[0]["seen"]) if records else 0
        if not seen:
            return
        yield seen, [str(i) for i in records[0]["loose"]]
        after = str(records[0]["last"])


# --- check -------------------------------------------------------------------------------


@dataclass
class Drift:
    """One fact's result: customers checked, those drifted, the first few with their
    problems."""

    fact: str
    unit: str = "customers"
    checked: int = 0
    drifted: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, customer_id: str, problems: list[str]) -> None:
        self.drifted += 1
        if len(self.examples) < EXAMPLES:
            self.examples[customer_id] = problems


Found = list[dict[str, list[str]]]
"""Per fact (registry order): the drifted customers' ids and their problems."""


async def check_page(graph: Graph, customer_ids: list[str]) -> Found:
    """Every fact's check on one page of customers, in one read transaction."""

    async def work(tx: Tx) -> Found:
        return [
            {
                str(record["customerId"]): [str(p) for p in record["problems"]]
                for record in await tx.records(fact.check, customerIds=customer_ids)
            }
            for fact in all_facts()
        ]

    return await graph.read(work)


async def check_derived(
    graph: Graph,
    customer_ids: Sequence[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    page_size: int = PAGE_SIZE,
) -> list[Drift]:
    """Check every derived fact for every customer (or those given), one read
    transaction per page; the drift found, per fact in registry order.

    Neo4j reads committed data, not a snapshot: a customer written while its page is
    read may look drifted (its chain read before a write commits, its LATEST after).
    The customers found are read again in a second transaction and only those still
    drifted are reported."""
    drifts = [Drift(fact.name) for fact in all_facts()]
    async for page in walk_customers(graph, customer_ids, "checked", progress, page_size):
        found = await check_page(graph, page)
        suspects = sorted({c for per_fact in found for c in per_fact})
        if suspects:
            found = await check_page(graph, suspects)
        for drift, per_fact in zip(drifts, found, strict=True):
            drift.checked += len(page)
            for customer, problems in per_fact.items():
                drift.note(customer, problems)
    if customer_ids is None:
        drifts += [await check_sweep(graph, sweep, progress) for sweep in all_sweeps()]
    return drifts


async def check_sweep(graph: Graph, sweep: Sweep, progress: Callable[[str], None] | None) -> Drift:
    """One sweep over every touchpoint, a read per page."""
    drift = Drift(sweep.name, "touchpoints")
    total = await _count(graph, COUNT_TOUCHPOINTS)
    meter = Progress("swept", total, progress, every=LOOSE_PAGE_SIZE * 10, unit="touchpoints")
    async for seen, loose in swept_pages(graph, sweep):
        drift.checked += seen
        for touchpoint_id in loose:
            drift.note(touchpoint_id, [sweep.problem])
        meter.advance(seen)
    return drift


# --- rebuild -----------------------------------------------------------------------------


@dataclass
class Rebuilt:
    """One family's rebuild: customers (or touchpoints) rebuilt and what that changed."""

    family: str
    unit: str = "customers"
    rebuilt: int = 0
    changes: WriteSummary = field(default_factory=WriteSummary)


async def rebuild_derived(
    graph: Graph,
    customer_ids: Sequence[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    page_size: int = PAGE_SIZE,
) -> list[Rebuilt]:
    """Rebuild every family of derived facts for every customer (or those given) from
    their touchpoints, one write transaction per page (a page run again changes nothing).
    """
    families = [family for family in FAMILIES if family.facts]
    results = [Rebuilt(family.name) for family in families]
    async for page in walk_customers(graph, customer_ids, "rebuilt", progress, page_size):

        async def work(tx: Tx, page: list[str] = page) -> list[WriteSummary]:
            return [await family.rebuild(tx, page) for family in families]

        for result, changes in zip(results, await graph.write(work), strict=True):
            result.rebuilt += len(page)
            result.changes.merge(changes)
    if customer_ids is None:
        results += [await repair_sweep(graph, sweep) for sweep in all_sweeps()]
    return results


async def repair_sweep(graph: Graph, sweep: Sweep) -> Rebuilt:
    """One sweep over every touchpoint, a write transaction per page with ids at fault."""
    rebuilt = Rebuilt(sweep.name, "touchpoints")
    async for _, loose in swept_pages(graph, sweep):
        if not loose:
            continue

        async def work(tx: Tx, loose: list[str] = loose) -> WriteSummary:
            return await sweep.repair(tx, loose)

        rebuilt.changes.merge(await graph.write(work))
        rebuilt.rebuilt += len(loose)
    return rebuilt


async def walk_customers(
    graph: Graph,
    customer_ids: Sequence[str] | None,
    what: str,
    progress: Callable[[str], None] | None,
    page_size: int,
) -> AsyncIterator[list[str]]:
    """Pages of the customers given (refused if one does not exist) or of every customer,
    in id order, reporting customers done / total and the rate as each page is done."""
    given = None if customer_ids is None else await given_customers(graph, customer_ids)
    total = len(given) if given is not None else await customer_count(graph)
    meter = Progress(what, total, progress, every=page_size * 10, unit="customers")
    pages = customer_pages(graph, page_size) if given is None else _slices(given, page_size)
    async for page in pages:
        yield page
        meter.advance(len(page))


async def _slices(ids: list[str], size: int) -> AsyncIterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
