"""``eraseCustomer(id)``: the right to be forgotten (graph.erasure holds the rules)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from orggraph.context import Info
from orggraph.events import broker_of, publish_deletion
from orggraph.graph.driver import Tx
from orggraph.graph.erasure import Erasure, erase_customer_in
from orggraph.graph.history import tracked_nodes
from orggraph.resolvers.entities import checked_id
from orggraph.resolvers.history import write_recorded
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
        customer = checked_id(id)
        mode = info.context.settings.erasure_touchpoints
        by, at = info.context.principal.subject, datetime.now(UTC)

        async def work(tx: Tx) -> Erasure:
            return await erase_customer_in(tx, customer, mode, by, at)

        # The history says which properties went, never what they held (graph.history).
        erasure = await write_recorded(info, [tracked_nodes("Customer", [customer])], work)
        await publish_deletion(
            info.context.graph,
            broker_of(info),
            erasure.removed_touchpoints,
            erasure.changed_touchpoints,
        )
        return ErasureResult.from_erasure(erasure)
