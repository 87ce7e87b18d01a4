"""The cost estimate limit: refuse an operation that could resolve too many fields.

Each selected field costs 1 times the number of times it may be resolved, and a
list multiplies its sub-selection by the most items it can hold:

* a list or connection with a ``first``/``last`` argument: the argument (its
  schema default when absent, else the resolvers' default: ``DEFAULT_NESTED_LIMIT``
  for a list, ``DEFAULT_PAGE_SIZE`` for a connection), at most ``max_page_size``;
  a connection's ``edges`` and ``nodes`` add no factor of their own;
* a list paged by its parent's argument (``kpiLineage(last)``, ...,
  ``PAGED_BY_PARENT``): that argument, at most its maximum;
* any other list of objects: its bound in ``LIST_BOUNDS``, else
  ``UNPAGED_LIST_LIMIT``, the LIMIT the relationship queries apply.

Lists of scalars and enums are leaves: they cost 1 like any field. Nested lists
multiply. Above ``max_cost`` the operation is refused before anything runs, with
QUERY_TOO_COMPLEX naming the estimate and the limit. The walk memoises each
fragment's cost, so it is linear in the document (``orggraph.schema.limits``
refuses documents that expand too far before this runs).

The bounds are true: relationship lists are cut by their query, and
``enforce_list_bounds`` cuts every other unpaged list of objects at the bound
the estimate uses (one table for both), logging when it does.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Iterator, Mapping
from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLFieldResolver,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    default_field_resolver,
)
from graphql.type.definition import GraphQLType
from pydantic.alias_generators import to_camel
from strawberry.extensions import SchemaExtension

from orggraph.errors import QueryTooComplexError
from orggraph.graph.kpis import MAX_PERIODS
from orggraph.graph.model import RELATIONSHIP_FIELDS, Stage
from orggraph.schema.kpi_lineage import MAX_SERIES
from orggraph.schema.relay import DEFAULT_PAGE_SIZE
from orggraph.schema.reorg import MAX_IN_FLIGHT_SAMPLE
from orggraph.schema.types import DEFAULT_NESTED_LIMIT

log = logging.getLogger("orggraph.graphql")

# Every unpaged list of objects not in LIST_BOUNDS: the relationship queries' LIMIT
# (team.steps, step.next, ...: ``related_page`` collects at most this many).
UNPAGED_LIST_LIMIT = DEFAULT_NESTED_LIMIT
# Lists of pairs over the whole organisation (a team and a KPI it misses, ...).
ORGANISATION_LIST_LIMIT = 1_000

LIST_BOUNDS: dict[str, int] = {
    # relationship fields read up to a fixed limit (Process.steps): their query's LIMIT
    **{
        f"{label}.{to_camel(field.name)}": field.limit
        for label, fields in RELATIONSHIP_FIELDS.items()
        for field in fields
        if field.limit is not None
    },
    "ValueStream.funnel": len(Stage),  # one per stage
    # calendar periods: ``graph.kpis.periods`` refuses more
    "KpiUpdate.periods": MAX_PERIODS,
    "ChannelCoverage.trend": MAX_PERIODS,
    "SlaComplianceReport.trend": MAX_PERIODS,
    # pairs over the whole organisation (a team and a KPI it misses, a channel and a model)
    "InformationGaps.unseen": ORGANISATION_LIST_LIMIT,
    "InformationGaps.detached": ORGANISATION_LIST_LIMIT,
    "Attribution.rows": ORGANISATION_LIST_LIMIT,
}
# Lists whose length the parent field's paging argument sets (the resolver refuses more).
PAGED_BY_PARENT: dict[str, int] = {
    "KpiLineage.series": MAX_SERIES,
    "ReorgImpact.latestCustomersInFlight": MAX_IN_FLIGHT_SAMPLE,
}
# Answers of mutations list what was written: bounded by the write's own limits, not cut.
UNCUT_ROOTS = ("Mutation",)

_PAGING_ARGUMENTS = ("first", "last")
_CONNECTION_LISTS = ("edges", "nodes")


def list_bound(parent: str, field: str) -> int:
    """The most items an unpaged list of objects holds (see module doc)."""
    coordinate = f"{parent}.{field}"
    return LIST_BOUNDS.get(coordinate, PAGED_BY_PARENT.get(coordinate, UNPAGED_LIST_LIMIT))


class CostEstimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        max_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.max_page_size = max_page_size
        # (fragment, page set by the enclosing field) -> cost of one resolution of it
        self._fragment_costs: dict[tuple[str, int | None], int] = {}
        self._expanding: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return self.selection(operation.selection_set, root, None)

    def selection(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, page: int | None
    ) -> int:
        """The cost of resolving ``selection_set`` once on ``parent``; ``page`` is the
        paging argument of the enclosing non-list field, if any."""
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self._field(node, parent, page)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection(node.selection_set, inner, page)
            elif isinstance(node, FragmentSpreadNode):
                total += self._fragment(node.name.value, page)
        return total

    def _fragment(self, name: str, page: int | None) -> int:
        key = (name, page)
        known = self._fragment_costs.get(key)
        if known is not None:
            return known
        fragment = self.fragments.get(name)
        if fragment is None or name in self._expanding:  # unknown or a cycle: validation says
            return 0
        self._expanding.add(name)
        inner = self.schema.get_type(fragment.type_condition.name.value)
        cost = self.selection(fragment.selection_set, inner, page)
        self._expanding.discard(name)
        self._fragment_costs[key] = cost
        return cost

    def _field(self, field: FieldNode, parent: GraphQLNamedType | None, page: int | None) -> int:
        definition = _field_definition(parent, field.name.value)
        if definition is None or field.selection_set is None:
            return 1
        child = _named(definition.type)
        factor, child_page = self._factor(field, parent, definition, page)
        return 1 + factor * self.selection(field.selection_set, child, child_page)

    def _factor(
        self,
        field: FieldNode,
        parent: GraphQLNamedType | None,
        definition: GraphQLField,
        page: int | None,
    ) -> tuple[int, int | None]:
        """How many times the sub-selection resolves, and the page its fields inherit."""
        name = field.name.value
        is_list = _is_list(definition.type)
        connection = _is_connection(definition.type)
        paged = self._page(field, definition, is_list)
        if paged is not None:
            # kpiLineage(last: ...) is one object: the list inside takes the page.
            return (paged, None) if is_list or connection else (1, paged)
        if connection:  # journey(first: ...) { steps { edges ... } }
            return (DEFAULT_PAGE_SIZE if page is None else page), None
        if not is_list or (_is_connection(parent) and name in _CONNECTION_LISTS):
            return 1, None
        coordinate = f"{parent.name if parent else ''}.{name}"
        if coordinate in PAGED_BY_PARENT:
            maximum = PAGED_BY_PARENT[coordinate]
            return (maximum if page is None else min(page, maximum)), None
        return list_bound(parent.name if parent else "", name), None

    def _page(self, field: FieldNode, definition: GraphQLField, is_list: bool) -> int | None:
        """The paging argument's value (given or default), at most ``max_page_size``;
        None when the field takes no paging argument."""
        names = [name for name in _PAGING_ARGUMENTS if name in definition.args]
        if not names:
            return None
        values = [self._int_argument(field, definition, name) for name in names]
        given = [value for value in values if value is not None]
        if not given:
            return DEFAULT_NESTED_LIMIT if is_list else DEFAULT_PAGE_SIZE
        # Above the page maximum the resolver refuses the argument (or cuts the list).
        return min(max(given), self.max_page_size)

    def _int_argument(self, field: FieldNode, definition: GraphQLField, name: str) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 0)
            if isinstance(value, VariableNode):
                found = self.variables.get(value.name.value)
                return max(found, 0) if isinstance(found, int) else None
            return None
        default = definition.args[name].default_value
        return default if isinstance(default, int) else None


def _field_definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        return cast(GraphQLField | None, parent.fields.get(name))
    return None


def _unwrap_non_null(type_: GraphQLType) -> GraphQLType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _is_list(type_: GraphQLType) -> bool:
    return isinstance(_unwrap_non_null(type_), GraphQLList)


def _named(type_: GraphQLType) -> GraphQLNamedType | None:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_ if isinstance(type_, GraphQLNamedType) else None


def _is_connection(type_: GraphQLType | None) -> bool:
    named = _named(type_) if type_ is not None else None
    return isinstance(named, GraphQLObjectType) and "edges" in named.fields


def estimate_cost(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    max_page_size: int = 1_000,
) -> int:
    """The estimated cost of the operation that will run (see module doc)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        op
        for op in operations
        if operation_name is None or (op.name and op.name.value == operation_name)
    ]
    estimator = CostEstimator(schema, fragments, variables or {}, max_page_size)
    return max((estimator.operation(op) for op in chosen), default=0)


class MaxCostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose estimated cost exceeds ``max_cost``."""

    def __init__(self, *, max_cost: int, max_page_size: int = 1_000) -> None:
        self.max_cost = max_cost
        self.max_page_size = max_page_size

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            cost = estimate_cost(
                context.schema._schema,
                document,
                context.operation_name,
                context.variables,
                self.max_page_size,
            )
            if cost > self.max_cost:
                error = QueryTooComplexError(
                    f"the query's estimated cost is {cost}, above the limit of {self.max_cost} "
                    "(each field costs 1; a list multiplies by first/last or by the most items "
                    "it can hold)",
                    cost=cost,
                    maxCost=self.max_cost,
                )
                # Raised before execution, so ErrorCodes does not see it: carry the code here.
                raise GraphQLError(error.message, extensions=error.extensions())
        yield


# --- the bounds, enforced -----------------------------------------------------------------


def unpaged_object_lists(schema: GraphQLSchema) -> Iterator[tuple[str, str, GraphQLField]]:
    """(type, field, definition) of every list of objects without a paging argument,
    connections' edges and nodes left out (their connection's page bounds them)."""
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        connection = "edges" in type_.fields
        for name, definition in type_.fields.items():
            if connection and name in _CONNECTION_LISTS:
                continue
            if any(arg in definition.args for arg in _PAGING_ARGUMENTS):
                continue
            item = _named(definition.type)
            objects = isinstance(item, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType))
            if _is_list(definition.type) and objects:
                yield type_.name, name, definition


def enforce_list_bounds(schema: GraphQLSchema) -> None:
    """Wraps the resolver of every unpaged list of objects (but mutations' answers) so
    that it never returns more than ``list_bound``: the estimate's bound is then true."""
    for parent, name, definition in unpaged_object_lists(schema):
        if parent in UNCUT_ROOTS:
            continue
        resolve = definition.resolve or default_field_resolver
        definition.resolve = _Bounded(resolve, f"{parent}.{name}", list_bound(parent, name))


class _Bounded:
    """A resolver whose list answer is cut at ``list_bound`` items."""

    def __init__(self, resolve: GraphQLFieldResolver, coordinate: str, bound: int) -> None:
        self.resolve = resolve
        self.coordinate = coordinate
        self.list_bound = bound

    def __call__(self, root: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        result = self.resolve(root, info, **kwargs)
        if inspect.isawaitable(result):
            return _cut_later(result, self.coordinate, self.list_bound)
        return _cut(result, self.coordinate, self.list_bound)


async def _cut_later(result: Awaitable[Any], coordinate: str, bound: int) -> Any:
    return _cut(await result, coordinate, bound)


def _cut(result: Any, coordinate: str, bound: int) -> Any:
    if isinstance(result, list) and len(result) > bound:
        log.warning("%s returned %d items, cut to its bound of %d", coordinate, len(result), bound)
        return result[:bound]
    return result
