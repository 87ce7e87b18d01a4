"""Live subscriptions (graphql-transport-ws on /graphql), fed by the app's broker.

Each subscription registers with the broker when it starts and leaves it when
the client stops or disconnects. Filters are applied at delivery, so a
subscriber's bounded queue only holds events it wants (see ``orggraph.events``
for what is dropped when a consumer is slow).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Annotated, Any, TypeVar

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError, InternalError
from orggraph.events import Broker, Event, broker_of
from orggraph.schema.subscriptions import KpiUpdate, SlaBreach, TouchpointAdded, TouchpointRemoved

T = TypeVar("T")


def _broker(info: Info) -> Broker:
    broker = broker_of(info)
    if broker is None:
        raise InternalError("live subscriptions are not available here (no event broker)")
    return broker


def _matches(**wanted: Any) -> Callable[[Event], bool]:
    """Accept an event when every given filter matches (list-valued fields: membership)."""
    filters = {k: str(v) for k, v in wanted.items() if v is not None}

    def accept(event: Event) -> bool:
        for key, value in filters.items():
            got = event.get(key)
            if isinstance(got, list):
                if value not in got:
                    return False
            elif got != value:
                return False
        return True

    return accept


async def _live(
    info: Info, topic: str, payload: Callable[[Event], T], **wanted: Any
) -> AsyncGenerator[T, None]:
    """The topic's events that match every given filter, each as its payload type."""
    async with _broker(info).subscribe(topic, _matches(**wanted)) as events:
        async for event in events:
            yield payload(event)


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="KPI measurements committed by a computation; filter by KPI or by a team "
        "accountable for it or sharing it."
    )
    def kpi_updated(
        self, info: Info, kpi_id: strawberry.ID | None = None, team_id: strawberry.ID | None = None
    ) -> AsyncGenerator[KpiUpdate, None]:
        return _live(info, "kpiUpdated", KpiUpdate.from_event, kpiId=kpi_id, teamIds=team_id)

    @strawberry.subscription(
        description="Touchpoints a committed write created or changed (a replayed, unchanged "
        "write sends nothing), from any mutation; filter by customerId or channelId, named "
        "like the payload's fields."
    )
    def touchpoint_added(
        self,
        info: Info,
        customer_id: strawberry.ID | None = None,
        channel_id: strawberry.ID | None = None,
        channel: Annotated[
            strawberry.ID | None,
            strawberry.argument(deprecation_reason="Use channelId, the payload field's name."),
        ] = None,
    ) -> AsyncGenerator[TouchpointAdded, None]:
        if channel_id is not None and channel is not None and channel_id != channel:
            raise BadInputError(
                "channel and channelId differ: give channelId only", field="channel"
            )
        return _live(
            info,
            "touchpointAdded",
            TouchpointAdded.from_event,
            customerId=customer_id,
            channelId=channel_id or channel,
        )

    @strawberry.subscription(
        description="Touchpoints a committed delete removed: deleteTouchpoint(s), a customer "
        "deleted with cascade, eraseCustomer deleting its touchpoints; a repeated delete "
        "sends nothing. Filter by customerId or channelId, as touchpointAdded."
    )
    def touchpoint_removed(
        self,
        info: Info,
        customer_id: strawberry.ID | None = None,
        channel_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[TouchpointRemoved, None]:
        return _live(
            info,
            "touchpointRemoved",
            TouchpointRemoved.from_event,
            customerId=customer_id,
            channelId=channel_id,
        )

    @strawberry.subscription(
        description="Periods where an SLA_COMPLIANCE KPI is off target, when computed; filter "
        "by SLA or by its provider or consumer team."
    )
    def sla_breached(
        self, info: Info, sla_id: strawberry.ID | None = None, team_id: strawberry.ID | None = None
    ) -> AsyncGenerator[SlaBreach, None]:
        return _live(info, "slaBreached", SlaBreach.from_event, slaId=sla_id, teamIds=team_id)
