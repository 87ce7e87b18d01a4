"""Journey map (DFG): hand-built event logs, hand-computed and independently computed answers."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter, defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orggraph.graph.deletes import delete_nodes
from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import load_nodes
from orggraph.graph.journey_maps import (
    DFG_BY_CUSTOMER,
    DFG_FROM_FACTS_BY_TYPE,
    directly_follows_graph,
    fold,
)
from orggraph.graph.migrations import migrate
from orggraph.graph.model import RelationshipKind as K
from orggraph.graph.writes import upsert_nodes, upsert_relationships
from orggraph.settings import Settings
from tests.graphs.journey_writes import TOUCHPOINT_IDS, Operation, delete
from tests.helpers import as_dfg, connect, error_codes, execute, execute_counted, ok, wipe

MAP = """
query M($by: JourneyMapKey!, $case: String!, $type: String, $min: Int!,
        $from: DateTime, $to: DateTime) {
  journeyMap(by: $by, caseNotion: $case, objectType: $type, minEdgeCount: $min,
             from: $from, to: $to) {
    caseCount
    nodes { keys labels counts }
    edges { sources targets counts medianSeconds }
    startActivities { keys counts }
    endActivities { keys counts }
  }
}
"""

# (customer, seconds after 2024-03-01T00:00Z, type, channel)
EVENTS: list[tuple[str, int, str, str | None]] = [
    ("c1", 0, "PAGE_VIEW", "web"),
    ("c1", 60, "FORM_SUBMIT", "web"),
    ("c1", 180, "CALL", "phone"),
    ("c2", 0, "PAGE_VIEW", "web"),
    ("c2", 30, "PAGE_VIEW", "web"),
    ("c2", 90, "CALL", "phone"),
    ("c3", 0, "CHAT", None),
    ("c4", 0, "PAGE_VIEW", "web"),
    ("c4", 100, "FORM_SUBMIT", "web"),
]


def at(seconds: int) -> str:
    return f"2024-03-01T00:{seconds // 60:02}:{seconds % 60:02}Z"


async def seed(graph: Graph, copies: int = 1) -> None:
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": "web", "name": "Web", "kind": "WEB"},
            {"id": "phone", "name": "Phone", "kind": "PHONE"},
        ],
    )
    customers = sorted({e[0] for e in EVENTS})
    rows: list[dict[str, Any]] = []
    for copy in range(copies):
        suffix = "" if copy == 0 else f"-{copy}"
        await upsert_nodes(graph, "Customer", [{"id": c + suffix, "name": c} for c in customers])
        for i, (customer, seconds, type_, channel) in enumerate(EVENTS):
            row: dict[str, Any] = {
                "id": f"e{i}{suffix}",
                "at": at(seconds),
                "type": type_,
                "customerId": customer + suffix,
            }
            if channel:
                row["channelId"] = channel
            rows.append(row)
    await upsert_nodes(graph, "Touchpoint", rows)


def expected_dfg(key_of: dict[int, str | None], min_count: int = 1) -> dict[str, Any]:
    """pm4py-style DFG computed straight from EVENTS, independently of the graph."""
    traces: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for i, (customer, seconds, _, _) in enumerate(EVENTS):
        key = key_of[i]
        if key is not None:
            traces[customer].append((seconds, key))
    nodes: Counter[str] = Counter()
    starts: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for trace in traces.values():
        trace.sort()
        nodes.update(k for _, k in trace)
        starts[trace[0][1]] += 1
        ends[trace[-1][1]] += 1
        for (t1, a), (t2, b) in zip(trace, trace[1:], strict=False):
            gaps[(a, b)].append(float(t2 - t1))
    edges = sorted(
        (a, b, len(g), statistics.median(g)) for (a, b), g in gaps.items() if len(g) >= min_count
    )
    return {
        "caseCount": len(traces),
        "nodes": sorted(nodes.items()),
        "edges": edges,
        "starts": sorted(starts.items()),
        "ends": sorted(ends.items()),
    }


def variables(by: str, **extra: Any) -> dict[str, Any]:
    return {"by": by, "case": "customer", "min": 1, **extra}


async def test_dfg_by_type_per_customer_matches_the_hand_computed_graph(graph: Graph) -> None:
    await seed(graph)
    dfg = as_dfg(ok(await execute(graph, MAP, variables("TYPE"))))
    assert dfg == {
        "caseCount": 4,
        "nodes": [("CALL", 2), ("CHAT", 1), ("FORM_SUBMIT", 2), ("PAGE_VIEW", 4)],
        "edges": [
            ("FORM_SUBMIT", "CALL", 1, 120.0),
            ("PAGE_VIEW", "CALL", 1, 60.0),
            ("PAGE_VIEW", "FORM_SUBMIT", 2, 80.0),
            ("PAGE_VIEW", "PAGE_VIEW", 1, 30.0),
        ],
        "starts": [("CHAT", 1), ("PAGE_VIEW", 3)],
        "ends": [("CALL", 2), ("CHAT", 1), ("FORM_SUBMIT", 1)],
    }
    assert dfg == expected_dfg({i: e[2] for i, e in enumerate(EVENTS)})
    rare_hidden = as_dfg(ok(await execute(graph, MAP, variables("TYPE", min=2))))
    assert rare_hidden["edges"] == [("PAGE_VIEW", "FORM_SUBMIT", 2, 80.0)]
    assert rare_hidden["nodes"] == dfg["nodes"]


async def test_dfg_by_channel_skips_touchpoints_without_one(graph: Graph) -> None:
    await seed(graph)
    data = ok(await execute(graph, MAP, variables("CHANNEL")))
    assert data["journeyMap"]["nodes"]["labels"] == ["Phone", "Web"]
    dfg = as_dfg(data)
    assert dfg["edges"] == [("web", "phone", 2, 90.0), ("web", "web", 3, 60.0)]
    assert dfg == expected_dfg({i: e[3] for i, e in enumerate(EVENTS)})


async def test_dfg_in_a_time_window(graph: Graph) -> None:
    await seed(graph)
    dfg = as_dfg(ok(await execute(graph, MAP, variables("TYPE", **{"from": at(1), "to": at(120)}))))
    # Left: c1 FORM_SUBMIT@60; c2 PAGE_VIEW@30, CALL@90; c4 FORM_SUBMIT@100.
    assert dfg == {
        "caseCount": 3,
        "nodes": [("CALL", 1), ("FORM_SUBMIT", 2), ("PAGE_VIEW", 1)],
        "edges": [("PAGE_VIEW", "CALL", 1, 60.0)],
        "starts": [("FORM_SUBMIT", 2), ("PAGE_VIEW", 1)],
        "ends": [("CALL", 1), ("FORM_SUBMIT", 2)],
    }
    open_ended = as_dfg(ok(await execute(graph, MAP, variables("TYPE", **{"from": at(91)}))))
    # Left: c1 CALL@180, c4 FORM_SUBMIT@100 (c2's CALL@90 is before).
    assert open_ended["caseCount"] == 2 and open_ended["edges"] == []
    assert open_ended["nodes"] == [("CALL", 1), ("FORM_SUBMIT", 1)]


async def test_dfg_with_business_objects_as_cases(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "BusinessObject",
        [
            {"id": "o1", "type": "order"},
            {"id": "o2", "type": "order"},
            {"id": "i1", "type": "item"},
        ],
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": "e1", "at": at(0), "type": "ORDER", "activity": "place order"},
            {"id": "e2", "at": at(10), "type": "PAYMENT", "activity": "pay order"},
            {"id": "e3", "at": at(30), "type": "SHIPMENT", "activity": "send package"},
            {"id": "e4", "at": at(20), "type": "INTERNAL", "activity": "pick item"},
        ],
    )
    await upsert_relationships(
        graph,
        K.TOUCHPOINT_CONCERNS_OBJECT,
        [
            {"from": "e1", "to": "o1"},
            {"from": "e1", "to": "o2"},
            {"from": "e2", "to": "o1"},
            {"from": "e3", "to": "o1"},
            {"from": "e3", "to": "o2"},
            {"from": "e3", "to": "i1"},
            {"from": "e4", "to": "i1"},
        ],
    )
    orders = as_dfg(
        ok(
            await execute(
                graph, MAP, {"by": "ACTIVITY", "case": "object", "type": "order", "min": 1}
            )
        )
    )
    assert orders == {
        "caseCount": 2,
        "nodes": [("pay order", 1), ("place order", 2), ("send package", 2)],
        "edges": [
            ("pay order", "send package", 1, 20.0),
            ("place order", "pay order", 1, 10.0),
            ("place order", "send package", 1, 30.0),
        ],
        "starts": [("place order", 2)],
        "ends": [("send package", 2)],
    }
    items = as_dfg(
        ok(await execute(graph, MAP, {"by": "TYPE", "case": "object", "type": "item", "min": 1}))
    )
    assert items["edges"] == [("INTERNAL", "SHIPMENT", 1, 10.0)] and items["caseCount"] == 1


async def test_empty_graph_bad_input_and_bounded_round_trips(graph: Graph) -> None:
    empty = as_dfg(ok(await execute(graph, MAP, variables("STEP"))))
    assert empty == {"caseCount": 0, "nodes": [], "edges": [], "starts": [], "ends": []}
    assert error_codes(await execute(graph, MAP, {"by": "TYPE", "case": "object", "min": 1})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await execute(graph, MAP, {"by": "TYPE", "case": "order", "min": 1})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await execute(graph, MAP, variables("TYPE", min=0))) == ["BAD_USER_INPUT"]
    await seed(graph)
    result, small = await execute_counted(graph, MAP, variables("CHANNEL"))
    ok(result)
    await seed(graph, copies=20)
    result, large = await execute_counted(graph, MAP, variables("CHANNEL"))
    assert as_dfg(ok(result))["caseCount"] == 60
    assert small.count == large.count == 1


CASES = """
query C($by: JourneyMapKey!, $source: String!, $target: String, $first: Int,
        $from: DateTime, $to: DateTime) {
  journeyMapCases(by: $by, source: $source, target: $target, first: $first,
                  from: $from, to: $to) {
    totalCount
    cases { times customer { id name } }
  }
}
"""


def cases_of(data: dict[str, Any]) -> tuple[int, list[tuple[str, int]]]:
    answer = data["journeyMapCases"]
    return answer["totalCount"], [(c["customer"]["id"], c["times"]) for c in answer["cases"]]


async def test_the_customers_behind_a_node_and_an_edge_of_the_map(graph: Graph) -> None:
    await seed(graph)

    async def behind(**arguments: Any) -> tuple[int, list[tuple[str, int]]]:
        return cases_of(ok(await execute(graph, CASES, {"by": "TYPE", **arguments})))

    # Traces by type: c1 PV FS CALL, c2 PV PV CALL, c3 CHAT, c4 PV FS.
    assert await behind(source="PAGE_VIEW") == (3, [("c2", 2), ("c1", 1), ("c4", 1)])
    assert await behind(source="PAGE_VIEW", target="FORM_SUBMIT") == (2, [("c1", 1), ("c4", 1)])
    assert await behind(source="PAGE_VIEW", target="CALL") == (1, [("c2", 1)])
    assert await behind(source="CALL", target="PAGE_VIEW") == (0, [])
    assert await behind(source="PAGE_VIEW", first=1) == (3, [("c2", 2)])
    # In [1 s, 120 s): c1 FS; c2 PV CALL; c4 FS.
    assert await behind(source="PAGE_VIEW", **{"from": at(1), "to": at(120)}) == (1, [("c2", 1)])
    web_to_web = {"by": "CHANNEL", "source": "web", "target": "web"}
    by_channel = ok(await execute(graph, CASES, web_to_web))
    assert cases_of(by_channel) == (3, [("c1", 1), ("c2", 1), ("c4", 1)])


async def test_cases_behind_reject_bad_input_and_cost_one_round_trip(graph: Graph) -> None:
    assert error_codes(await execute(graph, CASES, {"by": "TYPE", "source": ""})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(
        await execute(graph, CASES, {"by": "TYPE", "source": "CALL", "first": 100000})
    ) == ["BAD_USER_INPUT"]
    await seed(graph)
    result, small = await execute_counted(graph, CASES, {"by": "TYPE", "source": "CALL"})
    assert cases_of(ok(result))[0] == 2
    await seed(graph, copies=20)
    result, large = await execute_counted(graph, CASES, {"by": "TYPE", "source": "CALL"})
    assert cases_of(ok(result))[0] == 40
    assert small.count == large.count == 1


# --- the map by type and activity, from the facts on NEXT, equals the scan ------------------


async def scanned_and_from_facts(graph: Graph, by: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The customer journey map (all time) by the reference scan and as served (the facts)."""
    scan = fold(await graph.query(DFG_BY_CUSTOMER, by=by, **{"from": None, "to": None}), 1)
    served = await directly_follows_graph(
        graph, by=by, object_type=None, min_edge_count=1, window_from=None, window_to=None
    )
    return scan, served


async def test_a_type_or_activity_changed_later_moves_the_edges_it_ends(graph: Graph) -> None:
    await seed(graph)
    # c1: PAGE_VIEW -60s-> FORM_SUBMIT -120s-> CALL becomes PAGE_VIEW -> DEMO (book) -> CALL
    await upsert_nodes(
        graph,
        "Touchpoint",
        [{"id": "e1", "at": at(60), "type": "DEMO", "customerId": "c1", "activity": "book"}],
    )
    scan, served = await scanned_and_from_facts(graph, "TYPE")
    assert served == scan
    assert edges(served) == [
        ("DEMO", "CALL", 1, 120.0),
        ("PAGE_VIEW", "CALL", 1, 60.0),
        ("PAGE_VIEW", "DEMO", 1, 60.0),
        ("PAGE_VIEW", "FORM_SUBMIT", 1, 100.0),
        ("PAGE_VIEW", "PAGE_VIEW", 1, 30.0),
    ]
    scan, served = await scanned_and_from_facts(graph, "ACTIVITY")
    assert served == scan
    assert ("PAGE_VIEW", "book", 1, 60.0) in edges(served)
    assert (served["caseCount"], served["startKeys"], served["startCounts"]) == (
        4,
        ["CHAT", "PAGE_VIEW"],
        [1, 3],
    )


def edges(answer: dict[str, Any]) -> list[tuple[str, str, int, float]]:
    return list(
        zip(
            answer["edgeSources"],
            answer["edgeTargets"],
            answer["edgeCounts"],
            answer["edgeMedians"],
            strict=True,
        )
    )


async def test_the_facts_query_reads_the_pair_index_alone(graph: Graph) -> None:
    """The pairs, counts and medians come from the relationship index's values: the plan
    scans the index and reads no relationship or its properties from the store."""
    await seed(graph)
    async with graph.driver.session(database=graph.database) as session:
        result = await session.run("PROFILE " + DFG_FROM_FACTS_BY_TYPE)
        summary = await result.consume()
    assert summary.profile is not None
    pairs = _pairs_branch(summary.profile)
    operators = [str(op["operatorType"]).split("@")[0] for op in pairs]
    assert any("RelationshipIndexScan" in op for op in operators), operators
    details = " ".join(str(op.get("args", {}).get("Details", "")) for op in pairs)
    assert "cache[r.fromType]" in details and "cache[r.seconds]" in details, details


def _pairs_branch(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The operators of the union's first branch (the pairs from the index)."""
    if str(plan["operatorType"]).startswith("Union"):
        return list(_flatten(plan["children"][0]))
    return [plan] + [op for child in plan.get("children", []) for op in _pairs_branch(child)]


def _flatten(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("children", []):
        yield from _flatten(child)


write = st.fixed_dictionaries(
    {
        "id": st.sampled_from(TOUCHPOINT_IDS),
        "minute": st.integers(min_value=0, max_value=4),
        "customer": st.sampled_from(["c1", "c2", "c1", "c2", None]),
        "type": st.sampled_from(["PAGE_VIEW", "EMAIL", "CALL"]),
        "activity": st.sampled_from([None, "browse", "buy"]),
    }
)
upsert = st.tuples(
    st.sampled_from(["upsert", "bulk"]),
    st.lists(write, min_size=1, max_size=4, unique_by=lambda w: w["id"]),
    st.booleans(),
)
relabel = st.tuples(
    st.just("relabel"),
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.sampled_from(TOUCHPOINT_IDS),
                "type": st.sampled_from(["PAGE_VIEW", "EMAIL", "CALL"]),
                "activity": st.sampled_from([None, "browse", "buy"]),
            }
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda w: w["id"],
    ),
    st.booleans(),
)


def touchpoint_row(w: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": w["id"], "at": at(60 * w["minute"]), "type": w["type"]}
    if w["customer"] is not None:
        row["customerId"] = w["customer"]
    if w["activity"] is not None:
        row["activity"] = w["activity"]
    return row


async def apply(graph: Graph, operations: list[Operation]) -> None:
    """Each operation: a batch through the write layer or the bulk importer (sent twice
    when its flag says so), a delete, or a batch giving touchpoints written before another
    type and activity and nothing else (through the bulk importer when its flag says so)."""
    written: dict[str, dict[str, Any]] = {}
    for kind, payload, flag in operations:
        if kind == "delete":
            await delete_nodes(graph, "Touchpoint", payload)
            for touchpoint_id in payload:
                written.pop(touchpoint_id, None)
            continue
        if kind == "relabel":
            changes = [w for w in payload if w["id"] in written]
            payload = [{**written[w["id"]], **w} for w in changes]
            kind, flag = ("bulk" if flag else "upsert"), False
        written.update({w["id"]: w for w in payload})
        rows = [touchpoint_row(w) for w in payload]
        for _ in range(2 if flag else 1):
            if not rows:
                break
            if kind == "bulk":
                await load_nodes(graph, "Touchpoint", rows)
            else:
                await upsert_nodes(graph, "Touchpoint", rows)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.lists(write, min_size=3, max_size=6, unique_by=lambda w: w["id"]),
    operations=st.lists(st.one_of(upsert, delete, relabel), min_size=1, max_size=5),
)
def test_the_map_from_facts_equals_the_scan_after_any_writes(
    test_settings: Settings, first: list[dict[str, Any]], operations: list[Operation]
) -> None:
    """Touchpoints written late and out of order (same minutes: the id breaks ties), their
    type and activity changed, moved between customers (or to none), re-sent, through the
    write layer or the bulk importer, and deleted: the map by type and by activity from the
    facts is the scan's, exactly (medians included)."""

    async def example() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        db = connect(test_settings)
        try:
            await wipe(db)
            await migrate(db)
            await upsert_nodes(
                db, "Customer", [{"id": f"c{i}", "name": f"C{i}"} for i in (1, 2, 3)]
            )
            await apply(db, [("upsert", first, False), *operations])
            return [await scanned_and_from_facts(db, by) for by in ("TYPE", "ACTIVITY")]
        finally:
            await db.close()

    for scan, served in asyncio.run(example()):
        assert served == scan
