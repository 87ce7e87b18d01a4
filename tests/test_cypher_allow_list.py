"""The read-only check of analysts' Cypher is an allow-list over the whole plan.

These tests exercise the service's own wall (graph/cypher.py). The database's
wall (no file URLs, no network, allow-listed procedures, memory limits) is
tested on its own in tests/test_database_hardening.py.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import neo4j
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import orggraph.graph
from orggraph.errors import (
    CypherNotReadOnlyError,
    CypherQueryFailedError,
    CypherSyntaxError,
    OrgGraphError,
)
from orggraph.graph.cypher import READ_OPERATORS, CypherLimits, run_read_only
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes

LIMITS = CypherLimits(timeout_s=10.0, max_rows=1_000, max_bytes=1_000_000)


async def run(graph: Graph, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
    result = await run_read_only(graph, query, params or {}, LIMITS, can_read_pii=False)
    return result.rows


async def test_a_file_read_nested_in_a_case_expression_is_refused(graph: Graph) -> None:
    """The review's critical finding: the subquery is planned inside the expression."""
    query = (
        "RETURN CASE WHEN rand() < 2 THEN "
        "COLLECT { LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l[0] } END AS x"
    )
    with pytest.raises(CypherNotReadOnlyError) as refused:
        await run(graph, query)
    assert "COLLECT { } subquery inside an expression uses" in refused.value.message
    assert "LOAD" in refused.value.message


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("CALL { LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l } RETURN l", "LoadCSV"),
        ("SHOW PROCEDURES", "ShowProcedures"),
        ("CALL db.info() YIELD name RETURN name", "db.info"),
        # loaded by the database, but not on the analysts' lists
        ("CALL apoc.create.vNode(['X'], {}) YIELD node RETURN node", "apoc.create.vNode"),
        ("RETURN apoc.diff.nodes(null, null) AS x", "apoc.diff.nodes"),
    ],
)
async def test_what_the_allow_lists_do_not_hold_is_refused_and_named(
    graph: Graph, query: str, named: str
) -> None:
    with pytest.raises(CypherNotReadOnlyError) as refused:
        await run(graph, query)
    assert named in refused.value.message


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("CALL apoc.load.json('http://127.0.0.1:9/') YIELD value RETURN value", "apoc.load.json"),
        ("CALL apoc.util.sleep(10)", "apoc.util.sleep"),
        ("RETURN apoc.cypher.runFirstColumnSingle('RETURN 1', {}) AS x", "apoc.cypher"),
        ("RETURN `apoc`.`cypher`.runFirstColumnSingle('RETURN 1', {}) AS x", "apoc.cypher"),
    ],
)
async def test_what_the_database_does_not_load_is_unknown_to_it(
    graph: Graph, query: str, named: str
) -> None:
    """The first wall: these are not even loaded (the service's check would refuse them
    too, on a database that has them)."""
    with pytest.raises((CypherNotReadOnlyError, CypherSyntaxError)) as refused:
        await run(graph, query)
    assert named in refused.value.message


@pytest.mark.parametrize(
    "query",
    [
        "MATCH (t:Team) RETURN t.id AS id, COUNT { (t)-[:OWNS]->() } AS owned ORDER BY id",
        "MATCH (t:Team) WHERE EXISTS { MATCH (t)-[:OWNS]->(s:Step) WHERE s.id = 's1' } "
        "RETURN t.id AS id",
        "MATCH (t:Team) RETURN t.id AS id, COLLECT { MATCH (t)-[:OWNS]->(s) RETURN s.id } AS s",
        "MATCH (t:Team) CALL (t) { MATCH (t)-[:OWNS]->(s) RETURN count(s) AS n } "
        "RETURN t.id AS id, n",
        "MATCH (t:Team) RETURN t.id AS id UNION MATCH (s:Step) RETURN s.id AS id",
        "MATCH (t:Team) RETURN [(t)-[:OWNS]->(s) | s.id] AS steps",
        "MATCH (t:Team) RETURN head(COLLECT { MATCH (t)-[:OWNS]->(s:Step) RETURN s.id "
        "ORDER BY s.id }) AS first",
        "MATCH (t:Team) RETURN CASE WHEN t.id = 'a' THEN COUNT { MATCH (t)-[:OWNS]->(s) "
        "WHERE s.id STARTS WITH 's' RETURN s } ELSE -1 END AS n",
        "RETURN date.truncate('month', date('2024-05-03')) AS d, "
        "apoc.text.join(['a', 'b'], ',') AS j, apoc.coll.sum([1, 2]) AS s",
        "CALL db.labels() YIELD label RETURN label",
        "MATCH p = shortestPath((:Team {id: 'a'})-[*..3]-(:Step {id: 's1'})) RETURN length(p)",
    ],
)
async def test_ordinary_reads_pass_the_check(graph: Graph, query: str) -> None:
    await upsert_nodes(graph, "Team", [{"id": "a", "name": "A"}])
    await upsert_nodes(graph, "Step", [{"id": "s1", "name": "S1"}])
    await graph.write(lambda tx: tx.run("MATCH (t:Team {id: 'a'}), (s:Step {id: 's1'}) "
                                         "MERGE (t)-[:OWNS {from: datetime()}]->(s)"))  # fmt: skip
    rows = await run(graph, query)
    assert rows, query


def _read_constants() -> list[tuple[str, str]]:
    """Every read-only Cypher constant of the service's own graph layer."""
    found: list[tuple[str, str]] = []
    writes = re.compile(r"\b(CREATE|MERGE|SET|DELETE|REMOVE|DROP|FOREACH)\b")
    for info in pkgutil.walk_packages(orggraph.graph.__path__, "orggraph.graph."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                name.isupper()
                and not name.startswith("_")
                and isinstance(value, str)
                and re.match(r"\s*(MATCH|OPTIONAL MATCH|UNWIND|WITH|CALL \(|RETURN)\b", value)
                and not writes.search(value)
            ):
                found.append((f"{info.name}.{name}", value))
    return found


async def test_the_services_own_read_queries_pass_the_check(graph: Graph) -> None:
    """The allow-list is wide enough for real queries: every read query the service
    itself runs plans only to allowed operators and functions (EXPLAIN, nothing runs)."""
    from orggraph.graph.cypher import _catalogue, check_plan

    constants = _read_constants()
    assert len(constants) > 20
    seen_operators: set[str] = set()
    planned = 0
    async with graph.driver.session(database=graph.database) as session:
        catalogue = await _catalogue(graph, session)
        for name, query in constants:
            try:
                summary = await (await session.run("EXPLAIN " + query)).consume()
            except neo4j.exceptions.CypherSyntaxError:
                continue  # a fragment, composed into whole queries elsewhere
            planned += 1
            try:
                check_plan(summary, graph.database, catalogue)
            except CypherNotReadOnlyError as error:
                pytest.fail(f"{name}: {error.message}")
            stack = [summary.plan]
            while stack:
                plan = stack.pop()
                assert plan is not None
                seen_operators.add(str(plan["operatorType"]).split("@")[0].split("(")[0])
                stack.extend(plan.get("children", []))
    assert seen_operators <= READ_OPERATORS
    assert planned > 20


async def test_a_shortest_path_from_a_node_to_itself_is_the_queries_fault(graph: Graph) -> None:
    await upsert_nodes(graph, "Team", [{"id": "a", "name": "A"}])
    with pytest.raises(CypherQueryFailedError) as failed:
        await run(graph, "MATCH (a:Team) MATCH p = shortestPath((a)-[*]-(a)) RETURN p")
    assert failed.value.extensions()["code"] == "CYPHER_QUERY_FAILED"
    assert "start and end nodes are the same" in failed.value.message


async def test_a_datetime_the_driver_cannot_hold_is_a_clear_error(graph: Graph) -> None:
    with pytest.raises(CypherQueryFailedError) as failed:
        await run(graph, "RETURN datetime('0001-01-01T00:00:00+01:00') AS x")
    assert failed.value.extensions()["column"] == "x"
    assert await run(graph, "RETURN toString(datetime('0001-01-01T00:00:00+01:00')) AS x") == [
        ["0001-01-01T00:00:00+01:00"]
    ]


# --- nested shapes around forbidden clauses (property-based) -----------------------------

# Each core is a complete subquery body returning one column `v`; none may ever run.
FORBIDDEN_CORES: tuple[str, ...] = (
    "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l[0] AS v",
    "LOAD CSV FROM 'http://127.0.0.1:9/' AS l RETURN l[0] AS v",
    "CALL apoc.load.json('file:///etc/passwd') YIELD value RETURN value AS v",
    "CALL dbms.listConfig() YIELD name RETURN name AS v",
    "CALL db.createLabel('Evil') RETURN 1 AS v",
    "CREATE (x:Evil) RETURN x AS v",
    "MERGE (x:Evil {id: 1}) RETURN x AS v",
    "MATCH (x) SET x.evil = 1 RETURN x AS v",
    "UNWIND [1] AS i RETURN apoc.cypher.runFirstColumnSingle('CREATE (:Evil) RETURN 1', {}) AS v",
    "CALL apoc.util.sleep(1) RETURN 1 AS v",
    "CALL apoc.export.csv.all('/tmp/x.csv', {}) YIELD file RETURN file AS v",
)


_FORBIDDEN_WORDS = ("LOAD CSV", "LoadCSV", "apoc.", "dbms.", "db.", "Create", "Merge", "Set")


async def _plan_mentions(graph: Graph, query: str, words: tuple[str, ...]) -> bool:
    async with graph.driver.session(database=graph.database) as session:
        summary = await (await session.run("EXPLAIN " + query)).consume()
    stack = [summary.plan]
    while stack:
        plan = stack.pop()
        assert plan is not None
        text = str(plan["operatorType"]) + str(plan.get("args", {}).get("Details", ""))
        if any(word in text for word in words):
            return True
        stack.extend(plan.get("children", []))
    return False


def _wrap(core: str, shape: str) -> str:
    """``core`` (a subquery body returning ``v``) inside one more level of nesting."""
    return {
        "case_collect": f"RETURN CASE WHEN rand() < 2 THEN COLLECT {{ {core} }} END AS v",
        "case_count": f"RETURN CASE WHEN rand() < 2 THEN COUNT {{ {core} }} ELSE 0 END AS v",
        "case_exists": f"RETURN CASE WHEN EXISTS {{ {core} }} THEN 1 END AS v",
        "collect": f"RETURN COLLECT {{ {core} }} AS v",
        "count": f"RETURN COUNT {{ {core} }} AS v",
        "where_exists": f"UNWIND [1] AS i WITH i WHERE EXISTS {{ {core} }} RETURN i AS v",
        "comprehension": f"RETURN [i IN [1, 2] WHERE size(COLLECT {{ {core} }}) > 0 | i] AS v",
        "call": f"CALL () {{ {core} }} RETURN v",
        "optional_call": f"OPTIONAL CALL () {{ {core} }} RETURN v",
        "union": f"RETURN 1 AS v UNION CALL () {{ {core} }} RETURN v",
        "with_then": f"WITH 1 AS i CALL (i) {{ {core} }} RETURN v",
        "coalesce": f"RETURN coalesce(null, head(COLLECT {{ {core} }})) AS v",
        "reduce": f"RETURN reduce(s = 0, x IN COLLECT {{ {core} }} | s + 1) AS v",
    }[shape]


SHAPES = (
    "case_collect", "case_count", "case_exists", "collect", "count", "where_exists",
    "comprehension", "call", "optional_call", "union", "with_then", "coalesce", "reduce",
)  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    core=st.sampled_from(FORBIDDEN_CORES),
    shapes=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3),
)
async def test_a_forbidden_clause_is_refused_at_any_depth_of_nesting(
    graph: Graph, core: str, shapes: list[str]
) -> None:
    query = core
    for shape in shapes:
        query = _wrap(query, shape)
    try:
        rows = await run(graph, query)
    except (CypherNotReadOnlyError, CypherSyntaxError):
        pass  # refused by the plan check, or not even valid Cypher: never ran
    except OrgGraphError as error:
        pytest.fail(f"{query}: ran and failed with {error.code}: {error.message}")
    else:
        # Only when the planner dropped the forbidden part as dead code (a COUNT that
        # never reads the column): then no operator of the plan does it.
        assert "root:" not in repr(rows)
        assert not await _plan_mentions(graph, query, _FORBIDDEN_WORDS), (query, rows)
    evil = await graph.query("MATCH (x) WHERE x:Evil OR x.evil IS NOT NULL RETURN count(x) AS n")
    assert evil[0]["n"] == 0
