"""The cost estimate limit: refuse an operation that could resolve too many fields.

Each selected field costs 1 times the number of times it may be resolved: a
field with a ``first`` or ``last`` argument multiplies its sub-selection by
that argument (or by the default page size when absent); any other list field
by ``UNPAGED_LIST_FACTOR``; ``edges`` and ``nodes`` of a connection add no
factor of their own (the connection's ``first`` already counts them). Nested
lists multiply. Above ``max_cost`` the operation is refused before anything
runs, with QUERY_TOO_COMPLEX naming the estimate and the limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLType
from strawberry.extensions import SchemaExtension

from orggraph.errors import QueryTooComplexError

DEFAULT_PAGE_SIZE = 50  # the resolvers' default when `first` is absent
UNPAGED_LIST_FACTOR = 10  # an unpaged list (team.steps, ...) counts as this many items
_PAGING_ARGUMENTS = ("first", "last")
_CONNECTION_LISTS = ("edges", "nodes")


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

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return self.selection(operation.selection_set, root, 1)

    def selection(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None, times: int
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for field, field_parent in self._fields(selection_set, parent, set()):
            definition = _field_definition(field_parent, field.name.value)
            factor = self._factor(field, definition)
            child = _named(definition.type) if definition else None
            total += times + self.selection(field.selection_set, child, times * factor)
        return total

    def _fields(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, seen: set[str]
    ) -> Iterator[tuple[FieldNode, GraphQLNamedType | None]]:
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                yield node, parent
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(node.selection_set, inner, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                inner = self.schema.get_type(fragment.type_condition.name.value)
                yield from self._fields(fragment.selection_set, inner, seen | {name})

    def _factor(self, field: FieldNode, definition: GraphQLField | None) -> int:
        if definition is None:
            return 1
        if any(name in definition.args for name in _PAGING_ARGUMENTS):
            given = [self._int_argument(field, name) for name in _PAGING_ARGUMENTS]
            values = [value for value in given if value is not None]
            # Above the page maximum the resolver refuses the argument itself (BAD_USER_INPUT).
            return min(max(values), self.max_page_size) if values else DEFAULT_PAGE_SIZE
        if _is_list(definition.type) and field.name.value not in _CONNECTION_LISTS:
            return UNPAGED_LIST_FACTOR
        return 1

    def _int_argument(self, field: FieldNode, name: str) -> int | None:
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
                    "(each field costs 1; lists multiply by first/last or the default page size)",
                    cost=cost,
                    maxCost=self.max_cost,
                )
                # Raised before execution, so ErrorCodes does not see it: carry the code here.
                raise GraphQLError(error.message, extensions=error.extensions())
        yield
