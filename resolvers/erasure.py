"""``eraseCustomer(id)``: the right to be forgotten (graph.erasure holds the rules)."""

from __future__ import annotations

import strawberry

from orggraph.context import Info
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
            "its deals. Erasing again changes nothing."
        )
    )
    async def erase_customer(self, info: Info, id: strawberry.ID) -> ErasureResult:
        erasure = await erase_customer(
            info.context.graph,
            checked_id(id),
            mode=info.context.settings.erasure_touchpoints,
            by=info.context.principal.subject,
        )
        return ErasureResult.from_erasure(erasure)
