"""The fast bulk write path shared by the importers and the generator.

``orggraph.graph.writes`` is the general write layer: it checks that every
referenced node exists (one query per reference kind) before writing. A bulk
load knows more: its rows are validated up front, the nodes they refer to were
written earlier in the same load, and a batch holds whole customers. So this
module writes each batch with a handful of ``UNWIND`` statements instead:

* nodes: ``MERGE (n:Label {id: row.id}) SET n += row.props``, then the
  references the records set, by the write layer's ``set_ref_query``;
* relationships: the write layer's ``merge_relationship_rows`` (single-valued
  kinds replace the record's previous one), after counting the rows missing an end;
* touchpoints: one statement that merges the node and every single-valued
  reference it sets (customer, channel, campaign, team, person, step), each by
  the write layer's ``replace_ref_clause``;
* nodes the caller knows to be new (the mapping import reads which exist):
  ``CREATE``d with their references (``create_new_query``), the id uniqueness
  constraints as the guard (a node another writer created meanwhile fails the
  batch, which the caller writes again by ``MERGE``);
* the journeys: those of customers created in the same transaction written
  whole from the rows (``new_journeys``); other new touchpoints appended after
  their customers' LATEST by the write layer's ``APPEND_TO_JOURNEYS``; for the
  others (and the customers the append refuses), ``rebuild_chains`` of the
  write layer for the customers the batch touches, before and after (a
  touchpoint may have moved); all in the same transaction (so a batch is never
  left with a half-built chain).

The write semantics are the write layer's: rows are validated by the model's
pydantic records before anything is sent; every statement is a literal built
from the model's allow-listed labels and types; every write is a ``MERGE`` by
id, so a replayed batch changes nothing; a single-valued reference written
again *replaces* the previous one (after any mix of imports and upserts a
record has at most one target per kind, the last written); one managed
transaction per batch (all of it commits, or none). A reference to a node that
does not exist is never invented: relationship rows missing an end are counted
and reported, a record's reference to a missing node is dropped.

Live events: a load given a ``ChangeTracking`` reads the state of the touchpoints each
batch writes (and of those at the touchpoint end of a reference kind's rows) before and
after, in the batch's transaction, and reports the changed ones in
``WriteSummary.changed_touchpoints`` (graph/touchpoint_changes.py): a replayed load reports
none. Two reads per batch, so it is bounded: past ``limit`` touchpoints written the load
stops tracking and says so (``ChangeTracking.exceeded``), and reports nothing usable.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, LiteralString, TypedDict, TypeVar, Unpack, get_args

from orggraph.graph.channels import link_channel_days
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.history import BULK_PRINCIPAL, record_batch
from orggraph.graph.journeys import (
    APPEND_TO_JOURNEYS,
    customers_of_touchpoints,
    rebuild_chains,
    set_next_facts,
)
from orggraph.graph.model import (
    ENTITY_LABEL,
    RECORDS,
    REF_PROPERTIES,
    REFS,
    RELATIONSHIPS,
    Record,
    RelationshipKind,
    RelationshipSpec,
    TouchpointRecord,
)
from orggraph.graph.personal import PersonalData, seal_properties
from orggraph.graph.touchpoint_changes import REF_KINDS, changed, touchpoint_ends, touchpoint_states
from orggraph.graph.write_rules import WriteSummary, merge_entity, replace_ref_clause
from orggraph.graph.writes import (
    merge_nodes_query,
    merge_relationship_rows,
    validate_records,
    validate_relationships,
    write_refs,
)

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_BULK_BATCH = 10_000


@dataclass
class ChangeTracking:
    """Whether a bulk load still reports the touchpoints it changed: while it has written at
    most ``limit`` touchpoints (a retried batch counts twice: it gives up a little early)."""

    limit: int
    written: int = 0

    def admit(self, touchpoints: int) -> bool:
        """Count a batch's touchpoints; whether its changes are tracked."""
        self.written += touchpoints
        return not self.exceeded

    @property
    def exceeded(self) -> bool:
        """Past the limit: the load's changed touchpoints are not known."""
        return self.written > self.limit


async def tracked(
    tx: Tx,
    tracking: ChangeTracking | None,
    ids: Collection[str],
    write: Callable[[], Awaitable[WriteSummary]],
) -> WriteSummary:
    """``write`` in ``tx``, with the touchpoints among ``ids`` it changed when tracked."""
    if tracking is None or not ids or not tracking.admit(len(ids)):
        return await write()
    before = await touchpoint_states(tx, ids)
    summary = await write()
    summary.changed_touchpoints = changed(before, await touchpoint_states(tx, ids))
    return summary


# --- progress ---------------------------------------------------------------------


@dataclass
class Progress:
    """Counts rows of one phase and reports rows/s to a callback every ``every`` rows."""

    what: str
    total: int | None = None
    report: Callable[[str], None] | None = None
    every: int = 50_000
    unit: str = "rows"
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    _next_report: int = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.report is not None and (self.done >= self._next_report or self.done == self.total):
            self._next_report = self.done + self.every
            self.report(self.line())

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        of = f"/{self.total:,}" if self.total else ""
        return f"{self.what}: {self.done:,}{of} {self.unit}, {self.rate:,.0f} {self.unit}/s"


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- literal Cypher -----------------------------------------------------------------


@functools.cache
def count_dangling_query(spec: RelationshipSpec) -> LiteralString:
    """How many rows name a source or target that does not exist."""
    return (
        "UNWIND $rows AS row WITH row "
        "WHERE NOT EXISTS { MATCH (:" + spec.source + " {id: row.from}) } "
        "OR NOT EXISTS { MATCH (:" + spec.target + " {id: row.to}) } "
        "RETURN count(*) AS dangling"
    )


# The row key each touchpoint reference travels under.
_TOUCHPOINT_REF_KEYS: dict[str, LiteralString] = {
    "customer_id": "customer",
    "channel_id": "channel",
    "campaign_id": "campaign",
    "team_id": "team",
    "person_id": "person",
    "step_id": "step",
}
assert set(_TOUCHPOINT_REF_KEYS) == set(REFS["Touchpoint"])


def _merge_touchpoints_query() -> LiteralString:
    query: LiteralString = (
        "UNWIND $rows AS row " + merge_entity("Touchpoint") + ", "
        "a.at = datetime({epochSeconds: row.atS, nanosecond: row.atNs}) "
        "WITH a, row"
    )
    for field_name, ref in REFS["Touchpoint"].items():
        key = _TOUCHPOINT_REF_KEYS[field_name]
        query += replace_ref_clause(ref, "row." + key, given="'" + key + "' IN row.given")
    return query


MERGE_TOUCHPOINTS: LiteralString = _merge_touchpoints_query()
"""One statement per batch: each touchpoint and every single-valued reference its
row sets (``row.given``), by the write layer's rule (``replace_ref_clause``): a
reference written again replaces the previous one, an unset one is left alone."""


_SLOTS: tuple[LiteralString, ...] = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
assert all(len(refs) <= len(_SLOTS) for refs in REFS.values())
_CUSTOMER_SLOT = list(REFS["Touchpoint"]).index("customer_id")


@functools.cache
def datetime_properties(label: str) -> tuple[LiteralString, ...]:
    """The label's datetime properties: ``new_node_row`` sends them as two integers each."""
    names: list[LiteralString] = []
    for name, info in RECORDS[label].model_fields.items():
        if _holds_datetime(info.annotation):
            alias: LiteralString = info.alias or name  # a field name of the model
            names.append(alias)
    return tuple(names)


def _holds_datetime(annotation: Any) -> bool:
    return annotation is datetime or any(_holds_datetime(a) for a in get_args(annotation))


@functools.cache
def create_new_query(label: LiteralString, used: tuple[bool, ...] | None = None) -> LiteralString:
    """``CREATE`` (no ``MERGE``) of nodes known to be new, each with the references its row
    sets (``row.refs``, in ``REFS`` order, null: none) created to their existing targets: a
    new node has no old reference to replace, so no subquery and no Eager barrier.

    The id uniqueness constraints (the label's and ``Entity``'s) are the guard: a node with
    one of these ids that another writer created since the caller looked fails the statement
    (ConflictError), and the caller writes the batch again by ``MERGE``. A touchpoint's
    ``row.latest`` also creates its customer's LATEST (the caller knows the journey whole:
    the customer is new too, see ``new_journeys``). ``used``: per reference, whether any
    row sets it (None: all may); the others are left out of the statement."""
    query: LiteralString = (
        "UNWIND $rows AS row CREATE (a:" + label + ":" + ENTITY_LABEL + " {id: row.id}) "
        "SET a += row.props"
    )
    for name in datetime_properties(label):
        time: LiteralString = "row.times." + name
        query += (
            ", a." + name + " = CASE WHEN " + time + " IS NULL THEN null ELSE "
            "datetime({epochSeconds: " + time + "[0], nanosecond: " + time + "[1]}) END"
        )
    matches: LiteralString = ""
    creates: LiteralString = ""
    refs = REFS.get(label, {})
    for slot, (field_name, ref) in zip(_SLOTS, refs.items(), strict=False):
        if used is not None and not used[int(slot)] and field_name != "customer_id":
            continue
        end: LiteralString = "to" + slot
        matches += (
            " OPTIONAL MATCH (" + end + ":" + ref.other_label + " {id: row.refs[" + slot + "]})"
        )
        link: LiteralString = (
            "(a)-[r:" + ref.spec.type + "]->(" + end + ")"
            if ref.record_is_source
            else "(" + end + ")-[r:" + ref.spec.type + "]->(a)"
        )
        props: LiteralString = (
            " SET r += row.refProps[" + slot + "]" if (label, field_name) in REF_PROPERTIES else ""
        )
        creates += (
            " FOREACH (_ IN CASE WHEN " + end + " IS NULL THEN [] ELSE [1] END | "
            "CREATE " + link + props + ")"
        )
    if label == "Touchpoint":
        customer = _SLOTS[_CUSTOMER_SLOT]
        creates += (
            " FOREACH (_ IN CASE WHEN row.latest AND to" + customer + " IS NOT NULL "
            "THEN [1] ELSE [] END | CREATE (to" + customer + ")-[:LATEST]->(a))"
        )
    return query + (" WITH a, row" + matches + creates if creates else "")


CREATE_NEW_JOURNEYS: LiteralString = (
    """
CALL () {
  UNWIND $next AS pair
  MATCH (a:Touchpoint {id: pair[0]})
  MATCH (b:Touchpoint {id: pair[1]})
  CREATE (a)-[r:NEXT]->(b)
"""
    + set_next_facts("r", "a", "b")
    + """
}
CALL () {
  UNWIND $reached AS row
  MATCH (c:Customer {id: row.customerId})
  MATCH (s:Step {id: row.stepId})
  CREATE (c)-[:REACHED {
    at: datetime({epochSeconds: row.atS, nanosecond: row.atNs}), touchpointId: row.touchpointId
  }]->(s)
}
"""
)
"""The NEXT chain (with its directly-follows facts) and REACHED first arrivals of customers
created in the same transaction
(``new_journeys``; their LATEST came with the touchpoints): what ``rebuild_chains`` would
write for them, computed by the caller from the rows, created without reading."""


def _create_first_arrivals_by(fact: LiteralString, label: LiteralString) -> LiteralString:
    return (
        "UNWIND $rows AS row MATCH (c:Customer {id: row.customerId}) "
        "MATCH (x:" + label + " {id: row.key}) "
        "CREATE (c)-[:" + fact + " {stepId: row.stepId, "
        "at: datetime({epochSeconds: row.atS, nanosecond: row.atNs}), "
        "touchpointId: row.touchpointId}]->(x)"
    )


CREATE_NEW_REACHED_VIA: LiteralString = _create_first_arrivals_by("REACHED_VIA", "Channel")
"""The funnel facts per step and channel of customers created in the same transaction
(``journeys.REBUILD_FUNNEL_FACTS`` would write the same), created without reading."""

CREATE_NEW_REACHED_FROM: LiteralString = _create_first_arrivals_by("REACHED_FROM", "Campaign")
"""The funnel facts per step and campaign of customers created in the same transaction."""


async def create_new_funnel_facts(tx: Tx, journeys: NewJourneys) -> WriteSummary:
    summary = WriteSummary()
    if journeys.reached_via:
        summary.add(await tx.run(CREATE_NEW_REACHED_VIA, rows=journeys.reached_via))
    if journeys.reached_from:
        summary.add(await tx.run(CREATE_NEW_REACHED_FROM, rows=journeys.reached_from))
    return summary


# --- row shaping ---------------------------------------------------------------------


def node_row(record: Record, personal: PersonalData | None) -> dict[str, Any]:
    """Personal properties sealed (ciphertext and look-up hash), as in ``writes``."""
    props = seal_properties(personal, record.label, record.id, record.properties())
    return {"id": record.id, "props": props}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch(value: datetime) -> tuple[int, int]:
    """(seconds, nanoseconds) since the epoch of an aware datetime.

    The driver's packing of zoned datetimes costs ~100 us each in Python (most
    of a bulk load's client time); two integers cost nothing, and the server
    rebuilds the same UTC DateTime with ``datetime({epochSeconds, nanosecond})``.
    """
    delta = value - _EPOCH
    return delta.days * 86_400 + delta.seconds, delta.microseconds * 1_000


def touchpoint_row(record: TouchpointRecord) -> dict[str, Any]:
    props = record.properties()
    props.pop("at", None)
    seconds, nanos = epoch(record.at)
    refs = record.refs()
    row: dict[str, Any] = {
        "id": record.id,
        "props": props,
        "atS": seconds,
        "atNs": nanos,
        "given": [_TOUCHPOINT_REF_KEYS[name] for name in refs],
    }
    for field_name, key in _TOUCHPOINT_REF_KEYS.items():
        row[key] = refs.get(field_name)
    return row


def new_node_row(
    record: Record, personal: PersonalData | None, latest: bool = False
) -> dict[str, Any]:
    """A ``create_new_query`` row: properties sealed as in ``node_row``, the references in
    ``REFS`` order (null: none), a touchpoint's ``at`` as two integers (``epoch``)."""
    label = record.label
    refs = record.refs()
    fields = REFS.get(label, {})
    props = seal_properties(personal, label, record.id, record.properties())
    times: dict[str, tuple[int, int]] = {}
    for name in datetime_properties(label):
        value = props.pop(name, None)
        if isinstance(value, datetime):
            times[name] = epoch(value)
    row: dict[str, Any] = {
        "id": record.id,
        "props": props,
        "times": times,
        "refs": [refs.get(name) for name in fields],
        "refProps": [_ref_props(label, name, record) for name in fields],
    }
    if isinstance(record, TouchpointRecord):
        row["latest"] = latest
    return row


def _ref_props(label: str, field_name: str, record: Record) -> dict[str, Any]:
    """The relationship's own properties a reference carries (``REF_PROPERTIES``)."""
    extra = REF_PROPERTIES.get((label, field_name))
    value = getattr(record, extra[0]) if extra is not None else None
    return {extra[1]: value} if extra is not None and value is not None else {}


@dataclass
class NewJourneys:
    """The journeys of customers whose every touchpoint is new in one transaction, as
    ``rebuild_chains`` would write them: LATEST (the touchpoints), NEXT pairs and REACHED."""

    latest: set[str] = field(default_factory=set)
    next: list[list[str]] = field(default_factory=list)
    reached: list[dict[str, Any]] = field(default_factory=list)
    reached_via: list[dict[str, Any]] = field(default_factory=list)
    reached_from: list[dict[str, Any]] = field(default_factory=list)


def new_journeys(records: Iterable[TouchpointRecord]) -> NewJourneys:
    """Each customer's touchpoints in (at, id) order: consecutive ones linked by NEXT, the
    last one its LATEST, the first at each step its REACHED (with that one's time and id),
    the first at each step via each channel and from each campaign its funnel facts."""
    by_customer: dict[str, list[TouchpointRecord]] = {}
    for record in records:
        if record.customer_id is not None:
            by_customer.setdefault(record.customer_id, []).append(record)
    out = NewJourneys()
    for customer_id, touchpoints in sorted(by_customer.items()):
        touchpoints.sort(key=lambda r: (r.at, r.id))
        out.latest.add(touchpoints[-1].id)
        out.next.extend([a.id, b.id] for a, b in pairwise(touchpoints))
        out.reached += first_arrivals(customer_id, touchpoints, lambda r: r.step_id)
        out.reached_via += first_arrivals(customer_id, touchpoints, lambda r: r.channel_id)
        out.reached_from += first_arrivals(customer_id, touchpoints, lambda r: r.campaign_id)
    return out


def first_arrivals(
    customer_id: str,
    touchpoints: Sequence[TouchpointRecord],
    by: Callable[[TouchpointRecord], str | None],
) -> list[dict[str, Any]]:
    """The first of one customer's touchpoints (given in (at, id) order) at each step and,
    unless ``by`` gives a step's touchpoints no key, each key ``by`` gives them: a
    REACHED row (``by`` the step) or a funnel fact's (``by`` the channel or campaign)."""
    firsts: dict[tuple[str, str], TouchpointRecord] = {}
    for record in touchpoints:
        key = by(record)
        if record.step_id is not None and key is not None:
            firsts.setdefault((record.step_id, key), record)
    rows: list[dict[str, Any]] = []
    for (step_id, key), first in firsts.items():
        seconds, nanos = epoch(first.at)
        rows.append(
            {
                "customerId": customer_id,
                "stepId": step_id,
                "key": key,
                "atS": seconds,
                "atNs": nanos,
                "touchpointId": first.id,
            }
        )
    return rows


def validate_touchpoints(rows: Sequence[Mapping[str, Any]]) -> list[TouchpointRecord]:
    return [r for r in validate_records("Touchpoint", rows) if isinstance(r, TouchpointRecord)]


# --- transaction bodies -----------------------------------------------------------------


async def write_nodes(
    tx: Tx,
    label: LiteralString,
    records: Sequence[Record],
    existing: Collection[str] | None = None,
    tracking: ChangeTracking | None = None,
    new_customers: Collection[str] = (),
    new_rows: Mapping[str, dict[str, Any]] | None = None,
) -> WriteSummary:
    """Upsert records of one label with the references they set (touchpoints: with chains).

    ``existing``: the ids among ``records`` that may exist already (None: any may); the
    others are known to be new and created (``create_new_query``: a node another writer
    created meanwhile fails the transaction with a ConflictError, see there).
    ``new_customers``: for touchpoints, the customers this transaction created.
    ``new_rows``: the records' ``new_node_row`` by id, if built in advance."""
    if label == "Touchpoint":
        touchpoints = [r for r in records if isinstance(r, TouchpointRecord)]
        return await write_touchpoints(
            tx,
            touchpoints,
            existing=existing,
            new_customers=new_customers,
            new_rows=new_rows,
            tracking=tracking,
        )
    summary = WriteSummary(rows=len(records))
    new = [r for r in records if existing is not None and r.id not in existing]
    old = [r for r in records if existing is None or r.id in existing]
    if old:
        rows = [node_row(r, tx.personal) for r in old]
        summary.add(await tx.run(merge_nodes_query(label), rows=rows))
        summary.merge(await write_refs(tx, label, old))
    if new:
        rows = [_new_row(r, tx.personal, new_rows) for r in new]
        summary.add(await tx.run(create_new_query(label, _used(rows)), rows=rows))
    return summary


def _used(rows: Sequence[dict[str, Any]]) -> tuple[bool, ...]:
    """Per reference slot of ``new_node_row`` rows, whether any row sets it."""
    width = len(rows[0]["refs"]) if rows else 0
    return tuple(any(r["refs"][i] is not None for r in rows) for i in range(width))


def _new_row(
    record: Record, personal: PersonalData | None, built: Mapping[str, dict[str, Any]] | None
) -> dict[str, Any]:
    row = built.get(record.id) if built is not None else None
    return row if row is not None else new_node_row(record, personal)


async def write_relationship_rows(
    tx: Tx,
    kind: RelationshipKind,
    rows: Sequence[dict[str, Any]],
    tracking: ChangeTracking | None = None,
) -> tuple[WriteSummary, int]:
    """Write prepared rows (``from``, ``to``, ``props``, ``key``) as the write layer does,
    without its existence checks; count the rows missing an end instead."""
    spec = RELATIONSHIPS[kind]
    record = await tx.single(count_dangling_query(spec), rows=list(rows))
    dangling = int(record["dangling"]) if record else 0
    ends = touchpoint_ends([(spec.source, spec.target, rows)]) if kind in REF_KINDS else set()
    written = await tracked(tx, tracking, ends, lambda: merge_relationship_rows(tx, kind, rows))
    return written, dangling


async def write_touchpoints(
    tx: Tx,
    records: Sequence[TouchpointRecord],
    *,
    existing: Collection[str] | None = None,
    new_customers: Collection[str] = (),
    new_rows: Mapping[str, dict[str, Any]] | None = None,
    tracking: ChangeTracking | None = None,
) -> WriteSummary:
    """Upsert touchpoints with their references and keep their customers' journeys.

    ``existing``: the ids that may exist already (None: any may). The others are known
    to be new: created (``create_new_query``) and appended to their customers' journeys
    (the write layer's ``APPEND_TO_JOURNEYS``, which leaves a customer whose new
    touchpoints come before its LATEST to the full rebuild). A customer of
    ``new_customers`` (created by this transaction) with only new touchpoints has its
    journey written whole from the rows (``new_journeys``), without reading. The customers
    of touchpoints that may exist, former ones included (a touchpoint may have moved),
    get their chains rebuilt whole (``rebuild_chains``)."""
    ids = [r.id for r in records]
    new = [r for r in records if existing is not None and r.id not in existing]
    old = [r for r in records if existing is None or r.id in existing]

    async def write() -> WriteSummary:
        summary = WriteSummary(rows=len(records))
        old_ids = [r.id for r in old]
        previous = await customers_of_touchpoints(tx, old_ids) if old else set()
        rebuild = previous | {r.customer_id for r in old if r.customer_id is not None}
        fresh = set(new_customers) - rebuild
        journeys = new_journeys(r for r in new if r.customer_id in fresh)
        if old:
            summary.add(await tx.run(MERGE_TOUCHPOINTS, rows=[touchpoint_row(r) for r in old]))
        if new:
            rows = [_new_row(r, tx.personal, new_rows) for r in new]
            for row in rows:
                row["latest"] = row["id"] in journeys.latest
            summary.add(await tx.run(create_new_query("Touchpoint", _used(rows)), rows=rows))
        if journeys.next or journeys.reached:
            summary.add(
                await tx.run(CREATE_NEW_JOURNEYS, next=journeys.next, reached=journeys.reached)
            )
        summary.merge(await create_new_funnel_facts(tx, journeys))
        appends: dict[str, list[str]] = {}
        for record in new:
            customer = record.customer_id
            if customer is not None and customer not in rebuild and customer not in fresh:
                appends.setdefault(customer, []).append(record.id)
        if appends:
            rows_ = [{"customerId": c, "ids": i} for c, i in sorted(appends.items())]
            found, counters = await tx.records_and_counters(APPEND_TO_JOURNEYS, appends=rows_)
            summary.add(counters)
            rebuild |= set(found[0]["outOfOrder"]) if found else set()
        # Only a touchpoint the batch leaves without a customer can be left in a chain no
        # customer has (a row sets a customer or keeps the one it had): detaching the
        # others would find nothing, at the cost of a seek per touchpoint in a transaction
        # holding the whole batch (observed: minutes for 11,000 touchpoints).
        orphans = [r.id for r in old if r.customer_id is None]
        summary.merge(await rebuild_chains(tx, rebuild, orphans))
        await link_channel_days(tx, ids)
        return summary

    return await tracked(tx, tracking, ids, write)


# --- whole loads -------------------------------------------------------------------------


class LoadOptions(TypedDict, total=False):
    """How a whole load writes, besides its rows: the batch size (DEFAULT_BULK_BATCH), the
    meter advanced after each batch, whether the touchpoints it changes are tracked."""

    batch_size: int
    progress: Progress | None
    tracking: ChangeTracking | None


async def load_nodes(
    graph: Graph, label: str, rows: Sequence[Mapping[str, Any]], **options: Unpack[LoadOptions]
) -> WriteSummary:
    """Validate every row (the first bad one raises), then upsert batch by batch."""
    records = validate_records(label, rows)
    record_label = RECORDS[label].label
    tracking = options.get("tracking")
    written = await _in_batches(
        graph,
        records,
        options,
        (label, _summary),
        lambda tx, batch: write_nodes(tx, record_label, batch, tracking=tracking),
    )
    return WriteSummary.total(written)


@dataclass
class RelationshipLoad:
    summary: WriteSummary
    missing: int


async def load_relationships(
    graph: Graph,
    kind: RelationshipKind,
    rows: Sequence[Mapping[str, Any]],
    **options: Unpack[LoadOptions],
) -> RelationshipLoad:
    """Validate, then write relationships; rows whose ends do not exist are counted."""
    prepared = validate_relationships(kind, rows)
    tracking = options.get("tracking")
    written = await _in_batches(
        graph,
        prepared,
        options,
        (kind.value, _first),
        lambda tx, batch: write_relationship_rows(tx, kind, batch, tracking),
    )
    return RelationshipLoad(
        WriteSummary.total(summary for summary, _ in written), sum(lost for _, lost in written)
    )


async def load_touchpoints(
    graph: Graph, rows: Sequence[Mapping[str, Any]], **options: Unpack[LoadOptions]
) -> WriteSummary:
    """Validate every touchpoint, then write them grouped by customer, chain included.

    Rows are sorted by customer so that one customer's touchpoints land in as
    few batches as possible (each batch rebuilds the chains of its customers).
    """
    records = validate_touchpoints(rows)
    records.sort(key=lambda r: (r.customer_id or "", r.at, r.id))
    tracking = options.get("tracking")
    written = await _in_batches(
        graph,
        records,
        options,
        ("Touchpoint", _summary),
        lambda tx, batch: write_touchpoints(tx, batch, tracking=tracking),
    )
    return WriteSummary.total(written)


def _summary(summary: WriteSummary) -> WriteSummary:
    return summary


def _first(result: tuple[WriteSummary, int]) -> WriteSummary:
    return result[0]


async def _in_batches(
    graph: Graph,
    items: Sequence[T],
    options: LoadOptions,
    recorded: tuple[str, Callable[[R], WriteSummary]],
    write_batch: Callable[[Tx, list[T]], Awaitable[R]],
) -> list[R]:
    """Each batch written in its own transaction with its one Change summarising it
    (``recorded``: what was written, and the summary of a batch's result; see
    graph.history.record_batch), the meter advanced after each."""
    what, summary_of = recorded
    progress = options.get("progress")
    results: list[R] = []
    for batch in chunked(items, options.get("batch_size", DEFAULT_BULK_BATCH)):

        async def work(tx: Tx, batch: list[T] = batch) -> R:
            result = await write_batch(tx, batch)
            await record_batch(tx, "import", BULK_PRINCIPAL, what, summary_of(result))
            return result

        results.append(await graph.write(work))
        if progress is not None:
            progress.advance(len(batch))
    return results
