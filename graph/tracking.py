"""Live tracking: Segment-spec events (track, page, screen, identify, alias) as graph rows.

The mapping (docs/tracking.md) is pure: :func:`map_batch` turns the events of one
request into rows and per-event errors; :func:`write_tracked` writes the rows in one
transaction through the same write path as every other writer
(``graph.journeys.write_touchpoints``, ``graph.writes.merge_relationship_rows``), so the journey
chain, REACHED and LATEST are kept and a replay changes nothing.

* Touchpoint id: ``<source>:<messageId>``, so a re-sent event is the same touchpoint.
* Customer: ``userId`` (with ``user_prefix``) when given, else the anonymous visitor
  ``anonymous_prefix + anonymousId``, else (an anonymous id already linked to a known
  customer) that customer.
* ``identify`` with both ids, and ``alias`` (``previousId`` -> ``userId``), link an
  anonymous id to a known customer (a ``TrackingAlias`` node keyed by the anonymous
  id): the visitor's touchpoints move to the customer, whose chain is rebuilt in time
  order, and the emptied visitor is deleted.
* Channel: the source's own (id = source name, created as WEB, or APP for screens).
  Campaign: ``context.campaign`` (utm_campaign) or, failing that, the referrer's host
  when it is another site.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, LiteralString
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orggraph.errors import BadInputError, PayloadTooLargeError
from orggraph.graph.driver import Tx, id_anchored
from orggraph.graph.journeys import write_touchpoints
from orggraph.graph.model import (
    CustomerRecord,
    RelationshipKind,
    SourceKind,
    TouchpointRecord,
    TouchpointType,
    validate_node_id,
)
from orggraph.graph.personal import seal_properties
from orggraph.graph.write_rules import WriteSummary
from orggraph.graph.writes import merge_relationship_rows

# Segment's documented limits (HTTP Tracking API).
EVENT_MAX_BYTES = 32 * 1024
BATCH_MAX_BYTES = 500 * 1024
MESSAGE_ID_MAX_LENGTH = 200
ATTRIBUTE_PROPERTIES_MAX_CHARS = 4_000

EventKind = Literal["track", "page", "screen", "identify", "alias", "group"]
EVENT_KINDS: tuple[EventKind, ...] = ("track", "page", "screen", "identify", "alias", "group")

# Segment's semantic event names (e-commerce, B2B SaaS, email, live chat specs).
DEFAULT_EVENT_TYPES: dict[str, TouchpointType] = {
    "Order Completed": TouchpointType.PURCHASE,
    "Checkout Started": TouchpointType.ORDER,
    "Payment Info Entered": TouchpointType.PAYMENT,
    "Order Refunded": TouchpointType.RETURN,
    "Signed Up": TouchpointType.FORM_SUBMIT,
    "Form Submitted": TouchpointType.FORM_SUBMIT,
    "Demo Requested": TouchpointType.DEMO,
    "Trial Started": TouchpointType.FORM_SUBMIT,
    "Email Opened": TouchpointType.EMAIL,
    "Email Link Clicked": TouchpointType.EMAIL,
    "Live Chat Conversation Started": TouchpointType.CHAT,
    "File Downloaded": TouchpointType.DOWNLOAD,
    "Quote Requested": TouchpointType.QUOTE,
    "Ticket Created": TouchpointType.TICKET,
    "Order Shipped": TouchpointType.SHIPMENT,
}

# utm_medium -> how the campaign reaches people.
MEDIUM_SOURCE_KINDS: dict[str, SourceKind] = {
    "cpc": SourceKind.PAID,
    "ppc": SourceKind.PAID,
    "paid": SourceKind.PAID,
    "display": SourceKind.PAID,
    "banner": SourceKind.PAID,
    "email": SourceKind.EMAIL,
    "newsletter": SourceKind.EMAIL,
    "social": SourceKind.SOCIAL,
    "paid_social": SourceKind.PAID,
    "referral": SourceKind.REFERRAL,
    "affiliate": SourceKind.PARTNER,
    "partner": SourceKind.PARTNER,
    "organic": SourceKind.ORGANIC,
    "event": SourceKind.EVENT,
}
SEARCH_HOSTS = ("google.", "bing.", "duckduckgo.", "yahoo.", "ecosia.", "baidu.", "yandex.")
SOCIAL_HOSTS = ("facebook.", "linkedin.", "twitter.", "t.co", "x.com", "instagram.", "youtube.")


@dataclass(frozen=True)
class TrackingMapping:
    """The configurable part of the mapping (settings ORGGRAPH_TRACKING_*)."""

    user_prefix: str = ""
    anonymous_prefix: str = "anonymous:"
    event_types: Mapping[str, TouchpointType] = field(
        default_factory=lambda: dict(DEFAULT_EVENT_TYPES)
    )

    def user_customer(self, user_id: str) -> str:
        return self.user_prefix + user_id

    def anonymous_customer(self, anonymous_id: str) -> str:
        return self.anonymous_prefix + anonymous_id


# --- validation ------------------------------------------------------------------------


def _segment_id(value: Any) -> Any:
    """Segment ids may be strings or numbers; both become the same text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class SegmentEvent(BaseModel):
    """One event of the Segment spec (common fields plus each call's own)."""

    model_config = ConfigDict(extra="ignore")
    type: EventKind
    message_id: str = Field(alias="messageId", min_length=1, max_length=MESSAGE_ID_MAX_LENGTH)
    user_id: str | None = Field(default=None, alias="userId", max_length=200)
    anonymous_id: str | None = Field(default=None, alias="anonymousId", max_length=200)
    previous_id: str | None = Field(default=None, alias="previousId", max_length=200)
    event: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=1000)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None
    original_timestamp: datetime | None = Field(default=None, alias="originalTimestamp")

    @field_validator("user_id", "anonymous_id", "previous_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        value = _segment_id(value)
        return value if value != "" else None

    @field_validator("message_id", "user_id", "anonymous_id", "previous_id")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return validate_node_id(value) if value is not None else None


@dataclass(frozen=True)
class EventError:
    """Why one event of a request was refused (``index`` in the request's batch)."""

    index: int
    field: str
    code: str
    message: str
    message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As the endpoint reports it: the fields, ``messageId`` spelled as Segment does."""
        fields = dataclasses.asdict(self)
        fields["messageId"] = fields.pop("message_id")
        return fields


class EventRefused(Exception):
    """One event is refused (the others of its request are not)."""

    def __init__(self, field: str, message: str, code: str = BadInputError.code) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


# --- rows ------------------------------------------------------------------------------


@dataclass
class Touch:
    """A touchpoint whose customer is resolved in the transaction (links may change it)."""

    record: TouchpointRecord
    user_customer: str | None
    anonymous_id: str | None


@dataclass
class TrackedBatch:
    """The rows of one request's good events, ready for :func:`write_tracked`."""

    source: str
    touches: dict[str, Touch] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    # customer id -> the traits to set (name, email); created when missing.
    traits: dict[str, dict[str, Any]] = field(default_factory=dict)
    # anonymous id -> traits of a visitor (set on the customer it resolves to).
    visitor_traits: dict[str, dict[str, Any]] = field(default_factory=dict)
    # anonymous id -> the known customer it is (identify with both ids, alias).
    links: dict[str, str] = field(default_factory=dict)
    accepted: int = 0

    def absorb(self, later: TrackedBatch) -> None:
        """Add a later request's rows (so several requests share one transaction); where
        both set the same thing, the later one wins, as if written after."""
        self.touches.update(later.touches)
        self.channels.update({k: v for k, v in later.channels.items() if k not in self.channels})
        self.campaigns.update({k: v for k, v in later.campaigns.items() if k not in self.campaigns})
        for target, extra in (
            (self.traits, later.traits),
            (self.visitor_traits, later.visitor_traits),
        ):
            for key, props in extra.items():
                target.setdefault(key, {}).update(props)
        self.links.update(later.links)
        self.accepted += later.accepted


def map_batch(
    events: Sequence[Any],
    source: str,
    mapping: TrackingMapping,
    received_at: datetime,
    shared_context: Mapping[str, Any] | None = None,
) -> tuple[TrackedBatch, list[EventError]]:
    """Validate and map every event; a bad one is reported and the others kept."""
    batch = TrackedBatch(source=source)
    errors: list[EventError] = []
    for index, raw in enumerate(events):
        message_id = raw.get("messageId") if isinstance(raw, dict) else None
        try:
            _map_event(batch, raw, mapping, received_at, shared_context or {})
            batch.accepted += 1
        except EventRefused as refused:
            errors.append(
                EventError(
                    index,
                    refused.field,
                    refused.code,
                    refused.message,
                    message_id if isinstance(message_id, str) else None,
                )
            )
    return batch, errors


def _map_event(
    batch: TrackedBatch,
    raw: Any,
    mapping: TrackingMapping,
    received_at: datetime,
    shared_context: Mapping[str, Any],
) -> None:
    if not isinstance(raw, dict):
        raise EventRefused("(event)", "an event must be a JSON object")
    size = len(json.dumps(raw, separators=(",", ":"), default=str).encode())
    if size > EVENT_MAX_BYTES:
        raise EventRefused(
            "(event)",
            f"the event is {size} bytes, more than {EVENT_MAX_BYTES}",
            PayloadTooLargeError.code,
        )
    if shared_context and isinstance(raw.get("context"), dict | None):
        raw = {**raw, "context": {**shared_context, **(raw.get("context") or {})}}
    event = _parse(raw)
    if event.type == "group":
        return  # accounts are not mapped: accepted so that clients do not retry it
    if event.type == "alias":
        _link(batch, event.previous_id, mapping.user_customer(_required(event.user_id, "userId")))
        return
    if event.user_id is None and event.anonymous_id is None:
        raise EventRefused("userId", "an event needs a userId or an anonymousId")
    user_customer = mapping.user_customer(event.user_id) if event.user_id else None
    if user_customer is not None:
        _check_id(user_customer, "userId")
    _check_id(user_customer or mapping.anonymous_customer(event.anonymous_id or ""), "anonymousId")
    traits = event.traits if event.type == "identify" else _dict(event.context.get("traits"))
    if user_customer is not None:
        batch.traits.setdefault(user_customer, {}).update(_traits(user_customer, traits))
    elif traits or event.type == "identify":
        batch.visitor_traits.setdefault(event.anonymous_id or "", {}).update(
            _traits(mapping.anonymous_customer(event.anonymous_id or ""), traits)
        )
    if event.type == "identify":
        if user_customer is not None and event.anonymous_id is not None:
            _link(batch, event.anonymous_id, user_customer)
        return
    record = _touchpoint(event, batch.source, mapping, received_at, batch)
    batch.touches[record.id] = Touch(record, user_customer, event.anonymous_id)


def _parse(raw: dict[str, Any]) -> SegmentEvent:
    try:
        return SegmentEvent.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(event)"
        raise EventRefused(where, f"field '{where}': {first['msg']}") from error


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise EventRefused(name, f"'{name}' is required for this event type")
    return value


def _check_id(customer_id: str, field_name: str) -> None:
    try:
        validate_node_id(customer_id)
    except ValueError as error:
        raise EventRefused(field_name, f"the customer id it gives {error}") from error


def _link(batch: TrackedBatch, anonymous_id: str | None, customer_id: str) -> None:
    anonymous = _required(anonymous_id, "previousId")
    _check_id(customer_id, "userId")
    batch.links[anonymous] = customer_id
    batch.traits.setdefault(customer_id, {})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _traits(customer_id: str, traits: Mapping[str, Any]) -> dict[str, Any]:
    """The customer properties an identify call's traits set (validated as a Customer's)."""
    name = traits.get("name")
    if not name and (traits.get("firstName") or traits.get("lastName")):
        name = " ".join(str(traits.get(k) or "") for k in ("firstName", "lastName")).strip()
    given: dict[str, Any] = {"id": customer_id, "name": str(name) if name else customer_id}
    if traits.get("email") is not None:
        given["email"] = traits["email"]
    try:
        record = CustomerRecord.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        where = "traits." + ".".join(str(part) for part in first["loc"])
        raise EventRefused(where, f"field '{where}': {first['msg']}") from error
    props: dict[str, Any] = {}
    if name:
        props["name"] = record.name
    if record.email is not None:
        props["email"] = record.email
    return props


def _touchpoint(
    event: SegmentEvent,
    source: str,
    mapping: TrackingMapping,
    received_at: datetime,
    batch: TrackedBatch,
) -> TouchpointRecord:
    page = _dict(event.context.get("page"))
    properties = event.properties
    if event.type == "track":
        name = _required(event.event, "event")
        kind = mapping.event_types.get(name, TouchpointType.OTHER)
        activity: str | None = name
    else:
        kind = TouchpointType.PAGE_VIEW
        activity = (
            event.name
            or properties.get("name")
            or page.get("path")
            or properties.get("path")
            or _path(page.get("url") or properties.get("url"))
        )
    channel_id = source
    batch.channels.setdefault(
        channel_id,
        {"id": channel_id, "name": source, "kind": "APP" if event.type == "screen" else "WEB"},
    )
    campaign_id = _campaign(batch, _dict(event.context.get("campaign")), page, properties)
    row: dict[str, Any] = {
        "id": f"{source}:{event.message_id}",
        "at": event.timestamp or event.original_timestamp or received_at,
        "type": kind,
        "activity": str(activity)[:1000] if activity else None,
        "value": _value(properties),
        "attributes": _attributes(event, page),
        "channel_id": channel_id,
    }
    if campaign_id is not None:
        row["campaign_id"] = campaign_id
    try:
        return TouchpointRecord.model_validate(row)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field_name = {"value": "properties.revenue", "at": "timestamp"}.get(where, where)
        raise EventRefused(field_name, f"field '{field_name}': {first['msg']}") from error


def _value(properties: Mapping[str, Any]) -> Any:
    for key in ("revenue", "value", "total"):
        if properties.get(key) is not None:
            return properties[key]
    return None


def _attributes(event: SegmentEvent, page: Mapping[str, Any]) -> dict[str, Any]:
    """What the touchpoint keeps of the event besides its columns (no traits: personal)."""
    kept: dict[str, Any] = {"kind": event.type}
    for key in ("url", "path", "title", "referrer"):
        if page.get(key):
            kept[key] = page[key]
    campaign = _dict(event.context.get("campaign"))
    if campaign:
        kept["campaign"] = campaign
    if event.properties and len(json.dumps(event.properties, default=str)) <= (
        ATTRIBUTE_PROPERTIES_MAX_CHARS
    ):
        kept["properties"] = event.properties
    return kept


def _campaign(
    batch: TrackedBatch,
    campaign: Mapping[str, Any],
    page: Mapping[str, Any],
    properties: Mapping[str, Any],
) -> str | None:
    name = campaign.get("name")
    if isinstance(name, str) and name.strip():
        medium = str(campaign.get("medium") or "").strip().lower()
        campaign_id = "utm:" + _slug(name)
        kind = MEDIUM_SOURCE_KINDS.get(medium, SourceKind.OTHER)
        batch.campaigns.setdefault(
            campaign_id, {"id": campaign_id, "name": name.strip()[:1000], "sourceKind": kind.value}
        )
        return campaign_id
    referrer = page.get("referrer") or properties.get("referrer")
    here = page.get("url") or properties.get("url")
    host = _host(referrer)
    if host is None or host == _host(here):
        return None
    campaign_id = "referrer:" + host
    batch.campaigns.setdefault(
        campaign_id, {"id": campaign_id, "name": host, "sourceKind": _host_kind(host).value}
    )
    return campaign_id


def _path(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    try:
        return urlsplit(url).path or None
    except ValueError:
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")[:200] or "unnamed"


def _host(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.")[:200]


def _host_kind(host: str) -> SourceKind:
    if any(host.startswith(p) or f".{p}" in host for p in SEARCH_HOSTS):
        return SourceKind.ORGANIC
    if any(host.startswith(p) or f".{p}" in host for p in SOCIAL_HOSTS):
        return SourceKind.SOCIAL
    return SourceKind.REFERRAL


# --- Cypher ----------------------------------------------------------------------------

RESOLVE_ANONYMOUS_IDS: LiteralString = id_anchored(
    """
UNWIND $anonymousIds AS anonymousId
MATCH (a:TrackingAlias {id: anonymousId})
RETURN a.id AS anonymousId, a.customerId AS customerId
"""
)
"""The known customer each already-linked anonymous id is."""

WRITE_TRACKING_ROWS: LiteralString = id_anchored(
    """
CALL () {
  UNWIND $customers AS row
  MERGE (c:Customer {id: row.id})
  ON CREATE SET c:Entity, c.name = row.id, c.kind = 'PERSON'
}
CALL () {
  UNWIND $channels AS row
  MERGE (ch:Channel {id: row.id})
  ON CREATE SET ch:Entity, ch.name = row.name, ch.kind = row.kind, ch.online = true
}
CALL () {
  UNWIND $campaigns AS row
  MERGE (c:Campaign {id: row.id})
  ON CREATE SET c:Entity, c.name = row.name, c.sourceKind = row.sourceKind
}
CALL () {
  UNWIND $traits AS row
  MATCH (c:Customer {id: row.id})
  SET c += row.props
}
CALL () {
  UNWIND $links AS row
  MERGE (a:TrackingAlias {id: row.anonymousId})
  SET a.customerId = row.customerId
}
UNWIND $visitors AS row
MATCH (:Customer {id: row.visitorId})-[:HAD]->(t:Touchpoint)
RETURN row.customerId AS customerId, t.id AS touchpointId
"""
)
"""Everything of a group of requests but its touchpoints, in one statement: the customers
the events name (created, as a person named by its id, when missing), each source's
channel and the campaigns of utm parameters and referrers (created when missing; an
existing one is left as it is), the traits of identify calls (name, sealed email and its
hash), which known customer each linked anonymous id is (later anonymous events go
there); it returns the touchpoints of the anonymous visitors being merged, with their
new customer."""

DELETE_EMPTY_VISITORS: LiteralString = id_anchored(
    """
UNWIND $ids AS id
MATCH (c:Customer {id: id}) WHERE NOT (c)--()
DELETE c
"""
)
"""Anonymous visitors left without any relationship once merged."""


# --- the transaction -------------------------------------------------------------------


async def write_tracked(tx: Tx, batch: TrackedBatch, mapping: TrackingMapping) -> WriteSummary:
    """Write one group's rows in ``tx``: customers, channels, campaigns, traits and links
    (``WRITE_TRACKING_ROWS``), the merge of linked visitors, then the touchpoints through
    the shared write path. A re-sent event (same messageId) is the same touchpoint: sent
    again unchanged it changes nothing and is not news; sent with other content it is
    updated (the last one sent wins) and reported again, as an upsert of it would be."""
    known = await _resolve(tx, batch)
    records = [
        touch.record.model_copy(
            update={
                "customer_id": _customer(touch.user_customer, touch.anonymous_id, known, mapping)
            }
        )
        for touch in batch.touches.values()
    ]
    all_traits = dict(batch.traits)
    for anonymous_id, props in batch.visitor_traits.items():
        all_traits.setdefault(_customer(None, anonymous_id, known, mapping), {}).update(props)
    for record in records:  # model_copy does not mark the field as set
        record.model_fields_set.add("customer_id")
    customers = {str(r.customer_id) for r in records} | set(all_traits) | set(batch.links.values())
    links = sorted(batch.links.items())
    visitors = [
        {"visitorId": mapping.anonymous_customer(a), "customerId": c}
        for a, c in links
        if mapping.anonymous_customer(a) != c
    ]
    moved, counters = await tx.records_and_counters(
        WRITE_TRACKING_ROWS,
        customers=[{"id": c} for c in sorted(customers)],
        channels=list(batch.channels.values()),
        campaigns=list(batch.campaigns.values()),
        traits=[
            {"id": cid, "props": seal_properties(tx.personal, "Customer", cid, props)}
            for cid, props in all_traits.items()
            if props
        ],
        links=[{"anonymousId": a, "customerId": c} for a, c in links],
        visitors=visitors,
    )
    summary = WriteSummary()
    summary.add(counters)
    if visitors:
        # A visitor an event of the group names (as its userId) stays: it is referred to.
        emptied = [v for v in visitors if v["visitorId"] not in customers]
        summary.merge(await _merge_visitors(tx, emptied, moved))
    if records:
        # Their customers, channels and campaigns were all merged above.
        summary.merge(await write_touchpoints(tx, records, references_written=True))
    return summary


async def _resolve(tx: Tx, batch: TrackedBatch) -> dict[str, str]:
    """Anonymous id -> known customer: the links stored, overridden by this batch's."""
    visitors = {t.anonymous_id for t in batch.touches.values() if not t.user_customer}
    anonymous = sorted({a for a in visitors | set(batch.visitor_traits) if a} - set(batch.links))
    known: dict[str, str] = {}
    if anonymous:
        for record in await tx.records(RESOLVE_ANONYMOUS_IDS, anonymousIds=anonymous):
            known[str(record["anonymousId"])] = str(record["customerId"])
    known.update(batch.links)
    return known


def _customer(
    user_customer: str | None,
    anonymous_id: str | None,
    known: Mapping[str, str],
    mapping: TrackingMapping,
) -> str:
    if user_customer is not None:
        return user_customer
    anonymous = anonymous_id or ""
    return known.get(anonymous) or mapping.anonymous_customer(anonymous)


async def _merge_visitors(
    tx: Tx, visitors: Sequence[Mapping[str, str]], moved: Sequence[Any]
) -> WriteSummary:
    """Move the visitors' touchpoints (``moved``) to their customers, whose journeys are
    rebuilt in time order, then delete the emptied visitors."""
    summary = WriteSummary()
    if moved:
        had = [{"from": r["customerId"], "to": r["touchpointId"], "props": {}} for r in moved]
        summary.merge(
            await merge_relationship_rows(tx, RelationshipKind.CUSTOMER_HAD_TOUCHPOINT, had)
        )
    summary.add(await tx.run(DELETE_EMPTY_VISITORS, ids=[v["visitorId"] for v in visitors]))
    return summary


def now() -> datetime:
    return datetime.now(UTC)
