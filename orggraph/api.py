"""The composition root: the GraphQL schema assembled from every domain's resolvers.

Dependencies point one way: ``graph/`` (Neo4j) <- ``schema/`` (Strawberry types) <-
``resolvers/`` (root fields of each domain) <- this module <- the app and the CLI.
To add a domain: write ``resolvers/<domain>.py`` with ``<Domain>Query`` and/or
``<Domain>Mutation`` and list them here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from orggraph.resolvers.attribution import AttributionQuery
from orggraph.resolvers.changes import ChangesQuery, ChangesSubscription
from orggraph.resolvers.channels import ChannelsMutation, ChannelsQuery
from orggraph.resolvers.customers import CustomersMutation, CustomersQuery
from orggraph.resolvers.cypher import CypherQuery
from orggraph.resolvers.deletes import NodeDeletesMutation, RelationshipDeletesMutation
from orggraph.resolvers.erasure import ErasureMutation
from orggraph.resolvers.information_gaps import InformationGapsQuery
from orggraph.resolvers.journey_maps import JourneyMapsQuery
from orggraph.resolvers.journeys import JourneysMutation, JourneysQuery
from orggraph.resolvers.kpi_lineage import KpiLineageQuery
from orggraph.resolvers.kpis import KpiEngineMutation, KpisMutation, KpisQuery
from orggraph.resolvers.nodes import NodesMutation, NodesQuery
from orggraph.resolvers.processes import ProcessesMutation, ProcessesQuery
from orggraph.resolvers.reorg import ReorgMutation, ReorgQuery
from orggraph.resolvers.slas import SlasMutation, SlasQuery
from orggraph.resolvers.subscriptions import LiveSubscription
from orggraph.resolvers.team_services import TeamServicesQuery
from orggraph.resolvers.teams import TeamsMutation, TeamsQuery
from orggraph.schema.authorization import Authorization, guard_subscriptions
from orggraph.schema.caching import (
    CachedParsing,
    CachedValidation,
    cached_parser,
    cached_validator,
)
from orggraph.schema.cost import MaxCostLimiter, enforce_list_bounds
from orggraph.schema.entities import CompiledExecution
from orggraph.schema.errors import ErrorCode, ErrorCodes
from orggraph.schema.limits import DocumentLimits, Limits
from orggraph.schema.scalars import DATETIME, DateTimeInRange
from orggraph.schema.tracing import TransactionMetadata
from orggraph.settings import Settings

QUERIES: tuple[type, ...] = (
    NodesQuery,
    TeamsQuery,
    ProcessesQuery,
    CustomersQuery,
    JourneysQuery,
    JourneyMapsQuery,
    TeamServicesQuery,
    KpiLineageQuery,
    ChannelsQuery,
    KpisQuery,
    SlasQuery,
    AttributionQuery,
    ReorgQuery,
    CypherQuery,
    InformationGapsQuery,
    ChangesQuery,
)
MUTATIONS: tuple[type, ...] = (
    NodesMutation,
    TeamsMutation,
    ProcessesMutation,
    CustomersMutation,
    JourneysMutation,
    ChannelsMutation,
    KpisMutation,
    SlasMutation,
    KpiEngineMutation,
    NodeDeletesMutation,
    RelationshipDeletesMutation,
    ErasureMutation,
    ReorgMutation,
)
SUBSCRIPTIONS: tuple[type, ...] = (LiveSubscription, ChangesSubscription)

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)


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
        DocumentLimits(limits, settings.document_cache_size),
        AddValidationRules([DateTimeInRange]),
        CachedValidation(cached_validator(settings.document_cache_size)),
        MaxCostLimiter(max_cost=settings.max_query_cost, max_page_size=settings.max_page_size),
        Authorization,
        TransactionMetadata,
        ErrorCodes,
    ]
    subscription: Any = merge_types("Subscription", SUBSCRIPTIONS) if SUBSCRIPTIONS else None
    schema = OrgGraphSchema(
        query=Query,
        mutation=Mutation if MUTATIONS else None,
        subscription=subscription,
        extensions=extensions,
        scalar_overrides={datetime: DATETIME},
        types=[ErrorCode],
        # Root entity fields compiled to one query hand their shaped answer through.
        execution_context_class=CompiledExecution,
    )
    guard_subscriptions(schema._schema)
    enforce_list_bounds(schema._schema)
    return schema
