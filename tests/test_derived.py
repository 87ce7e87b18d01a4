"""Derived facts (graph/derived.py): check-derived finds exactly the drift made by hand,
rebuild-derived repairs it and a second rebuild changes nothing; the write path never
leaves drift behind (property-based)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orggraph.cli import build_parser, main
from orggraph.commands.db import DRIFT_FOUND
from orggraph.errors import NotFoundError
from orggraph.graph.deletes import delete_nodes
from orggraph.graph.derived import STATEMENTS, Drift
from orggraph.graph.derived import check_derived as check
from orggraph.graph.derived import rebuild_derived as rebuild
from orggraph.graph.driver import Graph
from orggraph.graph.migrations import migrate
from orggraph.graph.writes import upsert_nodes
from orggraph.settings import Settings
from tests.graphs.journey_writes import TOUCHPOINT_IDS, Operation, delete
from tests.helpers import connect, wipe

NEXT, REACHED, LATEST, FACTS, LOOSE, DAYS = (
    "journey chain (NEXT)",
    "first arrivals (REACHED)",
    "latest touchpoint (LATEST)",
    "directly-follows facts (NEXT properties)",
    "chains of touchpoints no customer has (NEXT)",
    "touchpoints per channel and day (IN_DAY)",
)
VIA, FROM = "first arrivals per channel (REACHED_VIA)", "first arrivals per campaign (REACHED_FROM)"
ORPHAN = ["NEXT without a customer"]


async def organisation(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": "s-a", "name": "A", "stage": "LEAD"},
            {"id": "s-b", "name": "B", "stage": "MQL"},
            {"id": "s-c", "name": "C", "stage": "SQL"},
        ],
    )
    await upsert_nodes(graph, "Customer", [{"id": f"c{i}", "name": f"C{i}"} for i in (1, 2, 3)])


def touchpoint(id: str, at: str, customer: str | None, step: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"id": id, "at": f"2024-03-01T{at}:00Z", "type": "PAGE_VIEW"}
    if customer is not None:
        row["customerId"] = customer
    if step is not None:
        row["stepId"] = step
    return row


async def journeys(graph: Graph) -> None:
    """c1: t1 09:00 A, t2 10:00 B, t3 11:00 A; c2: u1 09:30 A, u2 12:00 B; c3: nothing."""
    await organisation(graph)
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            touchpoint("t3", "11:00", "c1", "s-a"),
            touchpoint("u2", "12:00", "c2", "s-b"),
            touchpoint("t1", "09:00", "c1", "s-a"),
            touchpoint("u1", "09:30", "c2", "s-a"),
            touchpoint("t2", "10:00", "c1", "s-b"),
        ],
    )


def found(drifts: list[Drift]) -> dict[str, dict[str, list[str]]]:
    return {d.fact: d.examples for d in drifts if d.drifted}


async def corrupt(graph: Graph, query: str) -> None:
    async with graph.driver.session(database=graph.database) as session:
        await (await session.run(query)).consume()


async def test_journeys_written_through_the_write_path_check_clean(graph: Graph) -> None:
    await journeys(graph)
    drifts = await check(graph)
    assert [(d.fact, d.checked, d.drifted) for d in drifts] == [
        (NEXT, 3, 0),
        (REACHED, 3, 0),
        (LATEST, 3, 0),
        (FACTS, 3, 0),
        (VIA, 3, 0),
        (FROM, 3, 0),
        (LOOSE, 5, 0),
        (DAYS, 5, 0),
    ]


CORRUPTIONS: dict[str, tuple[str, dict[str, dict[str, list[str]]]]] = {
    "a REACHED deleted": (
        "MATCH (:Customer {id: 'c1'})-[r:REACHED]->(:Step {id: 's-b'}) DELETE r",
        {REACHED: {"c1": ["1 missing"]}},
    ),
    "a wrong REACHED time": (
        "MATCH (:Customer {id: 'c1'})-[r:REACHED]->(:Step {id: 's-a'}) "
        "SET r.at = datetime('2024-03-01T09:30:00Z')",
        {REACHED: {"c1": ["1 wrong time"]}},
    ),
    "a REACHED naming a later touchpoint": (
        "MATCH (:Customer {id: 'c1'})-[r:REACHED]->(:Step {id: 's-a'}) "
        "SET r.touchpointId = 't3', r.at = datetime('2024-03-01T11:00:00Z')",
        {REACHED: {"c1": ["1 wrong target"]}},
    ),
    "a REACHED to a step the customer has no touchpoint at": (
        "MATCH (c:Customer {id: 'c2'}), (s:Step {id: 's-c'}) "
        "CREATE (c)-[:REACHED {at: datetime('2024-03-01T09:30:00Z'), touchpointId: 'u1'}]->(s)",
        {REACHED: {"c2": ["1 extra"]}},
    ),
    "a stray NEXT across customers": (
        "MATCH (a:Touchpoint {id: 't3'}), (b:Touchpoint {id: 'u1'}) CREATE (a)-[:NEXT]->(b)",
        {NEXT: {"c1": ["1 extra (out)"], "c2": ["1 extra (in)"]}, FACTS: {"c1": ["1 wrong"]}},
    ),
    "a NEXT removed": (
        "MATCH (:Touchpoint {id: 't1'})-[r:NEXT]->(:Touchpoint {id: 't2'}) DELETE r",
        {NEXT: {"c1": ["1 missing"]}},
    ),
    "a NEXT doubled": (
        "MATCH (a:Touchpoint {id: 'u1'}), (b:Touchpoint {id: 'u2'}) CREATE (a)-[:NEXT]->(b)",
        {NEXT: {"c2": ["1 extra (out)", "1 extra (in)"]}, FACTS: {"c2": ["1 wrong"]}},
    ),
    "a NEXT from a touchpoint no customer has": (
        "MATCH (t:Touchpoint {id: 't1'}) "
        "CREATE (:Touchpoint:Entity {id: 'o1', at: datetime('2024-03-01T08:00:00Z'), "
        "type: 'PAGE_VIEW'})-[:NEXT]->(t)",
        {NEXT: {"c1": ["1 extra (in)"]}, LOOSE: {"o1": ORPHAN}},
    ),
    "a NEXT between touchpoints no customer has": (
        "CREATE (:Touchpoint:Entity {id: 'o1', at: datetime('2024-03-01T08:00:00Z'), "
        "type: 'PAGE_VIEW'})-[:NEXT]->(:Touchpoint:Entity {id: 'o2', "
        "at: datetime('2024-03-01T08:30:00Z'), type: 'PAGE_VIEW'})",
        {LOOSE: {"o1": ORPHAN, "o2": ORPHAN}},
    ),
    "LATEST pointed elsewhere": (
        "MATCH (c:Customer {id: 'c1'})-[r:LATEST]->() DELETE r WITH DISTINCT c "
        "MATCH (t:Touchpoint {id: 't2'}) CREATE (c)-[:LATEST]->(t)",
        {LATEST: {"c1": ["wrong target"]}},
    ),
    "a second LATEST": (
        "MATCH (c:Customer {id: 'c2'}), (t:Touchpoint {id: 'u1'}) CREATE (c)-[:LATEST]->(t)",
        {LATEST: {"c2": ["2 LATEST", "wrong target"]}},
    ),
    "a NEXT with another type than its target's": (
        "MATCH (:Touchpoint {id: 't1'})-[r:NEXT]->() SET r.toType = 'EMAIL'",
        {FACTS: {"c1": ["1 wrong"]}},
    ),
    "a NEXT with the wrong seconds and one without its activity": (
        "MATCH (:Touchpoint {id: 't1'})-[r:NEXT]->() SET r.seconds = 60.0 "
        "WITH 1 AS done MATCH (:Touchpoint {id: 't2'})-[r:NEXT]->() REMOVE r.fromActivity",
        {FACTS: {"c1": ["2 wrong"]}},
    ),
    "a LATEST of a customer without touchpoints": (
        "MATCH (c:Customer {id: 'c3'}), (t:Touchpoint {id: 'u2'}) CREATE (c)-[:LATEST]->(t)",
        {LATEST: {"c3": ["extra (no touchpoints)"]}},
    ),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
async def test_check_names_exactly_the_customers_and_facts_corrupted_and_rebuild_repairs_them(
    graph: Graph, corruption: str
) -> None:
    query, expected = CORRUPTIONS[corruption]
    await journeys(graph)
    await corrupt(graph, query)

    assert found(await check(graph)) == expected
    per_customer = {fact: drift for fact, drift in expected.items() if fact != LOOSE}
    drifted = sorted({c for customers in per_customer.values() for c in customers})
    assert found(await check(graph, drifted)) == per_customer

    # Only one customer named: a stray NEXT into c2 (or from a touchpoint no customer has)
    # is removed through where it comes from.
    rebuilt = await rebuild(graph, drifted[-1:] if drifted else None)
    assert sum(
        r.changes.relationships_created + r.changes.relationships_deleted + r.changes.properties_set
        for r in rebuilt
    )
    assert found(await check(graph)) == {}
    again = await rebuild(graph)
    assert [
        (r.family, r.rebuilt, r.unit, r.changes.relationships_created)
        + (r.changes.relationships_deleted, r.changes.properties_set)
        for r in again
    ] == [
        ("journeys", 3, "customers", 0, 0, 0),
        (LOOSE, 0, "touchpoints", 0, 0, 0),
        (DAYS, 0, "touchpoints", 0, 0, 0),
    ]


async def test_pages_cover_every_customer_once(graph: Graph) -> None:
    await journeys(graph)
    await corrupt(graph, "MATCH (:Customer {id: 'c2'})-[r:LATEST]->() DELETE r")
    lines: list[str] = []
    drifts = await check(graph, progress=lines.append, page_size=2)
    assert [(d.checked, d.drifted) for d in drifts] == [
        (3, 0),
        (3, 0),
        (3, 1),
        (3, 0),
        (3, 0),
        (3, 0),
        (5, 0),
        (5, 0),
    ]
    assert [line.split(",")[0] for line in lines] == [
        "checked: 2/3 customers",
        "checked: 3/3 customers",
        "swept: 5/5 touchpoints",
        "swept: 5/5 touchpoints",
    ]
    rebuilt = await rebuild(graph, page_size=1)
    assert rebuilt[0].rebuilt == 3
    assert found(await check(graph)) == {}


def run_command(argv: list[str], test_settings: Settings) -> int:
    args = build_parser().parse_args(argv)
    assert isinstance(args, argparse.Namespace)
    return int(args.handler(args, test_settings))


async def test_the_commands_exit_codes_and_output(
    graph: Graph, test_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await journeys(graph)
    assert await asyncio.to_thread(run_command, ["db", "check-derived"], test_settings) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{NEXT}: 3 customers checked, 0 drifted",
        f"{REACHED}: 3 customers checked, 0 drifted",
        f"{LATEST}: 3 customers checked, 0 drifted",
        f"{FACTS}: 3 customers checked, 0 drifted",
        f"{VIA}: 3 customers checked, 0 drifted",
        f"{FROM}: 3 customers checked, 0 drifted",
        f"{LOOSE}: 5 touchpoints checked, 0 drifted",
        f"{DAYS}: 5 touchpoints checked, 0 drifted",
    ]
    assert "checked: 3/3 customers, " in err
    assert "swept: 5/5 touchpoints, " in err

    await corrupt(graph, CORRUPTIONS["a second LATEST"][0])
    await corrupt(graph, CORRUPTIONS["a NEXT removed"][0])
    code = await asyncio.to_thread(run_command, ["db", "check-derived"], test_settings)
    assert code == DRIFT_FOUND == 4
    out, _ = capsys.readouterr()
    assert out.splitlines() == [
        f"{NEXT}: 3 customers checked, 1 drifted",
        "  c1: 1 missing",
        f"{REACHED}: 3 customers checked, 0 drifted",
        f"{LATEST}: 3 customers checked, 1 drifted",
        "  c2: 2 LATEST, wrong target",
        f"{FACTS}: 3 customers checked, 0 drifted",
        f"{VIA}: 3 customers checked, 0 drifted",
        f"{FROM}: 3 customers checked, 0 drifted",
        f"{LOOSE}: 5 touchpoints checked, 0 drifted",
        f"{DAYS}: 5 touchpoints checked, 0 drifted",
        "drift found: `orggraph db rebuild-derived` recomputes the facts",
    ]

    argv = ["db", "rebuild-derived", "--customer", "c1", "--customer", "c2"]
    assert await asyncio.to_thread(run_command, argv, test_settings) == 0
    out, err = capsys.readouterr()
    # the NEXT recreated carries its five directly-follows facts
    assert out.splitlines() == [
        "journeys: 2 customers rebuilt; 1 relationships created, 1 deleted, 5 properties set"
    ]
    assert "rebuilt: 2/2 customers, " in err
    assert await asyncio.to_thread(run_command, ["db", "rebuild-derived"], test_settings) == 0
    assert capsys.readouterr().out.splitlines() == [
        "journeys: 3 customers rebuilt; 0 relationships created, 0 deleted, 0 properties set",
        f"{LOOSE}: 0 touchpoints rebuilt; 0 relationships created, 0 deleted, 0 properties set",
        f"{DAYS}: 0 touchpoints rebuilt; 0 relationships created, 0 deleted, 0 properties set",
    ]
    assert await asyncio.to_thread(run_command, ["db", "check-derived"], test_settings) == 0


async def test_a_customer_id_naming_no_customer_is_refused_before_any_work(
    graph: Graph,
    test_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await journeys(graph)
    await corrupt(graph, CORRUPTIONS["a NEXT removed"][0])
    with pytest.raises(NotFoundError, match="no customer with id 'nobody'"):
        await rebuild(graph, ["c1", "nobody"])
    assert found(await check(graph)) == {NEXT: {"c1": ["1 missing"]}}
    monkeypatch.setenv("NEO4J_URI", test_settings.neo4j_uri or "")
    if test_settings.neo4j_password is not None:
        monkeypatch.setenv("NEO4J_PASSWORD", test_settings.neo4j_password.get_secret_value())
    monkeypatch.setenv("ORGGRAPH_HOME", str(tmp_path))
    # As from a shell: the command runs its own event loop, a refusal exits 1.
    argv = ["db", "check-derived", "--customer", "nobody"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "orggraph: no customer with id 'nobody'" in capsys.readouterr().err


STATISTICS_BOUND = ("Scan", "HashJoin", "CartesianProduct", "Triadic")


async def test_the_checks_and_rebuild_statements_start_from_customer_ids(graph: Graph) -> None:
    """Each statement finds its customers by the id constraint and expands from them:
    its cost is that of the page's journeys, whatever the graph's size."""
    await journeys(graph)
    async with graph.driver.session(database=graph.database) as session:
        for query in STATEMENTS:
            result = await session.run("EXPLAIN " + query)
            plan = (await result.consume()).plan
            assert plan is not None
            operators = list(_operators(plan))
            assert any("Seek" in op for op in operators), (query, operators)
            assert [op for op in operators if any(w in op for w in STATISTICS_BOUND)] == []


def _operators(plan: Any) -> Any:
    yield str(plan["operatorType"]).split("@")[0]
    for child in plan.get("children", []):
        yield from _operators(child)


# --- the write path leaves no drift (property-based) --------------------------------------

write = st.fixed_dictionaries(
    {
        "id": st.sampled_from(TOUCHPOINT_IDS),
        "minute": st.integers(min_value=0, max_value=5),
        "customer": st.sampled_from(["c1", "c2", "c3", None]),
        "step": st.sampled_from(["s-a", "s-b", None]),
    }
)
upsert = st.tuples(
    st.just("upsert"),
    st.lists(write, min_size=1, max_size=4, unique_by=lambda w: w["id"]),
    st.booleans(),
)


async def apply(graph: Graph, operations: list[Operation]) -> None:
    """Each operation: an upsert batch (sent twice when its flag says so) or a delete."""
    for kind, payload, resend in operations:
        if kind == "delete":
            await delete_nodes(graph, "Touchpoint", payload)
            continue
        rows = [
            touchpoint(w["id"], f"09:{w['minute']:02d}", w["customer"], w["step"]) for w in payload
        ]
        for _ in range(2 if resend else 1):
            await upsert_nodes(graph, "Touchpoint", rows)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(st.one_of(upsert, delete), min_size=1, max_size=6))
def test_the_write_path_leaves_no_drift(
    test_settings: Settings, operations: list[Operation]
) -> None:
    """Touchpoints written late, out of order (same minutes: the id breaks ties), moved
    between customers (or to none) and steps, re-sent and deleted: every fact, the chains
    of touchpoints no customer has included, still checks clean."""

    async def example() -> dict[str, dict[str, list[str]]]:
        db = connect(test_settings)
        try:
            await wipe(db)
            await migrate(db)
            await organisation(db)
            await apply(db, operations)
            return found(await check(db))
        finally:
            await db.close()

    assert asyncio.run(example()) == {}
