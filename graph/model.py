"""The orggraph graph model: labels, their properties, and relationships.

This module is the single source of truth for what may be written to the
graph. Migrations derive constraints from ``LABELS``; the write layer derives
its (literal, allow-listed) Cypher from ``LABELS`` and ``RELATIONSHIPS``; the
GraphQL schema exposes the same enums. Python names are snake_case; Neo4j
properties and GraphQL fields are camelCase.
"""

from __future__ import annotations

import builtins
import enum
import functools
import json
import re
import typing
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, LiteralString

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from orggraph.graph.money import ExactAmount, exact_property, to_e4
from orggraph.graph.named_enum import NamedEnum

# --- identifiers -------------------------------------------------------------

ID_MAX_LENGTH = 256
_ID_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


def validate_node_id(value: str) -> str:
    """Ids are set by callers: printable text, no surrounding blanks, <= 256 chars."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > ID_MAX_LENGTH:
        raise ValueError(f"must be at most {ID_MAX_LENGTH} characters")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    if _ID_FORBIDDEN.search(value):
        raise ValueError("must not contain control characters")
    return value


NodeId = Annotated[str, AfterValidator(validate_node_id)]


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the shared datasets carry no zone)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class DateBounds:
    """The plausible range of a stored date-time: from ``earliest`` to ``ahead`` past now.

    A date outside it is a typo or a fuzzer's (year 0023, 2062 for 2026), and a single
    one would stretch every span computed from the data (KPI periods, funnels' windows).
    """

    earliest: datetime
    ahead: timedelta

    def check(self, value: datetime) -> datetime:
        if value < self.earliest:
            raise ValueError(
                f"{value.isoformat()} is before {self.earliest.date().isoformat()}, the "
                "earliest plausible date (setting ORGGRAPH_MIN_DATE)"
            )
        latest = datetime.now(UTC) + self.ahead
        if value > latest:
            raise ValueError(
                f"{value.isoformat()} is more than {self.ahead.days} days ahead of now "
                "(setting ORGGRAPH_MAX_DATE_AHEAD_DAYS)"
            )
        return value


@functools.cache
def date_bounds() -> DateBounds:
    """The configured bounds, read once from the settings (``date_bounds.cache_clear()``
    after changing them)."""
    from orggraph.settings import Settings

    settings = Settings()
    earliest = datetime.combine(settings.min_date, time(), tzinfo=UTC)
    return DateBounds(earliest, timedelta(days=settings.max_date_ahead_days))


def in_plausible_range(value: datetime) -> datetime:
    return date_bounds().check(value)


# Every stored date-time: UTC, within the plausible range (docs/model.md, "Dates").
UtcDatetime = Annotated[datetime, AfterValidator(as_utc), AfterValidator(in_plausible_range)]
ShortText = Annotated[str, Field(max_length=1000)]


# --- enums ---------------------------------------------------------------------


Function = NamedEnum(
    "Function",
    "MARKETING SALES CUSTOMER_CARE OPERATIONS LOGISTICS ADMINISTRATION FINANCE "
    "PROCUREMENT MANUFACTURING IT DIGITAL PARTNER_NETWORK MANAGEMENT OTHER",
)
TeamKind = NamedEnum("TeamKind", "GROUP BUSINESS_UNIT FUNCTION TEAM")
ServiceAudience = NamedEnum("ServiceAudience", "INTERNAL EXTERNAL")
SystemKind = NamedEnum(
    "SystemKind", "CRM ERP ECOMMERCE CMS CHAT APP MARKETING_AUTOMATION TICKETING WMS BI OTHER"
)
Lifecycle = NamedEnum("Lifecycle", "EXPERIMENTAL CONSOLIDATED INTEGRATED RETIRED")
# Lifecycle stages of the customer (HubSpot-like) plus operational ones.
Stage = NamedEnum(
    "Stage",
    "SUBSCRIBER LEAD MQL SAL SQL OPPORTUNITY CUSTOMER FULFILMENT DELIVERY BILLING SUPPORT "
    "RETENTION PROCUREMENT OTHER",
)
CustomerKind = NamedEnum("CustomerKind", "PERSON ACCOUNT")
TouchpointType = NamedEnum(
    "TouchpointType",
    "PAGE_VIEW FORM_SUBMIT DOWNLOAD SOCIAL CHAT EMAIL CALL MEETING DEMO EVENT_VISIT QUOTE "
    "ORDER PURCHASE PAYMENT INVOICE REMINDER SHIPMENT DELIVERY TICKET RETURN INTERNAL "
    "OTHER",
)
ChannelKind = NamedEnum(
    "ChannelKind",
    "WEB ECOMMERCE CATALOG SOCIAL EVENT CONTENT EMAIL CHAT MESSAGING PHONE APP STORE "
    "PARTNER DEALER AGENT RESELLER CUSTOMER_CARE INTERNAL",
)
SourceKind = NamedEnum(
    "SourceKind", "ORGANIC PAID REFERRAL PARTNER EVENT EMAIL SOCIAL DIRECT OTHER"
)
KpiDirection = NamedEnum("KpiDirection", "HIGHER_IS_BETTER LOWER_IS_BETTER")
Window = NamedEnum("Window", "DAY WEEK MONTH QUARTER YEAR")
SlaKind = NamedEnum("SlaKind", "RESPONSE_TIME VOLUME")


# --- node records ----------------------------------------------------------------


class Record(BaseModel):
    """A validated row to upsert. ``None`` fields are left untouched on update."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=False,
        use_enum_values=True,
    )
    label: ClassVar[LiteralString]
    # Exact money fields (camelCase = snake_case names here), stored twice (graph.money).
    money_fields: ClassVar[tuple[str, ...]] = ()
    id: NodeId

    def __init_subclass__(cls, label: LiteralString | None = None, **kwargs: Any) -> None:
        """``class TeamRecord(Record, label="Team")``: the Neo4j label, said once."""
        super().__init_subclass__(**kwargs)
        if label is not None:
            cls.label = label

    def properties(self) -> dict[str, Any]:
        """Neo4j properties (camelCase) of the fields the caller set, refs excluded."""
        refs = set(REFS.get(self.label, {}))
        ref_properties = {
            field for (label, _), (field, _) in REF_PROPERTIES.items() if label == self.label
        }
        data = self.model_dump(
            by_alias=True, exclude_unset=True, exclude={"id", *refs, *ref_properties}
        )
        props = {key: _to_neo4j(value) for key, value in data.items()}
        for key in self.money_fields:  # the exact integer, the float beside it (graph.money)
            if key in props:
                money: Decimal | None = props[key]
                props[exact_property(key)] = None if money is None else to_e4(money)
                props[key] = None if money is None else float(money)
        return props

    def refs(self) -> dict[str, Any]:
        """The reference fields (e.g. ``customer_id``) the caller set."""
        names = REFS.get(self.label, {})
        return {name: getattr(self, name) for name in names if name in self.model_fields_set}


def _to_neo4j(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value


class NamedRecord(Record):
    """A record with a display name (most labels but touchpoints, deals, measurements)."""

    name: ShortText


class TeamRecord(NamedRecord, label="Team"):
    kind: TeamKind = TeamKind.TEAM
    function: Function | None = None


class PersonRecord(NamedRecord, label="Person"):
    role: ShortText | None = None


class ServiceRecord(NamedRecord, label="Service"):
    audience: ServiceAudience = ServiceAudience.INTERNAL


class SystemRecord(NamedRecord, label="System"):
    kind: SystemKind = SystemKind.OTHER


class ProcessRecord(NamedRecord, label="Process"):
    lifecycle: Lifecycle = Lifecycle.CONSOLIDATED


class StepRecord(NamedRecord, label="Step"):
    stage: Stage = Stage.OTHER
    process_id: NodeId | None = None
    order: int | None = Field(default=None, ge=0, le=100_000)


class CustomerRecord(NamedRecord, label="Customer"):
    kind: CustomerKind = CustomerKind.ACCOUNT
    segment: ShortText | None = None
    # Personal: stored encrypted, with a keyed hash beside it (SEALED_PROPERTIES).
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None


class TouchpointRecord(Record, label="Touchpoint"):
    money_fields: ClassVar[tuple[str, ...]] = ("value",)
    at: UtcDatetime
    type: TouchpointType
    activity: ShortText | None = None
    value: ExactAmount | None = None  # money, exact (graph.money): also stored as valueE4
    attributes: dict[str, Any] | None = None
    customer_id: NodeId | None = None
    channel_id: NodeId | None = None
    campaign_id: NodeId | None = None
    team_id: NodeId | None = None
    person_id: NodeId | None = None
    step_id: NodeId | None = None

    @field_validator("attributes")
    @classmethod
    def _attributes_are_small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, default=str)) > 10_000:
            raise ValueError("must serialise to at most 10000 characters of JSON")
        return value


class ChannelRecord(NamedRecord, label="Channel"):
    kind: ChannelKind
    online: bool = True


class CampaignRecord(NamedRecord, label="Campaign"):
    source_kind: SourceKind = SourceKind.OTHER
    team_id: NodeId | None = None


class DealRecord(Record, label="Deal"):
    money_fields: ClassVar[tuple[str, ...]] = ("amount",)
    amount: ExactAmount  # exact (graph.money): stored as amountE4, and as a float
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None = None
    won: bool | None = None
    customer_id: NodeId | None = None
    team_id: NodeId | None = None


class KpiRecord(NamedRecord, label="KPI"):
    unit: ShortText = ""
    direction: KpiDirection = KpiDirection.HIGHER_IS_BETTER
    target: float | None = Field(default=None, allow_inf_nan=False)
    definition: dict[str, Any] | None = None
    window: Window = Window.MONTH
    accountable_team_id: NodeId | None = None


class MeasurementRecord(Record, label="Measurement"):
    at: UtcDatetime
    period_start: UtcDatetime
    value: float | None = Field(default=None, allow_inf_nan=False)
    sample_size: int = Field(default=0, ge=0)
    kpi_id: NodeId | None = None


class SlaRecord(NamedRecord, label="SLA"):
    kind: SlaKind = SlaKind.RESPONSE_TIME
    threshold: float = Field(allow_inf_nan=False)
    unit: ShortText = "hours"
    window: Window = Window.MONTH
    provider_team_id: NodeId | None = None
    consumer_team_id: NodeId | None = None
    step_id: NodeId | None = None
    kpi_id: NodeId | None = None


class BusinessObjectRecord(Record, label="BusinessObject"):
    """An object an event concerns (order, item, package, ...): event knowledge graphs."""

    type: Annotated[str, Field(min_length=1, max_length=100)]
    name: ShortText | None = None
    attributes: dict[str, Any] | None = None


RECORDS: dict[str, type[Record]] = {
    cls.label: cls
    for cls in (
        TeamRecord,
        PersonRecord,
        ServiceRecord,
        SystemRecord,
        ProcessRecord,
        StepRecord,
        CustomerRecord,
        TouchpointRecord,
        ChannelRecord,
        CampaignRecord,
        DealRecord,
        KpiRecord,
        MeasurementRecord,
        SlaRecord,
        BusinessObjectRecord,
    )
}
LABELS: tuple[LiteralString, ...] = tuple(cls.label for cls in RECORDS.values())
ENTITY_LABEL: LiteralString = "Entity"
"""The label every node of ``LABELS`` also carries: a uniqueness constraint on its id
(migration 12) keeps an id to one entity, so ``node(id)`` names exactly one."""


# --- relationships -----------------------------------------------------------------


# Every writable relationship, named SOURCE_TYPE_TARGET.
RelationshipKind = NamedEnum(
    "RelationshipKind",
    "TEAM_PART_OF_TEAM PERSON_MEMBER_OF_TEAM TEAM_PROVIDES_SERVICE "
    "SERVICE_CONSUMED_BY_TEAM PROCESS_HAS_STEP STEP_NEXT_STEP TEAM_OWNS_STEP "
    "SYSTEM_SUPPORTS_STEP TEAM_OPERATES_SYSTEM CUSTOMER_HAD_TOUCHPOINT "
    "TOUCHPOINT_NEXT_TOUCHPOINT CUSTOMER_REACHED_STEP CUSTOMER_LATEST_TOUCHPOINT "
    "TOUCHPOINT_VIA_CHANNEL TOUCHPOINT_FROM_CAMPAIGN TOUCHPOINT_HANDLED_BY_TEAM "
    "TOUCHPOINT_HANDLED_BY_PERSON TOUCHPOINT_AT_STEP TOUCHPOINT_CONCERNS_OBJECT "
    "OBJECT_RELATED_TO_OBJECT OBJECT_BELONGS_TO_CUSTOMER TEAM_SERVES_CHANNEL "
    "CAMPAIGN_RUN_BY_TEAM CUSTOMER_OPENED_DEAL DEAL_OWNED_BY_TEAM "
    "TEAM_ACCOUNTABLE_FOR_KPI KPI_SHARED_WITH_TEAM KPI_MEASURES_STEP KPI_MEASURES_PROCESS "
    "KPI_MEASURES_CHANNEL KPI_MEASURES_CAMPAIGN KPI_HAS_MEASUREMENT SLA_PROVIDER_TEAM "
    "SLA_CONSUMER_TEAM SLA_GOVERNS_STEP SLA_TRACKED_BY_KPI",
)


class ReachedProperties(BaseModel):
    """A customer's first touchpoint at a step: when, and which one."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
    at: UtcDatetime
    touchpoint_id: NodeId


class HasStepProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
    order: int = Field(ge=0, le=100_000)


class ValidityProperties(BaseModel):
    """A validity period (ownership, membership, hierarchy); ``from`` is part of the key."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
    valid_from: UtcDatetime = Field(default=datetime(1970, 1, 1, tzinfo=UTC), alias="from")
    valid_to: UtcDatetime | None = Field(default=None, alias="to")


# Ownership (OWNS) and hierarchy (PART_OF) carry only their validity.
OwnsProperties = ValidityProperties


class MemberOfProperties(ValidityProperties):
    role: ShortText | None = None


class QualifierProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
    qualifier: ShortText | None = None


class NoProperties(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class RelationshipSpec:
    kind: RelationshipKind
    type: LiteralString
    source: LiteralString
    target: LiteralString
    properties: builtins.type[BaseModel] = NoProperties
    # A relationship property that is part of the identity (MERGE key).
    key_property: LiteralString | None = None


def _spec(
    kind: RelationshipKind,
    type_: LiteralString,
    source: LiteralString,
    target: LiteralString,
    properties: type[BaseModel] = NoProperties,
    key_property: LiteralString | None = None,
) -> RelationshipSpec:
    return RelationshipSpec(kind, type_, source, target, properties, key_property)


K = RelationshipKind
RELATIONSHIPS: dict[RelationshipKind, RelationshipSpec] = {
    spec.kind: spec
    for spec in (
        _spec(K.TEAM_PART_OF_TEAM, "PART_OF", "Team", "Team", ValidityProperties, "from"),
        _spec(K.PERSON_MEMBER_OF_TEAM, "MEMBER_OF", "Person", "Team", MemberOfProperties, "from"),
        _spec(K.TEAM_PROVIDES_SERVICE, "PROVIDES", "Team", "Service"),
        _spec(K.SERVICE_CONSUMED_BY_TEAM, "CONSUMED_BY", "Service", "Team"),
        _spec(K.PROCESS_HAS_STEP, "HAS_STEP", "Process", "Step", HasStepProperties),
        _spec(K.STEP_NEXT_STEP, "NEXT", "Step", "Step"),
        _spec(K.TEAM_OWNS_STEP, "OWNS", "Team", "Step", OwnsProperties, "from"),
        _spec(K.SYSTEM_SUPPORTS_STEP, "SUPPORTS", "System", "Step"),
        _spec(K.TEAM_OPERATES_SYSTEM, "OPERATES", "Team", "System"),
        _spec(K.CUSTOMER_HAD_TOUCHPOINT, "HAD", "Customer", "Touchpoint"),
        _spec(K.TOUCHPOINT_NEXT_TOUCHPOINT, "NEXT", "Touchpoint", "Touchpoint"),
        _spec(K.CUSTOMER_REACHED_STEP, "REACHED", "Customer", "Step", ReachedProperties),
        _spec(K.CUSTOMER_LATEST_TOUCHPOINT, "LATEST", "Customer", "Touchpoint"),
        _spec(K.TOUCHPOINT_VIA_CHANNEL, "VIA", "Touchpoint", "Channel"),
        _spec(K.TOUCHPOINT_FROM_CAMPAIGN, "FROM", "Touchpoint", "Campaign"),
        _spec(K.TOUCHPOINT_HANDLED_BY_TEAM, "HANDLED_BY", "Touchpoint", "Team"),
        _spec(K.TOUCHPOINT_HANDLED_BY_PERSON, "HANDLED_BY", "Touchpoint", "Person"),
        _spec(K.TOUCHPOINT_AT_STEP, "AT_STEP", "Touchpoint", "Step"),
        _spec(
            K.TOUCHPOINT_CONCERNS_OBJECT,
            "CONCERNS",
            "Touchpoint",
            "BusinessObject",
            QualifierProperties,
        ),
        _spec(
            K.OBJECT_RELATED_TO_OBJECT,
            "RELATED_TO",
            "BusinessObject",
            "BusinessObject",
            QualifierProperties,
        ),
        _spec(K.OBJECT_BELONGS_TO_CUSTOMER, "BELONGS_TO", "BusinessObject", "Customer"),
        _spec(K.TEAM_SERVES_CHANNEL, "SERVES", "Team", "Channel"),
        _spec(K.CAMPAIGN_RUN_BY_TEAM, "RUN_BY", "Campaign", "Team"),
        _spec(K.CUSTOMER_OPENED_DEAL, "OPENED", "Customer", "Deal"),
        _spec(K.DEAL_OWNED_BY_TEAM, "OWNED_BY", "Deal", "Team"),
        _spec(K.TEAM_ACCOUNTABLE_FOR_KPI, "ACCOUNTABLE_FOR", "Team", "KPI"),
        _spec(K.KPI_SHARED_WITH_TEAM, "SHARED_WITH", "KPI", "Team"),
        _spec(K.KPI_MEASURES_STEP, "MEASURES", "KPI", "Step"),
        _spec(K.KPI_MEASURES_PROCESS, "MEASURES", "KPI", "Process"),
        _spec(K.KPI_MEASURES_CHANNEL, "MEASURES", "KPI", "Channel"),
        _spec(K.KPI_MEASURES_CAMPAIGN, "MEASURES", "KPI", "Campaign"),
        _spec(K.KPI_HAS_MEASUREMENT, "HAS_MEASUREMENT", "KPI", "Measurement"),
        _spec(K.SLA_PROVIDER_TEAM, "PROVIDER", "SLA", "Team"),
        _spec(K.SLA_CONSUMER_TEAM, "CONSUMER", "SLA", "Team"),
        _spec(K.SLA_GOVERNS_STEP, "GOVERNS", "SLA", "Step"),
        _spec(K.SLA_TRACKED_BY_KPI, "TRACKED_BY", "SLA", "KPI"),
    )
}


# --- relationship fields: each relationship end's GraphQL field --------------------------

PROCESS_STEPS_LIMIT = 1000  # a process's steps, in order (schema.cost bounds lists by these)


@dataclass(frozen=True)
class EdgeShape:
    """A relationship field listing edges, not nodes: ``TeamMember {person, role}``."""

    type_name: str  # the GraphQL edge type (several fields may share one)
    node: str  # its field holding the node at the relationship's other end
    properties: tuple[str, ...]  # the relationship properties it shows (their model fields)


@dataclass(frozen=True)
class RelationshipField:
    """The GraphQL field a relationship gives the entity at one of its ends, like a field
    of @neo4j/graphql's type definitions with its ``@relationship`` directive: what
    schema.types generates (the field, its ``<field>Connection`` when to-many, its where
    filters) and what the compiled read path (schema.entities) reads."""

    kind: RelationshipKind
    name: str  # the Python name (``owned_steps``); GraphQL's is its camelCase
    description: str | None = None
    _: KW_ONLY
    outgoing: bool  # the entity is the relationship's source
    many: bool = True  # a list, else the first related node or null
    paged: bool = False  # takes ``first``; else lists ``limit`` (the default when None)
    limit: int | None = None
    edge: EdgeShape | None = None

    @property
    def spec(self) -> RelationshipSpec:
        return RELATIONSHIPS[self.kind]

    @property
    def far_label(self) -> LiteralString:
        return self.spec.target if self.outgoing else self.spec.source

    @property
    def edge_properties(self) -> dict[str, str]:
        """The edge's GraphQL fields showing relationship properties, and those properties."""
        if self.edge is None:
            return {}
        fields = self.spec.properties.model_fields
        return {to_camel(name): fields[name].alias or name for name in self.edge.properties}


out = functools.partial(RelationshipField, outgoing=True)  # the source's field: its targets
into = functools.partial(RelationshipField, outgoing=False)  # the target's: its sources
out_one = functools.partial(RelationshipField, outgoing=True, many=False)  # the first target
into_one = functools.partial(RelationshipField, outgoing=False, many=False)  # the first source

_MEMBER = EdgeShape("TeamMember", "person", ("role",))
_MEMBERSHIP = EdgeShape("TeamMembership", "team", ("role",))
_OWNED_STEP = EdgeShape("StepOwnership", "step", ("valid_from", "valid_to"))
_OWNER = EdgeShape("StepOwner", "team", ("valid_from", "valid_to"))
_STEP = EdgeShape("ProcessStep", "step", ("order",))
_OBJECT = EdgeShape("ConcernedObject", "object", ("qualifier",))

# Per label, the relationship fields of its GraphQL type, in the type's order. An end
# without a field (REACHED, LATEST, ...) is in no list.
RELATIONSHIP_FIELDS: dict[str, tuple[RelationshipField, ...]] = {
    "Team": (
        out(
            K.TEAM_PART_OF_TEAM,
            "parents",
            "Parent units now (several parents make a matrix; ended ones are not listed).",
        ),
        into(K.TEAM_PART_OF_TEAM, "children", "Units directly under this one now.", paged=True),
        into(
            K.PERSON_MEMBER_OF_TEAM,
            "members",
            "Its members now (memberships that ended are not listed).",
            paged=True,
            edge=_MEMBER,
        ),
        out(K.TEAM_PROVIDES_SERVICE, "provides", "Services this team provides."),
        into(K.SERVICE_CONSUMED_BY_TEAM, "consumes", "Services this team consumes."),
        out(
            K.TEAM_OWNS_STEP,
            "owned_steps",
            "Steps this team owns or owned, with validity periods.",
            edge=_OWNED_STEP,
        ),
        out(K.TEAM_OPERATES_SYSTEM, "operates"),
        out(K.TEAM_SERVES_CHANNEL, "serves", "Channels this team staffs."),
        out(K.TEAM_ACCOUNTABLE_FOR_KPI, "accountable_for", "KPIs this team is accountable for."),
        into(K.KPI_SHARED_WITH_TEAM, "shared_kpis", "KPIs shared with this team."),
        into(K.SLA_PROVIDER_TEAM, "slas_as_provider"),
        into(K.SLA_CONSUMER_TEAM, "slas_as_consumer"),
        into(K.CAMPAIGN_RUN_BY_TEAM, "campaigns", paged=True),
    ),
    "Person": (
        out(
            K.PERSON_MEMBER_OF_TEAM,
            "teams",
            "The teams this person is a member of now.",
            edge=_MEMBERSHIP,
        ),
    ),
    "Service": (
        into(K.TEAM_PROVIDES_SERVICE, "providers"),
        out(K.SERVICE_CONSUMED_BY_TEAM, "consumers"),
    ),
    "System": (
        into(K.TEAM_OPERATES_SYSTEM, "operators"),
        out(K.SYSTEM_SUPPORTS_STEP, "supports"),
    ),
    "Process": (
        out(K.PROCESS_HAS_STEP, "steps", "Steps in order.", limit=PROCESS_STEPS_LIMIT, edge=_STEP),
        into(K.KPI_MEASURES_PROCESS, "kpis"),
    ),
    "Step": (
        into_one(K.PROCESS_HAS_STEP, "process"),
        out(K.STEP_NEXT_STEP, "next", "Steps that directly follow this one."),
        into(K.TEAM_OWNS_STEP, "owners", "Owning teams over time (validity periods).", edge=_OWNER),
        into(K.SYSTEM_SUPPORTS_STEP, "systems"),
        into(K.SLA_GOVERNS_STEP, "slas", "SLAs governing the hand-off at this step."),
        into(K.KPI_MEASURES_STEP, "kpis"),
    ),
    "Customer": (
        out(
            K.CUSTOMER_HAD_TOUCHPOINT,
            "touchpoints",
            "Touchpoints in time order (the journey chain).",
            paged=True,
        ),
        out(K.CUSTOMER_OPENED_DEAL, "deals", paged=True),
        into(
            K.OBJECT_BELONGS_TO_CUSTOMER,
            "objects",
            "Business objects (orders, ...) belonging to this customer.",
            paged=True,
        ),
    ),
    "Touchpoint": (
        into_one(K.CUSTOMER_HAD_TOUCHPOINT, "customer"),
        out_one(K.TOUCHPOINT_VIA_CHANNEL, "channel"),
        out_one(K.TOUCHPOINT_FROM_CAMPAIGN, "campaign"),
        out_one(K.TOUCHPOINT_HANDLED_BY_TEAM, "team", "The team that handled it."),
        out_one(K.TOUCHPOINT_HANDLED_BY_PERSON, "person", "The person who handled it."),
        out_one(K.TOUCHPOINT_AT_STEP, "step", "The process step it reached."),
        out_one(K.TOUCHPOINT_NEXT_TOUCHPOINT, "next", "The next touchpoint of the same customer."),
        into_one(
            K.TOUCHPOINT_NEXT_TOUCHPOINT,
            "previous",
            "The previous touchpoint of the same customer.",
        ),
        out(
            K.TOUCHPOINT_CONCERNS_OBJECT,
            "concerns",
            "Every business object the event concerns.",
            edge=_OBJECT,
        ),
    ),
    "BusinessObject": (
        into(K.TOUCHPOINT_CONCERNS_OBJECT, "touchpoints", paged=True),
        out(K.OBJECT_RELATED_TO_OBJECT, "related", paged=True, edge=_OBJECT),
        out_one(K.OBJECT_BELONGS_TO_CUSTOMER, "customer"),
    ),
    "Channel": (
        into(K.TEAM_SERVES_CHANNEL, "served_by", "Teams that staff this channel."),
        into(K.KPI_MEASURES_CHANNEL, "kpis"),
    ),
    "Campaign": (
        out_one(K.CAMPAIGN_RUN_BY_TEAM, "run_by"),
        into(K.KPI_MEASURES_CAMPAIGN, "kpis"),
    ),
    "Deal": (
        into_one(K.CUSTOMER_OPENED_DEAL, "customer"),
        out_one(K.DEAL_OWNED_BY_TEAM, "owner"),
    ),
    "KPI": (
        into_one(K.TEAM_ACCOUNTABLE_FOR_KPI, "accountable_team"),
        out(K.KPI_SHARED_WITH_TEAM, "shared_with"),
        out(K.KPI_MEASURES_STEP, "measured_steps"),
        out(K.KPI_MEASURES_PROCESS, "measured_processes"),
        out(K.KPI_MEASURES_CHANNEL, "measured_channels"),
        out(K.KPI_MEASURES_CAMPAIGN, "measured_campaigns"),
        out(
            K.KPI_HAS_MEASUREMENT, "measurements", "Measurements, newest period first.", paged=True
        ),
        into(K.SLA_TRACKED_BY_KPI, "slas", "SLAs tracked by this KPI."),
    ),
    "Measurement": (into_one(K.KPI_HAS_MEASUREMENT, "kpi"),),
    "SLA": (
        out_one(K.SLA_PROVIDER_TEAM, "provider"),
        out_one(K.SLA_CONSUMER_TEAM, "consumer"),
        out_one(K.SLA_GOVERNS_STEP, "step", "The step whose hand-off it governs."),
        out_one(K.SLA_TRACKED_BY_KPI, "kpi"),
    ),
}


# Maintained by the write layer itself, never written directly: the journey chain
# (NEXT), each customer's first arrival at each step (REACHED, for funnels) and
# its latest touchpoint (LATEST, for customers in flight).
DERIVED_RELATIONSHIPS: frozenset[RelationshipKind] = frozenset(
    {K.TOUCHPOINT_NEXT_TOUCHPOINT, K.CUSTOMER_REACHED_STEP, K.CUSTOMER_LATEST_TOUCHPOINT}
)


@dataclass(frozen=True)
class RefSpec:
    """A single-valued reference field on a record, written as one relationship.

    ``record_is_source`` tells which end of the relationship the record is.
    Setting the field replaces any previous relationship of that kind.
    """

    relationship: RelationshipKind
    record_is_source: bool

    @property
    def spec(self) -> RelationshipSpec:
        return RELATIONSHIPS[self.relationship]

    @property
    def other_label(self) -> LiteralString:
        spec = self.spec
        return spec.target if self.record_is_source else spec.source


REFS: dict[str, dict[str, RefSpec]] = {
    "Step": {"process_id": RefSpec(K.PROCESS_HAS_STEP, record_is_source=False)},
    "Touchpoint": {
        "customer_id": RefSpec(K.CUSTOMER_HAD_TOUCHPOINT, record_is_source=False),
        "channel_id": RefSpec(K.TOUCHPOINT_VIA_CHANNEL, record_is_source=True),
        "campaign_id": RefSpec(K.TOUCHPOINT_FROM_CAMPAIGN, record_is_source=True),
        "team_id": RefSpec(K.TOUCHPOINT_HANDLED_BY_TEAM, record_is_source=True),
        "person_id": RefSpec(K.TOUCHPOINT_HANDLED_BY_PERSON, record_is_source=True),
        "step_id": RefSpec(K.TOUCHPOINT_AT_STEP, record_is_source=True),
    },
    "Campaign": {"team_id": RefSpec(K.CAMPAIGN_RUN_BY_TEAM, record_is_source=True)},
    "Deal": {
        "customer_id": RefSpec(K.CUSTOMER_OPENED_DEAL, record_is_source=False),
        "team_id": RefSpec(K.DEAL_OWNED_BY_TEAM, record_is_source=True),
    },
    "KPI": {"accountable_team_id": RefSpec(K.TEAM_ACCOUNTABLE_FOR_KPI, record_is_source=False)},
    "Measurement": {"kpi_id": RefSpec(K.KPI_HAS_MEASUREMENT, record_is_source=False)},
    "SLA": {
        "provider_team_id": RefSpec(K.SLA_PROVIDER_TEAM, record_is_source=True),
        "consumer_team_id": RefSpec(K.SLA_CONSUMER_TEAM, record_is_source=True),
        "step_id": RefSpec(K.SLA_GOVERNS_STEP, record_is_source=True),
        "kpi_id": RefSpec(K.SLA_TRACKED_BY_KPI, record_is_source=True),
    },
}
# The extra relationship property a ref carries (Step.order on HAS_STEP).
REF_PROPERTIES: dict[tuple[str, str], tuple[str, str]] = {
    ("Step", "process_id"): ("order", "order"),
}


# --- personal data ---------------------------------------------------------------------


def normalise_email(value: str) -> str:
    """The form an email is compared in (look-ups are exact on this form)."""
    return value.strip().lower()


@dataclass(frozen=True)
class SealedProperty:
    """A personal property the database holds only encrypted (``graph.personal``).

    Beside the ciphertext, ``hash_property`` holds a keyed hash of the value's
    ``normalise``d form, so an exact look-up needs no plaintext in the graph.
    """

    hash_property: LiteralString
    normalise: typing.Callable[[str], str]


# Personal properties written only as ciphertext plus a look-up hash (docs/personal-data.md).
SEALED_PROPERTIES: dict[str, dict[LiteralString, SealedProperty]] = {
    "Customer": {"email": SealedProperty("emailHash", normalise_email)},
}

# Properties that identify a person: masked (null) for callers without the PII
# permission, in GraphQL (schema.authorization) and in analysts' Cypher (graph.cypher).
# The sealed ones and their hashes are listed too: a second wall behind the encryption.
PERSONAL_PROPERTIES: dict[str, frozenset[str]] = {
    "Customer": frozenset({"email", "emailHash"}),
}
assert all(
    {*sealed, *(s.hash_property for s in sealed.values())} <= PERSONAL_PROPERTIES[label]
    for label, sealed in SEALED_PROPERTIES.items()
), "every sealed property and its hash must be personal"


def mask_personal(label: str, props: dict[str, Any]) -> dict[str, Any]:
    """``props`` with the label's personal properties set to None."""
    personal = PERSONAL_PROPERTIES.get(label, frozenset())
    return {key: (None if key in personal else value) for key, value in props.items()}


# --- temporal properties ---------------------------------------------------------------


def _is_datetime(annotation: Any) -> bool:
    if annotation is datetime:
        return True
    return any(_is_datetime(argument) for argument in typing.get_args(annotation))


def temporal_properties(model: builtins.type[BaseModel]) -> tuple[LiteralString, ...]:
    """The Neo4j property names of a record's (or relationship's) datetime fields.

    Generic reads send these as ISO strings: the driver's hydration of zoned
    DateTime values costs tens of microseconds each, parsing the string back
    with ``datetime.fromisoformat`` well under one.
    """
    names = [
        field.alias or name
        for name, field in model.model_fields.items()
        if _is_datetime(field.annotation)
    ]
    return tuple(sorted(names))  # field names of our own model, never client input
