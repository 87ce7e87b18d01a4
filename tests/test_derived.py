"""Derived facts kept on write: the journey map read from them equals the scan (the
reference) after any sequence of writes, and rebuild / check find and repair drift."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, LiteralString

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orggraph.cli import main
from orggraph.graph import journey_maps
from orggraph.graph.deletes import delete_nodes, delete_relationships
from orggraph.graph.derived import check_derived, rebuild_derived
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from orggraph.settings import Settings
from tests.helpers import wipe

DAYS = [
    (None, None),
    (datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 4, tzinfo=UTC)),
    (datetime(2024, 3, 3, tzinfo=UTC), None),
    (None, datetime(2024, 3, 3, tzinfo=UTC)),
]


async def both(graph: Graph, by: str, window: tuple[datetime | None, datetime | None]) -> Any:
    """The journey map from the facts and from the scan (the reference)."""
    return [
        await journey_maps.directly_follows_graph(
            graph,
            by=by,
            object_type=None,
            min_edge_count=1,
            window_from=window[0],
            window_to=window[1],
            from_facts=from_facts,
        )
        for from_facts in (True, False)
    ]


async def assert_facts_equal_scan(graph: Graph) -> None:
    for by in journey_maps.DIMENSIONS:
        for window in DAYS:
            facts, scan = await both(graph, by, window)
            assert facts == scan, (by, window)
    drift = await check_derived(graph)
    assert drift.clean, drift


async def setting(graph: Graph) -> None:
    await upsert_nodes(graph, "Customer", [{"id": f"c{i}", "name": f"c{i}"} for i in range(3)])
    await upsert_nodes(
        graph, "Channel", [{"id": f"ch{i}", "name": f"Ch {i}", "kind": "WEB"} for i in range(2)]
    )
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "p"}])
    await upsert_nodes(
        graph,
        "Step",
        [{"id": f"s{i}", "name": f"S{i}", "processId": "p", "order": i} for i in range(2)],
    )


def touch(
    i: int, customer: int | None, hours: int, kind: int, channel: int | None, step: int | None
) -> dict[str, Any]:
    return {
        "id": f"t{i}",
        "customerId": None if customer is None else f"c{customer}",
        "at": datetime(2024, 3, 1, tzinfo=UTC).replace(day=1 + hours // 24, hour=hours % 24),
        "type": ("EMAIL", "CALL", "CHAT")[kind],
        "activity": "visit" if kind == 2 else None,
        "channelId": None if channel is None else f"ch{channel}",
        "stepId": None if step is None else f"s{step}",
    }


_TOUCH = st.builds(
    touch,
    st.integers(0, 7),
    st.one_of(st.none(), st.integers(0, 2)),
    st.sampled_from([0, 6, 12, 24, 30, 48, 60, 72, 90]),
    st.integers(0, 2),
    st.one_of(st.none(), st.integers(0, 1)),
    st.one_of(st.none(), st.integers(0, 1)),
)
_OPERATION = st.one_of(
    st.tuples(st.just("upsert"), st.lists(_TOUCH, min_size=1, max_size=5)),
    st.tuples(st.just("resend"), st.integers(0, 20)),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 7), min_size=1, max_size=3)),
    st.tuples(st.just("move"), st.tuples(st.integers(0, 7), st.integers(0, 2))),
    st.tuples(st.just("via"), st.tuples(st.integers(0, 7), st.integers(0, 1))),
    st.tuples(st.just("unvia"), st.tuples(st.integers(0, 7), st.integers(0, 1))),
    st.tuples(st.just("drop-channel"), st.integers(0, 1)),
)


def unique_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({row["id"]: row for row in rows}.values())


async def apply(graph: Graph, operation: tuple[str, Any], sent: list[list[dict[str, Any]]]) -> None:
    kind, arg = operation
    if kind == "upsert":
        batch = unique_ids(arg)
        sent.append(batch)
        await upsert_nodes(graph, "Touchpoint", batch)
    elif kind == "resend" and sent:
        await upsert_nodes(graph, "Touchpoint", sent[arg % len(sent)])
    elif kind == "delete":
        await delete_nodes(graph, "Touchpoint", [f"t{i}" for i in sorted(set(arg))])
    elif kind in ("move", "via", "unvia"):
        touchpoint, other = arg
        exists = await graph.query("MATCH (t:Touchpoint {id: $id}) RETURN t", id=f"t{touchpoint}")
        if not exists:
            return
        if kind == "move":
            row = {"from": f"c{other}", "to": f"t{touchpoint}"}
            await upsert_relationships(graph, K.CUSTOMER_HAD_TOUCHPOINT, [row])
        elif kind == "via":
            row = {"from": f"t{touchpoint}", "to": f"ch{other}"}
            await upsert_relationships(graph, K.TOUCHPOINT_VIA_CHANNEL, [row])
        else:
            row = {"from": f"t{touchpoint}", "to": f"ch{other}"}
            await delete_relationships(graph, K.TOUCHPOINT_VIA_CHANNEL, [row])
    elif kind == "drop-channel":
        await delete_nodes(graph, "Channel", [f"ch{arg}"], cascade=True)
        await upsert_nodes(graph, "Channel", [{"id": f"ch{arg}", "name": "back", "kind": "WEB"}])


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(_OPERATION, min_size=1, max_size=6))
async def test_the_journey_map_from_facts_equals_the_scan_after_any_writes(
    graph: Graph, operations: list[tuple[str, Any]]
) -> None:
    await wipe(graph)
    await setting(graph)
    sent: list[list[dict[str, Any]]] = []
    for operation in operations:
        await apply(graph, operation, sent)
    await assert_facts_equal_scan(graph)


async def test_a_window_of_whole_days_counts_starts_and_ends_inside_it(graph: Graph) -> None:
    await setting(graph)
    # c0: EMAIL day 1 00:00 -> CALL day 2 06:00 -> EMAIL day 3 00:00; c1: CALL day 2 12:00
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            touch(0, 0, 0, 0, None, None),
            touch(1, 0, 30, 1, None, None),
            touch(2, 0, 48, 0, None, None),
            touch(3, 1, 36, 1, None, None),
        ],
    )
    window = (datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC))
    facts, scan = await both(graph, "TYPE", window)
    assert facts == scan
    # only day 2 (the two CALLs): two cases, each one event long, no edge
    assert facts["caseCount"] == 2
    assert (facts["nodeKeys"], facts["nodeCounts"]) == (["CALL"], [2])
    assert (facts["startCounts"], facts["endCounts"], facts["edgeSources"]) == ([2], [2], [])
    whole, _ = await both(graph, "TYPE", (None, None))
    assert whole["edgeSources"] == ["CALL", "EMAIL"]
    assert whole["edgeMedians"] == [64_800.0, 108_000.0]  # 18 h and 30 h


async def test_a_resent_batch_writes_no_fact(graph: Graph) -> None:
    await setting(graph)
    batch = [touch(0, 0, 0, 0, 0, 0), touch(1, 0, 6, 1, 1, 1)]
    await upsert_nodes(graph, "Touchpoint", batch)
    count = "MATCH (f:JourneyMapDay) RETURN count(f) AS days, sum(size(f.atoms)) AS atoms"
    first = dict((await graph.query(count))[0])
    # one day, 4 keys: 4 days of 2 events and 1 pair each
    assert first == {"days": 4, "atoms": 12}
    summary = await upsert_nodes(graph, "Touchpoint", batch)
    assert dict((await graph.query(count))[0]) == first
    assert summary.properties_set == 0 or summary.relationships_created == 0


async def run_write(graph: Graph, query: LiteralString) -> None:
    async def work(tx: Tx) -> None:
        await tx.run(query)

    await graph.write(work)


async def test_check_reports_drift_and_rebuild_repairs_it(graph: Graph) -> None:
    await setting(graph)
    await upsert_nodes(graph, "Touchpoint", [touch(0, 0, 0, 0, 0, None), touch(1, 1, 6, 1, 1, 1)])
    assert (await check_derived(graph)).clean
    await run_write(graph, "MATCH (f:JourneyMapDay {by: 'TYPE'}) SET f.atoms = f.atoms + 'CALL'")
    await run_write(graph, "MATCH (j:JourneyTrace {customerId: 'c0'}) DELETE j")
    drift = await check_derived(graph)
    assert drift.customers == ["c0"]
    assert drift.days == ["TYPE/19783"]  # 2024-03-01 is epoch day 19783
    done: list[int] = []
    assert await rebuild_derived(graph, done.append) == 3
    assert done == [3]
    assert (await check_derived(graph)).clean


async def test_erasing_a_customer_by_deletion_takes_its_facts(graph: Graph) -> None:
    await setting(graph)
    await upsert_nodes(graph, "Touchpoint", [touch(0, 0, 0, 0, 0, 0), touch(1, 0, 6, 1, 1, 1)])
    await delete_nodes(graph, "Customer", ["c0"], cascade=True)
    left = await graph.query("MATCH (f) WHERE f:JourneyMapDay OR f:JourneyTrace RETURN f")
    assert left == []
    await assert_facts_equal_scan(graph)


@pytest.mark.parametrize("by", journey_maps.DIMENSIONS)
async def test_a_window_not_on_whole_days_is_scanned(graph: Graph, by: str) -> None:
    await setting(graph)
    await upsert_nodes(graph, "Touchpoint", [touch(0, 0, 0, 0, 0, 0), touch(1, 0, 6, 1, 1, 1)])
    window = (datetime(2024, 3, 1, 3, tzinfo=UTC), None)
    assert journey_maps.whole_days(*window) is None
    facts, scan = await both(graph, by, window)
    assert facts == scan and facts["nodeCounts"] == [1]


async def test_the_cli_checks_then_rebuilds_the_facts(
    test_settings: Settings,
    graph: Graph,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await setting(graph)
    await upsert_nodes(graph, "Touchpoint", [touch(0, 0, 0, 0, 0, 0), touch(1, 2, 6, 1, 1, 1)])
    monkeypatch.setenv("NEO4J_URI", test_settings.neo4j_uri or "")
    if test_settings.neo4j_password is not None:
        monkeypatch.setenv("NEO4J_PASSWORD", test_settings.neo4j_password.get_secret_value())
    # The commands run their own event loop, as from a shell.
    assert await asyncio.to_thread(main, ["db", "check-derived"]) == 0
    assert "derived facts match the touchpoints" in capsys.readouterr().out
    await run_write(graph, "MATCH (j:JourneyTrace {customerId: 'c2'}) SET j.trace = ['1']")
    assert await asyncio.to_thread(main, ["db", "check-derived"]) == 1
    out = capsys.readouterr().out
    assert "checked: 3 customers done" in out
    assert "drift in 1 customers' traces: c2" in out
    assert await asyncio.to_thread(main, ["db", "rebuild-derived"]) == 0
    out = capsys.readouterr().out
    assert "rebuilt: 3 customers done" in out and "rebuilt for 3 customers" in out
    assert (await check_derived(graph)).clean
