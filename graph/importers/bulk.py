"""The fast bulk write path shared by the importers and the generator.

``orggraph.graph.writes`` is the general write layer: each call may replace a
touchpoint's references, checks that every referenced node exists (one query
per reference kind) and rebuilds chains touchpoint by touchpoint. A bulk load
knows more: its rows are validated up front, the nodes they refer to were
written earlier in the same load, and a batch holds whole customers. So this
module writes each batch with a handful of ``UNWIND`` statements instead:

* nodes: ``MERGE (n:Label {id: row.id}) SET n += row.props``;
* relationships: ``MATCH`` both ends by id, ``MERGE`` the relationship;
* touchpoints: one statement that merges the node and every single-valued
  reference it carries (customer, channel, campaign, team, person, step);
* the journey chain: ``rebuild_chains`` of the write layer for the customers
  the batch touches, in the same transaction (so a batch is never left with
  a half-built chain).

Rules kept from the write layer: rows are validated by the model's pydantic
records before anything is sent; every statement is a literal built from the
model's allow-listed labels and types; every write is a ``MERGE`` by id, so a
replayed batch changes nothing; one managed transaction per batch (all of it
commits, or none). Unlike ``writes``, a reference set here is *added*, not
replaced: bulk loads write whole, deterministic data sets, so a re-run sets
the same references again. A reference to a node that does not exist is
counted and reported (``missing_refs``), never invented.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, LiteralString, TypeVar

from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import (
    RECORDS,
    REFS,
    RELATIONSHIPS,
    Record,
    RelationshipKind,
    RelationshipSpec,
    TouchpointRecord,
)
from orggraph.graph.personal import PersonalData, seal_properties
from orggraph.graph.writes import WriteSummary, rebuild_chains, validate_records

T = TypeVar("T")
DEFAULT_BULK_BATCH = 10_000


# --- progress ---------------------------------------------------------------------


@dataclass
class Progress:
    """Counts rows of one phase and reports rows/s to a callback every ``every`` rows."""

    what: str
    total: int | None = None
    report: Callable[[str], None] | None = None
    every: int = 50_000
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
        return f"{self.what}: {self.done:,}{of} rows, {self.rate:,.0f} rows/s"


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
def merge_nodes_query(label: LiteralString) -> LiteralString:
    return "UNWIND $rows AS row MERGE (n:" + label + " {id: row.id}) SET n += row.props"


@functools.cache
def merge_relationships_query(spec: RelationshipSpec) -> LiteralString:
    key: LiteralString = ""
    if spec.key_property is not None:
        key = " {" + spec.key_property + ": row.key}"
    return (
        "UNWIND $rows AS row MATCH (a:" + spec.source + " {id: row.from}) "
        "MATCH (b:" + spec.target + " {id: row.to}) "
        "MERGE (a)-[r:" + spec.type + key + "]->(b) SET r += row.props"
    )


@functools.cache
def count_dangling_query(spec: RelationshipSpec) -> LiteralString:
    """How many rows name a source or target that does not exist."""
    return (
        "UNWIND $rows AS row WITH row "
        "WHERE NOT EXISTS { MATCH (:" + spec.source + " {id: row.from}) } "
        "OR NOT EXISTS { MATCH (:" + spec.target + " {id: row.to}) } "
        "RETURN count(*) AS dangling"
    )


# One statement per batch: the touchpoint and each of its single-valued references.
MERGE_TOUCHPOINTS: LiteralString = """
UNWIND $rows AS row
MERGE (t:Touchpoint {id: row.id})
SET t += row.props, t.at = datetime({epochSeconds: row.atS, nanosecond: row.atNs})
WITH t, row
CALL (t, row) {
  WITH t, row WHERE row.customer IS NOT NULL
  MATCH (c:Customer {id: row.customer}) MERGE (c)-[:HAD]->(t)
}
CALL (t, row) {
  WITH t, row WHERE row.channel IS NOT NULL
  MATCH (c:Channel {id: row.channel}) MERGE (t)-[:VIA]->(c)
}
CALL (t, row) {
  WITH t, row WHERE row.campaign IS NOT NULL
  MATCH (c:Campaign {id: row.campaign}) MERGE (t)-[:FROM]->(c)
}
CALL (t, row) {
  WITH t, row WHERE row.team IS NOT NULL
  MATCH (c:Team {id: row.team}) MERGE (t)-[:HANDLED_BY]->(c)
}
CALL (t, row) {
  WITH t, row WHERE row.person IS NOT NULL
  MATCH (c:Person {id: row.person}) MERGE (t)-[:HANDLED_BY]->(c)
}
CALL (t, row) {
  WITH t, row WHERE row.step IS NOT NULL
  MATCH (c:Step {id: row.step}) MERGE (t)-[:AT_STEP]->(c)
}
"""

_TOUCHPOINT_REF_KEYS = {
    "customer_id": "customer",
    "channel_id": "channel",
    "campaign_id": "campaign",
    "team_id": "team",
    "person_id": "person",
    "step_id": "step",
}
assert set(_TOUCHPOINT_REF_KEYS) == set(REFS["Touchpoint"])


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
    row: dict[str, Any] = {"id": record.id, "props": props, "atS": seconds, "atNs": nanos}
    for field_name, key in _TOUCHPOINT_REF_KEYS.items():
        row[key] = getattr(record, field_name)
    return row


def validate_touchpoints(rows: Sequence[Mapping[str, Any]]) -> list[TouchpointRecord]:
    return [r for r in validate_records("Touchpoint", rows) if isinstance(r, TouchpointRecord)]


# --- transaction bodies -----------------------------------------------------------------


async def write_nodes(tx: Tx, label: LiteralString, records: Sequence[Record]) -> WriteSummary:
    """Upsert plain node properties (no references) of one label."""
    summary = WriteSummary(rows=len(records))
    rows = [node_row(r, tx.personal) for r in records]
    summary.add(await tx.run(merge_nodes_query(label), rows=rows))
    return summary


async def write_relationship_rows(
    tx: Tx, kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]
) -> tuple[WriteSummary, int]:
    """Merge prepared rows (``from``, ``to``, ``props``, ``key``); count rows missing an end."""
    spec = RELATIONSHIPS[kind]
    summary = WriteSummary(rows=len(rows))
    record = await tx.single(count_dangling_query(spec), rows=list(rows))
    dangling = int(record["dangling"]) if record else 0
    summary.add(await tx.run(merge_relationships_query(spec), rows=list(rows)))
    return summary, dangling


async def write_touchpoints(
    tx: Tx, records: Sequence[TouchpointRecord], *, chain: bool = True
) -> WriteSummary:
    """Upsert touchpoints with their references, then rebuild their customers' chains."""
    summary = WriteSummary(rows=len(records))
    summary.add(await tx.run(MERGE_TOUCHPOINTS, rows=[touchpoint_row(r) for r in records]))
    if chain:
        customers = {r.customer_id for r in records if r.customer_id is not None}
        summary.merge(await rebuild_chains(tx, customers))
    return summary


# --- whole loads -------------------------------------------------------------------------


async def load_nodes(
    graph: Graph,
    label: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BULK_BATCH,
    progress: Progress | None = None,
) -> WriteSummary:
    """Validate every row (the first bad one raises), then upsert batch by batch."""
    records = validate_records(label, rows)
    record_label = RECORDS[label].label
    total = WriteSummary()
    for batch in chunked(records, batch_size):

        async def work(tx: Tx, batch: list[Record] = batch) -> WriteSummary:
            return await write_nodes(tx, record_label, batch)

        total.merge(await graph.write(work))
        if progress is not None:
            progress.advance(len(batch))
    return total


@dataclass
class RelationshipLoad:
    summary: WriteSummary
    missing: int


async def load_relationships(
    graph: Graph,
    kind: RelationshipKind,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BULK_BATCH,
    progress: Progress | None = None,
) -> RelationshipLoad:
    """Validate, then merge relationships; rows whose ends do not exist are counted."""
    from orggraph.graph.writes import validate_relationships

    prepared = validate_relationships(kind, rows)
    total = WriteSummary()
    missing = 0
    for batch in chunked(prepared, batch_size):

        async def work(tx: Tx, batch: list[dict[str, Any]] = batch) -> tuple[WriteSummary, int]:
            return await write_relationship_rows(tx, kind, batch)

        summary, lost = await graph.write(work)
        total.merge(summary)
        missing += lost
        if progress is not None:
            progress.advance(len(batch))
    return RelationshipLoad(total, missing)


async def load_touchpoints(
    graph: Graph,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BULK_BATCH,
    progress: Progress | None = None,
) -> WriteSummary:
    """Validate every touchpoint, then write them grouped by customer, chain included.

    Rows are sorted by customer so that one customer's touchpoints land in as
    few batches as possible (each batch rebuilds the chains of its customers).
    """
    records = validate_touchpoints(rows)
    records.sort(key=lambda r: (r.customer_id or "", r.at, r.id))
    total = WriteSummary()
    for batch in chunked(records, batch_size):

        async def work(tx: Tx, batch: list[TouchpointRecord] = batch) -> WriteSummary:
            return await write_touchpoints(tx, batch)

        total.merge(await graph.write(work))
        if progress is not None:
            progress.advance(len(batch))
    return total
