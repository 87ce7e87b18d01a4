"""``orggraph import ocel2-p2p DIR``: the OCEL 2.0 procure-to-pay log (relational tables).

Mapping (see ``docs/datasets.md``):

* every event (14,671, ``event.csv`` + ``event_<Type>.csv`` for time, lifecycle,
  resource) -> one ``Touchpoint`` (id ``p2p:`` + event id, ``activity`` = the
  OCEL event type, attributes = lifecycle and resource), AT_STEP its activity's
  step, HANDLED_BY the team of its ``resource``;
* ``resource`` values (departments and roles) -> ``Team`` under one GROUP; the
  two "Procurement ... Manager" roles are PART_OF the Procurement Department;
* every object (9,543) -> ``BusinessObject`` (type = OCEL type, attributes = its
  initial values, the ``1970-01-01`` row of ``object_<type>.csv``; the later
  rows, the attribute history, are not imported);
* E2O (35,927) -> CONCERNS {qualifier}; O2O (20,402) -> RELATED_TO {qualifier},
  except the 2,028 rows naming an object that is not in ``object.csv``: they
  are counted, reported with examples (log and summary) and skipped;
* the log has no customers: its external party is the **vendor** of purchase
  orders and quotations, so each vendor becomes a ``Customer`` (segment
  VENDOR) and purchase orders and quotations BELONG_TO it. An event belongs
  to the vendor reached from the objects it concerns through the object graph:
  breadth-first over O2O (both directions), the nearest object carrying a
  vendor wins, a purchase order's vendor before a quotation's at the same
  distance. Events reaching no vendor or several are kept without one and
  reported;
* one ``Process`` (procure to pay) with a ``Step`` per activity, in the order
  of the process; each step OWNED by the team doing most of its events.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from orggraph.graph.importers import ocel
from orggraph.graph.importers.common import ImportSummary, Loader, number_or_text, read_csv
from orggraph.graph.model import RelationshipKind

K = RelationshipKind
NS = "p2p:"
GROUP_ID = NS + "group"
INITIAL = "1970-01-01"
MAX_HOPS = 4

ACTIVITIES: tuple[ocel.Activity, ...] = (
    ("Create Purchase Requisition", "PROCUREMENT", "INTERNAL"),
    ("Delegate Purchase Requisition Approval", "PROCUREMENT", "INTERNAL"),
    ("Approve Purchase Requisition", "PROCUREMENT", "INTERNAL"),
    ("Create Request for Quotation", "PROCUREMENT", "QUOTE"),
    ("Create Purchase Order", "PROCUREMENT", "ORDER"),
    ("Approve Purchase Order", "PROCUREMENT", "INTERNAL"),
    ("Create Goods Receipt", "DELIVERY", "DELIVERY"),
    ("Create Invoice Receipt", "BILLING", "INVOICE"),
    ("Perform Two-Way Match", "BILLING", "INTERNAL"),
    ("Execute Payment", "BILLING", "PAYMENT"),
)
VENDOR_COLUMNS = {"purchase_order": "VendorEKKOLIFNR", "quotation": "VendorEBANLIFNR"}
VENDOR_PRIORITY = {"purchase_order": 0, "quotation": 1}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


team_id = ocel.id_maker(NS, "team", slug)  # a resource
step_id = ocel.id_maker(NS, "step", slug)  # an activity
customer_id = ocel.id_maker(NS, "vendor", slug)


def object_id(raw: str) -> str:
    return NS + raw


def function_of(resource: str) -> str:
    lowered = resource.lower()
    for word, function in (
        ("procurement", "PROCUREMENT"),
        ("finance", "FINANCE"),
        ("warehouse", "LOGISTICS"),
        ("manufacturing", "MANUFACTURING"),
    ):
        if word in lowered:
            return function
    return "OTHER"


class P2PLog:
    """The tables read into memory (8 MB) and correlated; nothing written yet."""

    def __init__(self, directory: Path) -> None:
        self.events = {r["ocel_id"]: r["ocel_type"] for r in read_csv(directory / "event.csv")}
        self.event_tables = {
            r["ocel_type"]: r["ocel_type_map"] for r in read_csv(directory / "event_map_type.csv")
        }
        self.event_details: dict[str, dict[str, str]] = {}
        for table in self.event_tables.values():
            for row in read_csv(directory / f"event_{table}.csv"):
                self.event_details[row["ocel_id"]] = row
        self.objects = {r["ocel_id"]: r["ocel_type"] for r in read_csv(directory / "object.csv")}
        self.attributes: dict[str, dict[str, Any]] = {}
        self.changes: Counter[str] = Counter()
        for row in read_csv(directory / "object_map_type.csv"):
            for record in read_csv(directory / f"object_{row['ocel_type_map']}.csv"):
                if record["ocel_time"].startswith(INITIAL):
                    self.attributes[record["ocel_id"]] = {
                        k: number_or_text(v)
                        for k, v in record.items()
                        if v != "" and k not in ("ocel_id", "ocel_time", "ocel_changed_field")
                    }
                else:
                    self.changes[record["ocel_id"]] += 1
        self.e2o = list(read_csv(directory / "event_object.csv"))
        self.o2o_all = list(read_csv(directory / "object_object.csv"))
        self.o2o = [
            r
            for r in self.o2o_all
            if r["ocel_source_id"] in self.objects and r["ocel_target_id"] in self.objects
        ]
        self.dangling = [
            r
            for r in self.o2o_all
            if r["ocel_source_id"] not in self.objects or r["ocel_target_id"] not in self.objects
        ]
        self.vendor_of: dict[str, str] = {}
        for oid, otype in self.objects.items():
            column = VENDOR_COLUMNS.get(otype)
            vendor = self.attributes.get(oid, {}).get(column or "")
            if column and isinstance(vendor, str) and vendor:
                self.vendor_of[oid] = vendor
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        for r in self.o2o:
            self.neighbours[r["ocel_source_id"]].add(r["ocel_target_id"])
            self.neighbours[r["ocel_target_id"]].add(r["ocel_source_id"])
        self.objects_of_event: dict[str, list[str]] = defaultdict(list)
        for r in self.e2o:
            self.objects_of_event[r["ocel_event_id"]].append(r["ocel_object_id"])

    def nearest_vendors(self, start: Sequence[str]) -> set[str]:
        """Vendors of the nearest vendor-carrying objects (purchase orders first)."""
        seen = set(start)
        frontier = deque(start)
        for _ in range(MAX_HOPS + 1):
            found = [
                (VENDOR_PRIORITY[self.objects[o]], self.vendor_of[o])
                for o in frontier
                if o in self.vendor_of
            ]
            if found:
                best = min(priority for priority, _ in found)
                return {vendor for priority, vendor in found if priority == best}
            following: deque[str] = deque()
            for o in frontier:
                for n in self.neighbours.get(o, ()):
                    if n not in seen:
                        seen.add(n)
                        following.append(n)
            frontier = following
        return set()

    def step_owners(self) -> dict[str, str]:
        """Each activity's owning team: the resource doing most of its events."""
        by_activity: dict[str, Counter[str]] = defaultdict(Counter)
        for event, activity in self.events.items():
            resource = self.event_details.get(event, {}).get("resource")
            if resource:
                by_activity[activity][resource] += 1
        return ocel.most_frequent(by_activity)

    def resources(self) -> list[str]:
        return sorted({d["resource"] for d in self.event_details.values() if d["resource"]})


async def _load(load: Loader, data: P2PLog) -> None:

    # Organisation.
    resources = data.resources()
    await load.nodes(
        "Team",
        ocel.company_teams(
            GROUP_ID,
            "Procure-to-pay company (OCEL 2.0)",
            ((team_id(r), r, function_of(r)) for r in resources),
        ),
    )
    procurement = next((r for r in resources if r.lower() == "procurement department"), None)
    await load.relationships(
        K.TEAM_PART_OF_TEAM,
        [
            {
                "from": team_id(r),
                "to": team_id(procurement)
                if procurement and r != procurement and r.lower().startswith("procurement")
                else GROUP_ID,
            }
            for r in resources
        ],
    )

    # Vendors as customers.
    vendors = sorted(set(data.vendor_of.values()))
    await load.nodes(
        "Customer",
        [
            {"id": customer_id(v), "name": v, "kind": "ACCOUNT", "segment": "VENDOR"}
            for v in vendors
        ],
    )

    # Process and steps.
    await ocel.load_process(
        load, NS + "process:procure-to-pay", "Procure to pay", ACTIVITIES, step_id, str
    )
    await ocel.load_step_owners(load, data.step_owners(), team_id, step_id)

    # Objects, their vendors, the object graph.
    await load.nodes(
        "BusinessObject",
        [
            {
                "id": object_id(o),
                "type": t,
                "name": o,
                "attributes": {**data.attributes.get(o, {}), "attributeChanges": data.changes[o]},
            }
            for o, t in data.objects.items()
        ],
    )
    await load.relationships(
        K.OBJECT_BELONGS_TO_CUSTOMER,
        [{"from": object_id(o), "to": customer_id(v)} for o, v in sorted(data.vendor_of.items())],
    )
    _report_dangling_o2o(data, load.summary)
    await load.relationships(
        K.OBJECT_RELATED_TO_OBJECT,
        [
            {
                "from": object_id(r["ocel_source_id"]),
                "to": object_id(r["ocel_target_id"]),
                "properties": {"qualifier": r["ocel_qualifier"]},
            }
            for r in data.o2o
        ],
    )

    # Events.
    await _load_events(load, data)


import_p2p = ocel.OcelImport("ocel2-p2p", P2PLog, _load)


def _report_dangling_o2o(data: P2PLog, summary: ImportSummary) -> None:
    if data.dangling:
        examples = ", ".join(
            f"{r['ocel_source_id']} -> {r['ocel_target_id']}" for r in data.dangling[:3]
        )
        missing = {
            r[k]
            for r in data.dangling
            for k in ("ocel_source_id", "ocel_target_id")
            if r[k] not in data.objects
        }
        summary.warn(
            f"{len(data.dangling)} of {len(data.o2o_all)} O2O rows name one of {len(missing)} "
            f"objects missing from object.csv; skipped (no node invented), e.g. {examples}"
        )
    summary.count("O2O rows skipped (missing object)", len(data.dangling))


async def _load_events(load: Loader, data: P2PLog) -> None:
    summary = load.summary
    types = ocel.touchpoint_types(ACTIVITIES)
    touchpoints: list[dict[str, Any]] = []
    handled: list[dict[str, Any]] = []
    no_vendor: list[str] = []
    several: list[str] = []
    for event, activity in data.events.items():
        detail = data.event_details.get(event)
        if detail is None:
            summary.warn(f"event {event} has no row in its event_<type> table; skipped")
            continue
        tid = NS + event
        row: dict[str, Any] = {
            "id": tid,
            "at": datetime.fromisoformat(detail["ocel_time"].replace("Z", "+00:00")),
            "type": types.get(activity, "OTHER"),
            "activity": activity,
            "attributes": {"lifecycle": detail["lifecycle"], "resource": detail["resource"]},
        }
        if activity in types:
            row["stepId"] = step_id(activity)
        vendors_of_event = data.nearest_vendors(data.objects_of_event.get(event, []))
        if len(vendors_of_event) == 1:
            row["customerId"] = customer_id(next(iter(vendors_of_event)))
        elif vendors_of_event:
            several.append(event)
        else:
            no_vendor.append(event)
        touchpoints.append(row)
        if detail["resource"]:
            handled.append({"from": tid, "to": team_id(detail["resource"])})
    if no_vendor:
        summary.warn(
            f"{len(no_vendor)} events reach no vendor through their objects "
            f"(kept without a customer), e.g. {', '.join(no_vendor[:3])}"
        )
    if several:
        summary.warn(
            f"{len(several)} events reach several vendors at the same distance "
            f"(kept without a customer), e.g. {', '.join(several[:3])}"
        )
    summary.count("events without a vendor", len(no_vendor) + len(several))
    await load.touchpoints(touchpoints)
    await load.relationships(K.TOUCHPOINT_HANDLED_BY_TEAM, handled)
    await load.relationships(
        K.TOUCHPOINT_CONCERNS_OBJECT,
        [
            {
                "from": NS + r["ocel_event_id"],
                "to": object_id(r["ocel_object_id"]),
                "properties": {"qualifier": r["ocel_qualifier"]},
            }
            for r in data.e2o
        ],
    )
