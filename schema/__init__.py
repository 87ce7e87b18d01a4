"""The GraphQL schema: root types from ``resolvers``, limits and error mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from orggraph.resolvers import MUTATIONS, SUBSCRIPTIONS, Mutation, Query
from orggraph.schema.authorization import Authorization, guard_subscriptions
from orggraph.schema.caching import (
    CachedParsing,
    CachedValidation,
    cached_parser,
    cached_validator,
)
from orggraph.schema.cost import MaxCostLimiter, enforce_list_bounds
from orggraph.schema.errors import ErrorCodes
from orggraph.schema.limits import DocumentLimits, Limits
from orggraph.schema.scalars import DATETIME, DateTimeInRange
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.types import ExecutionContext

from orggraph.settings import Settings


class OrgGraphSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Unexpected errors are logged by ``ErrorCodes``; expected ones are not noise."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # Frontends send the same few documents again and again: parsing and validating
    # them is most of the fixed cost of a request, so both are cached (bounded LRU,
    # keyed by the query text, and by the document and the validation rules).
    # DocumentLimits runs before validation, in one pass linear in the document
    # (selections, depth, aliases): nothing that expands fragments runs before it.
    limits = Limits(
        max_selections=settings.max_selections,
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
    )
    extensions: list[Any] = [
        CachedParsing(cached_parser(settings.document_cache_size)),
        MaxTokensLimiter(max_token_count=settings.max_tokens),
        DocumentLimits(limits),
        AddValidationRules([DateTimeInRange]),
        CachedValidation(cached_validator(settings.document_cache_size)),
        MaxCostLimiter(max_cost=settings.max_query_cost, max_page_size=settings.max_page_size),
        Authorization,
        ErrorCodes,
    ]
    subscription: Any = None
    if SUBSCRIPTIONS:
        from strawberry.tools import merge_types

        subscription = merge_types("Subscription", SUBSCRIPTIONS)
    schema = OrgGraphSchema(
        query=Query,
        mutation=Mutation if MUTATIONS else None,
        subscription=subscription,
        extensions=extensions,
        scalar_overrides={datetime: DATETIME},
    )
    guard_subscriptions(schema._schema)
    enforce_list_bounds(schema._schema)
    return schema
