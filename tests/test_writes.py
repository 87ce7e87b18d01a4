"""The write layer: idempotent upserts, validation before writing, the journey chain."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from orggraph.errors import BadInputError, NotFoundError
from orggraph.graph.driver import Graph, recording
from orggraph.graph.journeys import (
    APPEND_TO_JOURNEYS,
    INSERT_INTO_JOURNEYS,
    REBUILD_JOURNEYS,
    rebuild_chains,
)
from orggraph.graph.model import RelationshipKind
from orggraph.graph.writes import upsert_nodes, upsert_relationships


async def count(graph: Graph, query: str, **params: Any) -> int:
    records, _, _ = await graph.driver.execute_query(query, params, database_=graph.database)
    return int(records[0][0])


async def chain(graph: Graph, customer_id: str) -> list[str]:
    """The customer's chain, followed along NEXT from its first touchpoint."""
    records, _, _ = await graph.driver.execute_query(
        "MATCH (c:Customer {id: $id})-[:HAD]->(first:Touchpoint) "
        "WHERE NOT ()-[:NEXT]->(first) "
        "MATCH p = (first)-[:NEXT*0..]->(last) WHERE NOT (last)-[:NEXT]->() "
        "RETURN [t IN nodes(p) | t.id] AS ids",
        {"id": customer_id},
        database_=graph.database,
    )
    assert len(records) == 1, "exactly one chain start and end"
    return list(records[0]["ids"])


def touchpoint(tid: str, at: str, customer: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"id": tid, "at": at, "type": "EMAIL", "customerId": customer, **extra}


async def test_upserting_the_same_batch_twice_changes_nothing(graph: Graph) -> None:
    teams = [{"id": f"t{i}", "name": f"Team {i}", "kind": "TEAM"} for i in range(3)]
    first = await upsert_nodes(graph, "Team", teams)
    second = await upsert_nodes(graph, "Team", teams)
    assert first.nodes_created == 3
    assert second.nodes_created == 0
    assert await count(graph, "MATCH (t:Team) RETURN count(t)") == 3


async def test_an_upsert_updates_properties_in_place(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "Old", "segment": "SMB"}])
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "New"}])
    records, _, _ = await graph.driver.execute_query(
        "MATCH (c:Customer) RETURN c.name AS name, c.segment AS segment", database_=graph.database
    )
    assert [(r["name"], r["segment"]) for r in records] == [("New", "SMB")]


async def test_a_batch_with_one_bad_row_writes_nothing_and_names_row_and_field(
    graph: Graph,
) -> None:
    rows = [
        {"id": "c1", "name": "Ok"},
        {"id": "c2", "name": "Also ok"},
        {"id": "c3", "name": "Bad", "kind": "ALIEN"},
    ]
    with pytest.raises(BadInputError) as caught:
        await upsert_nodes(graph, "Customer", rows)
    assert caught.value.details["row"] == 2
    assert caught.value.details["field"] == "kind"
    assert "c3" in caught.value.message
    assert await count(graph, "MATCH (c:Customer) RETURN count(c)") == 0


@pytest.mark.parametrize(
    ("bad_id", "reason"),
    [("", "empty"), (" padded", "whitespace"), ("a\x00b", "control"), ("x" * 300, "256")],
)
async def test_malformed_ids_are_rejected(graph: Graph, bad_id: str, reason: str) -> None:
    with pytest.raises(BadInputError) as caught:
        await upsert_nodes(graph, "Team", [{"id": bad_id, "name": "T"}])
    assert reason in caught.value.message
    assert caught.value.details["field"] == "id"


async def test_a_reference_to_a_missing_entity_fails_the_whole_batch(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C"}])
    rows = [
        touchpoint("tp1", "2024-01-01T10:00:00Z"),
        touchpoint("tp2", "2024-01-02T10:00:00Z", channelId="nope"),
    ]
    with pytest.raises(NotFoundError) as caught:
        await upsert_nodes(graph, "Touchpoint", rows)
    assert "'nope'" in caught.value.message
    assert await count(graph, "MATCH (t:Touchpoint) RETURN count(t)") == 0


async def test_the_journey_chain_follows_time_order_whatever_the_arrival_order(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [touchpoint("d", "2024-01-04T00:00:00Z"), touchpoint("b", "2024-01-02T00:00:00Z")],
    )
    await upsert_nodes(graph, "Touchpoint", [touchpoint("a", "2024-01-01T00:00:00Z")])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [touchpoint("c", "2024-01-03T00:00:00Z"), touchpoint("e", "2024-01-05T00:00:00Z")],
    )
    assert await chain(graph, "c1") == ["a", "b", "c", "d", "e"]
    assert await count(graph, "MATCH (:Touchpoint)-[r:NEXT]->() RETURN count(r)") == 4


async def test_moving_a_touchpoint_in_time_or_to_another_customer_repairs_both_chains(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "A"}, {"id": "c2", "name": "B"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [touchpoint(t, f"2024-01-0{i + 1}T00:00:00Z") for i, t in enumerate("abc")]
        + [touchpoint("x", "2024-01-01T12:00:00Z", "c2")],
    )
    await upsert_nodes(graph, "Touchpoint", [touchpoint("a", "2024-01-09T00:00:00Z")])
    assert await chain(graph, "c1") == ["b", "c", "a"]
    await upsert_nodes(graph, "Touchpoint", [touchpoint("c", "2024-01-03T00:00:00Z", "c2")])
    assert await chain(graph, "c1") == ["b", "a"]
    assert await chain(graph, "c2") == ["x", "c"]
    assert await count(graph, "MATCH (:Touchpoint)-[r:NEXT]->() RETURN count(r)") == 2


async def test_replaying_touchpoints_changes_no_relationship(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C"}])
    await upsert_nodes(graph, "Channel", [{"id": "web", "name": "Web", "kind": "WEB"}])
    rows = [
        touchpoint(f"t{i}", f"2024-02-{i + 1:02d}T00:00:00Z", channelId="web") for i in range(5)
    ]
    await upsert_nodes(graph, "Touchpoint", rows)
    again = await upsert_nodes(graph, "Touchpoint", list(reversed(rows)))
    assert (again.nodes_created, again.relationships_created, again.relationships_deleted) == (
        0,
        0,
        0,
    )


async def test_relationship_upserts_are_idempotent_and_keep_ownership_periods(graph: Graph) -> None:
    await upsert_nodes(
        graph, "Team", [{"id": "mkt", "name": "Marketing"}, {"id": "sales", "name": "Sales"}]
    )
    await upsert_nodes(graph, "Step", [{"id": "mql", "name": "MQL", "stage": "MQL"}])
    rows = [
        {
            "from": "mkt",
            "to": "mql",
            "properties": {"from": "2023-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"},
        },
        {"from": "sales", "to": "mql", "properties": {"from": "2024-01-01T00:00:00Z"}},
    ]
    first = await upsert_relationships(graph, RelationshipKind.TEAM_OWNS_STEP, rows)
    second = await upsert_relationships(graph, RelationshipKind.TEAM_OWNS_STEP, rows)
    assert (first.relationships_created, second.relationships_created) == (2, 0)
    owner_on = await graph.driver.execute_query(
        "MATCH (t:Team)-[o:OWNS]->(:Step {id: 'mql'}) "
        "WHERE o.from <= datetime($d) AND (o.to IS NULL OR datetime($d) < o.to) RETURN t.id AS id",
        {"d": "2023-06-01T00:00:00Z"},
        database_=graph.database,
    )
    assert [r["id"] for r in owner_on.records] == ["mkt"]


async def test_relationship_with_unknown_property_is_rejected(graph: Graph) -> None:
    with pytest.raises(BadInputError) as caught:
        await upsert_relationships(
            graph,
            RelationshipKind.PERSON_MEMBER_OF_TEAM,
            [{"from": "p", "to": "t", "properties": {"rank": 1}}],
        )
    assert "rank" in caught.value.message


async def test_the_journey_chain_cannot_be_written_directly(graph: Graph) -> None:
    with pytest.raises(BadInputError):
        await upsert_relationships(
            graph, RelationshipKind.TOUCHPOINT_NEXT_TOUCHPOINT, [{"from": "a", "to": "b"}]
        )


async def test_a_reference_written_as_a_relationship_replaces_the_previous_one(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C"}])
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "web", "name": "Web", "kind": "WEB"},
            {"id": "chat", "name": "Chat", "kind": "CHAT"},
        ],
    )
    await upsert_nodes(
        graph, "Touchpoint", [touchpoint("t1", "2024-01-01T00:00:00Z", channelId="web")]
    )

    first = await upsert_relationships(
        graph, RelationshipKind.TOUCHPOINT_VIA_CHANNEL, [{"from": "t1", "to": "chat"}]
    )
    again = await upsert_relationships(
        graph, RelationshipKind.TOUCHPOINT_VIA_CHANNEL, [{"from": "t1", "to": "chat"}]
    )

    assert (first.relationships_created, first.relationships_deleted) == (1, 1)
    assert (again.relationships_created, again.relationships_deleted) == (0, 0)
    channels = await graph.driver.execute_query(
        "MATCH (:Touchpoint {id: 't1'})-[:VIA]->(ch:Channel) RETURN ch.id AS id",
        database_=graph.database,
    )
    assert [r["id"] for r in channels.records] == ["chat"]


async def test_a_touchpoint_moved_by_a_had_relationship_leaves_both_chains_whole(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "A"}, {"id": "c2", "name": "B"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            touchpoint("a1", "2024-01-01T00:00:00Z"),
            touchpoint("a2", "2024-01-02T00:00:00Z"),
            touchpoint("a3", "2024-01-03T00:00:00Z"),
            touchpoint("b1", "2024-01-01T12:00:00Z", customer="c2"),
            touchpoint("b3", "2024-01-04T00:00:00Z", customer="c2"),
        ],
    )

    await upsert_relationships(
        graph, RelationshipKind.CUSTOMER_HAD_TOUCHPOINT, [{"from": "c2", "to": "a2"}]
    )

    assert await chain(graph, "c1") == ["a1", "a3"]
    assert await chain(graph, "c2") == ["b1", "a2", "b3"]
    assert (
        await count(graph, "MATCH (:Customer)-[:HAD]->(:Touchpoint {id: 'a2'}) RETURN count(*)")
        == 1
    )


async def test_a_batch_giving_a_touchpoint_two_channels_is_refused_and_writes_nothing(
    graph: Graph,
) -> None:
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "web", "name": "Web", "kind": "WEB"},
            {"id": "chat", "name": "Chat", "kind": "CHAT"},
        ],
    )
    await upsert_nodes(
        graph, "Touchpoint", [{"id": "t1", "at": "2024-01-01T00:00:00Z", "type": "EMAIL"}]
    )

    with pytest.raises(BadInputError) as caught:
        await upsert_relationships(
            graph,
            RelationshipKind.TOUCHPOINT_VIA_CHANNEL,
            [{"from": "t1", "to": "web"}, {"from": "t1", "to": "chat"}],
        )

    assert "row 1" in caught.value.message and "single-valued" in caught.value.message
    assert await count(graph, "MATCH (:Touchpoint)-[r:VIA]->() RETURN count(r)") == 0


async def latest(graph: Graph, customer_id: str) -> list[str]:
    records, _, _ = await graph.driver.execute_query(
        "MATCH (:Customer {id: $id})-[:LATEST]->(t:Touchpoint) RETURN t.id AS id",
        {"id": customer_id},
        database_=graph.database,
    )
    return [r["id"] for r in records]


async def test_each_customer_points_at_its_latest_touchpoint_whatever_the_writes(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "A"}, {"id": "c2", "name": "B"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [touchpoint("a2", "2024-01-02T00:00:00Z"), touchpoint("a1", "2024-01-01T00:00:00Z")],
    )
    assert await latest(graph, "c1") == ["a2"]

    # a later touchpoint arrives; then the latest one moves to another customer
    await upsert_nodes(graph, "Touchpoint", [touchpoint("a3", "2024-01-03T00:00:00Z")])
    assert await latest(graph, "c1") == ["a3"]
    await upsert_nodes(graph, "Touchpoint", [touchpoint("a3", "2024-01-03T00:00:00Z", "c2")])
    assert (await latest(graph, "c1"), await latest(graph, "c2")) == (["a2"], ["a3"])

    # the same instant: the higher id ends the chain, as NEXT orders it
    await upsert_nodes(graph, "Touchpoint", [touchpoint("a0", "2024-01-02T00:00:00Z")])
    assert await chain(graph, "c1") == ["a1", "a0", "a2"]
    assert await latest(graph, "c1") == ["a2"]

    # moving every touchpoint away leaves no LATEST behind
    await upsert_relationships(
        graph, RelationshipKind.CUSTOMER_HAD_TOUCHPOINT, [{"from": "c2", "to": "a3"}]
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            touchpoint(t, at, "c2")
            for t, at in (
                ("a0", "2024-01-02T00:00:00Z"),
                ("a1", "2024-01-01T00:00:00Z"),
                ("a2", "2024-01-02T00:00:00Z"),
            )
        ],
    )
    assert (await latest(graph, "c1"), await latest(graph, "c2")) == ([], ["a3"])
    replay = await upsert_nodes(
        graph, "Touchpoint", [touchpoint("a3", "2024-01-03T00:00:00Z", "c2")]
    )
    assert (replay.relationships_created, replay.relationships_deleted) == (0, 0)


async def test_sixteen_concurrent_writers_of_the_same_customers_all_succeed(
    graph: Graph,
) -> None:
    """Concurrent batches touching the same customers' chains deadlock in the database;
    each loser is retried until it goes through, so no writer sees an error."""
    import asyncio
    import random

    customers = [f"c{i}" for i in range(12)]
    await upsert_nodes(graph, "Customer", [{"id": c, "name": c} for c in customers])

    async def writer(number: int) -> None:
        pick = random.Random(number)
        for batch in range(3):
            rows = [
                {"id": f"t{number}-{batch}-{i}", "customerId": pick.choice(customers),
                 "type": "PAGE_VIEW", "at": f"2024-01-{pick.randrange(1, 28):02d}T10:00:00Z"}
                for i in range(40)
            ]  # fmt: skip
            await upsert_nodes(graph, "Touchpoint", rows)

    await asyncio.gather(*(writer(number) for number in range(16)))

    counts = await graph.query(
        "MATCH (c:Customer)-[:HAD]->(t:Touchpoint) WITH c, count(t) AS touches "
        "RETURN sum(touches) AS touches, "
        "sum(COUNT { (c)-[:HAD]->(:Touchpoint)-[:NEXT]->() }) AS links, count(c) AS customers"
    )
    touches, links, with_touches = counts[0]
    assert touches == 16 * 3 * 40
    # one chain per customer: a NEXT between every two consecutive touchpoints
    assert links == touches - with_touches


async def journeys(graph: Graph) -> dict[str, Any]:
    """Every NEXT, LATEST and REACHED relationship, as comparable values."""
    rows = await graph.query(
        "RETURN COLLECT { MATCH (a:Touchpoint)-[:NEXT]->(b) RETURN [a.id, b.id] AS p "
        "ORDER BY p } AS next, "
        "COLLECT { MATCH (c:Customer)-[:LATEST]->(t) RETURN [c.id, t.id] AS p ORDER BY p } "
        "AS latest, "
        "COLLECT { MATCH (c:Customer)-[r:REACHED]->(s) "
        "RETURN [c.id, s.id, toString(r.at), r.touchpointId] AS p ORDER BY p } AS reached"
    )
    return dict(rows[0])


async def test_a_new_touchpoint_after_the_latest_is_appended_without_a_rebuild(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C"}])
    await upsert_nodes(graph, "Step", [{"id": "s1", "name": "One", "stage": "LEAD"}])
    await upsert_nodes(graph, "Touchpoint", [touchpoint("a", "2024-01-01T00:00:00Z")])
    with recording() as log:
        summary = await upsert_nodes(
            graph,
            "Touchpoint",
            [touchpoint("c", "2024-01-03T00:00:00Z", stepId="s1"),
             touchpoint("b", "2024-01-02T00:00:00Z", stepId="s1")],
        )  # fmt: skip
    assert APPEND_TO_JOURNEYS in log.queries
    assert REBUILD_JOURNEYS not in log.queries
    # HAD and AT_STEP twice; NEXT a->b, b->c; LATEST moved (one deleted, one created);
    # REACHED s1 by b
    assert (summary.relationships_created, summary.relationships_deleted) == (8, 1)
    assert await journeys(graph) == {
        "next": [["a", "b"], ["b", "c"]],
        "latest": [["c1", "c"]],
        "reached": [["c1", "s1", "2024-01-02T00:00:00Z", "b"]],
    }


async def test_late_new_touchpoints_are_inserted_between_their_neighbours_without_a_rebuild(
    graph: Graph,
) -> None:
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "C"}])
    await upsert_nodes(graph, "Step", [{"id": "s1", "name": "One", "stage": "LEAD"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [touchpoint("a", "2024-01-01T00:00:00Z"),
         touchpoint("c", "2024-01-03T00:00:00Z", stepId="s1")],
    )  # fmt: skip
    with recording() as log:
        summary = await upsert_nodes(
            graph,
            "Touchpoint",
            [touchpoint("b", "2024-01-02T00:00:00Z", stepId="s1"),
             touchpoint("d", "2023-12-31T00:00:00Z")],
        )  # fmt: skip
    assert INSERT_INTO_JOURNEYS in log.queries
    assert REBUILD_JOURNEYS not in log.queries
    # HAD twice, AT_STEP of b; NEXT d->a, a->b, b->c; a->c deleted; LATEST stays on c;
    # REACHED s1 moved from c to b
    assert (summary.relationships_created, summary.relationships_deleted) == (6, 1)
    assert await journeys(graph) == {
        "next": [["a", "b"], ["b", "c"], ["d", "a"]],
        "latest": [["c1", "c"]],
        "reached": [["c1", "s1", "2024-01-02T00:00:00Z", "b"]],
    }


async def test_appending_and_rebuilding_leave_the_same_journeys_on_random_batches(
    graph: Graph,
) -> None:
    """Random batches (new touchpoints in and out of time order, touchpoints moved in
    time, step or customer, replays) leave the journeys that sorting each customer's
    touchpoints gives, and that a full rebuild of every journey afterwards leaves as
    they are (it creates and deletes nothing)."""
    customers = ["c1", "c2", "c3"]
    steps = ["s1", "s2", "s3"]
    pick = random.Random(23)
    batches: list[list[dict[str, Any]]] = []
    known: dict[str, dict[str, Any]] = {}
    clock = 0
    for number in range(12):
        batch: dict[str, dict[str, Any]] = {}
        for i in range(pick.randrange(1, 6)):
            roll = pick.random()
            if known and roll < 0.3:  # an earlier touchpoint moved, or replayed
                row = dict(known[pick.choice(sorted(known))])
                if pick.random() < 0.7:
                    row["at"] = f"2024-01-01T00:{pick.randrange(0, 60):02d}:00Z"
                    row["customerId"] = pick.choice(customers)
                    row["stepId"] = pick.choice([*steps, None])
            else:  # a new one: mostly later than all before, sometimes late
                clock += pick.randrange(0, 2)
                minute = clock if roll < 0.8 else pick.randrange(0, clock + 1)
                row = touchpoint(
                    f"t{number}-{i}",
                    f"2024-01-01T00:{min(minute, 59):02d}:00Z",
                    pick.choice(customers),
                    stepId=pick.choice([*steps, None]),
                )
            batch[row["id"]] = row
        known.update(batch)
        batches.append(list(batch.values()))

    await upsert_nodes(graph, "Customer", [{"id": c, "name": c} for c in customers])
    await upsert_nodes(graph, "Step", [{"id": s, "name": s, "stage": "LEAD"} for s in steps])
    for written in batches:
        await upsert_nodes(graph, "Touchpoint", written)
    appended = await journeys(graph)
    rebuilt = await graph.write(lambda tx: rebuild_chains(tx, customers))
    assert (rebuilt.relationships_created, rebuilt.relationships_deleted) == (0, 0)
    assert rebuilt.properties_set == 0
    assert await journeys(graph) == appended
    by_customer: dict[str, list[tuple[str, str]]] = {}
    for row in known.values():
        by_customer.setdefault(row["customerId"], []).append((row["at"], row["id"]))
    expected_next = sorted(
        [a[1], b[1]] for chain in by_customer.values() for a, b in itertools.pairwise(sorted(chain))
    )
    assert appended["next"] == expected_next
    assert appended["latest"] == sorted([c, max(chain)[1]] for c, chain in by_customer.items())
