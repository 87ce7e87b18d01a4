"""In-process publish/subscribe for live GraphQL subscriptions.

One :class:`Broker` per app (kept on the app state, handed to resolvers as
``info.context.extras["broker"]``). Topics are plain names (``kpiUpdated``,
``touchpointAdded``, ``touchpointRemoved``, ``slaBreached``); payloads are dicts.

Delivery rules:

* Events are published only after the write they describe has committed:
  callers publish after ``Graph.write(...)`` returned (see
  :func:`publish_after_commit`); a rolled-back write raises instead, so
  nothing is published for it.
* Each subscriber has its own bounded queue (``queue_size``, default 100).
  Publishing never waits: when a subscriber's queue is full, the OLDEST
  queued event is dropped for that subscriber only, and counted in its
  ``dropped`` (and the broker's ``dropped_total``). A slow consumer therefore
  loses its oldest events and never blocks the publisher or other subscribers.
* A subscriber that goes away (client disconnects, generator closed) is
  removed from the broker when its ``async with`` block exits.

A :class:`Broker` lives on one event loop, in one process. Several replicas share
events through Redis pub/sub with :class:`orggraph.events_redis.RedisBroker` (same
interface, same local delivery rules); :func:`make_broker` picks one from the
settings (``ORGGRAPH_EVENTS=memory|redis``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.touchpoint_changes import touchpoint_event

if TYPE_CHECKING:
    from orggraph.graph.kpis import KpiComputation
    from orggraph.graph.write_rules import WriteSummary
    from orggraph.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 100
Event = dict[str, Any]


class Subscriber:
    """One subscription: a bounded queue of events on one topic."""

    def __init__(
        self, broker: Broker, topic: str, queue_size: int, accept: Callable[[Event], bool] | None
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.accept = accept
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.accept is not None and not self.accept(event):
            return
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()  # drop the oldest, for this subscriber only
                self.dropped += 1
                self.broker.dropped_total += 1

    async def get(self) -> Event:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    async def __aenter__(self) -> Subscriber:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.broker.unsubscribe(self)


class Broker:
    """In-process pub/sub with bounded per-subscriber queues (drop-oldest)."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[Subscriber]] = {}
        self.dropped_total = 0
        self.published_total = 0

    def subscribe(self, topic: str, accept: Callable[[Event], bool] | None = None) -> Subscriber:
        """Register now (so no event published after this call is missed); use as
        ``async with broker.subscribe(topic) as sub: async for event in sub: ...``."""
        subscriber = Subscriber(self, topic, self.queue_size, accept)
        self._subscribers.setdefault(topic, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.get(subscriber.topic, set()).discard(subscriber)

    def subscriber_count(self, topic: str) -> int:
        """Subscribers of ``topic`` in this process."""
        return len(self._subscribers.get(topic, ()))

    def wants(self, topic: str) -> bool:
        """Whether an event on ``topic`` can reach anyone (lets a publisher skip the work
        of building it). In-process: only local subscribers count."""
        return self.subscriber_count(topic) > 0

    def publish(self, topic: str, event: Event) -> None:
        """Deliver to every current subscriber of ``topic``; never blocks."""
        self.published_total += 1
        self.deliver(topic, event)

    def deliver(self, topic: str, event: Event) -> None:
        """Fan an event out to this process's subscribers (bounded queues, drop-oldest)."""
        for subscriber in list(self._subscribers.get(topic, ())):
            subscriber.offer(event)

    async def start(self) -> None:
        """Open whatever the broker needs (nothing in-process)."""

    async def aclose(self) -> None:
        """Release it (nothing in-process)."""


def make_broker(settings: Settings) -> Broker:
    """The broker the settings choose: in-process, or Redis pub/sub shared by replicas."""
    if settings.events == "redis":
        from orggraph.events_redis import RedisBroker

        return RedisBroker(
            settings.redis_url,
            channel=settings.redis_channel,
            queue_size=settings.events_queue_size,
        )
    return Broker(queue_size=settings.events_queue_size)


def publish_after_commit(broker: Broker | None, topic: str, events: Iterable[Event]) -> None:
    """Publish events for a write that has committed (call it after ``Graph.write``
    returned). A no-op without a broker (CLI, tests without the app)."""
    if broker is None:
        return
    for event in events:
        broker.publish(topic, event)


def publish_computation(broker: Broker | None, computation: KpiComputation) -> None:
    """kpiUpdated, and slaBreached for off-target SLA compliance, after the commit."""
    publish_after_commit(broker, "kpiUpdated", [computation.event()])
    publish_after_commit(broker, "slaBreached", computation.breaches())


def broker_of(info: Any) -> Broker | None:
    """The app's broker from a resolver's ``info`` (None outside the app)."""
    extras = getattr(info.context, "extras", None) or {}
    broker = extras.get("broker")
    return broker if isinstance(broker, Broker) else None


TOUCHPOINT_EVENTS: LiteralString = """
UNWIND $ids AS id
MATCH (t:Touchpoint {id: id})
RETURN t {.*,
  customerId: head(COLLECT { MATCH (c:Customer)-[:HAD]->(t) RETURN c.id }),
  channelId: head(COLLECT { MATCH (t)-[:VIA]->(ch:Channel) RETURN ch.id })
} AS touchpoint
"""


async def publish_touchpoints(graph: Graph, broker: Broker | None, ids: Sequence[str]) -> None:
    """``touchpointAdded`` for the touchpoints a committed write changed: every writer
    (mutations, imports, ingest endpoints) calls this after its commit with
    ``WriteSummary.changed_touchpoints``, which the database computed in the write's
    transaction, so a replayed (no-op) write publishes nothing. One round trip."""
    if broker is None or not ids or not broker.wants("touchpointAdded"):
        return
    records = await graph.query(TOUCHPOINT_EVENTS, ids=list(ids))
    publish_after_commit(broker, "touchpointAdded", (dict(r["touchpoint"]) for r in records))


def publish_changed_states(broker: Broker | None, summary: WriteSummary) -> None:
    """``touchpointAdded`` for the touchpoints a committed write changed, from their states
    after the write (``WriteSummary.changed_states``: no read). A write that changes no
    touchpoint after ``write_touchpoints`` in its transaction may use it."""
    if broker is None or not broker.wants("touchpointAdded"):
        return
    states = summary.changed_states
    publish_after_commit(
        broker, "touchpointAdded", (touchpoint_event(states[i]) for i in sorted(states))
    )


async def publish_write(info: Any, summary: WriteSummary) -> None:
    """The events of a committed write made by a resolver (see ``publish_touchpoints``)."""
    await publish_touchpoints(info.context.graph, broker_of(info), summary.changed_touchpoints)


async def publish_deletion(
    graph: Graph, broker: Broker | None, removed: Sequence[Event], changed: Sequence[str]
) -> None:
    """The events of a committed delete or erasure: ``touchpointRemoved`` for each touchpoint
    it deleted (read in its transaction before they went: a repeated delete finds none),
    ``touchpointAdded`` for those it changed (a reference or a property removed)."""
    publish_after_commit(broker, "touchpointRemoved", removed)
    await publish_touchpoints(graph, broker, changed)
