"""``orggraph import ocel2-order-management DIR``: the OCEL 2.0 order-management log.

Input: the flat CSV export (``order-management.csv``, one row per event, one
column per object type with comma-separated ids) and ``entities/*.csv``.
See ``docs/datasets.md`` for the mapping; in short:

* customers (15) -> ``Customer``; employees (18) -> ``Person``, MEMBER_OF one
  ``Team`` per role (Sales, Warehousing, Shipment) under a GROUP team;
* orders, items, packages, products -> ``BusinessObject`` (type = the object
  type, attributes = the entity file's columns);
* each event (21,008) -> one ``Touchpoint`` (id ``om:`` + event id, ``activity``
  = the event type), internal ones included; CONCERNS every object it names
  (qualifier = the object type, since the export lost the E2O qualifiers);
  HANDLED_BY each of its employees and their teams; AT_STEP the activity's step;
* one ``Process`` with one ``Step`` per activity, ordered along the life of an
  order; each step OWNED by the team whose employees perform it most;
* O2O (lost in the export) is re-derived from the events, as event knowledge
  graphs do: ``place_order`` gives order -contains-> item and
  order -BELONGS_TO-> customer; events naming exactly one item and one product
  give item -is_a-> product; ``create_package`` gives package -contains-> item;
* the customer of an event: the one it names, else the customer of the order
  it concerns, else of the order of the items it concerns, else of the orders
  of the items in the package it concerns (a walk over the object graph
  above). Every event of the log resolves to exactly one customer; one that
  resolved to none or to several would be reported, not guessed.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import Progress, load_nodes, load_relationships, load_touchpoints
from orggraph.graph.importers.common import ImportSummary, read_csv, split_ids
from orggraph.graph.model import RelationshipKind

K = RelationshipKind
NS = "om:"
GROUP_ID = NS + "group"

# Activities in the order of an order's life, with their stage and touchpoint type.
ACTIVITIES: tuple[tuple[str, str, str], ...] = (
    ("place_order", "CUSTOMER", "ORDER"),
    ("confirm_order", "FULFILMENT", "EMAIL"),
    ("item_out_of_stock", "FULFILMENT", "INTERNAL"),
    ("reorder_item", "FULFILMENT", "INTERNAL"),
    ("pick_item", "FULFILMENT", "INTERNAL"),
    ("create_package", "FULFILMENT", "INTERNAL"),
    ("send_package", "DELIVERY", "SHIPMENT"),
    ("failed_delivery", "DELIVERY", "DELIVERY"),
    ("package_delivered", "DELIVERY", "DELIVERY"),
    ("payment_reminder", "BILLING", "REMINDER"),
    ("pay_order", "BILLING", "PAYMENT"),
)
ROLE_FUNCTION = {"Sales": "SALES", "Warehousing": "LOGISTICS", "Shipment": "LOGISTICS"}
OBJECT_COLUMNS = {"orders": "order", "items": "item", "packages": "package", "products": "product"}
ENTITY_FILES = {
    "order": "orders.csv",
    "item": "items.csv",
    "package": "packages.csv",
    "product": "products.csv",
}


def object_id(kind: str, raw: str) -> str:
    return f"{NS}{kind}:{raw}"


def step_id(activity: str) -> str:
    return f"{NS}step:{activity}"


def team_id(role: str) -> str:
    return f"{NS}team:{role.lower()}"


def person_id(raw: str) -> str:
    return f"{NS}person:{raw}"


def customer_id(raw: str) -> str:
    return f"{NS}customer:{raw}"


def nice(raw: str) -> str:
    return raw.replace("_", " ")


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


class OrderManagementLog:
    """The log read into memory (2.9 MB) and correlated; nothing written yet."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        entities = directory / "entities"
        self.customers = [r["id"] for r in read_csv(entities / "customers.csv")]
        self.employees = {r["id"]: r["role"] for r in read_csv(entities / "employees.csv")}
        self.objects: dict[str, list[dict[str, str]]] = {
            kind: list(read_csv(entities / name)) for kind, name in ENTITY_FILES.items()
        }
        self.events = list(read_csv(directory / "order-management.csv"))
        self.order_customer: dict[str, str] = {}
        self.item_order: dict[str, str] = {}
        self.package_items: dict[str, set[str]] = defaultdict(set)
        self.item_product: dict[str, str] = {}
        for event in self.events:
            items = split_ids(event["items"])
            if event["type"] == "place_order":
                (order,) = split_ids(event["orders"])
                self.order_customer[order] = event["customers"]
                for item in items:
                    self.item_order[item] = order
            elif event["type"] == "create_package":
                (package,) = split_ids(event["packages"])
                self.package_items[package].update(items)
            products = split_ids(event["products"])
            if len(items) == 1 and len(products) == 1:
                self.item_product[items[0]] = products[0]

    def customers_of(self, event: Mapping[str, str]) -> set[str]:
        """The customer an event belongs to, through the object graph (see module doc)."""
        if event["customers"]:
            return set(split_ids(event["customers"]))
        orders = set(split_ids(event["orders"]))
        if not orders:
            items = set(split_ids(event["items"]))
            if not items:
                for package in split_ids(event["packages"]):
                    items |= self.package_items.get(package, set())
            orders = {self.item_order[i] for i in items if i in self.item_order}
        return {self.order_customer[o] for o in orders if o in self.order_customer}

    def step_owners(self) -> dict[str, str]:
        """Each activity's owning role: the role doing most of its events."""
        by_activity: dict[str, Counter[str]] = defaultdict(Counter)
        for event in self.events:
            for employee in split_ids(event["employees"]):
                by_activity[event["type"]][self.employees[employee]] += 1
        return {a: roles.most_common(1)[0][0] for a, roles in by_activity.items()}


async def import_order_management(
    graph: Graph,
    directory: Path,
    *,
    progress: Callable[[str], None] | None = None,
    batch_size: int = 10_000,
) -> ImportSummary:
    started = time.perf_counter()
    data = OrderManagementLog(directory)
    summary = ImportSummary("ocel2-order-management")

    async def nodes(label: str, rows: Sequence[Mapping[str, Any]]) -> None:
        meter = Progress(label, len(rows), progress, every=batch_size)
        summary.writes.merge(
            await load_nodes(graph, label, rows, batch_size=batch_size, progress=meter)
        )
        summary.count(label, len(rows))

    async def rels(kind: RelationshipKind, rows: Sequence[Mapping[str, Any]]) -> None:
        meter = Progress(kind.value, len(rows), progress, every=batch_size * 2)
        loaded = await load_relationships(graph, kind, rows, batch_size=batch_size, progress=meter)
        summary.writes.merge(loaded.summary)
        summary.count(kind.value, len(rows) - loaded.missing)
        if loaded.missing:
            summary.warn(f"{loaded.missing} {kind.value} rows name a missing node")

    # Organisation.
    roles = sorted(set(data.employees.values()))
    await nodes(
        "Team",
        [
            {
                "id": GROUP_ID,
                "name": "Order management company (OCEL 2.0)",
                "kind": "GROUP",
                "function": "MANAGEMENT",
            },
            *(
                {
                    "id": team_id(r),
                    "name": r,
                    "kind": "TEAM",
                    "function": ROLE_FUNCTION.get(r, "OTHER"),
                }
                for r in roles
            ),
        ],
    )
    await rels(K.TEAM_PART_OF_TEAM, [{"from": team_id(r), "to": GROUP_ID} for r in roles])
    await nodes(
        "Person",
        [{"id": person_id(p), "name": nice(p), "role": role} for p, role in data.employees.items()],
    )
    await rels(
        K.PERSON_MEMBER_OF_TEAM,
        [
            {"from": person_id(p), "to": team_id(role), "properties": {"role": role}}
            for p, role in data.employees.items()
        ],
    )
    await nodes(
        "Customer",
        [{"id": customer_id(c), "name": nice(c), "kind": "ACCOUNT"} for c in data.customers],
    )

    # Process and steps.
    process = NS + "process:order-management"
    await nodes(
        "Process", [{"id": process, "name": "Order management", "lifecycle": "CONSOLIDATED"}]
    )
    await nodes(
        "Step",
        [
            {
                "id": step_id(a),
                "name": nice(a),
                "stage": stage,
                "processId": process,
                "order": i + 1,
            }
            for i, (a, stage, _) in enumerate(ACTIVITIES)
        ],
    )
    await rels(
        K.STEP_NEXT_STEP,
        [
            {"from": step_id(a[0]), "to": step_id(b[0])}
            for a, b in zip(ACTIVITIES, ACTIVITIES[1:], strict=False)
        ],
    )
    await rels(
        K.TEAM_OWNS_STEP,
        [
            {"from": team_id(role), "to": step_id(activity)}
            for activity, role in sorted(data.step_owners().items())
        ],
    )

    # Objects and the object graph.
    objects = []
    for kind, entity_rows in data.objects.items():
        for entity in entity_rows:
            attributes = {k: _number(v) for k, v in entity.items() if k != "id" and v != ""}
            objects.append(
                {
                    "id": object_id(kind, entity["id"]),
                    "type": kind,
                    "name": nice(entity["id"]),
                    "attributes": attributes,
                }
            )
    await nodes("BusinessObject", objects)
    await rels(
        K.OBJECT_BELONGS_TO_CUSTOMER,
        [
            {"from": object_id("order", o), "to": customer_id(c)}
            for o, c in sorted(data.order_customer.items())
        ],
    )
    o2o = [
        *(
            {
                "from": object_id("order", o),
                "to": object_id("item", i),
                "properties": {"qualifier": "contains"},
            }
            for i, o in sorted(data.item_order.items())
        ),
        *(
            {
                "from": object_id("package", p),
                "to": object_id("item", i),
                "properties": {"qualifier": "contains"},
            }
            for p, items in sorted(data.package_items.items())
            for i in sorted(items)
        ),
        *(
            {
                "from": object_id("item", i),
                "to": object_id("product", p),
                "properties": {"qualifier": "is_a"},
            }
            for i, p in sorted(data.item_product.items())
        ),
    ]
    await rels(K.OBJECT_RELATED_TO_OBJECT, o2o)

    # Events.
    types = {a: t for a, _, t in ACTIVITIES}
    touchpoints: list[dict[str, Any]] = []
    concerns: list[dict[str, Any]] = []
    handled_person: list[dict[str, Any]] = []
    handled_team: list[dict[str, Any]] = []
    unresolved: list[str] = []
    for event in data.events:
        tid = NS + event["id"]
        row: dict[str, Any] = {
            "id": tid,
            "at": datetime.fromisoformat(event["time"]),
            "type": types.get(event["type"], "OTHER"),
            "activity": event["type"],
            "stepId": step_id(event["type"]),
        }
        owners = data.customers_of(event)
        if len(owners) == 1:
            row["customerId"] = customer_id(next(iter(owners)))
        else:
            unresolved.append(f"{event['id']} ({len(owners)} customers)")
        touchpoints.append(row)
        for column, kind in OBJECT_COLUMNS.items():
            for raw in split_ids(event[column]):
                concerns.append(
                    {"from": tid, "to": object_id(kind, raw), "properties": {"qualifier": kind}}
                )
        teams = set()
        for employee in split_ids(event["employees"]):
            handled_person.append({"from": tid, "to": person_id(employee)})
            teams.add(data.employees[employee])
        handled_team += [{"from": tid, "to": team_id(t)} for t in sorted(teams)]
    if unresolved:
        summary.warn(
            f"{len(unresolved)} events resolve to no single customer (kept without one), "
            f"e.g. {', '.join(unresolved[:5])}"
        )
    meter = Progress("Touchpoint", len(touchpoints), progress, every=batch_size)
    summary.writes.merge(
        await load_touchpoints(graph, touchpoints, batch_size=batch_size, progress=meter)
    )
    summary.count("Touchpoint", len(touchpoints))
    await rels(K.TOUCHPOINT_CONCERNS_OBJECT, concerns)
    await rels(K.TOUCHPOINT_HANDLED_BY_PERSON, handled_person)
    await rels(K.TOUCHPOINT_HANDLED_BY_TEAM, handled_team)
    summary.seconds = time.perf_counter() - started
    return summary
