"""Live subscriptions (graphql-transport-ws on /graphql), fed by the app's broker.

Each subscription registers with the broker when it starts and leaves it when
the client stops or disconnects. Filters are applied at delivery, so a
subscriber's bounded queue only holds events it wants (see ``orggraph.events``
for what is dropped when a consumer is slow).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable
from typing import Annotated, Any, Protocol, TypeVar

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError, InternalError
from orggraph.events import Broker, Event, broker_of
from orggraph.schema.subscriptions import KpiUpdate, SlaBreach, TouchpointAdded, TouchpointRemoved

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


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


class Payload(Protocol[T_co]):
    @classmethod
    def from_event(cls, event: Event) -> T_co: ...


def _live_field(topic: str, payload: type[Payload[T]], description: str, **filters: str) -> Any:
    """The subscription to ``topic``: one optional ID argument per filter (Python name ->
    the event field it matches), in that order."""

    def subscribe(info: Info, **given: strawberry.ID | None) -> AsyncGenerator[T, None]:
        wanted = {filters[name]: value for name, value in given.items()}
        return _live(info, topic, payload.from_event, **wanted)

    keyword = inspect.Parameter.KEYWORD_ONLY
    arguments = [
        inspect.Parameter(name, keyword, default=None, annotation=strawberry.ID | None)
        for name in filters
    ]
    subscribe.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("info", keyword, annotation=Info), *arguments],
        return_annotation=AsyncGenerator[payload, None],  # type: ignore[valid-type]
    )
    return strawberry.subscription(resolver=subscribe, description=description)


@strawberry.type
class LiveSubscription:
    kpi_updated = _live_field(
        "kpiUpdated",
        KpiUpdate,
        "KPI measurements committed by a computation; filter by KPI or by a team "
        "accountable for it or sharing it.",
        kpi_id="kpiId",
        team_id="teamIds",
    )

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

    touchpoint_removed = _live_field(
        "touchpointRemoved",
        TouchpointRemoved,
        "Touchpoints a committed delete removed: deleteTouchpoint(s), a customer "
        "deleted with cascade, eraseCustomer deleting its touchpoints; a repeated delete "
        "sends nothing. Filter by customerId or channelId, as touchpointAdded.",
        customer_id="customerId",
        channel_id="channelId",
    )
    sla_breached = _live_field(
        "slaBreached",
        SlaBreach,
        "Periods where an SLA_COMPLIANCE KPI is off target, when computed; filter "
        "by SLA or by its provider or consumer team.",
        sla_id="slaId",
        team_id="teamIds",
    )
