"""The one door to Neo4j: bounds that hold on both sides of the connection."""

from __future__ import annotations

import pytest
from orggraph.graph import driver
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes

from orggraph.errors import BadInputError

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
    monkeypatch.setattr(driver, "SERVER_TIMEOUT_MARGIN_S", -1.0)
    bounded = Graph(graph.driver, graph.database, timeout_s=2.0)
    with pytest.raises(BadInputError) as stopped:
        await bounded.query(SLOW)
    assert "TransactionTimedOut" in stopped.value.details["neo4jCode"]

    async def slow_read(tx: driver.Tx) -> None:
        await tx.records(SLOW)

    with pytest.raises(BadInputError) as stopped_too:
        await bounded.read(slow_read)
    assert "TransactionTimedOut" in stopped_too.value.details["neo4jCode"]
