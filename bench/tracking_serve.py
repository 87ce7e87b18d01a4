"""The service for bench/tracking_bench.py: ``bench.serve`` plus one in-process
``touchpointAdded`` subscriber that notes, for each event, the time from the event's
``at`` (set by the load generator to its send time) to its delivery, and a
``GET /bench/latency`` route that reports them.

uvicorn bench.tracking_serve:app --factory --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from orggraph.app import create_app
from orggraph.events import Broker
from orggraph.graph.driver import Graph
from orggraph.settings import Settings


class Watcher:
    """A subscriber as a GraphQL subscription registers one, measuring delivery."""

    def __init__(self) -> None:
        self.delays_ms: list[float] = []
        self.task: asyncio.Task[None] | None = None
        self.subscriber: Any = None

    async def watch(self, broker: Broker) -> None:
        async with broker.subscribe("touchpointAdded") as events:
            self.subscriber = events
            async for event in events:
                at: Any = event.get("at")
                sent = at.to_native() if hasattr(at, "to_native") else at
                if isinstance(sent, datetime):
                    delay = datetime.now(UTC) - sent
                    self.delays_ms.append(delay.total_seconds() * 1000)

    async def report(self, _: Request) -> JSONResponse:
        dropped = self.subscriber.dropped if self.subscriber is not None else 0
        delays, self.delays_ms = self.delays_ms, []
        return JSONResponse({"delaysMs": delays, "dropped": dropped})


def app() -> Starlette:
    watcher = Watcher()
    brokers: list[Broker] = []

    async def start(_: Graph, __: Settings) -> None:
        watcher.task = asyncio.get_running_loop().create_task(watcher.watch(brokers[0]))

    # The hook list is given whole: create_app keeps its own copy of an empty one.
    application = create_app(Settings(), on_startup=[start])
    brokers.append(application.state.orggraph.broker)
    application.router.add_route("/bench/latency", watcher.report, methods=["GET"])
    return application
