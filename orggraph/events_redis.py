"""Live events shared by several replicas of the service through Redis pub/sub.

:class:`RedisBroker` has the in-process :class:`~orggraph.events.Broker`'s interface
and its local delivery rules (bounded per-subscriber queues, drop-oldest); it
adds one Redis channel (``ORGGRAPH_REDIS_CHANNEL``) that every replica publishes
to and listens on:

* ``publish`` (called after the write committed) delivers to this process's
  subscribers at once, and hands the event to a background task that publishes
  it to Redis as JSON ``{"origin", "topic", "event"}``.
* One Redis subscription per process (a background task) receives every
  replica's events, skips its own (``origin``), and fans them out locally.
* Redis lost: both tasks log a warning and retry with a growing delay (at most
  5 s), and log when they are back. While Redis is away, local subscribers still
  get local events; events for the other replicas wait in a bounded outbox
  (``outbox_size``; when full the OLDEST is dropped and counted in
  ``remote_dropped``) and are published in order once Redis is back. Events the
  other replicas published meanwhile are lost to this one: Redis pub/sub keeps
  nothing for a disconnected listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import date, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from orggraph.events import DEFAULT_QUEUE_SIZE, Broker, Event

log = logging.getLogger(__name__)

DEFAULT_OUTBOX_SIZE = 10_000
MAX_RETRY_DELAY_S = 5.0
FIRST_CONNECT_WAIT_S = 5.0


def _default(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)  # neo4j.time values
    if callable(to_native):
        value = to_native()
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot send a {type(value).__name__} in an event")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$datetime" in obj:
            return datetime.fromisoformat(obj["$datetime"])
        if "$date" in obj:
            return date.fromisoformat(obj["$date"])
    return obj


def encode(origin: str, topic: str, event: Event) -> str:
    """An event as the JSON text sent on the channel (datetimes round-trip)."""
    return json.dumps({"origin": origin, "topic": topic, "event": event}, default=_default)


def decode(text: str | bytes) -> tuple[str, str, Event]:
    message = json.loads(text, object_hook=_hook)
    return str(message["origin"]), str(message["topic"]), dict(message["event"])


def _retry_delay(failures: int) -> float:
    return float(min(MAX_RETRY_DELAY_S, 0.1 * 2**failures))


class RedisBroker(Broker):
    """Pub/sub shared by replicas through one Redis channel; local fan-out as Broker."""

    def __init__(
        self,
        url: str,
        *,
        channel: str = "orggraph:events",
        queue_size: int = DEFAULT_QUEUE_SIZE,
        outbox_size: int = DEFAULT_OUTBOX_SIZE,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self.url = url
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self.remote_dropped = 0
        self.received_total = 0
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=outbox_size)
        self._client: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()

    # --- the Broker interface ---------------------------------------------------------------

    def wants(self, topic: str) -> bool:
        return True  # another replica may have subscribers

    def publish(self, topic: str, event: Event) -> None:
        super().publish(topic, event)  # local subscribers: at once
        message = encode(self.origin, topic, event)
        while True:
            try:
                self._outbox.put_nowait(message)
                return
            except asyncio.QueueFull:
                self._outbox.get_nowait()
                self._outbox.task_done()  # dropped: nothing left to wait for
                self.remote_dropped += 1
                if self.remote_dropped == 1 or self.remote_dropped % 1000 == 0:
                    log.warning(
                        "Redis events: outbox full (Redis unreachable?); %d event(s) for the "
                        "other replicas dropped so far (oldest first)",
                        self.remote_dropped,
                    )

    async def start(self) -> None:
        """Connect, subscribe, and wait (a few seconds at most) for the subscription."""
        self._client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=2.0, health_check_interval=10
        )
        self._tasks = [
            asyncio.create_task(self._listen(), name="redis-events-listen"),
            asyncio.create_task(self._send(), name="redis-events-send"),
        ]
        try:
            await asyncio.wait_for(self._listening.wait(), FIRST_CONNECT_WAIT_S)
        except TimeoutError:
            log.warning(
                "Redis events: not subscribed to %s after %.0f s; still trying",
                self.url,
                FIRST_CONNECT_WAIT_S,
            )

    async def aclose(self) -> None:
        """Send what is left (briefly), stop the tasks, close the connection."""
        if self._tasks and self._listening.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 2.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def listening(self) -> bool:
        """Whether this process is subscribed to the channel right now."""
        return self._listening.is_set()

    # --- the background tasks -----------------------------------------------------------------

    def _redis(self) -> aioredis.Redis:
        assert self._client is not None, "RedisBroker.start() was not called"
        return self._client

    async def _listen(self) -> None:
        failures = 0
        while True:
            pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if failures:
                    log.warning("Redis events: subscribed again to %s", self.url)
                failures = 0
                self._listening.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
                        await asyncio.sleep(0)  # let subscribers drain between messages
                raise ConnectionError("the subscription ended")
            except (RedisError, OSError) as error:
                self._listening.clear()
                failures += 1
                delay = _retry_delay(failures)
                log.warning(
                    "Redis events: subscription to %s lost (%s); events from other replicas "
                    "are missed until it is back; retrying in %.1f s",
                    self.url,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8

    def _receive(self, data: str | bytes) -> None:
        try:
            origin, topic, event = decode(data)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("Redis events: ignored a malformed message (%s)", error)
            return
        if origin == self.origin:
            return  # delivered locally when published
        self.received_total += 1
        self.deliver(topic, event)

    async def _send(self) -> None:
        failures = 0
        while True:
            message = await self._outbox.get()
            while True:
                try:
                    await self._redis().publish(self.channel, message)
                    if failures:
                        log.warning("Redis events: publishing to %s again", self.url)
                    failures = 0
                    break
                except (RedisError, OSError) as error:
                    failures += 1
                    delay = _retry_delay(failures)
                    if failures == 1 or delay >= MAX_RETRY_DELAY_S:
                        log.warning(
                            "Redis events: cannot publish to %s (%s); events for the other "
                            "replicas wait in the outbox (%d queued); retrying in %.1f s",
                            self.url,
                            error,
                            self._outbox.qsize() + 1,
                            delay,
                        )
                    await asyncio.sleep(delay)
            self._outbox.task_done()
