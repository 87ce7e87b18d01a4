"""Derived facts kept by the write layer: answers that would otherwise scan touchpoints.

Every write that changes a touchpoint's time, type, activity, customer, channel or step
ends, in its own transaction, with ``maintain_derived`` (driven by the touchpoints'
states before and after the write) or ``refresh_derived`` (given the customers whose
journeys it rebuilt). Both recompute the facts the customers contribute from their
touchpoints now, subtract what they contributed before (kept on each customer's
``JourneyTrace``) and add the difference, so a replayed batch changes nothing and the
facts never depend on the order of writes. The facts themselves (Cypher, maths, reads)
belong to their domain: ``graph/journey_maps.py`` for the journey map.

``rebuild_derived`` recomputes every customer's facts from scratch (a migration's
backfill, ``orggraph db rebuild-derived``); ``check_derived`` recomputes them aside and
reports where the stored ones differ (``orggraph db check-derived``).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

from orggraph.graph.driver import Graph, Tx
from orggraph.graph.journey_maps import (
    JOURNEY_MAP_DAYS_PAGE,
    JOURNEY_TRACE_PAGE,
    JOURNEY_TRACES,
    NO_KEY,
    STORED_JOURNEY_TRACES,
    WRITE_DERIVED_JOURNEYS,
    Atom,
    DayKey,
    atom_of,
    atom_text,
    day_id,
    flatten_trace,
    parse_day_id,
    trace_atoms,
    unflatten_trace,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 2_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WRITE_CHUNK = 2_000
"""Days (and traces) per write query, so that a large import batch is not held whole by
one query."""
MAINTAIN = True
"""Whether writes keep the derived facts: off only to measure their cost (bench); the facts
are then stale until ``rebuild_derived``."""

TRACKED_REFS: tuple[str, ...] = ("HAD:", "VIA:", "AT_STEP:")
"""The references of a touchpoint the derived facts depend on."""
TRACKED_PROPERTIES: tuple[str, ...] = ("at", "type", "activity")

DELETE_ALL_DERIVED: LiteralString = """
MATCH (f) WHERE f:JourneyMapDay OR f:JourneyTrace
WITH f LIMIT $size
DELETE f
RETURN count(*) AS deleted
"""
"""A batch of derived facts deleted (``rebuild_derived`` starts from none)."""

CUSTOMER_PAGE: LiteralString = """
MATCH (c:Customer) WHERE c.id > $after
RETURN c.id AS id ORDER BY c.id LIMIT $size
"""
"""One page of customer ids, in id order (keyset on the id constraint)."""


def _facts_key(state: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    if state is None:
        return None
    props = state["properties"]
    refs = tuple(ref for ref in state["refs"] if ref.startswith(TRACKED_REFS))
    return (*(props.get(name) for name in TRACKED_PROPERTIES), refs)


def _customer(state: Mapping[str, Any] | None) -> str | None:
    if state is None:
        return None
    return next((ref[4:] for ref in state["refs"] if ref.startswith("HAD:")), None)


def customers_to_refresh(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The customers, former ones included, of the touchpoints whose time, type, activity,
    customer, channel or step the write changed (a replay changes none)."""
    customers: set[str] = set()
    for touchpoint_id in set(before) | set(after):
        old, new = before.get(touchpoint_id), after.get(touchpoint_id)
        if _facts_key(old) != _facts_key(new):
            customers |= {c for c in (_customer(old), _customer(new)) if c is not None}
    return customers


async def maintain_derived(tx: Tx, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Keep the derived facts of a touchpoint write (its ``touchpoint_states`` before and
    after) in the same transaction.

    A customer's new trace is its stored one without the written touchpoints, plus those
    of them it has now (from ``after``): no touchpoint is read. Customers without a
    stored trace (a first touchpoint) are read whole (``refresh_derived``).
    """
    customers = customers_to_refresh(before, after)
    if not customers or not MAINTAIN:
        return
    written = set(after)
    arriving: dict[str, list[list[Any]]] = defaultdict(list)
    for touchpoint_id, state in after.items():
        customer = _customer(state)
        if customer in customers:
            arriving[customer].append(_touch(touchpoint_id, state))
    unknown: list[str] = []
    changes: list[tuple[str, list[list[Any]], list[list[Any]]]] = []
    records = await tx.records(STORED_JOURNEY_TRACES, customerIds=sorted(customers))
    for record in records:
        customer, stored = str(record["customerId"]), record["stored"]
        if stored is None:
            unknown.append(customer)
            continue
        old = unflatten_trace(list(stored))
        new = [touch for touch in old if touch[2] not in written] + arriving[customer]
        new.sort(key=lambda touch: (touch[0], touch[1], touch[2]))
        if new != old:
            changes.append((customer, old, new))
    await _store(tx, changes)
    await refresh_derived(tx, unknown)


def _touch(touchpoint_id: str, state: Mapping[str, Any]) -> list[Any]:
    """A touchpoint's state as a trace touch (``JOURNEY_TRACES``' form)."""
    props = state["properties"]
    native = props["at"].to_native()
    refs = dict(ref.split(":", 1) for ref in state["refs"])
    kind, activity = props.get("type"), props.get("activity")
    return [
        (native - EPOCH) // timedelta(seconds=1),
        props["at"].nanosecond,
        touchpoint_id,
        NO_KEY if kind is None else kind,
        next((v for v in (activity, kind) if v is not None), NO_KEY),
        refs.get("VIA", NO_KEY),
        refs.get("AT_STEP", NO_KEY),
    ]


@dataclass
class Delta:
    """What the atoms of some customers changed: per day, the atoms added and removed."""

    added: dict[DayKey, list[str]] = field(default_factory=lambda: defaultdict(list))
    removed: dict[DayKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, old: Iterable[Atom], new: Iterable[Atom]) -> None:
        before, after = Counter(old), Counter(new)
        for atom, count in (after - before).items():
            self.added[_day(atom)].extend([atom_text(atom)] * count)
        for atom, count in (before - after).items():
            self.removed[_day(atom)][atom_text(atom)] += count


def _day(atom: Atom) -> DayKey:
    return atom[0], atom[3]


async def refresh_derived(tx: Tx, customer_ids: Iterable[str]) -> None:
    """Bring the derived facts of these customers (existing or not) up to date in ``tx``
    from their touchpoints: one round trip to read them, and more only when something
    changed."""
    ids = sorted(set(customer_ids))
    if not ids or not MAINTAIN:
        return
    changes: list[tuple[str, list[list[Any]], list[list[Any]]]] = []
    for record in await tx.records(JOURNEY_TRACES, customerIds=ids):
        touches = [list(touch) for touch in record["touches"]]
        stored = record["stored"]
        if stored is not None and list(stored) == flatten_trace(touches):
            continue
        changes.append((str(record["customerId"]), unflatten_trace(stored), touches))
    await _store(tx, changes)


async def _store(tx: Tx, changes: list[tuple[str, list[list[Any]], list[list[Any]]]]) -> None:
    """Apply the atoms that changed between each customer's old and new trace, and store
    the new traces."""
    if not changes:
        return
    delta = Delta()
    for _, old, new in changes:
        delta.add(trace_atoms(old), trace_atoms(new))
    rows = [
        {
            "id": day_id(key),
            "by": key[0],
            "day": key[1],
            "add": delta.added.get(key, []),
            "gone": [[text, count] for text, count in delta.removed.get(key, Counter()).items()],
        }
        for key in sorted(set(delta.added) | set(delta.removed), key=day_id)
    ]
    traces = [{"customerId": c, "trace": flatten_trace(new)} for c, _, new in changes]
    for start in range(0, max(len(rows), len(traces)), WRITE_CHUNK):
        chunk = slice(start, start + WRITE_CHUNK)
        await tx.run(WRITE_DERIVED_JOURNEYS, rows=rows[chunk], traces=traces[chunk])


# --- rebuild and check -----------------------------------------------------------------------

Progress = Callable[[int], None]


async def _customer_pages(graph: Graph) -> Any:
    after = ""
    while True:
        records = await graph.query(CUSTOMER_PAGE, after=after, size=PAGE_SIZE)
        ids = [str(record["id"]) for record in records]
        if not ids:
            return
        yield ids
        after = ids[-1]


async def rebuild_derived(graph: Graph, progress: Progress | None = None) -> int:
    """Drop every derived fact and recompute them from the touchpoints, a page of customers
    per transaction (run again after an interruption). Returns the customers done."""

    async def drop(tx: Tx) -> int:
        record = await tx.single(DELETE_ALL_DERIVED, size=10_000)
        return int(record["deleted"]) if record else 0

    while await graph.write(drop):
        pass
    done = 0
    async for ids in _customer_pages(graph):

        async def page(tx: Tx, ids: list[str] = ids) -> None:
            await refresh_derived(tx, ids)

        await graph.write(page)
        done += len(ids)
        log.info("derived facts: %d customers done", done)
        if progress is not None:
            progress(done)
    return done


@dataclass
class Drift:
    """Where the stored facts differ from the touchpoints (empty lists: none)."""

    customers: list[str] = field(default_factory=list)
    """Customers whose stored trace is not their touchpoints'."""
    days: list[str] = field(default_factory=list)
    """Days (``by/day``) whose atoms are not those the traces make."""

    @property
    def clean(self) -> bool:
        return not self.customers and not self.days


async def check_derived(graph: Graph, progress: Progress | None = None) -> Drift:
    """Recompute every customer's atoms from its touchpoints (reading only) and compare
    them, and the stored traces, with what is stored."""
    drift = Drift()
    expected: Counter[Atom] = Counter()
    seen: set[str] = set()
    done = 0
    async for ids in _customer_pages(graph):
        seen |= set(ids)
        for record in await graph.query(JOURNEY_TRACES, customerIds=ids):
            touches = [list(touch) for touch in record["touches"]]
            stored = list(record["stored"] or [])
            if stored != flatten_trace(touches):
                drift.customers.append(str(record["customerId"]))
            expected.update(trace_atoms(touches))
        done += len(ids)
        if progress is not None:
            progress(done)
    after = ""
    while True:
        traces = await graph.query(JOURNEY_TRACE_PAGE, after=after, size=PAGE_SIZE)
        if not traces:
            break
        drift.customers += [str(r["id"]) for r in traces if r["id"] not in seen]
        after = traces[-1]["id"]
    stored_atoms: dict[DayKey, Counter[Atom]] = defaultdict(Counter)
    after = ""
    while True:
        days = await graph.query(JOURNEY_MAP_DAYS_PAGE, after=after, size=PAGE_SIZE)
        if not days:
            break
        for r in days:
            key = parse_day_id(r["id"])
            stored_atoms[key].update(atom_of(key, text) for text in r["atoms"] or [])
        after = days[-1]["id"]
    wanted: dict[DayKey, Counter[Atom]] = defaultdict(Counter)
    for atom, count in expected.items():
        wanted[_day(atom)][atom] += count
    for key in sorted(set(wanted) | set(stored_atoms)):
        if wanted.get(key, Counter()) != stored_atoms.get(key, Counter()):
            drift.days.append(f"{key[0]}/{key[1]}")
    drift.customers.sort()
    return drift
