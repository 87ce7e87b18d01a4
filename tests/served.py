"""The whole service on uvicorn, in a thread of its own, on a free loopback port: for
tests that need real sockets (concurrent clients, a real WebSocket client)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import uvicorn
from websockets.sync.client import ClientConnection, connect

from orggraph.app import create_app
from orggraph.events import Broker
from orggraph.graph.driver import Graph
from orggraph.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, settings: Settings, **options: Any) -> None:
        """``options`` go to ``create_app`` (a tracer provider, ...)."""
        self.port = free_port()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = create_app(settings, on_startup=[self._started], **options)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    async def _started(self, _: Graph, __: Settings) -> None:
        self.loop = asyncio.get_running_loop()

    @property
    def broker(self) -> Broker:
        return self.app.state.orggraph.broker  # type: ignore[no-any-return]

    def publish_soon(self, topic: str, event: dict[str, Any]) -> None:
        """Publish from the service's own loop, as a committed write would."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.broker.publish, topic, event)

    def wait_for_subscribers(self, topic: str, count: int) -> None:
        deadline = time.monotonic() + 60
        while self.broker.subscriber_count(topic) != count:
            assert time.monotonic() < deadline, "the subscription never started"
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, protocol: str = "graphql-transport-ws", **options: Any) -> ClientConnection:
        return connect(
            f"ws://127.0.0.1:{self.port}/graphql",
            subprotocols=[protocol],  # type: ignore[list-item]
            open_timeout=60,
            **options,
        )


def receive(conn: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(conn.recv(timeout))
    return message


def send(conn: ClientConnection, message: dict[str, Any]) -> None:
    conn.send(json.dumps(message))
