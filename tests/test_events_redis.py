"""Live events across replicas: two real uvicorn servers on one Neo4j and one Redis,
subscribed to with a real WebSocket client (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.sync.client import ClientConnection, connect

from orggraph.app import create_app
from orggraph.cli import main
from orggraph.events import Broker, Subscriber
from orggraph.events_redis import RedisBroker, decode, encode
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes
from orggraph.settings import Settings
from tests.graphs.funnel import seed as seed_funnel
from tests.helpers import require_program


@pytest.fixture(autouse=True)
def _redis_installed() -> None:
    require_program("redis-server", "replicas share events through Redis pub/sub")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throw-away redis-server child process (no persistence)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


# --- the broker on its own ------------------------------------------------------------------


def test_events_round_trip_as_json_with_datetimes() -> None:
    at = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    origin, topic, event = decode(encode("me", "kpiUpdated", {"at": at, "ids": ["a"]}))
    assert (origin, topic, event) == ("me", "kpiUpdated", {"at": at, "ids": ["a"]})


async def test_without_redis_local_subscribers_get_everything_and_the_outbox_drops_oldest() -> None:
    broker = RedisBroker("redis://127.0.0.1:1/0", outbox_size=2)  # never started: no Redis
    async with broker.subscribe("t") as local:
        for n in range(3):
            broker.publish("t", {"n": n})
        assert [(await local.get())["n"] for _ in range(3)] == [0, 1, 2]
    assert broker.remote_dropped == 1
    assert [decode(m)[2]["n"] for m in list(broker._outbox._queue)] == [1, 2]  # type: ignore[attr-defined]


async def test_an_event_reaches_every_replica_once(redis_server: RedisServer) -> None:
    a = RedisBroker(redis_server.url, channel="test")
    b = RedisBroker(redis_server.url, channel="test")
    await a.start()
    await b.start()
    try:
        async with a.subscribe("t") as on_a, b.subscribe("t") as on_b:
            a.publish("t", {"n": 1})
            assert (await asyncio.wait_for(on_b.get(), 60))["n"] == 1
            assert (await on_a.get())["n"] == 1
            b.publish("t", {"n": 2})
            assert (await asyncio.wait_for(on_a.get(), 60))["n"] == 2
            assert (await on_b.get())["n"] == 2  # b's own subscriber, locally
            await asyncio.sleep(0.2)  # a's own event must not come back through Redis
            assert on_a.queue.empty() and on_b.queue.empty()
            assert (a.received_total, b.received_total) == (1, 1)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_replica_reconnects_after_redis_is_lost(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orggraph.events_redis")
    a = RedisBroker(redis_server.url, channel="test")
    b = RedisBroker(redis_server.url, channel="test")
    await a.start()
    await b.start()
    try:
        async with b.subscribe("t") as on_b:
            await asyncio.to_thread(redis_server.stop)
            for _ in range(100):
                if not b.listening:
                    break
                await asyncio.sleep(0.05)
            assert not b.listening
            a.publish("t", {"n": "during the outage"})  # waits in a's outbox
            await asyncio.to_thread(redis_server.start)  # same port
            for _ in range(200):
                if b.listening:
                    break
                await asyncio.sleep(0.05)
            assert b.listening
            got = await asyncio.wait_for(on_b.get(), 60)
            assert got["n"] == "during the outage"
            a.publish("t", {"n": "after"})
            assert (await asyncio.wait_for(on_b.get(), 60))["n"] == "after"
    finally:
        await a.aclose()
        await b.aclose()
    messages = [r.getMessage() for r in caplog.records]
    assert any("subscription to" in m and "lost" in m for m in messages), messages
    assert any("subscribed again" in m for m in messages), messages


# --- two replicas of the service ---------------------------------------------------------------


class Replica:
    """The service on uvicorn, in a thread of its own, on a loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = create_app(settings, on_startup=[self._started])
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _started(self, _: Graph, __: Settings) -> None:
        self.loop = asyncio.get_running_loop()

    def __enter__(self) -> Replica:
        self.thread.start()
        wait_until(lambda: self.server.started, "the replica did not start", 60)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    @property
    def broker(self) -> Broker:
        return self.app.state.orggraph.broker  # type: ignore[no-any-return]

    def subscribers(self, topic: str) -> list[Subscriber]:
        return list(self.broker._subscribers.get(topic, ()))

    def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"http://127.0.0.1:{self.port}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=30,
        )
        return response.json()  # type: ignore[no-any-return]

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.post(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def ws(self, **options: Any) -> ClientConnection:
        conn = connect(
            f"ws://127.0.0.1:{self.port}/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            open_timeout=60,
            **options,
        )
        conn.send(json.dumps({"type": "connection_init"}))
        assert json.loads(conn.recv(10))["type"] == "connection_ack"
        return conn

    def subscribe(self, conn: ClientConnection, sub_id: str, query: str, topic: str) -> None:
        before = self.broker.subscriber_count(topic)
        conn.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": {"query": query}}))
        wait_until(
            lambda: self.broker.subscriber_count(topic) > before, "the subscription never started"
        )

    def publish_soon(self, topic: str, events: list[dict[str, Any]]) -> None:
        """Publish from the replica's own loop, as a committed write would."""
        assert self.loop is not None

        def publish_all() -> None:
            for event in events:
                self.broker.publish(topic, event)

        self.loop.call_soon_threadsafe(publish_all)


def next_data(conn: ClientConnection, sub_id: str, timeout: float = 60) -> dict[str, Any]:
    message = json.loads(conn.recv(timeout))
    assert message["type"] == "next", message
    assert message["id"] == sub_id
    assert "errors" not in message["payload"], message["payload"]
    return message["payload"]["data"]  # type: ignore[no-any-return]


def nothing_more(conn: ClientConnection, wait: float = 0.5) -> bool:
    try:
        conn.recv(wait)
    except TimeoutError:
        return True
    return False


@pytest.fixture
def replicas(
    test_settings: Settings, graph: Graph, redis_server: RedisServer
) -> Iterator[tuple[Replica, Replica]]:
    settings = test_settings.model_copy(
        update={
            "events": "redis",
            "redis_url": redis_server.url,
            "redis_channel": f"test:{free_port()}",
            "events_queue_size": 20,
        }
    )
    with Replica(settings) as a, Replica(settings) as b:
        assert isinstance(a.broker, RedisBroker) and a.broker.listening
        assert isinstance(b.broker, RedisBroker) and b.broker.listening
        yield a, b


SETUP = """mutation {
  upsertChannel(input: {id: "phone", name: "Phone", kind: PHONE}) { id }
  a: upsertCustomer(input: {id: "ann", name: "Ann"}) { id }
  b: upsertCustomer(input: {id: "bob", name: "Bob"}) { id }
}"""
TOUCHPOINTS = """
mutation T($inputs: [TouchpointInput!]!) { upsertTouchpoints(inputs: $inputs) { rows } }
"""
ADDED = "subscription { touchpointAdded { customerId touchpoint { id } } }"


def touchpoint(tp_id: str, customer: str) -> dict[str, Any]:
    return {
        "id": tp_id,
        "at": "2024-03-02T10:00:00Z",
        "type": "CALL",
        "customerId": customer,
        "channelId": "phone",
    }


@pytest.mark.timeout(120)
def test_a_write_on_one_replica_reaches_subscribers_of_the_other_and_a_rollback_nothing(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    a.gql(SETUP)
    with b.ws() as on_b, a.ws() as on_a:
        b.subscribe(on_b, "b", ADDED, "touchpointAdded")
        a.subscribe(on_a, "a", ADDED, "touchpointAdded")
        # Rejected mid-batch (row 2 names a customer that does not exist): rolled back.
        rejected = a.post(
            TOUCHPOINTS, {"inputs": [touchpoint("t1", "ann"), touchpoint("t2", "nobody")]}
        )
        assert rejected["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        a.gql(TOUCHPOINTS, {"inputs": [touchpoint("t3", "bob")]})
        for conn, sub_id in ((on_b, "b"), (on_a, "a")):
            got = next_data(conn, sub_id)["touchpointAdded"]
            assert (got["touchpoint"]["id"], got["customerId"]) == ("t3", "bob")  # never t1
            assert nothing_more(conn)
    assert a.gql('{ touchpoint(id: "t1") { id } }')["touchpoint"] is None


@pytest.mark.timeout(120)
def test_a_client_leaving_mid_stream_is_removed_and_the_others_still_get_everything(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    a.gql(SETUP)
    stays = b.ws()
    leaves = b.ws()
    try:
        b.subscribe(stays, "s", ADDED, "touchpointAdded")
        b.subscribe(leaves, "l", ADDED, "touchpointAdded")
        a.gql(TOUCHPOINTS, {"inputs": [touchpoint("t1", "ann")]})
        assert next_data(leaves, "l")["touchpointAdded"]["touchpoint"]["id"] == "t1"
        leaves.socket.close()  # gone without a "complete", events still coming
        for n in range(2, 6):
            a.gql(TOUCHPOINTS, {"inputs": [touchpoint(f"t{n}", "ann")]})
        got = [next_data(stays, "s")["touchpointAdded"]["touchpoint"]["id"] for _ in range(5)]
        assert got == ["t1", "t2", "t3", "t4", "t5"]
        wait_until(lambda: b.broker.subscriber_count("touchpointAdded") == 1, "not removed")
    finally:
        stays.close()
        leaves.close()
    wait_until(lambda: b.broker.subscriber_count("touchpointAdded") == 0, "not removed")


class RawWebSocket:
    """A client that reads nothing unless asked: a socket with a small receive buffer, so
    the server's writes block soon (a WebSocket library would keep reading into memory)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(30)
        self.sock.sendall(
            b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.send({"type": "connection_init"})
        assert self.receive()["type"] == "connection_ack"

    def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        assert len(payload) < 65536
        mask = b"\x01\x02\x03\x04"
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        size = bytes([0x80 | len(payload)]) if len(payload) < 126 else (
            bytes([0x80 | 126]) + len(payload).to_bytes(2, "big"))  # fmt: skip
        self.sock.sendall(b"\x81" + size + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive(self) -> dict[str, Any]:
        opcode, length = self._read(2)
        if length == 126:
            length = int.from_bytes(self._read(2), "big")
        elif length == 127:
            length = int.from_bytes(self._read(8), "big")
        payload = self._read(length)
        if opcode & 0x0F in (0x9, 0xA):  # ping, pong
            return self.receive()
        return json.loads(payload)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sock.close()


SLOW_UPDATES = "subscription { kpiUpdated { kpiId periods { measurement { id value } } } }"


def kpi_event(n: int) -> dict[str, Any]:
    """A kpiUpdated event of ~4 kB on the wire, numbered ``n``."""
    at = datetime(2024, 1, 1, tzinfo=UTC)
    measurements = [
        {"id": f"k{n}:{i:04d}-padding-to-fill-the-socket-buffers", "periodStart": at,
         "value": float(i), "sampleSize": i, "status": "NO_TARGET", "at": at}
        for i in range(60)
    ]  # fmt: skip
    return {"kpiId": f"k{n}", "measure": "WON_REVENUE", "teamIds": [], "measurements": measurements}


@pytest.mark.timeout(180)
def test_a_slow_consumer_loses_its_oldest_events_and_the_others_get_every_one(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    total = 1000
    queue_size = 20
    # The slow client never reads: a tiny receive buffer and client-side queue, so the
    # server's send blocks soon and its queue on replica B fills.
    slow = RawWebSocket(b.port)
    fast = b.ws()
    try:
        before = b.broker.subscriber_count("kpiUpdated")
        slow.send({"id": "slow", "type": "subscribe", "payload": {"query": SLOW_UPDATES}})
        wait_until(lambda: b.broker.subscriber_count("kpiUpdated") > before, "not subscribed")
        b.subscribe(fast, "fast", SLOW_UPDATES, "kpiUpdated")
        received: list[int] = []
        for start in range(0, total, 5):  # from replica A, through Redis, paced like writes
            a.publish_soon("kpiUpdated", [kpi_event(n) for n in range(start, start + 5)])
            time.sleep(0.01)
            while len(received) < start - 10:  # the fast client keeps up as it reads
                received.append(int(next_data(fast, "fast")["kpiUpdated"]["kpiId"][1:]))
        while len(received) < total:
            received.append(int(next_data(fast, "fast")["kpiUpdated"]["kpiId"][1:]))
        assert received == list(range(total))  # every event, in order, none dropped
        assert nothing_more(fast)

        subscribers = {s.dropped > 0: s for s in b.subscribers("kpiUpdated")}
        slow_sub, fast_sub = subscribers[True], subscribers[False]
        assert fast_sub.dropped == 0
        assert slow_sub.dropped == b.broker.dropped_total > 0
        # Drop-oldest: the slow subscriber's queue holds the newest events.
        queued = [int(e["kpiId"][1:]) for e in list(slow_sub.queue._queue)]  # type: ignore[attr-defined]
        assert queued == list(range(total - queue_size, total))

        # When it reads at last: what was already in flight, then the newest 20; a gap between.
        got: list[int] = []
        while not got or got[-1] != total - 1:
            message = slow.receive()
            assert (message["type"], message["id"]) == ("next", "slow"), message
            got.append(int(message["payload"]["data"]["kpiUpdated"]["kpiId"][1:]))
        assert got == sorted(got) and len(got) < total
        assert got[-queue_size:] == list(range(total - queue_size, total))
        assert len(got) + slow_sub.dropped == total
    finally:
        slow.close()
        fast.close()


@pytest.mark.timeout(120)
async def test_kpi_updates_and_sla_breaches_computed_on_one_replica_reach_the_other(
    test_settings: Settings, graph: Graph, redis_server: RedisServer
) -> None:
    await seed_funnel(graph)
    await upsert_nodes(
        graph,
        "KPI",
        [
            {"id": "sla", "name": "Follow-up SLA", "target": 0.9, "window": "MONTH",
             "definition": {"measure": "SLA_COMPLIANCE", "slaId": "sla-followup"}},
        ],
    )  # fmt: skip
    settings = test_settings.model_copy(
        update={"events": "redis", "redis_url": redis_server.url, "redis_channel": "test:kpi"}
    )

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        with Replica(settings) as a, Replica(settings) as b, b.ws() as conn:
            b.subscribe(
                conn,
                "k",
                'subscription { kpiUpdated(kpiId: "sla") '
                "{ kpiId latest { status measurement { value } } } }",
                "kpiUpdated",
            )
            b.subscribe(
                conn,
                "s",
                'subscription { slaBreached(slaId: "sla-followup") '
                "{ slaId kpiId periodStart compliance sampleSize } }",
                "slaBreached",
            )
            a.gql('mutation { computeKpis(kpiId: "sla", since: "2024-03-01T00:00:00Z") { id } }')
            first, second = json.loads(conn.recv(10)), json.loads(conn.recv(10))
            by_id = {m["id"]: m["payload"]["data"] for m in (first, second)}
            return by_id["k"]["kpiUpdated"], by_id["s"]["slaBreached"]

    update, breach = await asyncio.to_thread(run)
    assert update["kpiId"] == "sla"
    assert breach["slaId"] == "sla-followup" and breach["kpiId"] == "sla"
    assert breach["periodStart"].startswith("2024-03-01T00:00:00")
    # As in test_kpis: the SLA names no consumer team, so all 3 hand-offs are breached.
    assert breach["compliance"] == 0.0
    assert breach["sampleSize"] == 3


async def test_a_seed_from_the_command_line_publishes_what_it_changed_through_redis(
    test_settings: Settings,
    graph: Graph,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEO4J_URI", test_settings.neo4j_uri or "")
    if test_settings.neo4j_password is not None:
        monkeypatch.setenv("NEO4J_PASSWORD", test_settings.neo4j_password.get_secret_value())
    monkeypatch.setenv("ORGGRAPH_EVENTS", "redis")
    monkeypatch.setenv("ORGGRAPH_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ORGGRAPH_REDIS_CHANNEL", "test:seed")
    service = RedisBroker(redis_server.url, channel="test:seed")
    await service.start()

    async def touchpoint_ids() -> list[str]:
        return sorted(r["id"] for r in await graph.query("MATCH (t:Touchpoint) RETURN t.id AS id"))

    def seed(customers: int) -> int:  # the command runs its own event loop, as from a shell
        return main(["seed", "--customers", str(customers), "--seed", "3", "--no-kpis"])

    try:
        async with service.subscribe("touchpointAdded") as added:
            assert await asyncio.to_thread(seed, 2) == 0
            first = await touchpoint_ids()
            got = [(await asyncio.wait_for(added.get(), 30))["id"] for _ in first]
            assert sorted(got) == first
            assert await asyncio.to_thread(seed, 2) == 0  # a replay: no event
            assert await asyncio.to_thread(seed, 3) == 0  # one more customer: its touchpoints
            third = sorted(set(await touchpoint_ids()) - set(first))
            got = [(await asyncio.wait_for(added.get(), 30))["id"] for _ in third]
            assert sorted(got) == third  # had the replay published, ``first`` would come first
    finally:
        await service.aclose()
