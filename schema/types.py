"""GraphQL object types, one per label of the model.

Scalar fields come from the node's properties. Relationship fields, their
``<field>Connection``s and edge types are generated from the model's declarations
(``graph.model.RELATIONSHIP_FIELDS``, ``entity_types``); they go through the
request's DataLoaders (``orggraph.loaders``), so a list of N entities with nested
relationships costs one query per relationship field, not per entity.
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

from orggraph.context import Info
from orggraph.graph.entities import Before
from orggraph.graph.filters import plain_type
from orggraph.graph.model import (
    PROCESS_STEPS_LIMIT as PROCESS_STEPS_LIMIT,  # a process's steps, read by schema.cost
)
from orggraph.graph.model import RELATIONSHIP_FIELDS, RELATIONSHIPS, RelationshipField
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


class FromProps:
    """A GraphQL type built from a node's properties: each constructor field reads the
    property of the same name in camelCase (the records' aliases), converted by the
    field's type (``_reader``); a missing non-null string reads "", and a ``Decimal`` is
    the exact form of the money field it is read from (``graph.money``).
    """

    # Constructor fields read from a property of another name.
    PROPERTY_OF: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_props(cls, p: dict[str, Any]) -> Self:
        readers = _READERS.get(cls) or _READERS.setdefault(cls, _readers_of(cls))
        build: Callable[..., Self] = cls
        return build(**{name: read(p, key) for name, key, read in readers})


class NodeType(Node, FromProps):
    """The GraphQL type of one label (``node_type``)."""

    LABEL: ClassVar[LiteralString]


Reader = Callable[[dict[str, Any], str], Any]
# Per type, (constructor field, property, reader): built on first use, once every type exists.
_READERS: dict[type[FromProps], tuple[tuple[str, str, Reader], ...]] = {}


def _readers_of(cls: type[FromProps]) -> tuple[tuple[str, str, Reader], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, cls.PROPERTY_OF.get(f.name, to_camel(f.name)), _reader(hints[f.name]))
        for f in dataclasses.fields(typing.cast(Any, cls))  # a Strawberry type: a dataclass
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


# --- relationship fields, generated from the model ---------------------------------------

# A relationship field's metadata: its ``graph.model.RelationshipField``, read by the
# compiled read path (schema.entities).
RELATIONSHIP = "relationship"
# A field its own resolver computes from the entity's properties: metadata holding the
# same computation as a ``graph.entities`` column, which the compiled read path reads.
COMPILED = "compiled"
# The type of each label and its description, until ``entity_types``.
_DECLARED: dict[type, str] = {}
N = TypeVar("N", bound="NodeType")


def node_type(label: LiteralString, *, description: str) -> Callable[[type[N]], type[N]]:
    """Declares the type of a label, named after it: ``entity_types`` makes it a
    Strawberry type, with its relationship fields, once every type exists."""

    def decorate(cls: type[N]) -> type[N]:
        cls.LABEL = label
        _DECLARED[cls] = description
        return cls

    return decorate


def entity_types(*classes: type[NodeType]) -> dict[str, Any]:
    """The Strawberry types of the labels, by label. Each gets, after its own fields, the
    relationship fields of its label (``graph.model.RELATIONSHIP_FIELDS``), and each
    to-many one its ``<field>Connection`` and where filters."""
    by_label = {cls.LABEL: cls for cls in classes}
    for cls in classes:
        _add_relationship_fields(cls, by_label)
        strawberry.type(cls, name=cls.LABEL, description=_DECLARED[cls])
    return by_label


def _add_relationship_fields(cls: type[NodeType], by_label: dict[str, Any]) -> None:
    label = cls.LABEL
    declared = RELATIONSHIP_FIELDS.get(label, ())
    for field in declared:
        far = by_label[field.far_label]
        if not field.many:
            cls.__annotations__[field.name] = far | None
            setattr(cls, field.name, related_one(field, far))
            continue
        item, build = (far, _node_of(far)) if field.edge is None else _edge(field, far)
        cls.__annotations__[field.name] = list[item]  # type: ignore[valid-type]
        setattr(cls, field.name, related(field, build))
    for field in declared:
        if field.many:
            setattr(cls, f"{field.name}_connection", related_connection(label, field))


def _node_of(far: type[NodeType]) -> Callable[[Related], Any]:
    return lambda r: far.from_props(r.props)


def _edge(field: RelationshipField, far: type[NodeType]) -> tuple[Any, Callable[[Related], Any]]:
    """The edge type of a relationship field (``TeamMember {person, role}``: the far node,
    then the relationship properties it shows), and its builder from a ``Related``."""
    edge = field.edge
    assert edge is not None  # noqa: S101 - called for edge fields only
    model = field.spec.properties.model_fields
    shown = [
        (name, prop, plain_type(model[name].annotation) | None)
        for name, prop in zip(edge.properties, field.edge_properties.values(), strict=True)
    ]
    fields: dict[str, tuple[Any, str | None]] = {edge.node: (far, None)}
    fields |= {name: (hint, None) for name, _, hint in shown}
    found = filters.GENERATED.get(edge.type_name) or filters.declare(
        edge.type_name, fields, input=False
    )
    readers = [(name, prop, _reader(hint)) for name, prop, hint in shown]

    def build(r: Related) -> Any:
        values = {name: read(r.rel, prop) for name, prop, read in readers}
        return found(**{edge.node: far.from_props(r.props)}, **values)

    return found, build


def _node(label: str, props: dict[str, Any]) -> object:
    return NODE_TYPES[label].from_props(props)


def related(field: RelationshipField, build: Callable[[Related], object]) -> Any:
    """A list field of what ``field``'s relationship relates the entity to: ``build`` of
    each related node (and relationship), matching ``where`` in the field's own order or
    ``sort``'s. ``paged`` gives it the ``first`` argument; otherwise it reads ``limit``
    items (``DEFAULT_NESTED_LIMIT`` when None)."""
    kind, outgoing, label = field.kind, field.outgoing, field.far_label

    async def first_items(
        root: Any, info: Info, first: int | None = None, where: Any = None, sort: Any = None
    ) -> list[object]:
        page = _related_page(label, where, sort)
        return [build(r) for r in await _related(info, root.id, kind, outgoing, first, page)]

    async def all_items(root: Any, info: Info, where: Any = None, sort: Any = None) -> list[object]:
        page = _related_page(label, where, sort)
        found = await _related(info, root.id, kind, outgoing, field.limit, page)
        return [build(r) for r in found]

    resolver: Callable[..., Awaitable[list[object]]] = first_items if field.paged else all_items
    resolver.__annotations__ = {**resolver.__annotations__, **_where_and_sort(label)}
    return strawberry.field(
        resolver=resolver, description=field.description, metadata={RELATIONSHIP: field}
    )


def _where_and_sort(label: str) -> dict[str, str]:
    """The annotations of a field's ``where`` and ``sort`` arguments (the generated
    types, found in this module's namespace once ``filters.generate`` has run)."""
    return {"where": f"{label}Where | None", "sort": f"list[{label}Sort] | None"}


def _related_page(label: str, where: Any, sort: Any) -> RelatedPage | None:
    if where is None and not sort:
        return None
    return RelatedPage(filters.to_where(label, where), filters.to_keys(label, sort))


def related_connection(owner: str, field: RelationshipField) -> Any:
    """``<field>Connection``: the relationship field as a page, with its total and aggregate,
    edges carrying the relationship's properties."""
    kind, outgoing, label = field.kind, field.outgoing, field.far_label
    name = filters.relationship_type_name(owner, field.name) + "Connection"

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
    description = f"The {field.name.replace('_', ' ')} as pages, with their total and aggregate."
    return strawberry.field(resolver=resolve, description=description)


def _relationship_edge(name: str, kind: K, label: str, r: Related, cursor: str) -> Any:
    edge = filters.GENERATED[name.removesuffix("Connection") + "Edge"]
    node = _node(label, r.props)
    properties = filters.edge_properties(kind, r.rel)
    if properties is None:
        return edge(cursor=cursor, node=node)
    return edge(cursor=cursor, node=node, properties=properties)


def related_one(field: RelationshipField, far: type[NodeType]) -> Any:
    """A single-object field: the first node ``field``'s relationship relates the entity
    to, or null."""

    async def one(root: Any, info: Info) -> object | None:
        props = await _one(info, root.id, field.kind, field.outgoing)
        return far.from_props(props) if props else None

    return strawberry.field(
        resolver=one, description=field.description, metadata={RELATIONSHIP: field}
    )


# --- the organisation ----------------------------------------------------------------


@node_type("Team", description="An organisational unit: group, business unit, function or team.")
class Team(NodeType):
    name: str
    kind: enums.TeamKind | None
    function: enums.Function | None


@node_type("Person", description="A person of the organisation.")
class Person(NodeType):
    name: str
    role: str | None


@node_type("Service", description="What a team provides, to internal teams or external customers.")
class Service(NodeType):
    name: str
    audience: enums.ServiceAudience | None


@node_type("System", description="An information system (CRM, ERP, chat, ...).")
class System(NodeType):
    name: str
    kind: enums.SystemKind | None


# --- processes ---------------------------------------------------------------------


@node_type("Process", description="A process (value stream) made of ordered steps.")
class Process(NodeType):
    name: str
    lifecycle: enums.Lifecycle | None

    @strawberry.field(
        description="enums.Lifecycle transitions, oldest first: when, to what, by whom."
    )
    async def lifecycle_history(self, info: Info) -> list[LifecycleTransition]:
        loader = info.context.loaders.get("lifecycleHistory", LifecycleHistoryLoader)
        return [LifecycleTransition.from_props(c) for c in await loader.load(str(self.id))]


@strawberry.type(description="A dated, attributed lifecycle transition of a process.")
class LifecycleTransition(FromProps):
    before: enums.Lifecycle | None
    after: enums.Lifecycle | None
    effective_at: datetime | None
    recorded_at: datetime | None
    principal: str


@node_type("Step", description="A step of a process, at a customer lifecycle or operational stage.")
class Step(NodeType):
    name: str
    stage: enums.Stage | None


# --- customers and their journeys ---------------------------------------------------------


def open_email(root: Customer, info: Info) -> str | None:
    """``Customer.email``: the stored ciphertext opened, for the PII permission only."""
    # The Authorization extension already answers null without the claim; decrypting
    # is refused here too, so no other path to this resolver can open the value.
    if not info.context.principal.can_read_pii:
        return None
    return open_value(info.context.graph.personal, "Customer", root.id, "email", root.stored_email)


@node_type("Customer", description="A customer: a person or an account.")
class Customer(NodeType):
    name: str
    kind: enums.CustomerKind | None
    segment: str | None
    # As stored: ciphertext (graph.personal), opened by `email` for the PII permission only.
    stored_email: strawberry.Private[str | None]
    PROPERTY_OF: ClassVar[dict[str, str]] = {"stored_email": "email"}

    email: str | None = strawberry.field(
        resolver=open_email, description="Personal: null without the `pii` claim."
    )


@node_type(
    "Touchpoint", description="An event of a customer's journey, or an internal event of a process."
)
class Touchpoint(NodeType):
    PROPERTY_OF: ClassVar[dict[str, str]] = {"value_exact": "value"}
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


@node_type(
    "BusinessObject", description="An object events concern: an order, an item, a package, ..."
)
class BusinessObject(NodeType):
    type: str
    name: str | None
    attributes: JSON | None


@node_type("Channel", description="A channel of touchpoints, online or offline.")
class Channel(NodeType):
    name: str
    kind: enums.ChannelKind | None
    online: bool | None


@node_type("Campaign", description="A campaign that sources touchpoints.")
class Campaign(NodeType):
    name: str
    source_kind: enums.SourceKind | None


@node_type("Deal", description="A sales deal (opportunity), won or lost once closed.")
class Deal(NodeType):
    PROPERTY_OF: ClassVar[dict[str, str]] = {"amount_exact": "amount"}
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


# --- KPIs and SLAs ----------------------------------------------------------------------------


@node_type("KPI", description="A key performance indicator with a target.")
class Kpi(NodeType):
    name: str
    unit: str | None
    direction: enums.KpiDirection | None
    target: float | None
    definition: JSON | None
    window: enums.Window | None


@node_type("Measurement", description="A KPI's value for one period.")
class Measurement(NodeType):
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
        ),
        metadata={COMPILED: Before("at", "periodEnd")},  # the same, in the compiled reads
    )
    def partial(self) -> bool:
        return self.is_partial

    @property
    def is_partial(self) -> bool:
        return self.at is not None and self.period_end is not None and self.at < self.period_end


@node_type("SLA", description="A service level agreement between two teams.")
class Sla(NodeType):
    name: str
    kind: enums.SlaKind | None
    threshold: float | None
    unit: str | None
    window: enums.Window | None


NODE_TYPES: dict[str, Any] = entity_types(
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
# The edge, where, sort, connection and aggregate types of every label; named in this
# module too, where the relationship fields' annotations find them.
globals().update(filters.generate(NODE_TYPES))
