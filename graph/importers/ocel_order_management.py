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
  HANDLED_BY one of its employees and their team (a touchpoint has one handler:
  of the two employees of a ``send_package``, the one of the step's owning
  role, else the first listed); AT_STEP the activity's step;
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

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from orggraph.graph.importers import ocel
from orggraph.graph.importers.common import (
    Loader,
    number_or_text,
    read_csv,
    split_ids,
)
from orggraph.graph.model import RelationshipKind

K = RelationshipKind
NS = "om:"
GROUP_ID = NS + "group"

# Activities in the order of an order's life, with their stage and touchpoint type.
ACTIVITIES: tuple[ocel.Activity, ...] = (
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


step_id = ocel.id_maker(NS, "step")
team_id = ocel.id_maker(NS, "team", str.lower)  # a role
person_id = ocel.id_maker(NS, "person")
customer_id = ocel.id_maker(NS, "customer")


def nice(raw: str) -> str:
    return raw.replace("_", " ")


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
        return ocel.most_frequent(by_activity)

    def handler_of(self, employees: Sequence[str], owner_role: str | None) -> str | None:
        """The one employee an event is HANDLED_BY (a touchpoint has one handler):
        the first listed of the step's owning role, else the first listed."""
        ranked = sorted(employees, key=lambda e: self.employees[e] != owner_role)
        return ranked[0] if ranked else None

    def object_rows(self) -> list[dict[str, Any]]:
        """Orders, items, packages and products, with their entity file's columns."""
        return [
            {
                "id": object_id(kind, entity["id"]),
                "type": kind,
                "name": nice(entity["id"]),
                "attributes": {
                    k: number_or_text(v) for k, v in entity.items() if k != "id" and v != ""
                },
            }
            for kind, entity_rows in self.objects.items()
            for entity in entity_rows
        ]

    def o2o_rows(self) -> list[dict[str, Any]]:
        """The object graph re-derived from the events (see the module doc)."""
        pairs = [
            *((("order", o), ("item", i), "contains") for i, o in sorted(self.item_order.items())),
            *(
                (("package", p), ("item", i), "contains")
                for p, items in sorted(self.package_items.items())
                for i in sorted(items)
            ),
            *((("item", i), ("product", p), "is_a") for i, p in sorted(self.item_product.items())),
        ]
        return [
            {
                "from": object_id(*source),
                "to": object_id(*target),
                "properties": {"qualifier": qualifier},
            }
            for source, target, qualifier in pairs
        ]


async def _load(load: Loader, data: OrderManagementLog) -> None:

    # Organisation.
    roles = sorted(set(data.employees.values()))
    await load.nodes(
        "Team",
        ocel.company_teams(
            GROUP_ID,
            "Order management company (OCEL 2.0)",
            ((team_id(r), r, ROLE_FUNCTION.get(r, "OTHER")) for r in roles),
        ),
    )
    await load.relationships(
        K.TEAM_PART_OF_TEAM, [{"from": team_id(r), "to": GROUP_ID} for r in roles]
    )
    await load.nodes(
        "Person",
        [{"id": person_id(p), "name": nice(p), "role": role} for p, role in data.employees.items()],
    )
    await load.relationships(
        K.PERSON_MEMBER_OF_TEAM,
        [
            {"from": person_id(p), "to": team_id(role), "properties": {"role": role}}
            for p, role in data.employees.items()
        ],
    )
    await load.nodes(
        "Customer",
        [{"id": customer_id(c), "name": nice(c), "kind": "ACCOUNT"} for c in data.customers],
    )

    # Process and steps.
    owners = data.step_owners()
    await ocel.load_process(
        load, NS + "process:order-management", "Order management", ACTIVITIES, step_id, nice
    )
    await ocel.load_step_owners(load, owners, team_id, step_id)

    # Objects and the object graph.
    await load.nodes("BusinessObject", data.object_rows())
    await load.relationships(
        K.OBJECT_BELONGS_TO_CUSTOMER,
        [
            {"from": object_id("order", o), "to": customer_id(c)}
            for o, c in sorted(data.order_customer.items())
        ],
    )
    await load.relationships(K.OBJECT_RELATED_TO_OBJECT, data.o2o_rows())

    # Events.
    await _load_events(load, data, owners)


import_order_management = ocel.OcelImport("ocel2-order-management", OrderManagementLog, _load)


async def _load_events(load: Loader, data: OrderManagementLog, owners: Mapping[str, str]) -> None:
    types = ocel.touchpoint_types(ACTIVITIES)
    touchpoints: list[dict[str, Any]] = []
    concerns: list[dict[str, Any]] = []
    handled_person: list[dict[str, Any]] = []
    handled_team: list[dict[str, Any]] = []
    unresolved: list[str] = []
    shared = 0
    for event in data.events:
        tid = NS + event["id"]
        row: dict[str, Any] = {
            "id": tid,
            "at": datetime.fromisoformat(event["time"]),
            "type": types.get(event["type"], "OTHER"),
            "activity": event["type"],
            "stepId": step_id(event["type"]),
        }
        customers = data.customers_of(event)
        if len(customers) == 1:
            row["customerId"] = customer_id(next(iter(customers)))
        else:
            unresolved.append(f"{event['id']} ({len(customers)} customers)")
        touchpoints.append(row)
        for column, kind in OBJECT_COLUMNS.items():
            for raw in split_ids(event[column]):
                concerns.append(
                    {"from": tid, "to": object_id(kind, raw), "properties": {"qualifier": kind}}
                )
        employees = split_ids(event["employees"])
        handler = data.handler_of(employees, owners.get(event["type"]))
        if handler is not None:
            shared += len(employees) > 1
            handled_person.append({"from": tid, "to": person_id(handler)})
            handled_team.append({"from": tid, "to": team_id(data.employees[handler])})
    if unresolved:
        load.summary.warn(
            f"{len(unresolved)} events resolve to no single customer (kept without one), "
            f"e.g. {', '.join(unresolved[:5])}"
        )
    load.summary.count("events with several employees (one handler kept)", shared)
    await load.touchpoints(touchpoints)
    await load.relationships(K.TOUCHPOINT_CONCERNS_OBJECT, concerns)
    await load.relationships(K.TOUCHPOINT_HANDLED_BY_PERSON, handled_person)
    await load.relationships(K.TOUCHPOINT_HANDLED_BY_TEAM, handled_team)
