"""``eraseCustomer(id)``: the right to be forgotten (graph.erasure holds the rules)."""

from __future__ import annotations

import strawberry

from orggraph.context import Info
from orggraph.events import broker_of, publish_deletion
from orggraph.graph.erasure import erase_customer
from orggraph.resolvers.entities import checked_id
from orggraph.schema.erasure import ErasureResult


@strawberry.type
class ErasureMutation:
    @strawberry.mutation(
        description=(
            "Erase a customer's personal data in one transaction: every personal property "
            "removed (its name becomes '(erased)'), its touchpoints anonymised or deleted "
            "as ORGGRAPH_ERASURE_TOUCHPOINTS says, an erasure record (id, when, who) kept. "
            "Funnels, journeys and attribution keep counting anonymised touchpoints and "
            "its deals. Erasing again changes nothing. Live: touchpointRemoved for deleted "
            "touchpoints, touchpointAdded for anonymised ones that lost attributes."
        )
    )
    async def erase_customer(self, info: Info, id: strawberry.ID) -> ErasureResult:
        graph = info.context.graph
        erasure = await erase_customer(
            graph,
            checked_id(id),
            mode=info.context.settings.erasure_touchpoints,
            by=info.context.principal.subject,
        )
        await publish_deletion(
            graph, broker_of(info), erasure.removed_touchpoints, erasure.changed_touchpoints
        )
        return ErasureResult.from_erasure(erasure)
