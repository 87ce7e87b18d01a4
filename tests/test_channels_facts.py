"""Channel coverage from the ChannelDay facts (graph/channels.py) equals the scan it
replaced (``CHANNEL_COVERAGE_SCAN``) on any graph the write paths produce, for windows on
and off day boundaries and every period unit; check-derived finds a corrupted IN_DAY and
rebuild-derived repairs it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orggraph.graph.channels import channel_coverage, channel_coverage_scan, split_days
from orggraph.graph.deletes import delete_nodes, delete_relationships
from orggraph.graph.derived import Drift
from orggraph.graph.derived import check_derived as check
from orggraph.graph.derived import rebuild_derived as rebuild
from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import load_touchpoints
from orggraph.graph.migrations import backfill_channel_days, migrate
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.model import Window
from orggraph.graph.seed import seed_organisation
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from orggraph.settings import Settings
from tests.helpers import connect, wipe

SWEEP = "touchpoints per channel and day (IN_DAY)"
CHANNELS = ["phone", "chat"]
TOUCHPOINT_IDS = [f"p{i}" for i in range(6)]
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)
"""Day 0 of the random graphs; their touchpoints fall on days 0 to 40 (six weeks, two
months, one quarter boundary: 1 April)."""


async def organisation(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": c, "name": c} for c in ("c1", "c2")])
    await channels(graph)


async def channels(graph: Graph) -> None:
    await upsert_nodes(
        graph, "Channel", [{"id": c, "name": c, "kind": c.upper()} for c in CHANNELS]
    )


def touchpoint(
    id: str, day: int, hour: int, channel: str | None, customer: str | None
) -> dict[str, Any]:
    at = MONDAY + timedelta(days=day, hours=hour)
    row: dict[str, Any] = {"id": id, "at": at.isoformat(), "type": "PAGE_VIEW"}
    if channel is not None:
        row["channelId"] = channel
    if customer is not None:
        row["customerId"] = customer
    return row


def normalised(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each channel's row with its trend in period order (the scan collects it unordered)."""
    return [
        (
            row["channel"]["id"],
            row["touchpoints"],
            sorted((d["periodStart"], d["touchpoints"]) for d in row["trend"]),
            row["servingTeams"],
            row["kpis"],
        )
        for row in rows
    ]


def found(drifts: list[Drift]) -> dict[str, dict[str, list[str]]]:
    return {d.fact: d.examples for d in drifts if d.drifted}


# --- the window cut at UTC midnights ------------------------------------------------------


def test_a_window_is_cut_into_whole_days_and_its_partial_edges() -> None:
    split = split_days(MONDAY + timedelta(hours=6), MONDAY + timedelta(days=3, hours=2))
    assert (split.first_day, split.end_day) == (
        (MONDAY + timedelta(days=1)).date(),
        (MONDAY + timedelta(days=3)).date(),
    )
    assert split.edges == [
        {"from": MONDAY + timedelta(hours=6), "to": MONDAY + timedelta(days=1)},
        {"from": MONDAY + timedelta(days=3), "to": MONDAY + timedelta(days=3, hours=2)},
    ]


def test_a_window_on_midnights_has_no_edges_and_one_within_a_day_is_all_edge() -> None:
    on = split_days(MONDAY, MONDAY + timedelta(days=7))
    assert (on.first_day, on.end_day, on.edges) == (
        MONDAY.date(),
        (MONDAY + timedelta(days=7)).date(),
        [],
    )
    inside = split_days(MONDAY + timedelta(hours=1), MONDAY + timedelta(hours=5))
    assert inside.first_day >= inside.end_day
    assert inside.edges == [
        {"from": MONDAY + timedelta(hours=1), "to": MONDAY + timedelta(hours=5)}
    ]
    assert split_days(MONDAY, MONDAY).edges == []


# --- hand-made graph ---------------------------------------------------------------------


async def test_coverage_counts_whole_days_from_facts_and_edges_from_touchpoints(
    graph: Graph,
) -> None:
    """phone: Mon 01:00, Mon 23:00, Tue 12:00, Sun 10:00 (week of 4 March), Mon 11 09:00;
    chat: Tue 12:00. Window Mon 04 12:00 to Mon 11 10:00 by week: phone 3 in the week of
    4 March (Mon 23:00, Tue, Sun) and 1 in the week of 11 March; chat 1."""
    await organisation(graph)
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            touchpoint("a", 0, 1, "phone", "c1"),
            touchpoint("b", 0, 23, "phone", "c1"),
            touchpoint("c", 1, 12, "phone", None),
            touchpoint("d", 6, 10, "phone", "c2"),
            touchpoint("e", 7, 9, "phone", "c2"),
            touchpoint("f", 1, 12, "chat", "c1"),
        ],
    )
    rows = await channel_coverage(
        graph, MONDAY + timedelta(hours=12), MONDAY + timedelta(days=7, hours=10), Window.WEEK
    )
    demand = {r[0]: (r[1], [(p.to_native(), n) for p, n in r[2]]) for r in normalised(rows)}
    assert demand == {
        "phone": (4, [(MONDAY, 3), (MONDAY + timedelta(days=7), 1)]),
        "chat": (1, [(MONDAY, 1)]),
    }


async def test_a_resent_batch_changes_nothing_and_a_move_relinks_one_day(graph: Graph) -> None:
    await organisation(graph)
    rows = [touchpoint("a", 0, 1, "phone", "c1"), touchpoint("b", 2, 1, "chat", None)]
    await upsert_nodes(graph, "Touchpoint", rows)
    again = await upsert_nodes(graph, "Touchpoint", rows)
    assert (again.nodes_created, again.relationships_created) == (0, 0)
    await upsert_nodes(graph, "Touchpoint", [touchpoint("a", 3, 1, "chat", "c1")])
    async with graph.driver.session(database=graph.database) as session:
        result = await session.run(
            "MATCH (d:ChannelDay) RETURN d.channelId AS c, toString(d.day) AS day, "
            "COUNT { (d)<-[:IN_DAY]-() } AS n ORDER BY c, day"
        )
        days = [(r["c"], r["day"], r["n"]) async for r in result]
    assert days == [
        ("chat", "2024-03-06", 1),
        ("chat", "2024-03-07", 1),
        ("phone", "2024-03-04", 0),
    ]


# --- check and rebuild --------------------------------------------------------------------

CORRUPTIONS = {
    "missing": "MATCH (:Touchpoint {id: 'a'})-[r:IN_DAY]->() DELETE r",
    "wrong day": "MATCH (t:Touchpoint {id: 'a'})-[r:IN_DAY]->() DELETE r "
    "MERGE (d:ChannelDay {channelId: 'phone', day: date('2024-03-09')}) MERGE (t)-[:IN_DAY]->(d)",
    "extra": "MATCH (t:Touchpoint {id: 'a'}) "
    "MERGE (d:ChannelDay {channelId: 'chat', day: date('2024-03-04')}) CREATE (t)-[:IN_DAY]->(d)",
}


async def corrupt(graph: Graph, query: str) -> None:
    async with graph.driver.session(database=graph.database) as session:
        await (await session.run(query)).consume()


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
async def test_check_names_the_corrupted_touchpoint_and_rebuild_repairs_it(
    graph: Graph, corruption: str
) -> None:
    await organisation(graph)
    await upsert_nodes(
        graph,
        "Touchpoint",
        [touchpoint("a", 0, 1, "phone", "c1"), touchpoint("b", 0, 2, "phone", None)],
    )
    assert found(await check(graph)) == {}
    await corrupt(graph, CORRUPTIONS[corruption])
    assert found(await check(graph)) == {SWEEP: {"a": ["IN_DAY not its channel's day"]}}
    await rebuild(graph)
    assert found(await check(graph)) == {}
    rows = await channel_coverage(graph, MONDAY, MONDAY + timedelta(days=7), Window.DAY)
    scanned = await channel_coverage_scan(graph, MONDAY, MONDAY + timedelta(days=7), Window.DAY)
    assert normalised(rows) == normalised(scanned)


# --- served equals scanned after any writes (property-based) ----------------------------

write = st.fixed_dictionaries(
    {
        "id": st.sampled_from(TOUCHPOINT_IDS),
        "day": st.integers(min_value=0, max_value=40),
        "hour": st.sampled_from([0, 7, 23]),
        "channel": st.sampled_from([*CHANNELS, None]),
        "customer": st.sampled_from(["c1", "c2", None]),
    }
)
batch = st.lists(write, min_size=1, max_size=4, unique_by=lambda w: w["id"])
operation = st.one_of(
    st.tuples(st.just("upsert"), batch, st.booleans()),
    st.tuples(st.just("bulk"), batch, st.booleans()),
    st.tuples(
        st.just("via"),
        st.lists(
            st.tuples(st.sampled_from(TOUCHPOINT_IDS), st.sampled_from(CHANNELS)),
            min_size=1,
            max_size=3,
            unique_by=lambda p: p[0],
        ),
        st.booleans(),
    ),
    st.tuples(st.just("unvia"), st.sampled_from(TOUCHPOINT_IDS), st.sampled_from(CHANNELS)),
    st.tuples(
        st.just("delete"),
        st.lists(st.sampled_from(TOUCHPOINT_IDS), min_size=1, max_size=2, unique=True),
        st.just(False),
    ),
    st.tuples(st.just("drop channel"), st.sampled_from(CHANNELS), st.just(False)),
)
window = st.tuples(
    st.integers(min_value=-2, max_value=40),
    st.sampled_from([0, 5]),
    st.integers(min_value=0, max_value=45),
    st.sampled_from([0, 19]),
)


async def apply(graph: Graph, operations: list[tuple[str, Any, Any]]) -> None:
    """Touchpoints upserted (general and bulk paths, re-sent when the flag says so),
    moved between channels by VIA rows, their VIA deleted, deleted, a channel deleted
    (with its touchpoints' VIA) and made again."""
    for kind, payload, flag in operations:
        if kind in ("upsert", "bulk"):
            rows = [
                touchpoint(w["id"], w["day"], w["hour"], w["channel"], w["customer"])
                for w in payload
            ]
            for _ in range(2 if flag else 1):
                if kind == "upsert":
                    await upsert_nodes(graph, "Touchpoint", rows)
                else:
                    await load_touchpoints(graph, rows)
        elif kind == "via":
            await _set_via(graph, payload, resend=flag)
        elif kind == "unvia":
            await delete_relationships(
                graph, K.TOUCHPOINT_VIA_CHANNEL, [{"from": payload, "to": flag}]
            )
        elif kind == "delete":
            await delete_nodes(graph, "Touchpoint", payload)
        else:
            await delete_nodes(graph, "Channel", [payload])
            await channels(graph)


async def _set_via(graph: Graph, pairs: list[tuple[str, str]], *, resend: bool) -> None:
    existing = await graph.query(
        "UNWIND $ids AS id MATCH (t:Touchpoint {id: id}) RETURN t.id AS id",
        ids=[p[0] for p in pairs],
    )
    ids = {r["id"] for r in existing}
    rows = [{"from": t, "to": c} for t, c in pairs if t in ids]
    for _ in range(2 if resend else 1):
        if rows:
            await upsert_relationships(graph, K.TOUCHPOINT_VIA_CHANNEL, rows)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    operations=st.lists(operation, min_size=1, max_size=6),
    windows=st.lists(window, min_size=1, max_size=3),
)
def test_served_coverage_equals_the_scan_after_any_writes(
    test_settings: Settings, operations: list[tuple[str, Any, Any]], windows: list[Any]
) -> None:
    """Out-of-order and re-sent batches through both write paths, moves between
    customers and channels, VIA deleted, touchpoints and channels deleted: for windows on
    and off midnight, every period unit answers as the scan does, and nothing drifted."""

    async def example() -> None:
        db = connect(test_settings)
        try:
            await wipe(db)
            await migrate(db)
            await organisation(db)
            await apply(db, operations)
            for start_day, start_hour, length, end_hour in windows:
                start = MONDAY + timedelta(days=start_day, hours=start_hour)
                end = start + timedelta(days=length, hours=end_hour)
                for unit in Window:
                    served = await channel_coverage(db, start, end, unit)
                    scanned = await channel_coverage_scan(db, start, end, unit)
                    assert normalised(served) == normalised(scanned), (start, end, unit)
            assert found(await check(db)) == {}
        finally:
            await db.close()

    asyncio.run(example())


# --- concurrent writers of the same days -------------------------------------------------


async def test_concurrent_writers_of_the_same_channel_days_all_succeed_and_count_right(
    graph: Graph,
) -> None:
    """Twelve writers, each three batches of 30 touchpoints on the same two channels and
    three days (every batch links to the same ChannelDays), through the write layer and
    the bulk path at once: none sees an error (a deadlock is retried) and every day
    counts each touchpoint once."""
    await organisation(graph)

    async def writer(number: int) -> None:
        for batch in range(3):
            rows = [
                touchpoint(f"w{number}-{batch}-{i}", i % 3, 10, CHANNELS[i % 2], f"c{1 + i % 2}")
                for i in range(30)
            ]
            if number % 2:
                await upsert_nodes(graph, "Touchpoint", rows)
            else:
                await load_touchpoints(graph, rows)

    await asyncio.gather(*(writer(number) for number in range(12)))
    rows = await channel_coverage(graph, MONDAY, MONDAY + timedelta(days=3), Window.DAY)
    days = {r[0]: [n for _, n in r[2]] for r in normalised(rows)}
    assert days == {"phone": [180, 180, 180], "chat": [180, 180, 180]}
    scanned = await channel_coverage_scan(graph, MONDAY, MONDAY + timedelta(days=3), Window.DAY)
    assert normalised(rows) == normalised(scanned)


async def test_the_generator_with_several_writers_leaves_coverage_equal_to_the_scan(
    graph: Graph,
) -> None:
    await seed_organisation(graph, customers=60, seed=3, writers=3, batch_touchpoints=50)
    span = await graph.query("MATCH (t:Touchpoint) RETURN min(t.at) AS lo, max(t.at) AS hi")
    start = span[0]["lo"].to_native() - timedelta(hours=30)
    end = span[0]["hi"].to_native() + timedelta(hours=30)
    for unit in Window:
        served = await channel_coverage(graph, start, end, unit)
        assert sum(r["touchpoints"] for r in served) > 0
        assert normalised(served) == normalised(
            await channel_coverage_scan(graph, start, end, unit)
        )
    assert found(await check(graph)) == {}


# --- migration 17 ------------------------------------------------------------------------


async def test_the_channel_days_are_unique_indexed_by_day_and_backfilled(graph: Graph) -> None:
    """Touchpoints written before the facts (their IN_DAY and ChannelDays removed by hand)
    get them from the backfill; run again, it writes nothing."""
    records, _, _ = await graph.driver.execute_query(
        "SHOW INDEXES YIELD labelsOrTypes, properties, owningConstraint "
        "WHERE labelsOrTypes = ['ChannelDay'] "
        "RETURN properties, owningConstraint IS NOT NULL AS unique ORDER BY unique",
        database_=graph.database,
    )
    assert [(r["properties"], r["unique"]) for r in records] == [
        (["day"], False),
        (["channelId", "day"], True),
    ]
    await organisation(graph)
    await upsert_nodes(
        graph,
        "Touchpoint",
        [touchpoint("a", 0, 1, "phone", "c1"), touchpoint("b", 9, 5, "chat", None)],
    )
    await corrupt(graph, "MATCH (d:ChannelDay) DETACH DELETE d")
    wrong = ["IN_DAY not its channel's day"]
    assert found(await check(graph)) == {SWEEP: {"a": wrong, "b": wrong}}
    await backfill_channel_days(graph)
    assert found(await check(graph)) == {}
    await backfill_channel_days(graph)
    rows = await channel_coverage(graph, MONDAY, MONDAY + timedelta(days=14), Window.WEEK)
    assert {r[0]: r[1] for r in normalised(rows)} == {"phone": 1, "chat": 1}
