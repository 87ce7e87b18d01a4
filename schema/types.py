"""GraphQL object types, one per label of the model.

Scalar fields come from the node's properties; relationship fields go through
the request's DataLoaders (``orggraph.loaders``), so a list of N entities with
nested relationships costs one query per relationship field, not per entity.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, LiteralString, Self, TypeVar

import strawberry
from pydantic.alias_generators import to_camel
from strawberry.scalars import JSON
from strawberry.types.field import StrawberryField

from orggraph.context import Info
from orggraph.graph import nodes
from orggraph.graph.model import RELATIONSHIPS
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.money import stored_amount
from orggraph.graph.nodes import Related, RelatedPage, default_keys
from orggraph.graph.personal import open_value
from orggraph.loaders.processes import LifecycleHistoryLoader
from orggraph.schema import enums, filters
from orggraph.schema.relay import (
    DEFAULT_PAGE_SIZE,
    PageInfo,
    decode_sort_cursor,
    encode_sort_cursor,
    page_size,
)

DEFAULT_NESTED_LIMIT = 100
PROCESS_STEPS_LIMIT = 1000  # a process's steps, in order (schema.cost bounds lists by these)
E = TypeVar("E", bound=enum.Enum)


# --- property conversion ---------------------------------------------------------


def as_enum(cls: type[E], value: Any) -> E | None:
    try:
        return cls(value)
    except ValueError:
        return None


def as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # generic reads send ISO strings (graph.nodes)
        return datetime.fromisoformat(value.split("[", 1)[0])
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native else value  # type: ignore[no-any-return]


def as_json(value: Any) -> JSON | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)  # type: ignore[no-any-return]
        except ValueError:
            return value  # type: ignore[return-value]
    return value  # type: ignore[no-any-return]


def as_float(value: Any) -> float | None:
    return None if value is None else float(value)


@strawberry.interface(
    description="An entity of the graph: its id is unique across every label (node(id))."
)
class Node:
    id: strawberry.ID


class NodeType(Node):
    """A GraphQL type of one label, built from its node's properties: each constructor
    field reads the property of the same name in camelCase (the records' aliases),
    converted by the field's type (``_reader``); a missing non-null string reads "", and
    a ``Decimal`` is the exact form of the money field it is read from (``graph.money``).
    """

    LABEL: ClassVar[LiteralString]
    # Constructor fields read from a property of another name.
    PROPERTY_OF: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_props(cls, p: dict[str, Any]) -> Self:
        readers = _READERS.get(cls) or _READERS.setdefault(cls, _readers_of(cls))
        build: Callable[..., Self] = cls
        return build(**{name: read(p, key) for name, key, read in readers})


Reader = Callable[[dict[str, Any], str], Any]
# Per type, (constructor field, property, reader): built on first use, once every type exists.
_READERS: dict[type[NodeType], tuple[tuple[str, str, Reader], ...]] = {}


def _readers_of(cls: type[NodeType]) -> tuple[tuple[str, str, Reader], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, cls.PROPERTY_OF.get(f.name, to_camel(f.name)), _reader(hints[f.name]))
        for f in dataclasses.fields(cls)
        if f.init
    )


def _reader(hint: Any) -> Reader:
    if hint is strawberry.ID:
        return lambda p, key: strawberry.ID(p[key])
    if hint is str:
        return lambda p, key: p.get(key, "")
    (kind,) = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return lambda p, key: as_enum(kind, p.get(key))
    if kind is Decimal:  # money: the money field ``key`` names, read exactly (graph.money)
        return lambda p, key: stored_amount(p, key)
    convert = _CONVERTERS.get(kind)
    if convert is None:
        return lambda p, key: p.get(key)
    return lambda p, key: convert(p.get(key))


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {
    datetime: as_datetime,
    float: as_float,
    JSON: as_json,
}


def nested_limit(info: Info, first: int | None) -> int:
    """How many items a relationship field lists: ``first`` (else the default), capped."""
    cap = info.context.settings.max_page_size
    return max(0, min(first if first is not None else DEFAULT_NESTED_LIMIT, cap))


async def _related(
    info: Info,
    node_id: str,
    kind: K,
    outgoing: bool,
    first: int | None = None,
    page: RelatedPage | None = None,
) -> list[Related]:
    if page is not None:
        chosen = info.context.loaders.related_page(kind, outgoing, page, nested_limit(info, first))
        return await chosen.load(node_id)
    loader = info.context.loaders.related(kind, outgoing)
    return await loader.load((node_id, nested_limit(info, first)))


async def _one(info: Info, node_id: str, kind: K, outgoing: bool) -> dict[str, Any] | None:
    items = await _related(info, node_id, kind, outgoing, 1)
    return items[0].props if items else None


# --- relationship fields, declared -----------------------------------------------------

# A relationship field's metadata: (kind, outgoing, takes `first`, fixed limit), read by
# the compiled read path (schema.entities).
RELATIONSHIP = "relationship"
# Builds one item of a relationship field from the related node and its relationship.
EdgeOf = Callable[[Related], object]
# (field, label of its node type) for every node-valued relationship field, checked on import.
_NODE_FIELDS: list[tuple[StrawberryField, str]] = []
# (kind, outgoing) of every to-many relationship field, by the field's id (node_type).
_TO_MANY: dict[int, tuple[K, bool]] = {}
_RELATED_FIELDS: dict[str, list[filters.RelatedField]] = {}
T = TypeVar("T")


def node_type(*, name: str | None = None, description: str) -> Callable[[type[T]], type[T]]:
    """``strawberry.type`` for the type of a label: each to-many relationship field
    (``related``) gets its ``<field>Connection`` beside it, and its where filters."""

    def decorate(cls: type[T]) -> type[T]:
        label: str = cls.LABEL  # type: ignore[attr-defined]
        fields = _RELATED_FIELDS.setdefault(label, [])
        for attribute, value in list(vars(cls).items()):
            if id(value) not in _TO_MANY:
                continue
            kind, outgoing = _TO_MANY[id(value)]
            fields.append(
                filters.RelatedField(attribute, kind, outgoing, kind in nodes.CURRENT_ONLY)
            )
            connection = related_connection(label, attribute, kind, outgoing)
            setattr(cls, f"{attribute}_connection", connection)
        return strawberry.type(cls, name=name, description=description)

    return decorate


def _far_label(kind: K, outgoing: bool) -> str:
    spec = RELATIONSHIPS[kind]
    return spec.target if outgoing else spec.source


def _node(label: str, props: dict[str, Any]) -> object:
    return NODE_TYPES[label].from_props(props)


def related(
    kind: K,
    *,
    outgoing: bool,
    description: str | None = None,
    paged: bool = False,
    limit: int | None = None,
    edge: EdgeOf | None = None,
) -> Any:
    """A list field of what ``kind`` relates the entity to (``outgoing``: the entity is
    its source): the nodes at the other end, or ``edge`` of each relationship, matching
    ``where`` in the field's own order or ``sort``'s. ``node_type`` adds its connection.

    ``paged`` gives it the ``first`` argument; otherwise it reads ``limit`` items
    (``DEFAULT_NESTED_LIMIT`` when None). Typed Any like ``strawberry.field``: the
    class annotation is the field's GraphQL type."""
    label = _far_label(kind, outgoing)

    def build(items: list[Related]) -> list[object]:
        return [edge(r) if edge else _node(label, r.props) for r in items]

    async def first_items(
        root: Any, info: Info, first: int | None = None, where: Any = None, sort: Any = None
    ) -> list[object]:
        page = _related_page(label, where, sort)
        return build(await _related(info, root.id, kind, outgoing, first, page))

    async def all_items(root: Any, info: Info, where: Any = None, sort: Any = None) -> list[object]:
        page = _related_page(label, where, sort)
        return build(await _related(info, root.id, kind, outgoing, limit, page))

    resolver: Callable[..., Awaitable[list[object]]] = first_items if paged else all_items
    resolver.__annotations__ = {**resolver.__annotations__, **_where_and_sort(label)}
    declared = {RELATIONSHIP: (kind, outgoing, paged, limit)}
    field = strawberry.field(resolver=resolver, description=description, metadata=declared)
    _TO_MANY[id(field)] = (kind, outgoing)
    return _declared(field, edge, label)


def _where_and_sort(label: str) -> dict[str, str]:
    """The annotations of a field's ``where`` and ``sort`` arguments (the generated
    types, found in this module's namespace once ``filters.generate`` has run)."""
    return {"where": f"{label}Where | None", "sort": f"list[{label}Sort] | None"}


def _related_page(label: str, where: Any, sort: Any) -> RelatedPage | None:
    if where is None and not sort:
        return None
    return RelatedPage(filters.to_where(label, where), filters.to_keys(label, sort))


def related_connection(owner: str, field: str, kind: K, outgoing: bool) -> Any:
    """``<field>Connection``: the relationship field as a page, with its total and aggregate,
    edges carrying the relationship's properties."""
    label = _far_label(kind, outgoing)
    name = filters.relationship_type_name(owner, field) + "Connection"

    async def resolve(
        root: Any,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        where: Any = None,
        sort: Any = None,
    ) -> Any:
        size = page_size(first, DEFAULT_PAGE_SIZE, info.context.settings.max_page_size)
        chosen = RelatedPage(filters.to_where(label, where), filters.to_keys(label, sort))
        keys = chosen.keys or default_keys(RELATIONSHIPS[kind], outgoing)
        start = decode_sort_cursor(after, keys)
        page = dataclasses.replace(chosen, after=None if start is None else tuple(start))
        items = await info.context.loaders.related_page(kind, outgoing, page, size + 1).load(
            root.id
        )
        edges = [
            _relationship_edge(name, kind, label, r, encode_sort_cursor(keys, r.props, r.rel))
            for r in items[:size]
        ]
        cursors = [e.cursor for e in edges]

        async def totals(aggregate: bool) -> dict[str, Any]:
            loader = info.context.loaders.related_totals(kind, outgoing, chosen.where, aggregate)
            return await loader.load(root.id)

        return filters.GENERATED[name](
            edges=edges,
            page_info=PageInfo.of(cursors, has_next=len(items) > size, has_previous=bool(after)),
            totals=totals,
        )

    resolve.__annotations__ = {**resolve.__annotations__, **_where_and_sort(label)}
    resolve.__annotations__["return"] = name
    description = f"The {field.replace('_', ' ')} as pages, with their total and aggregate."
    return strawberry.field(resolver=resolve, description=description)


def _relationship_edge(name: str, kind: K, label: str, r: Related, cursor: str) -> Any:
    edge = filters.GENERATED[name.removesuffix("Connection") + "Edge"]
    node = _node(label, r.props)
    properties = filters.edge_properties(kind, r.rel)
    if properties is None:
        return edge(cursor=cursor, node=node)
    return edge(cursor=cursor, node=node, properties=properties)


def related_one(kind: K, *, outgoing: bool, description: str | None = None) -> Any:
    """A single-object field: the first node ``kind`` relates the entity to, or null."""
    label = _far_label(kind, outgoing)

    async def one(root: Any, info: Info) -> object | None:
        props = await _one(info, root.id, kind, outgoing)
        return _node(label, props) if props else None

    declared = {RELATIONSHIP: (kind, outgoing, False, 1)}
    field = strawberry.field(resolver=one, description=description, metadata=declared)
    return _declared(field, None, label)


def _declared(field: StrawberryField, edge: EdgeOf | None, label: str) -> StrawberryField:
    if edge is None:
        _NODE_FIELDS.append((field, label))
    return field


def _check_node_fields() -> None:
    """Each node-valued relationship field's GraphQL type is the type of the label at the
    relationship's other end (the resolver builds that type)."""
    for field, label in _NODE_FIELDS:
        declared: Any = field.type
        while hasattr(declared, "of_type"):  # StrawberryList, StrawberryOptional
            declared = declared.of_type
        if getattr(declared, "LABEL", None) != label:
            owner = getattr(field.origin, "__name__", field.origin)
            raise TypeError(f"{owner}.{field.python_name} must be typed as {label}")


# --- edges built from a relationship's properties ---------------------------------------


def _team_member(r: Related) -> TeamMember:
    return TeamMember(person=Person.from_props(r.props), role=r.rel.get("role"))


def _team_membership(r: Related) -> TeamMembership:
    return TeamMembership(team=Team.from_props(r.props), role=r.rel.get("role"))


def _step_ownership(r: Related) -> StepOwnership:
    return StepOwnership(
        step=Step.from_props(r.props),
        valid_from=as_datetime(r.rel.get("from")),
        valid_to=as_datetime(r.rel.get("to")),
    )


def _step_owner(r: Related) -> StepOwner:
    return StepOwner(
        team=Team.from_props(r.props),
        valid_from=as_datetime(r.rel.get("from")),
        valid_to=as_datetime(r.rel.get("to")),
    )


def _process_step(r: Related) -> ProcessStep:
    return ProcessStep(step=Step.from_props(r.props), order=r.rel.get("order"))


def _concerned_object(r: Related) -> ConcernedObject:
    return ConcernedObject(
        object=BusinessObject.from_props(r.props), qualifier=r.rel.get("qualifier")
    )


# --- the organisation ----------------------------------------------------------------


@node_type(description="An organisational unit: group, business unit, function or team.")
class Team(NodeType):
    LABEL: ClassVar[LiteralString] = "Team"
    id: strawberry.ID
    name: str
    kind: enums.TeamKind | None
    function: enums.Function | None

    parents: list[Team] = related(
        K.TEAM_PART_OF_TEAM,
        outgoing=True,
        description="Parent units now (several parents make a matrix; ended ones are not listed).",
    )
    children: list[Team] = related(
        K.TEAM_PART_OF_TEAM,
        outgoing=False,
        paged=True,
        description="Units directly under this one now.",
    )
    members: list[TeamMember] = related(
        K.PERSON_MEMBER_OF_TEAM,
        outgoing=False,
        paged=True,
        edge=_team_member,
        description="Its members now (memberships that ended are not listed).",
    )
    provides: list[Service] = related(
        K.TEAM_PROVIDES_SERVICE, outgoing=True, description="Services this team provides."
    )
    consumes: list[Service] = related(
        K.SERVICE_CONSUMED_BY_TEAM, outgoing=False, description="Services this team consumes."
    )
    owned_steps: list[StepOwnership] = related(
        K.TEAM_OWNS_STEP,
        outgoing=True,
        edge=_step_ownership,
        description="Steps this team owns or owned, with validity periods.",
    )
    operates: list[System] = related(K.TEAM_OPERATES_SYSTEM, outgoing=True)
    serves: list[Channel] = related(
        K.TEAM_SERVES_CHANNEL, outgoing=True, description="Channels this team staffs."
    )
    accountable_for: list[Kpi] = related(
        K.TEAM_ACCOUNTABLE_FOR_KPI, outgoing=True, description="KPIs this team is accountable for."
    )
    shared_kpis: list[Kpi] = related(
        K.KPI_SHARED_WITH_TEAM, outgoing=False, description="KPIs shared with this team."
    )
    slas_as_provider: list[Sla] = related(K.SLA_PROVIDER_TEAM, outgoing=False)
    slas_as_consumer: list[Sla] = related(K.SLA_CONSUMER_TEAM, outgoing=False)
    campaigns: list[Campaign] = related(K.CAMPAIGN_RUN_BY_TEAM, outgoing=False, paged=True)


@strawberry.type
class TeamMember:
    person: Person
    role: str | None


@strawberry.type
class TeamMembership:
    team: Team
    role: str | None


@node_type(description="A person of the organisation.")
class Person(NodeType):
    LABEL: ClassVar[LiteralString] = "Person"
    id: strawberry.ID
    name: str
    role: str | None

    teams: list[TeamMembership] = related(
        K.PERSON_MEMBER_OF_TEAM,
        outgoing=True,
        edge=_team_membership,
        description="The teams this person is a member of now.",
    )


@node_type(description="What a team provides, to internal teams or external customers.")
class Service(NodeType):
    LABEL: ClassVar[LiteralString] = "Service"
    id: strawberry.ID
    name: str
    audience: enums.ServiceAudience | None

    providers: list[Team] = related(K.TEAM_PROVIDES_SERVICE, outgoing=False)
    consumers: list[Team] = related(K.SERVICE_CONSUMED_BY_TEAM, outgoing=True)


@node_type(description="An information system (CRM, ERP, chat, ...).")
class System(NodeType):
    LABEL: ClassVar[LiteralString] = "System"
    id: strawberry.ID
    name: str
    kind: enums.SystemKind | None

    operators: list[Team] = related(K.TEAM_OPERATES_SYSTEM, outgoing=False)
    supports: list[Step] = related(K.SYSTEM_SUPPORTS_STEP, outgoing=True)


# --- processes ---------------------------------------------------------------------


@node_type(description="A process (value stream) made of ordered steps.")
class Process(NodeType):
    LABEL: ClassVar[LiteralString] = "Process"
    id: strawberry.ID
    name: str
    lifecycle: enums.Lifecycle | None

    steps: list[ProcessStep] = related(
        K.PROCESS_HAS_STEP,
        outgoing=True,
        limit=PROCESS_STEPS_LIMIT,
        edge=_process_step,
        description="Steps in order.",
    )
    kpis: list[Kpi] = related(K.KPI_MEASURES_PROCESS, outgoing=False)

    @strawberry.field(
        description="enums.Lifecycle transitions, oldest first: when, to what, by whom."
    )
    async def lifecycle_history(self, info: Info) -> list[LifecycleTransition]:
        loader = info.context.loaders.get("lifecycleHistory", LifecycleHistoryLoader)
        return [LifecycleTransition.from_props(c) for c in await loader.load(str(self.id))]


@strawberry.type(description="A dated, attributed lifecycle transition of a process.")
class LifecycleTransition:
    before: enums.Lifecycle | None
    after: enums.Lifecycle | None
    effective_at: datetime | None
    recorded_at: datetime | None
    principal: str

    @classmethod
    def from_props(cls, p: dict[str, Any]) -> LifecycleTransition:
        return cls(
            before=as_enum(enums.Lifecycle, p.get("before")),
            after=as_enum(enums.Lifecycle, p.get("after")),
            effective_at=as_datetime(p.get("effectiveAt")),
            recorded_at=as_datetime(p.get("recordedAt")),
            principal=p.get("principal", ""),
        )


@strawberry.type
class ProcessStep:
    step: Step
    order: int | None


@strawberry.type
class StepOwnership:
    step: Step
    valid_from: datetime | None
    valid_to: datetime | None


@strawberry.type
class StepOwner:
    team: Team
    valid_from: datetime | None
    valid_to: datetime | None


@node_type(description="A step of a process, at a customer lifecycle or operational stage.")
class Step(NodeType):
    LABEL: ClassVar[LiteralString] = "Step"
    id: strawberry.ID
    name: str
    stage: enums.Stage | None

    process: Process | None = related_one(K.PROCESS_HAS_STEP, outgoing=False)
    next: list[Step] = related(
        K.STEP_NEXT_STEP, outgoing=True, description="Steps that directly follow this one."
    )
    owners: list[StepOwner] = related(
        K.TEAM_OWNS_STEP,
        outgoing=False,
        edge=_step_owner,
        description="Owning teams over time (validity periods).",
    )
    systems: list[System] = related(K.SYSTEM_SUPPORTS_STEP, outgoing=False)
    slas: list[Sla] = related(
        K.SLA_GOVERNS_STEP, outgoing=False, description="SLAs governing the hand-off at this step."
    )
    kpis: list[Kpi] = related(K.KPI_MEASURES_STEP, outgoing=False)


# --- customers and their journeys ---------------------------------------------------------


def open_email(root: Customer, info: Info) -> str | None:
    """``Customer.email``: the stored ciphertext opened, for the PII permission only."""
    # The Authorization extension already answers null without the claim; decrypting
    # is refused here too, so no other path to this resolver can open the value.
    if not info.context.principal.can_read_pii:
        return None
    return open_value(info.context.graph.personal, "Customer", root.id, "email", root.stored_email)


@node_type(description="A customer: a person or an account.")
class Customer(NodeType):
    LABEL: ClassVar[LiteralString] = "Customer"
    id: strawberry.ID
    name: str
    kind: enums.CustomerKind | None
    segment: str | None
    # As stored: ciphertext (graph.personal), opened by `email` for the PII permission only.
    stored_email: strawberry.Private[str | None]
    PROPERTY_OF: ClassVar[dict[str, str]] = {"stored_email": "email"}

    email: str | None = strawberry.field(
        resolver=open_email, description="Personal: null without the `pii` claim."
    )
    touchpoints: list[Touchpoint] = related(
        K.CUSTOMER_HAD_TOUCHPOINT,
        outgoing=True,
        paged=True,
        description="Touchpoints in time order (the journey chain).",
    )
    deals: list[Deal] = related(K.CUSTOMER_OPENED_DEAL, outgoing=True, paged=True)
    objects: list[BusinessObject] = related(
        K.OBJECT_BELONGS_TO_CUSTOMER,
        outgoing=False,
        paged=True,
        description="Business objects (orders, ...) belonging to this customer.",
    )


@node_type(description="An event of a customer's journey, or an internal event of a process.")
class Touchpoint(NodeType):
    LABEL: ClassVar[LiteralString] = "Touchpoint"
    PROPERTY_OF: ClassVar[dict[str, str]] = {"value_exact": "value"}
    id: strawberry.ID
    at: datetime | None
    type: enums.TouchpointType | None
    activity: str | None
    value: float | None = strawberry.field(
        description="The value (money, e.g. a purchase's revenue) as a float (may be inexact).",
        deprecation_reason="Inexact: read valueExact. Removed in the next release.",
    )
    value_exact: Decimal | None = strawberry.field(
        description="The value (money), exact (up to 4 decimal places), as a decimal string."
    )
    attributes: JSON | None

    customer: Customer | None = related_one(K.CUSTOMER_HAD_TOUCHPOINT, outgoing=False)
    channel: Channel | None = related_one(K.TOUCHPOINT_VIA_CHANNEL, outgoing=True)
    campaign: Campaign | None = related_one(K.TOUCHPOINT_FROM_CAMPAIGN, outgoing=True)
    team: Team | None = related_one(
        K.TOUCHPOINT_HANDLED_BY_TEAM, outgoing=True, description="The team that handled it."
    )
    person: Person | None = related_one(
        K.TOUCHPOINT_HANDLED_BY_PERSON, outgoing=True, description="The person who handled it."
    )
    step: Step | None = related_one(
        K.TOUCHPOINT_AT_STEP, outgoing=True, description="The process step it reached."
    )
    next: Touchpoint | None = related_one(
        K.TOUCHPOINT_NEXT_TOUCHPOINT,
        outgoing=True,
        description="The next touchpoint of the same customer.",
    )
    previous: Touchpoint | None = related_one(
        K.TOUCHPOINT_NEXT_TOUCHPOINT,
        outgoing=False,
        description="The previous touchpoint of the same customer.",
    )
    concerns: list[ConcernedObject] = related(
        K.TOUCHPOINT_CONCERNS_OBJECT,
        outgoing=True,
        edge=_concerned_object,
        description="Every business object the event concerns.",
    )


@strawberry.type
class ConcernedObject:
    object: BusinessObject
    qualifier: str | None


@node_type(description="An object events concern: an order, an item, a package, ...")
class BusinessObject(NodeType):
    LABEL: ClassVar[LiteralString] = "BusinessObject"
    id: strawberry.ID
    type: str
    name: str | None
    attributes: JSON | None

    touchpoints: list[Touchpoint] = related(
        K.TOUCHPOINT_CONCERNS_OBJECT, outgoing=False, paged=True
    )
    related: list[ConcernedObject] = related(
        K.OBJECT_RELATED_TO_OBJECT, outgoing=True, paged=True, edge=_concerned_object
    )
    customer: Customer | None = related_one(K.OBJECT_BELONGS_TO_CUSTOMER, outgoing=True)


@node_type(description="A channel of touchpoints, online or offline.")
class Channel(NodeType):
    LABEL: ClassVar[LiteralString] = "Channel"
    id: strawberry.ID
    name: str
    kind: enums.ChannelKind | None
    online: bool | None

    served_by: list[Team] = related(
        K.TEAM_SERVES_CHANNEL, outgoing=False, description="Teams that staff this channel."
    )
    kpis: list[Kpi] = related(K.KPI_MEASURES_CHANNEL, outgoing=False)


@node_type(description="A campaign that sources touchpoints.")
class Campaign(NodeType):
    LABEL: ClassVar[LiteralString] = "Campaign"
    id: strawberry.ID
    name: str
    source_kind: enums.SourceKind | None

    run_by: Team | None = related_one(K.CAMPAIGN_RUN_BY_TEAM, outgoing=True)
    kpis: list[Kpi] = related(K.KPI_MEASURES_CAMPAIGN, outgoing=False)


@node_type(description="A sales deal (opportunity), won or lost once closed.")
class Deal(NodeType):
    LABEL: ClassVar[LiteralString] = "Deal"
    PROPERTY_OF: ClassVar[dict[str, str]] = {"amount_exact": "amount"}
    id: strawberry.ID
    amount: float | None = strawberry.field(
        description="The amount as a float (may be inexact).",
        deprecation_reason="Inexact: read amountExact. Removed in the next release.",
    )
    amount_exact: Decimal | None = strawberry.field(
        description="The amount, exact (up to 4 decimal places), as a decimal string."
    )
    currency: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    won: bool | None

    customer: Customer | None = related_one(K.CUSTOMER_OPENED_DEAL, outgoing=False)
    owner: Team | None = related_one(K.DEAL_OWNED_BY_TEAM, outgoing=True)


# --- KPIs and SLAs ----------------------------------------------------------------------------


@node_type(name="KPI", description="A key performance indicator with a target.")
class Kpi(NodeType):
    LABEL: ClassVar[LiteralString] = "KPI"
    id: strawberry.ID
    name: str
    unit: str | None
    direction: enums.KpiDirection | None
    target: float | None
    definition: JSON | None
    window: enums.Window | None

    accountable_team: Team | None = related_one(K.TEAM_ACCOUNTABLE_FOR_KPI, outgoing=False)
    shared_with: list[Team] = related(K.KPI_SHARED_WITH_TEAM, outgoing=True)
    measured_steps: list[Step] = related(K.KPI_MEASURES_STEP, outgoing=True)
    measured_processes: list[Process] = related(K.KPI_MEASURES_PROCESS, outgoing=True)
    measured_channels: list[Channel] = related(K.KPI_MEASURES_CHANNEL, outgoing=True)
    measured_campaigns: list[Campaign] = related(K.KPI_MEASURES_CAMPAIGN, outgoing=True)
    measurements: list[Measurement] = related(
        K.KPI_HAS_MEASUREMENT,
        outgoing=True,
        paged=True,
        description="Measurements, newest period first.",
    )
    slas: list[Sla] = related(
        K.SLA_TRACKED_BY_KPI, outgoing=False, description="SLAs tracked by this KPI."
    )


@node_type(description="A KPI's value for one period.")
class Measurement(NodeType):
    LABEL: ClassVar[LiteralString] = "Measurement"
    id: strawberry.ID
    at: datetime | None
    period_start: datetime | None
    period_end: datetime | None = strawberry.field(
        description="End of the period (exclusive), when the KPI engine computed it."
    )
    value: float | None
    sample_size: int | None
    status: str | None = strawberry.field(
        description="ON_TARGET, OFF_TARGET, NO_DATA or NO_TARGET when computed by the KPI engine."
    )

    @strawberry.field(
        description=(
            "Taken (`at`) before its period ended: the current period, whose value may "
            "still change. A KPI's `latest` is its newest period that is not partial."
        )
    )
    def partial(self) -> bool:
        return self.is_partial

    @property
    def is_partial(self) -> bool:
        return self.at is not None and self.period_end is not None and self.at < self.period_end

    kpi: Kpi | None = related_one(K.KPI_HAS_MEASUREMENT, outgoing=False)


@node_type(name="SLA", description="A service level agreement between two teams.")
class Sla(NodeType):
    LABEL: ClassVar[LiteralString] = "SLA"
    id: strawberry.ID
    name: str
    kind: enums.SlaKind | None
    threshold: float | None
    unit: str | None
    window: enums.Window | None

    provider: Team | None = related_one(K.SLA_PROVIDER_TEAM, outgoing=True)
    consumer: Team | None = related_one(K.SLA_CONSUMER_TEAM, outgoing=True)
    step: Step | None = related_one(
        K.SLA_GOVERNS_STEP, outgoing=True, description="The step whose hand-off it governs."
    )
    kpi: Kpi | None = related_one(K.SLA_TRACKED_BY_KPI, outgoing=True)


NODE_TYPES: dict[str, Any] = {
    cls.LABEL: cls
    for cls in (
        Team,
        Person,
        Service,
        System,
        Process,
        Step,
        Customer,
        Touchpoint,
        BusinessObject,
        Channel,
        Campaign,
        Deal,
        Kpi,
        Measurement,
        Sla,
    )
}
_check_node_fields()
# The where, sort, connection and aggregate types of every label; named in this module too,
# where the relationship fields' annotations find them.
globals().update(filters.generate(NODE_TYPES, _RELATED_FIELDS))
