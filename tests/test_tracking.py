"""Live tracking: the Segment HTTP API (/v1/*) against the app and a real Neo4j, and the
real Segment Python library sending to the served app, seen by a live subscriber."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from segment.analytics.client import Client  # type: ignore[import-untyped]
from starlette.testclient import TestClient

from orggraph.app import create_app
from orggraph.events import TOUCHPOINT_EVENTS
from orggraph.graph.changes import RECORD_CHANGES
from orggraph.graph.driver import ID_ANCHORED, Graph, recording
from orggraph.graph.journeys import MERGE_TOUCHPOINTS_WITH_STATES
from orggraph.graph.model import REFS
from orggraph.graph.touchpoint_changes import touchpoint_event
from orggraph.graph.tracking import (
    WRITE_TRACKING_ROWS,
    TrackingMapping,
    map_batch,
    now,
    write_tracked,
)
from orggraph.graph.write_rules import WriteSummary, missing_refs_query
from orggraph.graph.writes import set_ref_query
from orggraph.settings import Settings
from tests.helpers import unlabelled_entities
from tests.served import Served, receive, send

WRITE_KEY = "wk-website"
KEYS = {WRITE_KEY: "website", "wk-app": "mobile-app"}


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def tracking_settings(test_settings: Settings) -> Settings:
    return test_settings.model_copy(update={"tracking_write_keys": KEYS})


@pytest.fixture
def client(tracking_settings: Settings, graph: Graph) -> Iterator[TestClient]:
    # ``graph`` empties the database first; the app opens its own driver in its own loop.
    with TestClient(create_app(tracking_settings)) as test_client:
        yield test_client


def post_batch(client: TestClient, events: Sequence[Any], key: str = WRITE_KEY) -> Any:
    return client.post("/v1/batch", json={"batch": events}, headers=basic(key))


def track(
    message_id: str, at: str, event: str | None = "Demo Requested", **fields: Any
) -> dict[str, Any]:
    return {"type": "track", "messageId": message_id, "timestamp": at, "event": event, **fields}


def page(message_id: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"type": "page", "messageId": message_id, "timestamp": at, **fields}


async def chain(graph: Graph, customer_id: str) -> list[str]:
    """The customer's touchpoints along NEXT from the first (none before it)."""
    records = await graph.query(
        "MATCH (c:Customer {id: $id})-[:HAD]->(first:Touchpoint) "
        "WHERE NOT (:Touchpoint)-[:NEXT]->(first) "
        "MATCH path = (first)-[:NEXT*0..]->(last) WHERE NOT (last)-[:NEXT]->() "
        "RETURN [t IN nodes(path) | t.id] AS ids",
        id=customer_id,
    )
    assert len(records) == 1, records
    return list(records[0]["ids"])


async def counts(graph: Graph) -> tuple[int, int]:
    nodes = await graph.query("MATCH (n) WHERE NOT n:Migration RETURN count(n) AS n")
    rels = await graph.query("MATCH ()-[r]->() RETURN count(r) AS n")
    return nodes[0]["n"], rels[0]["n"]


# --- the door ---------------------------------------------------------------------------


def test_without_write_keys_the_endpoints_are_off(test_settings: Settings, graph: Graph) -> None:
    with TestClient(create_app(test_settings)) as plain:
        response = plain.post("/v1/batch", json={"batch": []}, headers=basic(WRITE_KEY))
    assert response.status_code == 404


def test_a_request_needs_a_known_write_key(client: TestClient) -> None:
    event = track("m1", "2024-03-01T10:00:00Z", userId="u1")
    missing = client.post("/v1/track", json=event)
    wrong = client.post("/v1/track", json=event, headers=basic("wk-nope"))
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["code"] == wrong.json()["code"] == "UNAUTHENTICATED"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    # analytics.js: the key in the body, a text/plain body (no CORS preflight), /v1/t.
    in_body = client.post(
        "/v1/t",
        content=json.dumps({**event, "writeKey": WRITE_KEY}),
        headers={"Content-Type": "text/plain"},
    )
    assert in_body.status_code == 200, in_body.json()
    assert in_body.json() == {"success": True, "accepted": 1, "rejected": []}
    assert in_body.headers["Access-Control-Allow-Origin"] == "*"


def test_a_batch_above_500_kb_is_refused_whole(client: TestClient, graph: Graph) -> None:
    events = [
        track(f"m{i}", "2024-03-01T10:00:00Z", userId="u1", properties={"pad": "x" * 20_000})
        for i in range(30)
    ]
    response = post_batch(client, events)
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_bad_events_are_reported_by_index_and_field_and_the_good_ones_written(
    client: TestClient, graph: Graph
) -> None:
    events: list[Any] = [
        track("good-1", "2024-03-01T10:00:00Z", userId="u1"),
        {"type": "track", "timestamp": "2024-03-01T10:01:00Z", "userId": "u1", "event": "X"},
        track("no-name", "2024-03-01T10:02:00Z", event=None, userId="u1"),
        track("bad-revenue", "2024-03-01T10:03:00Z", userId="u1", properties={"revenue": "lots"}),
        track("huge", "2024-03-01T10:04:00Z", userId="u1", properties={"pad": "x" * 33_000}),
        track("nobody", "2024-03-01T10:05:00Z"),
        {"type": "purchase", "messageId": "odd-type", "userId": "u1"},
        page("good-2", "2024-03-01T10:06:00Z", anonymousId="a1"),
        "not an object",
    ]
    response = post_batch(client, events)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(e["index"], e["messageId"], e["field"], e["code"]) for e in body["rejected"]] == [
        (1, None, "messageId", "BAD_USER_INPUT"),
        (2, "no-name", "event", "BAD_USER_INPUT"),
        (3, "bad-revenue", "properties.revenue", "BAD_USER_INPUT"),
        (4, "huge", "(event)", "PAYLOAD_TOO_LARGE"),
        (5, "nobody", "userId", "BAD_USER_INPUT"),
        (6, "odd-type", "type", "BAD_USER_INPUT"),
        (8, None, "(event)", "BAD_USER_INPUT"),
    ]
    records = await graph.query("MATCH (t:Touchpoint) RETURN t.id AS id ORDER BY id")
    assert [r["id"] for r in records] == ["website:good-1", "website:good-2"]
    assert await unlabelled_entities(graph) == []


def test_a_batch_of_only_bad_events_is_a_400_naming_each(client: TestClient) -> None:
    response = post_batch(client, [track("x", "not a date", userId="u1")])
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["rejected"]] == [(0, "timestamp")]


async def test_a_resent_batch_changes_nothing(client: TestClient, graph: Graph) -> None:
    events = [
        page("m1", "2024-03-01T10:00:00Z", anonymousId="a1"),
        track("m2", "2024-03-01T10:05:00Z", anonymousId="a1"),
        {
            "type": "identify",
            "messageId": "m3",
            "timestamp": "2024-03-01T10:06:00Z",
            "userId": "u1",
            "anonymousId": "a1",
            "traits": {"email": "ann@example.com", "name": "Ann"},
        },
        track("m4", "2024-03-01T10:07:00Z", userId="u1", properties={"revenue": 10}),
    ]
    assert post_batch(client, events).json()["accepted"] == 4
    before = await counts(graph)
    props_before = await graph.query("MATCH (n) RETURN n.id AS id, properties(n) AS p ORDER BY id")
    assert post_batch(client, events).json()["accepted"] == 4
    assert await counts(graph) == before
    after = await graph.query("MATCH (n) RETURN n.id AS id, properties(n) AS p ORDER BY id")
    assert [dict(r) for r in after] == [dict(r) for r in props_before]
    assert await chain(graph, "u1") == ["website:m1", "website:m2", "website:m4"]


async def write_events(graph: Graph, events: Sequence[dict[str, Any]]) -> WriteSummary:
    """The events written as the endpoint writes a group: mapped, then one transaction."""
    batch, errors = map_batch(events, "website", TrackingMapping(), now())
    assert errors == []
    return await graph.write(lambda tx: write_tracked(tx, batch, TrackingMapping()))


async def test_a_resent_event_is_news_again_only_when_its_content_changed(graph: Graph) -> None:
    """A messageId sent again is the same touchpoint: unchanged, nothing is written or
    reported; with other content, the touchpoint takes it (the last sent wins) and is
    reported again, as an upsert of it would be."""
    first = page("m1", "2024-03-01T10:00:00Z", anonymousId="a1", name="/pricing")
    assert (await write_events(graph, [first])).changed_touchpoints == ["website:m1"]
    nodes = await counts(graph)
    again = await write_events(graph, [first])
    assert again.changed_touchpoints == []
    assert (again.nodes_created, again.relationships_created, again.relationships_deleted) == (
        0,
        0,
        0,
    )
    edited = await write_events(graph, [{**first, "name": "/docs"}])
    assert edited.changed_touchpoints == ["website:m1"]
    assert await counts(graph) == nodes
    stored = await graph.query("MATCH (t:Touchpoint) RETURN t.id AS id, t.activity AS activity")
    assert [dict(r) for r in stored] == [{"id": "website:m1", "activity": "/docs"}]


async def test_a_merged_visitor_that_an_event_of_the_group_names_is_kept(graph: Graph) -> None:
    """The touchpoints' references are not checked again after the tracking rows merged
    them, so the emptied visitors deleted in between must not include one that an event
    of the same group names: a userId spelled as the visitor's customer id."""
    await write_events(graph, [page("v1", "2024-03-01T10:00:00Z", anonymousId="x")])
    identify = {"type": "identify", "messageId": "i1", "timestamp": "2024-03-01T11:00:00Z"}
    await write_events(
        graph,
        [
            identify | {"userId": "u", "anonymousId": "x"},
            track("t1", "2024-03-01T12:00:00Z", userId="anonymous:x"),
        ],
    )
    owners = await graph.query(
        "MATCH (c:Customer)-[:HAD]->(t:Touchpoint) RETURN t.id AS t, c.id AS c ORDER BY t"
    )
    assert [dict(r) for r in owners] == [
        {"t": "website:t1", "c": "anonymous:x"},
        {"t": "website:v1", "c": "u"},
    ]


async def test_a_group_costs_the_same_round_trips_whatever_its_size(graph: Graph) -> None:
    """Visitors, users, an identify merging a visitor who has touchpoints, traits and a
    campaign: the same statements for 3 events of each kind as for 30."""

    def events(tag: str, n: int) -> list[dict[str, Any]]:
        at = "2024-03-01T10:00:00Z"
        later = "2024-03-01T11:00:00Z"
        return [
            *(page(f"{tag}v{i}", at, anonymousId=f"{tag}a{i}") for i in range(n)),
            *(
                track(f"{tag}u{i}", later, userId=f"{tag}u{i}", context={"campaign": {"name": "S"}})
                for i in range(n)
            ),
            *(
                {"type": "identify", "messageId": f"{tag}i{i}", "timestamp": later}
                | {"userId": f"{tag}u{i}", "anonymousId": f"{tag}a{i}", "traits": {"name": "N"}}
                for i in range(n)
            ),
        ]

    statements: list[int] = []
    for tag, n in (("small", 3), ("large", 30)):
        await write_events(graph, events(tag, n)[:n])  # the visitors, who are then merged
        with recording() as log:
            await write_events(graph, events(tag, n)[n:])
        statements.append(log.count)
    # the tracking rows; the merge (customers of the moved touchpoints, their HAD, one
    # journey rebuild, the emptied visitors); the touchpoints (merge, append, their
    # channel days linked): their references were merged by the tracking rows, so they
    # are not checked again
    assert statements == [8, 8]


# Operators whose choice depends on the graph's statistics (how many nodes of a label,
# of a type): a plan kept while the graph grows must have none of them.
STATISTICS_BOUND_OPERATORS = ("Scan", "HashJoin", "CartesianProduct", "Triadic")


def operators(plan: Any) -> Iterator[str]:
    yield str(plan["operatorType"]).split("@")[0]
    for child in plan.get("children", []):
        yield from operators(child)


async def test_every_id_anchored_write_statement_finds_its_nodes_by_unique_id(
    graph: Graph,
) -> None:
    """The tracking group's statements (``id_anchored``) each find every node by a unique id
    seek or by expanding from one, with no operator that the graph's statistics would
    choose."""
    missing_refs_query("Touchpoint")  # built on first use, like every label's
    set_ref_query("Touchpoint", REFS["Touchpoint"]["customer_id"])
    assert {RECORD_CHANGES, WRITE_TRACKING_ROWS, MERGE_TOUCHPOINTS_WITH_STATES} <= set(ID_ANCHORED)

    async with graph.driver.session(database=graph.database) as session:
        for query in ID_ANCHORED:
            result = await session.run("EXPLAIN " + query)
            plan = list(operators((await result.consume()).plan))
            assert any("Seek" in op for op in plan) or "RETURN [" in query, (query, plan)
            bound = [op for op in plan if any(word in op for word in STATISTICS_BOUND_OPERATORS)]
            assert bound == [], (query, bound)


async def test_the_event_of_a_written_state_is_the_event_read_after_the_commit(
    graph: Graph,
) -> None:
    """``touchpointAdded`` built from a state the write computed is what the read after
    the commit (``publish_touchpoints``) gives."""
    written = await write_events(
        graph,
        [
            track("m1", "2024-03-01T10:00:00Z", userId="u1", properties={"revenue": 12.5}),
            page(
                "m2", "2024-03-01T10:01:00Z", anonymousId="a1", context={"campaign": {"name": "X"}}
            ),
        ],
    )
    read = await graph.query(TOUCHPOINT_EVENTS, ids=written.changed_touchpoints)
    assert [touchpoint_event(written.changed_states[i]) for i in written.changed_touchpoints] == [
        dict(r["touchpoint"]) for r in read
    ]


# --- the mapping ------------------------------------------------------------------------


async def test_identify_merges_the_visitor_into_the_customer_in_time_order(
    client: TestClient, graph: Graph
) -> None:
    # Known customer u1 before and after; visitor a1 in between, then identified.
    post_batch(
        client,
        [
            track("k0", "2024-03-01T09:00:00Z", userId="u1"),
            track("k4", "2024-03-01T11:00:00Z", userId="u1"),
            page("v1", "2024-03-01T10:00:00Z", anonymousId="a1"),
            track("v2", "2024-03-01T10:05:00Z", anonymousId="a1"),
        ],
    )
    assert await chain(graph, "anonymous:a1") == ["website:v1", "website:v2"]
    identify = {
        "type": "identify",
        "messageId": "i1",
        "userId": "u1",
        "anonymousId": "a1",
        "traits": {"email": "Ann@Example.com", "firstName": "Ann", "lastName": "Lee"},
    }
    assert client.post("/v1/identify", json=identify, headers=basic(WRITE_KEY)).status_code == 200
    assert await chain(graph, "u1") == ["website:k0", "website:v1", "website:v2", "website:k4"]
    gone = await graph.query("MATCH (c:Customer {id: 'anonymous:a1'}) RETURN c")
    assert gone == []
    # Later events of the same browser, anonymous only, are the customer's.
    post_batch(client, [track("v5", "2024-03-01T12:00:00Z", anonymousId="a1")])
    assert (await chain(graph, "u1"))[-1] == "website:v5"
    latest = await graph.query("MATCH (:Customer {id: 'u1'})-[:LATEST]->(t) RETURN t.id AS id")
    assert [r["id"] for r in latest] == ["website:v5"]
    # The email is personal data: only its ciphertext and keyed hash are stored.
    record = (await graph.query("MATCH (c:Customer {id: 'u1'}) RETURN c AS c"))[0]["c"]
    assert record["name"] == "Ann Lee"
    assert record["email"].startswith("pii:v1:")
    assert graph.personal is not None
    assert record["emailHash"] == graph.personal.lookup_hash("Customer", "email", "ann@example.com")


async def test_alias_moves_the_previous_id_into_the_user(client: TestClient, graph: Graph) -> None:
    post_batch(
        client,
        [
            track("u-0", "2024-03-02T07:00:00Z", userId="u2"),
            page("a-1", "2024-03-02T08:00:00Z", anonymousId="a2"),
            page("a-2", "2024-03-02T06:00:00Z", anonymousId="a2"),
        ],
    )
    alias = {"type": "alias", "messageId": "al", "previousId": "a2", "userId": "u2"}
    response = client.post("/v1/alias", json=alias, headers=basic(WRITE_KEY))
    assert response.json() == {"success": True, "accepted": 1, "rejected": []}
    assert await chain(graph, "u2") == ["website:a-2", "website:u-0", "website:a-1"]
    assert await graph.query("MATCH (c:Customer {id: 'anonymous:a2'}) RETURN c") == []


async def test_events_map_to_type_activity_value_channel_and_campaign(
    client: TestClient, graph: Graph
) -> None:
    context = {
        "campaign": {"name": "Spring Sale", "source": "newsletter", "medium": "email"},
        "page": {"url": "https://shop.example.com/offer", "path": "/offer"},
    }
    google = {"page": {"url": "https://shop.example.com/", "referrer": "https://www.google.com/"}}
    own = {"page": {"url": "https://shop.example.com/b", "referrer": "https://shop.example.com/a"}}
    post_batch(
        client,
        [
            page("p1", "2024-03-03T10:00:00Z", userId="u3", context=context, name="Offer"),
            page("p2", "2024-03-03T10:01:00Z", userId="u3", context=google),
            page("p3", "2024-03-03T10:02:00Z", userId="u3", context=own),
            track(
                "t1",
                "2024-03-03T10:03:00Z",
                "Order Completed",
                userId="u3",
                properties={"revenue": 99.5, "currency": "EUR"},
            ),
            track("t2", "2024-03-03T10:04:00Z", "Wishlist Shared", userId="u3"),
        ],
    )
    post_batch(
        client,
        [{"type": "screen", "messageId": "s1", "userId": "u3", "name": "Home"}],
        key="wk-app",
    )
    records = await graph.query(
        "MATCH (t:Touchpoint)-[:VIA]->(ch:Channel) OPTIONAL MATCH (t)-[:FROM]->(c:Campaign) "
        "RETURN t.id AS id, t.type AS type, t.activity AS activity, t.value AS value, "
        "ch.id + '/' + ch.kind AS channel, c.id + '/' + c.sourceKind AS campaign ORDER BY id"
    )
    assert [tuple(r.values()) for r in records] == [
        ("mobile-app:s1", "PAGE_VIEW", "Home", None, "mobile-app/APP", None),
        ("website:p1", "PAGE_VIEW", "Offer", None, "website/WEB", "utm:spring-sale/EMAIL"),
        ("website:p2", "PAGE_VIEW", "/", None, "website/WEB", "referrer:google.com/ORGANIC"),
        ("website:p3", "PAGE_VIEW", "/b", None, "website/WEB", None),
        ("website:t1", "PURCHASE", "Order Completed", 99.5, "website/WEB", None),
        ("website:t2", "OTHER", "Wishlist Shared", None, "website/WEB", None),
    ]


def test_a_configured_event_name_maps_to_its_touchpoint_type(
    tracking_settings: Settings, graph: Graph
) -> None:
    settings = tracking_settings.model_copy(
        update={"tracking_event_types": {"Wishlist Shared": "SOCIAL"}, "tracking_user_prefix": "c-"}
    )
    with TestClient(create_app(settings)) as client:
        gzipped = gzip.compress(
            json.dumps(
                {"batch": [track("w", "2024-03-03T10:00:00Z", "Wishlist Shared", userId="7")]}
            ).encode()
        )
        response = client.post(
            "/v1/batch",
            content=gzipped,
            headers={**basic(WRITE_KEY), "Content-Encoding": "gzip"},
        )
        assert response.json()["accepted"] == 1
        answer = client.post(
            "/graphql", json={"query": '{ customer(id: "c-7") { touchpoints { id type } } }'}
        ).json()
    assert answer["data"]["customer"]["touchpoints"] == [{"id": "website:w", "type": "SOCIAL"}]


# --- a real Segment library, a live subscriber ----------------------------------------------


@pytest.mark.timeout(120)
def test_the_segment_python_library_feeds_the_graph_and_a_live_subscriber(
    tracking_settings: Settings, graph: Graph
) -> None:

    with Served(tracking_settings) as served:
        conn = served.ws()
        send(conn, {"type": "connection_init"})
        assert receive(conn)["type"] == "connection_ack"
        query = (
            'subscription { touchpointAdded(customerId: "u9") '
            "{ customerId channelId touchpoint { id type activity value } } }"
        )
        send(conn, {"id": "s", "type": "subscribe", "payload": {"query": query}})
        served.wait_for_subscribers("touchpointAdded", 1)
        errors: list[Any] = []
        segment = Client(
            write_key=WRITE_KEY,
            host=served.url,
            sync_mode=True,
            on_error=lambda error, _: errors.append(error),
        )
        segment.page(anonymous_id="a9", name="Pricing", timestamp=None, message_id="lib-1")
        segment.identify(user_id="u9", anonymous_id="a9", traits={"email": "zoe@example.com"})
        segment.track(
            user_id="u9",
            event="Order Completed",
            properties={"revenue": 42.0},
            message_id="lib-2",
        )
        segment.flush()
        assert errors == []
        message = receive(conn, 60)
        conn.close()
    assert message["type"] == "next", message
    added = message["payload"]["data"]["touchpointAdded"]
    assert added == {
        "customerId": "u9",
        "channelId": "website",
        "touchpoint": {
            "id": "website:lib-2",
            "type": "PURCHASE",
            "activity": "Order Completed",
            "value": 42.0,
        },
    }


async def test_the_library_run_left_a_merged_journey(
    tracking_settings: Settings, graph: Graph
) -> None:
    """The same calls as above, checked in the graph (its own test: a clean database)."""

    with Served(tracking_settings) as served:
        segment = Client(write_key=WRITE_KEY, host=served.url, sync_mode=True)
        segment.page(anonymous_id="a9", name="Pricing", message_id="lib-1")
        segment.identify(user_id="u9", anonymous_id="a9", traits={"email": "zoe@example.com"})
        segment.track(user_id="u9", event="Order Completed", message_id="lib-2")
    assert await chain(graph, "u9") == ["website:lib-1", "website:lib-2"]
    assert graph.personal is not None
    stored = await graph.query("MATCH (c:Customer {id: 'u9'}) RETURN c.emailHash AS h")
    assert stored[0]["h"] == graph.personal.lookup_hash("Customer", "email", "zoe@example.com")


# --- group commit -----------------------------------------------------------------------------


async def test_requests_arriving_during_a_write_share_the_next_transaction() -> None:
    from orggraph.graph.tracking import TrackedBatch
    from orggraph.tracking_http import GroupWriter

    groups: list[list[str]] = []
    started: dict[str, asyncio.Event] = {"a": asyncio.Event(), "x": asyncio.Event()}
    release: dict[str, asyncio.Event] = {"a": asyncio.Event(), "x": asyncio.Event()}

    async def write(batches: Sequence[TrackedBatch]) -> None:
        groups.append([b.source for b in batches])
        first = batches[0].source
        if first in started:  # held in flight until the test releases it
            started[first].set()
            await release[first].wait()
        if any(b.source == "bad" for b in batches):
            raise RuntimeError("the transaction failed")

    writer = GroupWriter(write)

    async def while_in_flight(held: str, sources: Sequence[str]) -> list[Any]:
        first = asyncio.create_task(writer.submit(TrackedBatch(source=held)))
        await started[held].wait()
        later = [asyncio.create_task(writer.submit(TrackedBatch(source=s))) for s in sources]
        while len(writer.pending) < len(sources):  # all queued behind the write in flight
            await asyncio.sleep(0)
        release[held].set()
        await first
        return await asyncio.gather(*later, return_exceptions=True)

    assert await while_in_flight("a", "bcd") == [None, None, None]
    assert groups == [["a"], ["b", "c", "d"]]
    # A failed transaction fails every request whose rows it held, and only those.
    results = await while_in_flight("x", ["e", "bad"])
    assert [type(r).__name__ for r in results] == ["RuntimeError", "RuntimeError"]
    await writer.submit(TrackedBatch(source="f"))
    assert groups[2:] == [["x"], ["e", "bad"], ["f"]]
    # The request writing a group is cancelled (its client went away): the others of its
    # group are answered DATABASE_UNAVAILABLE (their clients retry), none waits forever.
    for name in ("p", "q"):
        started[name], release[name] = asyncio.Event(), asyncio.Event()
    p = asyncio.create_task(writer.submit(TrackedBatch(source="p")))
    await started["p"].wait()
    q, r = (asyncio.create_task(writer.submit(TrackedBatch(source=s))) for s in "qr")
    while len(writer.pending) < 2:
        await asyncio.sleep(0)
    release["p"].set()
    await p
    await started["q"].wait()  # q writes the group [q, r]
    q.cancel()
    answers = await asyncio.gather(q, r, return_exceptions=True)
    assert groups[-1] == ["q", "r"]
    assert [type(a).__name__ for a in answers] == ["CancelledError", "DatabaseUnavailableError"]


async def test_concurrent_requests_all_land_with_their_chains(
    tracking_settings: Settings, graph: Graph
) -> None:
    import httpx

    with Served(tracking_settings) as served:

        def batch(n: int) -> list[dict[str, Any]]:
            # Customer u<n % 3>: the requests of a customer interleave in time.
            return [
                track(f"c{n}-{i}", f"2024-03-05T10:{n:02d}:{i:02d}Z", userId=f"u{n % 3}")
                for i in range(5)
            ]

        async with httpx.AsyncClient(
            base_url=served.url, headers=basic(WRITE_KEY), timeout=120
        ) as http:
            answers = await asyncio.gather(
                *(http.post("/v1/batch", json={"batch": batch(n)}) for n in range(9))
            )
    assert [a.json()["accepted"] for a in answers] == [5] * 9
    for customer in range(3):
        expected = [f"website:c{n}-{i}" for n in range(customer, 9, 3) for i in range(5)]
        assert await chain(graph, f"u{customer}") == expected
