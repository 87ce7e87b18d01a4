"""Root Query and Mutation, merged once from the domain modules.

To add a domain: write ``resolvers/<domain>.py`` with ``<Domain>Query`` and/or
``<Domain>Mutation`` and list them here.
"""

from __future__ import annotations

from orggraph.resolvers.attribution import AttributionQuery
from orggraph.resolvers.channels import ChannelsMutation, ChannelsQuery
from orggraph.resolvers.customers import CustomersMutation, CustomersQuery
from orggraph.resolvers.cypher import CypherQuery
from orggraph.resolvers.graph import GraphMutation, GraphQuery
from orggraph.resolvers.information_gaps import InformationGapsQuery
from orggraph.resolvers.journey_maps import JourneyMapsQuery
from orggraph.resolvers.journeys import JourneysMutation, JourneysQuery
from orggraph.resolvers.kpi_engine import KpiEngineMutation
from orggraph.resolvers.kpi_lineage import KpiLineageQuery
from orggraph.resolvers.kpis import KpisMutation, KpisQuery
from orggraph.resolvers.processes import ProcessesMutation, ProcessesQuery
from orggraph.resolvers.reorg import ReorgQuery
from orggraph.resolvers.slas import SlasMutation, SlasQuery
from orggraph.resolvers.subscriptions import LiveSubscription
from orggraph.resolvers.team_services import TeamServicesQuery
from orggraph.resolvers.teams import TeamsMutation, TeamsQuery
from strawberry.tools import merge_types

QUERIES: tuple[type, ...] = (
    GraphQuery,
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
)
MUTATIONS: tuple[type, ...] = (
    GraphMutation,
    TeamsMutation,
    ProcessesMutation,
    CustomersMutation,
    JourneysMutation,
    ChannelsMutation,
    KpisMutation,
    SlasMutation,
    KpiEngineMutation,
)
SUBSCRIPTIONS: tuple[type, ...] = (LiveSubscription,)

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)
