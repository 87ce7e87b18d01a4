"""The GraphQL schema: root types from ``resolvers``, limits and error mapping."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from orggraph.resolvers import MUTATIONS, SUBSCRIPTIONS, Mutation, Query
from orggraph.schema.authorization import Authorization, guard_subscriptions
from orggraph.schema.caching import CachedParsing, cached_parser
from orggraph.schema.cost import MaxCostLimiter
from orggraph.schema.errors import ErrorCodes
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    ValidationCache,
)
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
    # keyed by the query text and the validation rules, limits included).
    extensions: list[Any] = [
        CachedParsing(cached_parser(settings.document_cache_size)),
        ValidationCache(maxsize=settings.document_cache_size),
        QueryDepthLimiter(max_depth=settings.max_query_depth),
        MaxTokensLimiter(max_token_count=settings.max_tokens),
        MaxAliasesLimiter(max_alias_count=settings.max_aliases),
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
    )
    guard_subscriptions(schema._schema)
    return schema
