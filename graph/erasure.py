"""Erasure of a customer (the right to be forgotten), keeping aggregates true.

``erase_customer`` runs in one transaction:

* the customer node keeps only what is not personal and what aggregates need: its
  ``id`` (a surrogate key; ids must not be personal data, docs/personal-data.md), its
  ``kind`` and ``segment``; every other property (``name``, the sealed ``email`` and
  its look-up hash, anything an import added) is removed, ``name`` becomes
  ``ERASED_NAME`` (it is required by the model) and ``erasedAt`` is set;
* its touchpoints are anonymised or deleted, as ``ORGGRAPH_ERASURE_TOUCHPOINTS``
  says. Anonymised, a touchpoint keeps its time, type, activity, value and its
  relationships (channel, campaign, step, team, the journey chain), so funnels,
  journeys and attribution count it as before; it loses its free-form
  ``attributes``. Deleted, the customer's journey is gone from every aggregate;
* the free-form ``attributes`` and ``name`` of the business objects that belong to it
  (an order's address...) are removed; its deals stay (amounts are not personal);
* an ``(:Erasure)`` record says which customer id was erased, when, by whom and how,
  and holds nothing else: nothing personal of the customer.

Erasing again changes nothing and answers the first record.

For the live events published after the commit, it reports the touchpoints it deleted
(as removal events, read before they go) or the ones whose stored state anonymising
changed (those that had ``attributes``: a subscriber holding a copy learns to drop
them); an erasure repeated, or of touchpoints with nothing to remove, reports none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, LiteralString

from orggraph.graph.deletes import delete_nodes_query
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.journeys import rebuild_chains
from orggraph.graph.model import validate_node_id
from orggraph.graph.touchpoint_changes import REMOVAL_EVENT

TouchpointErasure = Literal["anonymise", "delete"]
ERASED_NAME = "(erased)"
# Customer properties an erasure keeps: not personal, and what aggregates group by.
KEPT_CUSTOMER_PROPERTIES: tuple[LiteralString, ...] = ("id", "kind", "segment")
# Touchpoint properties an erasure keeps (the free-form ``attributes`` go).
KEPT_TOUCHPOINT_PROPERTIES: tuple[LiteralString, ...] = (
    "id",
    "at",
    "type",
    "activity",
    "value",
    "valueE4",
)

SCRUB_CUSTOMER: LiteralString = (
    """
MATCH (c:Customer {id: $id})
OPTIONAL MATCH (c)-[:HAD]->(t:Touchpoint)
WITH c, collect(t.id) AS touchpointIds, collect("""
    + REMOVAL_EVENT
    + """) AS touchpoints
SET c = {id: c.id, kind: c.kind, segment: c.segment, name: $name,
         erasedAt: coalesce(c.erasedAt, $at)}
RETURN touchpointIds, touchpoints
"""
)
"""Replace every property of the customer by the kept ones; its touchpoints' ids, and
each as a removal event (in case they are deleted)."""

ANONYMISE_TOUCHPOINTS: LiteralString = """
UNWIND $ids AS id
MATCH (t:Touchpoint {id: id})
WITH t, any(k IN keys(t) WHERE NOT k IN $kept) AS changes
SET t = {id: t.id, at: t.at, type: t.type, activity: t.activity, value: t.value,
         valueE4: t.valueE4}
RETURN collect(CASE WHEN changes THEN t.id END) AS changed
"""
"""Keep only ``KEPT_TOUCHPOINT_PROPERTIES``; the ids of the touchpoints that lost any."""

SCRUB_BELONGING_OBJECTS: LiteralString = """
MATCH (:Customer {id: $id})<-[:BELONGS_TO]-(o:BusinessObject)
REMOVE o.attributes, o.name
"""

RECORD_ERASURE: LiteralString = """
MERGE (e:Erasure {customerId: $id})
ON CREATE SET e.erasedAt = $at, e.erasedBy = $by, e.touchpoints = $mode
RETURN e.erasedAt AS erasedAt, e.erasedBy AS erasedBy, e.touchpoints AS touchpoints,
       e.erasedAt = $at AS now
"""
"""One record per erased customer id: who, when, how; never anything personal."""


@dataclass(frozen=True)
class Erasure:
    customer_id: str
    found: bool
    erased_at: datetime | None = None
    erased_by: str | None = None
    touchpoints: TouchpointErasure | None = None
    touchpoints_erased: int = 0
    already_erased: bool = False
    removed_touchpoints: tuple[dict[str, Any], ...] = ()
    """Touchpoints deleted (mode ``delete``): id, at, customerId, channelId."""
    changed_touchpoints: tuple[str, ...] = ()
    """Touchpoints anonymising changed (mode ``anonymise``)."""


async def erase_customer_in(
    tx: Tx, customer_id: str, mode: TouchpointErasure, by: str, at: datetime
) -> Erasure:
    record = await tx.single(SCRUB_CUSTOMER, id=customer_id, name=ERASED_NAME, at=at)
    if record is None:
        return Erasure(customer_id, found=False)
    touchpoint_ids: list[str] = list(record["touchpointIds"])
    removed: tuple[dict[str, Any], ...] = ()
    changed: tuple[str, ...] = ()
    if mode == "delete":
        # The customer's whole journey goes, and with it its REACHED and LATEST.
        removed = tuple(sorted((dict(t) for t in record["touchpoints"]), key=lambda t: t["id"]))
        await tx.run(delete_nodes_query("Touchpoint"), ids=touchpoint_ids)
        await rebuild_chains(tx, [customer_id])
    else:
        anonymised = await tx.single(
            ANONYMISE_TOUCHPOINTS, ids=touchpoint_ids, kept=list(KEPT_TOUCHPOINT_PROPERTIES)
        )
        changed = tuple(sorted(anonymised["changed"])) if anonymised else ()
    await tx.run(SCRUB_BELONGING_OBJECTS, id=customer_id)
    stored = await tx.single(RECORD_ERASURE, id=customer_id, at=at, by=by, mode=mode)
    assert stored is not None  # MERGE always returns its node
    return Erasure(
        customer_id,
        found=True,
        erased_at=_as_datetime(stored["erasedAt"]),
        erased_by=stored["erasedBy"],
        touchpoints=stored["touchpoints"],
        touchpoints_erased=len(touchpoint_ids),
        already_erased=not stored["now"],
        removed_touchpoints=removed,
        changed_touchpoints=changed,
    )


def _as_datetime(value: Any) -> datetime:
    return value.to_native() if hasattr(value, "to_native") else value  # type: ignore[no-any-return]


async def erase_customer(
    graph: Graph, customer_id: str, *, mode: TouchpointErasure, by: str
) -> Erasure:
    """Erase one customer in one transaction (see the module's rules)."""
    validate_node_id(customer_id)
    at = datetime.now(UTC)

    async def work(tx: Tx) -> Erasure:
        return await erase_customer_in(tx, customer_id, mode, by, at)

    return await graph.write(work)
