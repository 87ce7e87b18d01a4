"""Live subscriptions: the broker's delivery rules, graphql-transport-ws on /graphql against
the app and a real Neo4j, and with a real WebSocket client against the served app: no
document before valid credentials when auth is on, a code on every error frame."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from websockets.sync.client import ClientConnection

from orggraph.app import create_app
from orggraph.events import Broker, publish_after_commit
from orggraph.graph.driver import Graph
from orggraph.settings import Settings
from tests.helpers import require_program
from tests.served import Served, receive, send

# --- the broker ---------------------------------------------------------------------------


async def test_a_slow_consumer_loses_its_oldest_events_and_blocks_nobody() -> None:
    broker = Broker(queue_size=3)
    async with broker.subscribe("t") as slow, broker.subscribe("t") as fast:
        received: list[int] = []

        async def consume() -> None:
            async for event in fast:
                received.append(event["n"])
                if event["n"] == 9:
                    return

        consumer = asyncio.create_task(consume())
        for n in range(10):
            broker.publish("t", {"n": n})  # never awaits: the publisher is never blocked
            await asyncio.sleep(0)
        await asyncio.wait_for(consumer, 30)
        assert received == list(range(10))
        assert [(await slow.get())["n"] for _ in range(3)] == [7, 8, 9]  # the newest 3
        assert (slow.dropped, fast.dropped, broker.dropped_total) == (7, 0, 7)
    assert broker.subscriber_count("t") == 0


async def test_filters_topics_and_leaving() -> None:
    broker = Broker()
    with pytest.raises(RuntimeError):
        async with broker.subscribe("kpiUpdated", lambda e: "team-a" in e["teamIds"]) as sub:
            publish_after_commit(
                broker, "kpiUpdated", [{"teamIds": ["team-b"]}, {"teamIds": ["team-a"], "n": 1}]
            )
            publish_after_commit(broker, "other", [{"teamIds": ["team-a"]}])
            publish_after_commit(None, "kpiUpdated", [{"teamIds": ["team-a"]}])  # no broker: no-op
            assert (await sub.get())["n"] == 1
            assert sub.queue.empty()
            raise RuntimeError("the subscriber goes away")
    assert broker.subscriber_count("kpiUpdated") == 0


def test_subscription_filters_match_ids_and_team_lists() -> None:
    from orggraph.resolvers.subscriptions import _matches

    by_team = _matches(kpiId=None, teamIds="sales")
    assert by_team({"kpiId": "k", "teamIds": ["mkt", "sales"]})
    assert not by_team({"kpiId": "k", "teamIds": ["mkt"]})
    both = _matches(customerId="ann", channelId="phone")
    assert both({"customerId": "ann", "channelId": "phone"})
    assert not both({"customerId": "ann", "channelId": "web"})
    assert _matches()({"anything": 1})


# --- graphql-transport-ws -------------------------------------------------------------------


@pytest.fixture
def client(test_settings: Settings, graph: Graph) -> Iterator[TestClient]:
    # ``graph`` empties the database first; the app opens its own driver in its own loop.
    with TestClient(create_app(test_settings)) as test_client:
        yield test_client


def gql(client: TestClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = client.post("/graphql", json={"query": query, "variables": variables or {}}).json()
    assert "errors" not in body, body["errors"]
    return body["data"]  # type: ignore[no-any-return]


def broker(client: TestClient) -> Broker:
    return client.app.state.orggraph.broker  # type: ignore[attr-defined,no-any-return]


def connect(ws: WebSocketTestSession) -> None:
    ws.send_json({"type": "connection_init"})
    assert ws.receive_json()["type"] == "connection_ack"


def subscribe(
    client: TestClient, ws: WebSocketTestSession, sub_id: str, query: str, topic: str
) -> None:
    before = broker(client).subscriber_count(topic)
    ws.send_json({"id": sub_id, "type": "subscribe", "payload": {"query": query}})
    deadline = time.monotonic() + 60
    while broker(client).subscriber_count(topic) <= before:  # registered: nothing is missed
        assert time.monotonic() < deadline, "the subscription never started"
        time.sleep(0.01)


def next_payload(ws: WebSocketTestSession, sub_id: str) -> dict[str, Any]:
    message = ws.receive_json()
    assert message["type"] == "next", message
    assert message["id"] == sub_id
    assert "errors" not in message["payload"], message["payload"]
    return message["payload"]["data"]  # type: ignore[no-any-return]


KPI_UPDATED = """
subscription { kpiUpdated(kpiId: "calls") {
  kpiId measure teamIds periods { status measurement { id periodStart value } }
  latest { measurement { periodStart } }
} }
"""
COMPUTE = 'mutation { computeKpis(kpiId: "calls", since: "2024-03-01T00:00:00Z") { id } }'
TOUCHPOINT = """
mutation T($id: ID!, $customer: ID!) {
  upsertTouchpoint(input: {id: $id, at: "2024-03-02T10:00:00Z", type: CALL,
                           customerId: $customer, channelId: "phone"}) { id }
}
"""


def seed(client: TestClient) -> None:
    gql(
        client,
        """mutation {
      upsertKpi(input: {id: "calls", name: "Calls", target: 2, window: MONTH,
                        definition: {measure: "TOUCHPOINT_COUNT", type: "CALL"}}) { id }
      upsertChannel(input: {id: "phone", name: "Phone", kind: PHONE}) { id }
      a: upsertCustomer(input: {id: "ann", name: "Ann"}) { id }
      b: upsertCustomer(input: {id: "bob", name: "Bob"}) { id }
    }""",
    )


@pytest.mark.timeout(90)
def test_kpi_updated_is_pushed_after_compute_kpis_commits(client: TestClient) -> None:
    seed(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws)
        subscribe(client, ws, "k", KPI_UPDATED, "kpiUpdated")
        gql(client, TOUCHPOINT, {"id": "t1", "customer": "ann"})
        gql(client, COMPUTE)
        update = next_payload(ws, "k")["kpiUpdated"]
        assert update["kpiId"] == "calls"
        assert update["measure"] == "TOUCHPOINT_COUNT"
        march = update["periods"][0]
        assert march["measurement"]["periodStart"].startswith("2024-03-01T00:00:00")
        assert (march["measurement"]["value"], march["status"]) == (1.0, "OFF_TARGET")
        assert (
            update["latest"]["measurement"]["periodStart"]
            == (update["periods"][-1]["measurement"]["periodStart"])
        )
        ws.send_json({"id": "k", "type": "complete"})
    wait_for_subscribers(client, "kpiUpdated", 0)


def wait_for_subscribers(client: TestClient, topic: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while broker(client).subscriber_count(topic) != count:
        assert time.monotonic() < deadline, broker(client).subscriber_count(topic)
        time.sleep(0.01)


@pytest.mark.timeout(90)
def test_touchpoint_added_filters_and_survives_a_client_leaving_mid_stream(
    client: TestClient,
) -> None:
    seed(client)
    by_ann = (
        'subscription { touchpointAdded(customerId: "ann") '
        "{ customerId channelId touchpoint { id } } }"
    )
    any_phone = (
        'subscription { touchpointAdded(channel: "phone") { customerId touchpoint { id } } }'
    )
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as stays:
        connect(stays)
        subscribe(client, stays, "a", by_ann, "touchpointAdded")
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as leaves:
            connect(leaves)
            subscribe(client, leaves, "p", any_phone, "touchpointAdded")
            gql(client, TOUCHPOINT, {"id": "t1", "customer": "ann"})
            assert next_payload(leaves, "p")["touchpointAdded"]["touchpoint"]["id"] == "t1"
            # ``leaves`` disconnects without completing, with events still to come.
        gql(client, TOUCHPOINT, {"id": "t2", "customer": "bob"})  # not Ann's: filtered out
        gql(client, TOUCHPOINT, {"id": "t3", "customer": "ann"})
        first = next_payload(stays, "a")["touchpointAdded"]
        assert (first["touchpoint"]["id"], first["customerId"], first["channelId"]) == (
            "t1",
            "ann",
            "phone",
        )
        assert next_payload(stays, "a")["touchpointAdded"]["touchpoint"]["id"] == "t3"
        wait_for_subscribers(client, "touchpointAdded", 1)  # ``leaves`` is gone, ``stays`` not


@pytest.mark.timeout(90)
def test_nothing_is_published_for_a_rejected_write(client: TestClient) -> None:
    seed(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        connect(ws)
        subscribe(
            client,
            ws,
            "a",
            "subscription { touchpointAdded { touchpoint { id } } }",
            "touchpointAdded",
        )
        body = client.post(
            "/graphql", json={"query": TOUCHPOINT, "variables": {"id": "t1", "customer": "nobody"}}
        ).json()
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        gql(client, TOUCHPOINT, {"id": "t2", "customer": "ann"})
        assert next_payload(ws, "a")["touchpointAdded"]["touchpoint"]["id"] == "t2"  # not t1


async def test_the_schedule_recomputes_and_publishes_until_stopped(graph: Graph) -> None:
    from datetime import UTC, datetime

    from orggraph.graph.writes import upsert_nodes
    from orggraph.kpi_schedule import run_kpi_schedule

    now = datetime.now(UTC).isoformat()
    await upsert_nodes(
        graph,
        "KPI",
        [
            {
                "id": "calls",
                "name": "Calls",
                "window": "DAY",
                "definition": {"measure": "TOUCHPOINT_COUNT"},
            }
        ],
    )
    await upsert_nodes(graph, "Touchpoint", [{"id": "t", "at": now, "type": "CALL"}])
    events = Broker()
    async with events.subscribe("kpiUpdated") as updates:
        async with run_kpi_schedule(graph, events, interval=0.05) as task:
            first = await asyncio.wait_for(updates.get(), 20)
            await asyncio.wait_for(updates.get(), 20)  # and again, on the next tick
        assert task.cancelled()
    assert first["kpiId"] == "calls"
    assert first["measurements"][-1]["value"] == 1.0
    assert len(first["measurements"]) == 36  # the last 35 days and today


# --- a real WebSocket client against the served app: auth and error codes ---------------------

SECRET = "a-test-secret-of-at-least-32-bytes!"
LEGACY = "graphql-ws"


def bearer(expires_in: int = 300) -> str:
    import jwt

    claims = {"sub": "ana", "roles": ["ANALYST"], "exp": int(time.time()) + expires_in}
    return "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture
def served_with_auth(test_settings: Settings, graph: Graph) -> Iterator[Served]:
    from pydantic import SecretStr

    with Served(test_settings.model_copy(update={"jwt_secret": SecretStr(SECRET)})) as served:
        yield served


@pytest.fixture
def served(test_settings: Settings, graph: Graph) -> Iterator[Served]:
    with Served(test_settings) as served:
        yield served


def close_code(conn: ClientConnection) -> int | None:
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            conn.recv(10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@pytest.mark.timeout(90)
def test_connection_init_without_valid_credentials_is_closed_before_any_document(
    served_with_auth: Served,
) -> None:
    inits: list[dict[str, Any]] = [
        {"type": "connection_init"},
        {"type": "connection_init", "payload": {}},
        {"type": "connection_init", "payload": {"authorization": "Bearer not-a-token"}},
        {"type": "connection_init", "payload": {"authorization": bearer(expires_in=-60)}},
        {"type": "connection_init", "payload": {"apiKey": "unknown"}},
    ]
    for init in inits:
        with served_with_auth.ws() as conn:  # the upgrade request carries no credentials
            send(conn, init)
            assert close_code(conn) == 4403, init
    # Bad credentials in the upgrade request are no better than none.
    with served_with_auth.ws(additional_headers={"Authorization": "Bearer nope"}) as conn:
        send(conn, {"type": "connection_init"})
        assert close_code(conn) == 4403
    with served_with_auth.ws(LEGACY) as conn:
        send(conn, {"type": "connection_init", "payload": {}})
        refused = receive(conn)
        assert refused["type"] == "connection_error"
        assert refused["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
        assert close_code(conn) is not None


@pytest.mark.timeout(90)
def test_credentials_in_connection_init_or_in_the_upgrade_request_are_accepted(
    served_with_auth: Served,
) -> None:
    typename = {"id": "q", "type": "subscribe", "payload": {"query": "{ __typename }"}}
    with served_with_auth.ws() as conn:
        send(conn, {"type": "connection_init", "payload": {"authorization": bearer()}})
        assert receive(conn)["type"] == "connection_ack"
        send(conn, typename)
        assert receive(conn)["payload"] == {"data": {"__typename": "Query"}}
    with served_with_auth.ws(additional_headers={"Authorization": bearer()}) as conn:
        send(conn, {"type": "connection_init"})
        assert receive(conn)["type"] == "connection_ack"
        send(conn, typename)
        assert receive(conn)["payload"] == {"data": {"__typename": "Query"}}


def acked(served: Served, protocol: str = "graphql-transport-ws") -> ClientConnection:
    conn = served.ws(protocol)
    send(conn, {"type": "connection_init"})
    assert receive(conn)["type"] == "connection_ack"
    return conn


def fragment_bomb(levels: int, root: str) -> str:
    parts = [f"fragment F0 on {root} {{ __typename }}"]
    parts += [
        f"fragment F{i} on {root} {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return " ".join(parts) + f" {root.lower()} {{ ...F{levels} }}"


def codes(errors: list[dict[str, Any]]) -> list[str]:
    return [error["extensions"]["code"] for error in errors]


@pytest.mark.timeout(90)
def test_every_graphql_transport_ws_error_carries_a_code(served: Served) -> None:
    with acked(served) as conn:
        refused = {
            "invalid": ("subscription { nope }", "GRAPHQL_VALIDATION_FAILED"),
            "bomb": (fragment_bomb(20, "Subscription"), "QUERY_TOO_COMPLEX"),
            "date": (
                '{ teamService(teamId: "t", at: "0001-01-01T00:00:00+01:00") { team { id } } }',
                "BAD_USER_INPUT",
            ),
        }
        for sub_id, (query, code) in refused.items():
            send(conn, {"id": sub_id, "type": "subscribe", "payload": {"query": query}})
            message = receive(conn)
            assert (message["type"], message["id"]) == ("error", sub_id)
            assert codes(message["payload"]) == [code], message
        # An error while executing (a query over the socket): in the `next` frame.
        missing = '{ teamService(teamId: "nobody") { team { id } } }'
        send(conn, {"id": "missing", "type": "subscribe", "payload": {"query": missing}})
        message = receive(conn)
        assert message["type"] == "next" and codes(message["payload"]["errors"]) == ["NOT_FOUND"]
        assert receive(conn)["type"] == "complete"
        # An error raised inside a subscription's stream (an event it cannot resolve).
        stream = "subscription { touchpointAdded { touchpoint { id } } }"
        send(conn, {"id": "s", "type": "subscribe", "payload": {"query": stream}})
        served.wait_for_subscribers("touchpointAdded", 1)
        served.publish_soon("touchpointAdded", {"not": "a touchpoint"})
        message = receive(conn)
        assert message["type"] == "next" and codes(message["payload"]["errors"]) == ["INTERNAL"]


@pytest.mark.timeout(90)
def test_every_legacy_graphql_ws_error_carries_a_code(served: Served) -> None:
    with acked(served, LEGACY) as conn:
        send(conn, {"id": "v", "type": "start", "payload": {"query": "subscription { nope }"}})
        message = receive(conn)
        assert (message["type"], message["id"]) == ("error", "v")
        assert message["payload"]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        bomb = fragment_bomb(30, "Subscription")
        send(conn, {"id": "b", "type": "start", "payload": {"query": bomb}})
        message = receive(conn)
        assert message["payload"]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_transport_errors_without_a_code_get_one() -> None:
    from orggraph.http_security import with_error_codes

    limit = {"id": "9", "type": "error", "payload": [{"message": "Subscription limit reached"}]}
    assert codes(with_error_codes(limit)["payload"]) == ["BAD_USER_INPUT"]
    legacy = {"id": "9", "type": "error", "payload": {"message": "Subscription limit reached"}}
    assert with_error_codes(legacy)["payload"]["extensions"] == {"code": "BAD_USER_INPUT"}
    coded = {"type": "next", "payload": {"data": None, "errors": [{"extensions": {"code": "X"}}]}}
    assert with_error_codes(coded) == coded


# --- a stock graphql-ws client (npm graphql-ws over ws) against the served app ----------------

WS_CLIENT = Path(__file__).parent / "ws_client"

README_UPSERT = """mutation {
  upsertGraph(input: {
    channels: [{id: "web", name: "Web", kind: WEB}, {id: "phone", name: "Phone", kind: PHONE}]
    customers: [{id: "c1", name: "ACME"}]
    touchpoints: [
      {id: "t2", at: "2024-03-02T09:00:00Z", type: FORM_SUBMIT, customerId: "c1", channelId: "web"}
      {id: "t1", at: "2024-03-01T09:00:00Z", type: PAGE_VIEW, customerId: "c1", channelId: "web"}
      {id: "t3", at: "2024-03-03T09:00:00Z", type: CALL, customerId: "c1", channelId: "phone"}
    ]
  }) { rows nodesCreated }
}"""

MOVE_T3_TO_WEB = """mutation {
  upsertRelationships(kind: TOUCHPOINT_VIA_CHANNEL, rows: [{from: "t3", to: "web"}]) { rows }
}"""


def graphql_ws_client() -> Path:
    """The client's directory with its npm packages installed (from the committed lock)."""
    require_program("node", "the graphql-ws client test runs the npm package")
    npm = require_program("npm", "the graphql-ws client test installs the npm package")
    if not (WS_CLIENT / "node_modules" / "graphql-ws").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=WS_CLIENT,
            check=True,
            timeout=600,
        )
    return WS_CLIENT


def post(served: Served, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        served.url + "/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body: dict[str, Any] = json.loads(response.read())
    assert "errors" not in body, body
    return body


@pytest.mark.timeout(300)
def test_a_graphql_ws_client_gets_what_upsert_graph_changed_and_nothing_for_a_replay(
    served: Served,
) -> None:
    document = (
        'subscription { touchpointAdded(channelId: "web") '
        "{ customerId channelId touchpoint { id type } } }"
    )
    with stock_client(served, 3, document) as client:
        served.wait_for_subscribers("touchpointAdded", 1)
        assert post(served, README_UPSERT)["data"]["upsertGraph"]["nodesCreated"] == 6
        replay = post(served, README_UPSERT)["data"]["upsertGraph"]
        assert replay["nodesCreated"] == 0  # an identical write changes nothing: no event
        post(served, MOVE_T3_TO_WEB)  # t3 now comes via the web: an event for it
        events = payloads(client, "touchpointAdded")
    # t1 and t2 (web) from the upsert, none from the replay, then t3 moved to the web;
    # t3's first write came via the phone, which the filter leaves out.
    assert events == [
        {"customerId": "c1", "channelId": "web", "touchpoint": {"id": "t1", "type": "PAGE_VIEW"}},
        {"customerId": "c1", "channelId": "web", "touchpoint": {"id": "t2", "type": "FORM_SUBMIT"}},
        {"customerId": "c1", "channelId": "web", "touchpoint": {"id": "t3", "type": "CALL"}},
    ]


@contextlib.contextmanager
def stock_client(served: Served, count: int, document: str) -> Iterator[subprocess.Popen[str]]:
    """The stock client subscribed to ``document`` until ``count`` payloads arrived (killed
    on the way out if it is still running)."""
    client = subprocess.Popen(
        ["node", "subscribe.mjs", f"ws://127.0.0.1:{served.port}/graphql", str(count), document],
        cwd=graphql_ws_client(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield client
    finally:
        client.kill()
        client.wait()


def payloads(client: subprocess.Popen[str], field: str) -> list[dict[str, Any]]:
    """What the client printed once it exits (after its last payload)."""
    out, err = client.communicate(timeout=120)
    assert client.returncode == 0, err
    return [json.loads(line)["data"][field] for line in out.splitlines()]


@pytest.mark.timeout(300)
def test_a_graphql_ws_client_gets_each_deleted_touchpoint_once_cascade_included(
    served: Served,
) -> None:
    document = 'subscription { touchpointRemoved(customerId: "c1") { id customerId channelId at } }'
    delete_t2 = 'mutation { deleteTouchpoint(id: "t2") { deletedIds } }'
    with stock_client(served, 3, document) as client:
        served.wait_for_subscribers("touchpointRemoved", 1)
        post(served, README_UPSERT)
        assert post(served, delete_t2)["data"]["deleteTouchpoint"]["deletedIds"] == ["t2"]
        assert post(served, delete_t2)["data"]["deleteTouchpoint"]["deletedIds"] == []
        post(served, 'mutation { deleteCustomer(id: "c1", cascade: true) { deletedIds } }')
        events = payloads(client, "touchpointRemoved")
    # t2 once (the repeated delete sends nothing), then the cascade's t1 and t3.
    assert [(e["id"], e["customerId"], e["channelId"], e["at"][:10]) for e in events] == [
        ("t2", "c1", "web", "2024-03-02"),
        ("t1", "c1", "web", "2024-03-01"),
        ("t3", "c1", "phone", "2024-03-03"),
    ]


def test_kpi_updated_latest_is_the_last_complete_period_and_current_the_partial_one() -> None:
    from datetime import UTC, datetime

    from orggraph.schema.subscriptions import KpiUpdate

    def month(start: int, at: datetime) -> dict[str, Any]:
        return {
            "id": f"k:{start}",
            "at": at,
            "periodStart": datetime(2026, start, 1, tzinfo=UTC),
            "periodEnd": datetime(2026, start + 1, 1, tzinfo=UTC),
            "value": float(start),
        }

    now = datetime(2026, 3, 18, tzinfo=UTC)  # computed during March
    update = KpiUpdate.from_event(
        {
            "kpiId": "k",
            "measure": "TOUCHPOINT_COUNT",
            "teamIds": [],
            "measurements": [month(1, now), month(2, now), month(3, now)],
        }  # fmt: skip
    )
    assert update.latest() is not None and update.latest().measurement.value == 2.0
    assert update.current() is not None and update.current().measurement.value == 3.0
    done = KpiUpdate.from_event(
        {
            "kpiId": "k",
            "measure": "TOUCHPOINT_COUNT",
            "teamIds": [],
            "measurements": [month(1, now), month(2, now)],
        }  # fmt: skip
    )
    assert done.latest() is not None and done.latest().measurement.value == 2.0
    assert done.current() is None
