"""The compiled read path: a root entity field's whole selection as one Cypher query.

``plan_of`` compiles the validated selection of a generic root field (``customer(id)``,
``customers(first, after, filter)``, ...; resolvers.entities) - fields, aliases, named
and inline fragments, ``@skip``/``@include``, ``__typename``, relationship fields to any
depth with their ``first`` and their edges' properties - into a ``graph.entities``
projection and a ``Shape`` that turns the query's rows into the answer's dicts. Plans
are cached per document, operation, root field and the Boolean variables (which decide
``@skip``/``@include``). The root resolver returns ``Shaped``; ``CompiledExecution``
hands it through as the field's completed value, so graphql-core does not complete the
subtree field by field.

``plan_of`` is the one place that decides what falls back to the resolvers: a field with
its own resolver (``Process.lifecycleHistory``; not one declaring ``COMPILED``), an argument or
a directive the compiler does not know, a type it does not map, an aggregate's fields
below the root's own relationships (``graph.entities.Calls``; a count alone is compiled),
a single measurement asked by a team member. At run time ``Uncompilable`` sends a root
field back to them too, where their answer holds an error the compiled one cannot
place: a personal value that does not open, and what a team member (FUNCTION role) is
refused (schema.authorization). Otherwise a team member's KPIs, SLAs and measurements are
filtered in the query (graph.visibility.visible_cypher). Personal fields follow
schema.authorization: null without the ``pii`` claim, opened in Python with it
(graph.personal), as ``Customer.email`` does.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.values import VariableValues, get_argument_values
from pydantic.alias_generators import to_camel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import StrawberryArgument, convert_arguments
from strawberry.types.field import StrawberryField

from orggraph.context import Info
from orggraph.errors import OrgGraphError
from orggraph.graph import entities
from orggraph.graph.entities import (
    Column,
    Const,
    Far,
    Hop,
    Paged,
    Paired,
    Prop,
    Uncompilable,
)
from orggraph.graph.filters import (
    AGGREGATABLE,
    Params,
    SortKey,
    Where,
    after_cypher,
    filter_fields,
    where_cypher,
)
from orggraph.graph.model import (
    PERSONAL_PROPERTIES,
    RELATIONSHIP_FIELDS,
    SEALED_PROPERTIES,
    RelationshipField,
    RelationshipSpec,
)
from orggraph.graph.money import stored_amount
from orggraph.graph.nodes import NodeFilter, default_keys
from orggraph.graph.personal import PersonalData, PersonalDataError, open_value
from orggraph.graph.visibility import visible_params
from orggraph.schema import filters
from orggraph.schema.authorization import PARTLY_VISIBLE, is_function_only, visible_to
from orggraph.schema.relay import (
    DEFAULT_PAGE_SIZE,
    PageInfo,
    cursor_of,
    decode_sort_cursor,
    encode_sort_cursor,
    page_size,
)
from orggraph.schema.types import COMPILED, RELATIONSHIP, NodeType, as_datetime, nested_limit
from orggraph.schema.types import as_json as _as_json

# Edge types of relationship fields: the field holding the far node, and each other field's
# relationship property (graph.model.RELATIONSHIP_FIELDS, as schema.types builds them).
EDGES: dict[str, tuple[str, dict[str, str]]] = {
    field.edge.type_name: (field.edge.node, field.edge_properties)
    for fields in RELATIONSHIP_FIELDS.values()
    for field in fields
    if field.edge is not None
}
PLAN_CACHE_SIZE = 512
log = logging.getLogger(__name__)

# A value's conversion to what the GraphQL scalar serialises: (value, personal data codec).
Convert = Callable[[Any, PersonalData | None], Any]


class Shaped:
    """A root field's answer, already shaped like the selection (see CompiledExecution)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class CompiledExecution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, handing a compiled root field's answer through as is."""

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if type(result) is Shaped:
            return result.value
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )


# --- shapes: rows of the query -> the answer's dicts ------------------------------------


@dataclass(frozen=True)
class ObjectShape:
    keys: tuple[str, ...]
    converts: tuple[tuple[int, str, Convert], ...]

    def __call__(self, row: list[Any], personal: PersonalData | None) -> dict[str, Any]:
        shaped = dict(zip(self.keys, row, strict=True))
        for index, key, convert in self.converts:
            shaped[key] = convert(row[index], personal)
        return shaped


def _many(shape: ObjectShape) -> Convert:
    return lambda items, personal: [shape(item, personal) for item in items]


def _maybe(shape: ObjectShape) -> Convert:
    return lambda item, personal: None if item is None else shape(item, personal)


def _seen(shape: ObjectShape) -> Convert:
    """A single object a team member may not see (``false``) is FORBIDDEN: the resolvers
    answer again, so that the error stands at its field."""

    def convert(item: Any, personal: PersonalData | None) -> Any:
        if item is False:
            raise Uncompilable("an object outside the team member's KPIs and SLAs")
        return None if item is None else shape(item, personal)

    return convert


@dataclass(frozen=True)
class Limit:
    """A relationship field's item count, from its ``first`` argument (or its fixed cap)."""

    param: LiteralString
    first: Any  # the argument's value node, or None
    fixed: int | None

    def value(self, info: Info, variables: dict[str, Any]) -> int:
        return nested_limit(info, _int_value(self.first, variables) if self.first else self.fixed)


# A connection's relationship, direction and relationship variable.
ConnectionPage = tuple[RelationshipSpec, bool, LiteralString]


@dataclass(frozen=True)
class Narrowing:
    """A relationship field's ``where`` and ``sort`` arguments, read per request: written
    for the far node's variable, under the key of its limit."""

    key: LiteralString
    label: str
    node: LiteralString
    field: GraphQLField
    selection: FieldNode
    arguments: tuple[StrawberryArgument, ...]
    page: ConnectionPage | None = None  # a connection's

    def narrowed(self, info: Info, params: Params) -> entities.Narrowed:
        variables: Any = info._raw_info.variable_values
        if not isinstance(variables, VariableValues):  # the coerced values alone
            variables = VariableValues({}, dict(variables or {}))
        given = get_argument_values(self.field, self.selection, variables)
        if is_function_only(info.context.principal):
            reached = filters.labels_reached(self.label, given.get("where"))
            if reached & PARTLY_VISIBLE:  # FORBIDDEN: the resolvers say so
                raise Uncompilable("a where through what a team member sees in part")
        registry = info.schema.schema_converter.scalar_registry
        kwargs = convert_arguments(given, list(self.arguments), registry, info.schema.config)
        try:
            where = filters.to_where(self.label, kwargs.get("where"))
            keys = filters.to_keys(self.label, kwargs.get("sort"))
            condition = where_cypher(self.label, self.node, where, params)
            after = self._page(info, kwargs, keys, params)
        except (OrgGraphError, ValueError) as error:  # the resolvers say what and where
            raise Uncompilable("a relationship field's where or sort is refused") from error
        return entities.Narrowed(self.node, condition, keys, after)

    def _page(
        self, info: Info, kwargs: dict[str, Any], keys: tuple[SortKey, ...], params: Params
    ) -> LiteralString | None:
        """A connection's page as parameters (size and one more, whether it follows a
        cursor, the keys' tokens), and the condition of the rows after its cursor."""
        if self.page is None:
            return None
        spec, outgoing, rel = self.page
        used = keys or default_keys(spec, outgoing)
        size = page_size(
            kwargs.get("first"), DEFAULT_PAGE_SIZE, info.context.settings.max_page_size
        )
        cursor = kwargs.get("after")
        start = decode_sort_cursor(cursor, used)
        params.values |= {
            self.key: size + 1,
            self.key + "p": bool(cursor),
            self.key + "k": [key.token for key in used],
        }
        return None if start is None else after_cypher(used, start, self.node, params, rel)


@dataclass(frozen=True)
class Asked:
    """A relationship field (or its connection) as the selection asks for it."""

    declared: RelationshipField
    field: GraphQLField
    nodes: list[FieldNode]
    arguments: tuple[StrawberryArgument, ...]

    def narrowing(
        self, key: LiteralString, node: LiteralString, page: ConnectionPage | None = None
    ) -> Narrowing:
        """Its ``where`` and ``sort`` for the far node's variable, under ``key``."""
        label = self.declared.far_label
        return Narrowing(key, label, node, self.field, self.nodes[0], self.arguments, page)


@dataclass(frozen=True)
class Page:
    """A connection's page as the query returned it: (id, rows) per node, and its cursors."""

    rows: list[tuple[str, Any]]
    cursors: list[str]
    has_next: bool
    paged: bool  # asked with `after`
    personal: PersonalData | None
    total: int | None = None  # how many match over every page, when asked
    fields: dict[str, Any] | None = None  # the aggregate's (graph.nodes.aggregations)
    hidden: frozenset[int] = frozenset()  # the rows a team member does not see

    def shown(self) -> Iterator[tuple[str, Any]]:
        """(cursor, rows) of the rows shown: the page info counts the hidden too, as
        schema.authorization leaves them out of a connection's edges only."""
        for index, (cursor, (_, rows)) in enumerate(zip(self.cursors, self.rows, strict=True)):
            if index not in self.hidden:
                yield cursor, rows


# A connection's field (edges, nodes, pageInfo, __typename), from its page.
Part = Callable[[Page], Any]


@dataclass(frozen=True)
class Plan:
    projection: entities.Projection
    limits: tuple[Limit, ...]
    node: ObjectShape | None  # a single entity: its shape (rows[0])
    parts: tuple[tuple[str, Part], ...]  # a connection: its parts
    total: bool = False  # a connection: its totalCount is asked
    narrowings: tuple[Narrowing, ...] = ()
    aggregate: tuple[LiteralString, ...] | None = None  # a connection: its aggregate's fields
    restricted: bool = False  # a team member's: what it sees (graph.visibility) is read
    visible: bool = False  # a root connection of what a team member sees in part

    async def visibility(self, info: Info) -> dict[str, Any]:
        return visible_params(await visible_to(info._raw_info)) if self.restricted else {}

    def params(self, info: Info) -> dict[str, Any]:
        variables = _variables(info)
        return {limit.param: limit.value(info, variables) for limit in self.limits}

    def narrowed(self, info: Info) -> tuple[entities.Narrowings, dict[str, Any]]:
        """This request's where and sort of the relationship fields, and their parameters."""
        params = Params("v")
        found = tuple((n.key, n.narrowed(info, params)) for n in self.narrowings)
        return found, params.values


# --- compiling -------------------------------------------------------------------------


def _limit_param(index: int) -> LiteralString:
    """The parameter name of the ``index``-th relationship field's limit (never input)."""
    name: LiteralString = "l" + str(index)
    return name


class _Compiler:
    def __init__(self, info: Info) -> None:
        raw = info._raw_info
        self.schema = raw.schema
        self.strawberry = info.schema
        self.fragments = raw.fragments
        self.variables = _variables(info)
        self.can_read_pii = info.context.principal.can_read_pii
        self.restricted = is_function_only(info.context.principal)
        self.limits: list[Limit] = []
        self.rows: list[tuple[Column, ...]] = []
        self.total = False
        self.aggregated: set[LiteralString] | None = None  # a connection's aggregate fields
        self.narrowings: list[Narrowing] = []
        self.depth = 0  # relationships from the root: the node variable's

    # fields as graphql-core collects them: fragments, @skip/@include, merged by response key
    def collect(
        self, owner: GraphQLObjectType, nodes: Iterable[FieldNode]
    ) -> dict[str, list[FieldNode]]:
        fields: dict[str, list[FieldNode]] = {}
        for node in nodes:
            if node.selection_set is not None:
                self._visit(owner, node.selection_set, fields, set())
        return fields

    def _visit(
        self,
        owner: GraphQLObjectType,
        selections: SelectionSetNode,
        fields: dict[str, list[FieldNode]],
        seen: set[str],
    ) -> None:
        for selection in selections.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(owner, selection.type_condition):
                    self._visit(owner, selection.selection_set, fields, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in seen or fragment is None:
                    continue
                seen.add(name)
                if self._applies(owner, fragment.type_condition):
                    self._visit(owner, fragment.selection_set, fields, seen)

    def _applies(self, owner: GraphQLObjectType, condition: Any) -> bool:
        if condition is None or condition.name.value == owner.name:
            return True
        named = self.schema.get_type(condition.name.value)
        return named is not None and self.schema.is_sub_type(named, owner)  # type: ignore[arg-type]

    def _included(self, selection: Any) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise Uncompilable(f"directive @{name}")
            (argument,) = directive.arguments
            value = argument.value
            if isinstance(value, VariableNode):
                flag = bool(self.variables.get(value.name.value))
            elif isinstance(value, BooleanValueNode):
                flag = value.value
            else:
                raise Uncompilable("a directive's argument")
            if flag == (name == "skip"):
                return False
        return True

    # objects
    def node(
        self, owner: GraphQLObjectType, nodes: list[FieldNode]
    ) -> tuple[tuple[Column, ...], ObjectShape]:
        cls = self._node_type(owner)
        fields = self._strawberry_fields(owner.name)
        keys: list[str] = []
        columns: list[Column] = []
        converts: list[tuple[int, str, Convert]] = []
        for key, field_nodes in self.collect(owner, nodes).items():
            name = field_nodes[0].name.value
            column, convert = self._field(owner, cls, fields, name, field_nodes)
            if convert is not None:
                converts.append((len(columns), key, convert))
            keys.append(key)
            columns.append(column)
        return tuple(columns), ObjectShape(tuple(keys), tuple(converts))

    def _field(
        self,
        owner: GraphQLObjectType,
        cls: type[NodeType],
        fields: dict[str, StrawberryField],
        name: str,
        nodes: list[FieldNode],
    ) -> tuple[Column, Convert | None]:
        label = cls.LABEL
        if name == "__typename":
            return Const(_type_name(owner.name)), None
        if name in PERSONAL_PROPERTIES.get(owner.name, ()) and not self.can_read_pii:
            _no_arguments(nodes)
            return Const(None), None
        field = fields.get(name)
        if field is None:
            raise Uncompilable(f"{owner.name}.{name}")
        arguments = tuple(field.arguments)
        relationship = field.metadata.get(RELATIONSHIP)
        if relationship is not None:
            return self._hop(Asked(relationship, owner.fields[name], nodes, arguments))
        related = fields.get(name.removesuffix("Connection"))
        if name.endswith("Connection") and related is not None:
            declared = related.metadata.get(RELATIONSHIP)
            if declared is not None:
                return self._paged(Asked(declared, owner.fields[name], nodes, arguments))
        _no_arguments(nodes)
        prop = cls.PROPERTY_OF.get(field.python_name, to_camel(field.python_name))
        if name in SEALED_PROPERTIES.get(label, {}):
            sealed = entities.allowed_property(label, name)
            return Paired(sealed, personal=True), _opener(label, sealed)
        computed = field.metadata.get(COMPILED)  # computed by a resolver, and in Cypher
        if computed is not None:
            return computed, None
        if field.base_resolver is not None:
            raise Uncompilable(f"{owner.name}.{name} has its own resolver")
        return _scalar(owner.fields[name].type, entities.allowed_property(label, prop))

    def _hop(self, asked: Asked) -> tuple[Column, Convert]:
        relationship, nodes = asked.declared, asked.nodes
        spec, paged = relationship.spec, relationship.paged
        given = _given(nodes, {"first", "where", "sort"} if paged else {"where", "sort"})
        graphql_type = asked.field.type
        single = not isinstance(_nullable(graphql_type), GraphQLList)
        if single and given:
            raise Uncompilable(f"arguments of {relationship.name}")
        item = _object_type(graphql_type)
        self.depth += 1
        far, _ = entities.variables(self.depth)
        if item.name in EDGES:
            columns, shape = self._edge(item, spec, nodes, *EDGES[item.name])
        else:
            columns, shape = self.node(item, nodes)
        self.depth -= 1
        visible = self.restricted and relationship.far_label in PARTLY_VISIBLE
        param = _limit_param(len(self.limits))
        if not single:
            self.limits.append(Limit(param, given.get("first"), relationship.limit))
        narrowed = "where" in given or "sort" in given
        if narrowed:
            self.narrowings.append(asked.narrowing(param, far))
        hop = Hop(spec, relationship.outgoing, single, param, columns, narrowed, visible)
        return hop, ((_seen(shape) if visible else _maybe(shape)) if single else _many(shape))

    def _paged(self, asked: Asked) -> tuple[Column, Convert]:
        spec, outgoing = asked.declared.spec, asked.declared.outgoing
        _given(asked.nodes, {"first", "after", "where", "sort"})
        saved = (self.rows, self.total, self.aggregated)
        self.rows, self.total, self.aggregated = [], False, None
        self.depth += 1
        far, rel = entities.variables(self.depth)
        connection = _object_type(asked.field.type)
        parts = self.connection(connection, asked.nodes, spec)
        listed = self._lists(connection, asked.nodes)
        rows, total, aggregate = tuple(self.rows), self.total, self._aggregate_fields()
        self.depth -= 1
        self.rows, self.total, self.aggregated = saved
        key: LiteralString = "p" + str(len(self.narrowings))  # never input
        visible = self._partly_visible(asked.declared.far_label, total, aggregate)
        self.narrowings.append(asked.narrowing(key, far, (spec, outgoing, rel)))
        paged = Paged(spec, outgoing, key, rows, total, aggregate, visible, listed)
        return paged, _paged_shape(parts)

    def _edge(
        self,
        edge: GraphQLObjectType,
        spec: RelationshipSpec,
        nodes: list[FieldNode],
        node_field: str | None,
        properties: dict[str, str],
    ) -> tuple[tuple[Column, ...], ObjectShape]:
        """An object of a relationship: its ``properties`` (field: property) and the far
        node under ``node_field`` (an edge type of ``EDGES``, a connection edge's
        ``properties``)."""
        keys: list[str] = []
        columns: list[Column] = []
        converts: list[tuple[int, str, Convert]] = []
        for key, field_nodes in self.collect(edge, nodes).items():
            name = field_nodes[0].name.value
            _no_arguments(field_nodes)
            column: Column
            if name == "__typename":
                column = Const(_type_name(edge.name))
            elif name == node_field:
                far, shape = self.node(_object_type(edge.fields[name].type), field_nodes)
                column = Far(far)
                converts.append((len(columns), key, _maybe(shape)))
            elif name in properties:
                prop = entities.allowed_relationship_property(spec, properties[name])
                column, convert = _scalar(edge.fields[name].type, prop, on_relationship=True)
                if convert is not None:
                    converts.append((len(columns), key, convert))
            else:
                raise Uncompilable(f"{edge.name}.{name}")
            keys.append(key)
            columns.append(column)
        return tuple(columns), ObjectShape(tuple(keys), tuple(converts))

    # root fields
    def row(self, owner: GraphQLObjectType, nodes: list[FieldNode]) -> tuple[int, ObjectShape]:
        columns, shape = self.node(owner, nodes)
        self.rows.append(columns)
        return len(self.rows) - 1, shape

    def connection(
        self,
        owner: GraphQLObjectType,
        nodes: list[FieldNode],
        spec: RelationshipSpec | None = None,
    ) -> tuple[tuple[str, Part], ...]:
        """A connection's parts; a relationship's (``spec``) edges carry its properties."""
        parts: list[tuple[str, Part]] = []
        for key, field_nodes in self.collect(owner, nodes).items():
            name = field_nodes[0].name.value
            _no_arguments(field_nodes)
            field_type = owner.fields[name].type if name != "__typename" else None
            if name == "__typename":
                parts.append((key, _constant(owner.name)))
            elif name == "edges":
                edge = _object_type(field_type)
                parts.append((key, self._edges(edge, field_nodes, spec)))
            elif name == "nodes":
                index, shape = self.row(_object_type(field_type), field_nodes)
                parts.append((key, _nodes_part(index, shape)))
            elif name == "pageInfo":
                parts.append((key, self._page_info(_object_type(field_type), field_nodes)))
            elif name == "totalCount":
                self.total = True
                parts.append((key, _total))
            elif name == "aggregate":
                parts.append((key, self._aggregate(_object_type(field_type), field_nodes)))
            else:
                raise Uncompilable(f"{owner.name}.{name}")
        return tuple(parts)

    def _lists(self, owner: GraphQLObjectType, nodes: list[FieldNode]) -> bool:
        """Whether a connection's items are asked (not only its total or aggregate)."""
        asked = {field_nodes[0].name.value for field_nodes in self.collect(owner, nodes).values()}
        return not asked.isdisjoint({"edges", "nodes", "pageInfo"})

    def _edges(
        self, edge: GraphQLObjectType, nodes: list[FieldNode], spec: RelationshipSpec | None
    ) -> Part:
        fields: list[tuple[str, Callable[[str, Any, PersonalData | None], Any]]] = []
        for key, field_nodes in self.collect(edge, nodes).items():
            name = field_nodes[0].name.value
            _no_arguments(field_nodes)
            if name == "__typename":
                fields.append((key, _fixed(edge.name)))
            elif name == "cursor":
                fields.append((key, lambda cursor, rows, personal: cursor))
            elif name == "node":
                index, shape = self.row(_object_type(edge.fields[name].type), field_nodes)
                fields.append((key, _row_of(index, shape)))
            elif name == "properties" and spec is not None:
                owner = _object_type(edge.fields[name].type)
                index, shape = self._properties(owner, spec, field_nodes)
                fields.append((key, _row_of(index, shape)))
            else:
                raise Uncompilable(f"{edge.name}.{name}")

        def part(page: Page) -> Any:
            personal = page.personal
            return [
                {key: value(cursor, rows, personal) for key, value in fields}
                for cursor, rows in page.shown()
            ]

        return part

    def _properties(
        self, owner: GraphQLObjectType, spec: RelationshipSpec, nodes: list[FieldNode]
    ) -> tuple[int, ObjectShape]:
        """An edge's ``properties`` object: the relationship's properties, as a row of the
        page (its fields are named as the properties: ``schema.filters``)."""
        named = {name: name for name in owner.fields}
        columns, shape = self._edge(owner, spec, nodes, None, named)
        self.rows.append(columns)
        return len(self.rows) - 1, shape

    def _aggregate(self, owner: GraphQLObjectType, nodes: list[FieldNode]) -> Part:
        """A connection's ``<Label>Aggregate``: its count and the selected fields' extremes,
        made as the resolvers make them (``schema.filters.aggregate_of``) and serialised by
        their scalars."""
        label = owner.name.removesuffix("Aggregate")
        specs = {s.python_name: s for s in filter_fields(label).values() if s.kind in AGGREGATABLE}
        fields = self._strawberry_fields(owner.name)
        aggregated = self.aggregated if self.aggregated is not None else set()

        def read(name: str, field_nodes: list[FieldNode]) -> Callable[[Any], Any]:
            if name == "count":
                return _attribute("count")
            spec = specs[fields[name].python_name]
            aggregated.add(spec.name)
            selection = _object_type(owner.fields[name].type)

            def extreme(field: str, _: list[FieldNode]) -> Callable[[Any], Any]:
                """A ``<Scalar>AggregateSelection``'s min, max, ... as its scalars write."""
                return _serialised(field, _nullable(selection.fields[field].type))

            return _nested(spec.python_name, self._object_of(selection, field_nodes, extreme))

        shape = self._object_of(owner, nodes, read)
        self.aggregated = aggregated

        def part(page: Page) -> Any:
            totals = {"count": page.total, "fields": page.fields or {}}
            return shape(filters.aggregate_of(label, totals))

        return part

    def _object_of(
        self,
        owner: GraphQLObjectType,
        nodes: list[FieldNode],
        read: Callable[[str, list[FieldNode]], Callable[[Any], Any]],
    ) -> Callable[[Any], dict[str, Any]]:
        """The selection of ``owner`` as a dict of a Python object's values, each field
        read by ``read`` (its name and nodes), ``__typename`` from the schema."""
        wanted: list[tuple[str, Callable[[Any], Any]]] = []
        for key, field_nodes in self.collect(owner, nodes).items():
            name = field_nodes[0].name.value
            _no_arguments(field_nodes)
            typename = name == "__typename"
            wanted.append((key, _fixed_of(owner.name) if typename else read(name, field_nodes)))
        return lambda found: {key: value(found) for key, value in wanted}

    def _partly_visible(
        self, label: str, total: bool, aggregate: tuple[LiteralString, ...] | None
    ) -> bool:
        """Whether a team member's connection of ``label`` leaves out what it does not
        see; counting or aggregating those is FORBIDDEN (the resolvers say so)."""
        visible = self.restricted and label in PARTLY_VISIBLE
        if visible and (total or aggregate is not None):
            raise Uncompilable(f"a total or aggregate of {label} for a team member")
        return visible

    def _aggregate_fields(self) -> tuple[LiteralString, ...] | None:
        return None if self.aggregated is None else tuple(sorted(self.aggregated))

    def _page_info(self, owner: GraphQLObjectType, nodes: list[FieldNode]) -> Part:
        wanted: list[tuple[str, str]] = []
        for key, field_nodes in self.collect(owner, nodes).items():
            name = field_nodes[0].name.value
            _no_arguments(field_nodes)
            if name != "__typename" and name not in _PAGE_INFO:
                raise Uncompilable(f"{owner.name}.{name}")
            wanted.append((key, name))

        def part(page: Page) -> Any:
            info = PageInfo.of(page.cursors, has_next=page.has_next, has_previous=page.paged)
            return {
                key: owner.name if name == "__typename" else getattr(info, _PAGE_INFO[name])
                for key, name in wanted
            }

        return part

    # helpers
    def _node_type(self, owner: GraphQLObjectType) -> type[NodeType]:
        definition = self.strawberry.get_type_by_name(owner.name)
        cls = getattr(definition, "origin", None)
        if not (isinstance(cls, type) and issubclass(cls, NodeType)):
            raise Uncompilable(f"{owner.name} is not an entity type")
        return cls

    def _strawberry_fields(self, type_name: str) -> dict[str, StrawberryField]:
        definition: Any = self.strawberry.get_type_by_name(type_name)
        convert = self.strawberry.config.name_converter
        return {convert.get_graphql_name(f): f for f in definition.fields}


_PAGE_INFO = {
    "hasNextPage": "has_next_page",
    "hasPreviousPage": "has_previous_page",
    "startCursor": "start_cursor",
    "endCursor": "end_cursor",
}


def _paged_shape(parts: tuple[tuple[str, Part], ...]) -> Convert:
    """A relationship connection's answer from its column (``graph.entities.Paged``)."""

    def convert(value: list[Any], personal: PersonalData | None) -> dict[str, Any]:
        total, limit, paged, tokens, items, counted = value
        fields = None
        if counted is not None:  # the aggregate, which counts too
            total, fields = counted[0], dict(counted[1])
        shown = items[: limit - 1]
        cursors = [cursor_of(tokens, item[0]) for item in shown]
        rows = [(item[0][-1], item[1]) for item in shown]
        has_next = len(items) >= limit
        page = Page(rows, cursors, has_next, paged, personal, total, fields, _hidden(shown))
        return {key: part(page) for key, part in parts}

    return convert


def _hidden(items: list[list[Any]]) -> frozenset[int]:
    """The items a team member does not see (their last value, when read, is false)."""
    return frozenset(index for index, item in enumerate(items) if item[2:3] == [False])


def _total(page: Page) -> int | None:
    return page.total


def _fixed_of(value: str) -> Callable[[Any], Any]:
    return lambda found: value


def _attribute(name: str) -> Callable[[Any], Any]:
    return lambda found: getattr(found, name)


def _nested(name: str, shape: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda found: shape(getattr(found, name))


def _serialised(name: str, scalar: GraphQLScalarType) -> Callable[[Any], Any]:
    def value(found: Any) -> Any:
        plain = getattr(found, name)
        return None if plain is None else scalar.serialize(plain)

    return value


def _fixed(value: str) -> Callable[[str, Any, PersonalData | None], Any]:
    return lambda cursor, rows, personal: value


def _constant(value: str) -> Part:
    return lambda page: value


def _nodes_part(index: int, shape: ObjectShape) -> Part:
    return lambda page: [shape(rows[index], page.personal) for _, rows in page.shown()]


def _row_of(index: int, shape: ObjectShape) -> Callable[[str, Any, PersonalData | None], Any]:
    return lambda cursor, rows, personal: shape(rows[index], personal)


def _type_name(name: str) -> LiteralString:
    if not name.replace("_", "").isalnum():
        raise Uncompilable(f"type name {name!r}")
    return name  # the schema's own names (checked above)


def _nullable(graphql_type: Any) -> Any:
    return graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type


def _object_type(graphql_type: Any) -> GraphQLObjectType:
    named = graphql_type
    while isinstance(named, GraphQLNonNull | GraphQLList):
        named = named.of_type
    if not isinstance(named, GraphQLObjectType):
        raise Uncompilable(f"{named} is not an object type")
    return named


def _given(nodes: list[FieldNode], allowed: set[str]) -> dict[str, Any]:
    """A field's arguments (value nodes by name), if it takes no other than ``allowed``."""
    given = {argument.name.value: argument.value for argument in nodes[0].arguments or ()}
    if not set(given) <= allowed:
        raise Uncompilable(f"arguments of {nodes[0].name.value}")
    return given


def _no_arguments(nodes: list[FieldNode]) -> None:
    if any(node.arguments for node in nodes):
        raise Uncompilable(f"arguments of {nodes[0].name.value}")


def _int_value(node: Any, variables: dict[str, Any]) -> int | None:
    if isinstance(node, VariableNode):
        found = variables.get(node.name.value)
        return found if isinstance(found, int) else None
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, NullValueNode):
        return None
    raise Uncompilable("an Int argument")


def _variables(info: Info) -> dict[str, Any]:
    variables: Any = info._raw_info.variable_values
    return dict(getattr(variables, "coerced", variables) or {})


def _scalar(
    graphql_type: Any, prop: LiteralString, on_relationship: bool = False
) -> tuple[Column, Convert | None]:
    non_null = isinstance(graphql_type, GraphQLNonNull)
    named = _nullable(graphql_type)
    if isinstance(named, GraphQLEnumType):
        # stored values are the enums' values as plain strings: so are the keys here
        names = {str(getattr(v.value, "value", v.value)): name for name, v in named.values.items()}
        return Prop(prop, on_relationship), lambda value, _: _enum_name(names, value)
    if not isinstance(named, GraphQLScalarType):
        raise Uncompilable(f"{named}")
    kind = named.name
    if kind == "DateTime":
        return Prop(prop, on_relationship, temporal=True), _iso
    if kind == "Float":
        return Prop(prop, on_relationship, as_float=True), None
    if kind == "String" and non_null:
        return Prop(prop, on_relationship, empty_default=True), None
    if kind in ("ID", "String", "Int", "Boolean"):
        return Prop(prop, on_relationship), None
    if kind == "JSON":
        return Prop(prop, on_relationship), lambda value, _: _as_json(value)
    if kind == "Decimal" and not on_relationship:
        return Paired(prop), lambda value, _: _money(prop, value)
    raise Uncompilable(f"scalar {kind}")


def _iso(text: str | None, _: PersonalData | None) -> str | None:
    """Neo4j's ISO text of a DateTime as the DateTime scalar writes it (Python's
    ``isoformat``: microseconds when not zero, ``+00:00`` for UTC, no zone name). The
    write layer stores UTC (``2024-03-01T09:00:00.5Z``): that form is rewritten as text;
    any other goes through ``datetime``, as on the resolvers (``schema.types.as_datetime``)."""
    if text is None:
        return None
    if text[-1:] == "Z" and len(text) >= 20 and text[4] == "-" and text[19] in "Z.":
        digits = text[20:-1]
        if len(digits) <= 6:
            fraction = "." + digits.ljust(6, "0") if digits.strip("0") else ""
            return text[:19] + fraction + "+00:00"
    found = as_datetime(text)
    return None if found is None else found.isoformat()


def _enum_name(names: dict[Any, str], value: Any) -> str | None:
    try:
        return names.get(value)
    except TypeError:  # an unhashable stored value is no member, as schema.types.as_enum
        return None


def _money(prop: str, stored: list[Any]) -> str | None:
    exact, amount = stored
    found = stored_amount({prop + "E4": exact, prop: amount}, prop)
    return None if found is None else str(found)


def _opener(label: str, prop: str) -> Convert:
    def convert(stored: list[Any], personal: PersonalData | None) -> str | None:
        node_id, value = stored
        return open_value(personal, label, node_id, prop, value)

    return convert


# --- the one fallback rule and the plan cache --------------------------------------------

_plans: collections.OrderedDict[tuple[Any, ...], tuple[Any, Plan | None]] = (
    collections.OrderedDict()
)
_plans_lock = threading.Lock()


def plan_of(info: Info) -> Plan | None:
    """The compiled plan of this root field, or None: the resolvers answer it."""
    principal = info.context.principal
    if not info.context.settings.compiled_reads:
        return None
    raw = info._raw_info
    flags = tuple(sorted((k, v) for k, v in _variables(info).items() if isinstance(v, bool)))
    restricted = is_function_only(principal)
    key = (id(raw.operation), raw.path.key, principal.can_read_pii, restricted, flags)
    with _plans_lock:
        cached = _plans.get(key)
        if cached is not None and cached[0] is raw.operation:
            _plans.move_to_end(key)
            return cached[1]
    plan = _compile(info)
    with _plans_lock:
        # The operation is kept with its plan, so its id cannot be reused while cached.
        _plans[key] = (raw.operation, plan)
        while len(_plans) > PLAN_CACHE_SIZE:
            _plans.popitem(last=False)
    return plan


def _compile(info: Info) -> Plan | None:
    raw = info._raw_info
    compiler = _Compiler(info)
    returned = raw.return_type
    try:
        owner = _object_type(returned)
        if isinstance(_nullable(returned), GraphQLList):
            raise Uncompilable("a list root")
        if owner.name.endswith("Connection"):
            parts = compiler.connection(owner, raw.field_nodes)
            node = None
        else:
            _, node = compiler.row(owner, raw.field_nodes)
            parts = ()
        label = compiler._node_type(_object_type(_connection_node(owner))).LABEL
        if node is not None and compiler.restricted and label == "Measurement":
            raise Uncompilable("a single measurement for a team member")  # seen by its KPI
        aggregate = compiler._aggregate_fields()
        visible = node is None and compiler._partly_visible(label, compiler.total, aggregate)
        projection = entities.Projection(label, tuple(compiler.rows))
        # Written now (and cached): a selection deeper than the query's variables falls back.
        unnarrowed = tuple(
            (n.key, entities.Narrowed(n.node, "true", ())) for n in compiler.narrowings
        )
        if node is not None:
            entities.one_query(projection, unnarrowed)
        else:
            entities.page_query(
                projection,
                None,
                total=compiler.total,
                nested=unnarrowed,
                aggregate=aggregate,
                visible=visible,
            )
    except Uncompilable as why:
        log.debug("%s answered by its resolvers: %s", raw.field_name, why)
        return None
    narrowings = tuple(compiler.narrowings)
    limits = tuple(compiler.limits)
    total, restricted = compiler.total, compiler.restricted
    return Plan(projection, limits, node, parts, total, narrowings, aggregate, restricted, visible)


def _connection_node(owner: GraphQLObjectType) -> Any:
    """A root field's entity type: itself, or the node type of its connection."""
    if not owner.name.endswith("Connection"):
        return owner
    edge = _object_type(owner.fields["edges"].type)
    return edge.fields["node"].type


# --- running a plan ---------------------------------------------------------------------


async def compiled_one(info: Info, plan: Plan, node_id: str) -> Shaped | None:
    assert plan.node is not None  # noqa: S101 - a plan of a single-entity field
    graph = info.context.graph
    nested, values = plan.narrowed(info)
    query = entities.one_query(plan.projection, nested)
    params = {"id": node_id, "now": _now(), **plan.params(info)} | values
    seen = await plan.visibility(info)
    listed = _SEEN_BY_ID.get(plan.projection.label)
    if plan.restricted and listed is not None and node_id not in seen[listed]:
        # a KPI or SLA the team member does not see: FORBIDDEN, on the resolvers
        raise Uncompilable(f"a {plan.projection.label} outside the team member's")
    rows = await entities.fetch_one(graph, query, **params | seen)
    if rows is None:
        return None
    with _resolvers_on_personal_data_error():
        return Shaped(plan.node(rows[0], graph.personal))


# The single entities a team member sees by id: the parameter of graph.visibility listing them.
_SEEN_BY_ID = {"KPI": "seenKpis", "SLA": "seenSlas"}


@dataclass(frozen=True)
class Chosen:
    """Which nodes a root connection lists: its filters, where, sort and cursor."""

    found: NodeFilter
    where: Where
    keys: tuple[SortKey, ...]
    after: list[Any] | None  # the sort values then id of the previous page's last node


async def compiled_page(info: Info, plan: Plan, chosen: Chosen, limit: int) -> Shaped:
    graph = info.context.graph
    found, keys = chosen.found, chosen.keys
    hashed = found.hashed[0] if found.hashed is not None else None
    params = Params()
    where = where_cypher(plan.projection.label, "n", chosen.where, params)
    after: LiteralString | None = None
    if keys and chosen.after is not None:
        after = after_cypher(keys, chosen.after, "n", params)
    first_id = chosen.after[-1] if chosen.after is not None and not keys else ""
    nested, narrowing = plan.narrowed(info)
    query = entities.page_query(
        plan.projection,
        hashed,
        keys,
        where,
        after,
        plan.total,
        nested,
        plan.aggregate,
        plan.visible,
        found.given,
    )
    filtered = found.params() if found.given or found.hashed is not None else {}
    values = {"after": first_id, "limit": limit + 1, **_now_for(query), **filtered}
    values |= plan.params(info) | params.values | narrowing | await plan.visibility(info)
    counted = plan.total or plan.aggregate is not None
    fetched = await entities.fetch_page(graph, query, counted, **values)
    page = fetched.page
    shown = page[:limit]
    names = [key.field.name for key in keys]
    cursors = [
        encode_sort_cursor(keys, {**dict(zip(names, item[0], strict=False)), "id": item[0][-1]}, {})
        for item in shown
    ]
    rows = [(item[0][-1], item[1]) for item in shown]
    paged = chosen.after is not None
    found_page = Page(
        rows,
        cursors,
        len(page) > limit,
        paged,
        graph.personal,
        fetched.total,
        fetched.fields,
        _hidden(shown),
    )
    with _resolvers_on_personal_data_error():
        return Shaped({key: part(found_page) for key, part in plan.parts})


@contextlib.contextmanager
def _resolvers_on_personal_data_error() -> Iterator[None]:
    """A personal value that does not open (no key, a foreign key): the resolvers answer
    again, so that the error stands at the personal field, the rest of the answer kept."""
    try:
        yield
    except PersonalDataError as error:
        raise Uncompilable("a personal value does not open") from error


def _now() -> datetime:
    return datetime.now(UTC)


def _now_for(query: str) -> dict[str, datetime]:
    """``$now`` if the query reads it (a current relationship's validity): a datetime
    parameter costs the driver a conversion on every request."""
    return {"now": _now()} if "$now" in query else {}
