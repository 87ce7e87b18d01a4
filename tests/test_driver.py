"""The one door to Neo4j: bounds that hold on both sides of the connection."""

from __future__ import annotations

import pytest

from orggraph.errors import BadInputError
from orggraph.graph import driver
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes

SLOW = (
    "MATCH (a:Team), (b:Team), (c:Team), (d:Team) "
    "WHERE a.name < b.name + c.name + d.name RETURN count(*) AS n"
)


async def test_every_transaction_carries_the_clients_bound_to_the_database(
    graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction the client gave up on must not run on in the database, holding locks
    and transaction memory: the database gets its own bound, a margin past the client's.
    With the margin made negative, the database's bound is the one that fires."""
    await upsert_nodes(graph, "Team", [{"id": f"t{i}", "name": f"T{i}"} for i in range(300)])
    # The database checks its timeouts every 2 s: leave the client well past that.
    monkeypatch.setattr(driver, "SERVER_TIMEOUT_MARGIN_S", -6.0)
    bounded = Graph(graph.driver, graph.database, timeout_s=8.0)
    with pytest.raises(BadInputError) as stopped:
        await bounded.query(SLOW)
    assert "TransactionTimedOut" in stopped.value.details["neo4jCode"]

    async def slow_read(tx: driver.Tx) -> None:
        await tx.records(SLOW)

    with pytest.raises(BadInputError) as stopped_too:
        await bounded.read(slow_read)
    assert "TransactionTimedOut" in stopped_too.value.details["neo4jCode"]


RUNNING_METADATA = """
SHOW TRANSACTIONS YIELD metaData, currentQuery
WHERE NOT currentQuery CONTAINS 'SHOW TRANSACTIONS' AND metaData.operation = 'SlowOne'
RETURN metaData
"""


async def test_a_transaction_names_its_graphql_operation_and_request(graph: Graph) -> None:
    import asyncio
    import contextlib

    from starlette.requests import Request

    from orggraph.api import build_schema
    from orggraph.context import Context
    from orggraph.settings import Settings

    await upsert_nodes(graph, "Team", [{"id": f"t{i}", "name": f"T{i}"} for i in range(300)])
    settings = Settings()
    request = Request({"type": "http", "headers": [(b"x-request-id", b"req-42")]})
    context = Context.for_request(graph, settings, request)
    document = "query SlowOne($q: String!) { cypher(query: $q) { rowCount } }"
    running = asyncio.create_task(
        build_schema(settings).execute(document, variable_values={"q": SLOW}, context_value=context)
    )
    try:
        seen: list[dict[str, str]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 8.0
        while not seen and loop.time() < deadline:
            seen = [dict(r["metaData"]) for r in await graph.query(RUNNING_METADATA)]
            await asyncio.sleep(0.1)
        assert seen and seen[0]["requestId"] == "req-42" and seen[0]["app"] == "orggraph"
        assert seen[0]["kind"] == "analyst-cypher"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
