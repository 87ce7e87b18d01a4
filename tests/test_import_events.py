"""Bulk loads (the OCEL datasets, ``orggraph seed``) report the touchpoints they changed when
asked (``ChangeTracking``), bounded; the events published for them name exactly those.

By hand: c1 gets a1 (CALL) and a2 (EMAIL): both are new. The same rows again change nothing.
a2 as a MEETING changes a2 only; a2 VIA web changes a2 only, and again nothing."""

from __future__ import annotations

from datetime import date

from orggraph.events import Broker, publish_touchpoints
from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import (
    ChangeTracking,
    load_relationships,
    load_touchpoints,
)
from orggraph.graph.model import RelationshipKind
from orggraph.graph.seed import seed_organisation
from orggraph.graph.writes import upsert_nodes

A1 = {"id": "a1", "at": "2024-01-01T00:00:00Z", "type": "CALL", "customerId": "c1"}
A2 = {"id": "a2", "at": "2024-01-02T00:00:00Z", "type": "EMAIL", "customerId": "c1"}
VIA_WEB = [{"from": "a2", "to": "web"}]


async def test_a_bulk_load_reports_what_it_changed_and_a_replay_nothing(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C1"}])
    await upsert_nodes(graph, "Channel", [{"id": "web", "name": "Web", "kind": "WEB"}])
    tracking = ChangeTracking(limit=100)

    async def touchpoints(*rows: dict[str, str]) -> list[str]:
        written = await load_touchpoints(graph, rows, batch_size=1, tracking=tracking)
        return written.changed_touchpoints

    assert await touchpoints(A1, A2) == ["a1", "a2"]
    assert await touchpoints(A1, A2) == []
    assert await touchpoints(A1, A2 | {"type": "MEETING"}) == ["a2"]
    via = RelationshipKind.TOUCHPOINT_VIA_CHANNEL
    loaded = await load_relationships(graph, via, VIA_WEB, tracking=tracking)
    assert loaded.summary.changed_touchpoints == ["a2"]
    again = await load_relationships(graph, via, VIA_WEB, tracking=tracking)
    assert again.summary.changed_touchpoints == []
    assert (tracking.written, tracking.exceeded) == (8, False)

    broker = Broker()
    async with broker.subscribe("touchpointAdded") as added:
        await publish_touchpoints(graph, broker, loaded.summary.changed_touchpoints)
        event = await added.get()
        assert (event["id"], event["type"], event["customerId"], event["channelId"]) == (
            "a2",
            "MEETING",
            "c1",
            "web",
        )
        assert added.queue.empty()


async def test_a_bulk_load_past_its_limit_stops_tracking(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C1"}])
    tracking = ChangeTracking(limit=1)
    written = await load_touchpoints(graph, [A1, A2], batch_size=1, tracking=tracking)
    assert tracking.exceeded  # the caller must not trust the list: it publishes none
    assert written.changed_touchpoints == ["a1"]
    untracked = await load_touchpoints(graph, [A1 | {"type": "MEETING"}])
    assert untracked.changed_touchpoints == []  # no tracking asked: nothing read


async def test_a_seed_reports_its_touchpoints_once_and_a_replay_none(graph: Graph) -> None:
    day = date(2024, 6, 1)  # the same data both times, whatever the clock says
    first = ChangeTracking(limit=1_000)
    seeded = await seed_organisation(graph, customers=3, seed=7, today=day, tracking=first)
    assert seeded.touchpoints > 0
    assert sorted(seeded.writes.changed_touchpoints) == sorted(
        r["id"] for r in await graph.query("MATCH (t:Touchpoint) RETURN t.id AS id")
    )
    again = ChangeTracking(limit=1_000)
    replay = await seed_organisation(graph, customers=3, seed=7, today=day, tracking=again)
    assert replay.writes.changed_touchpoints == []
