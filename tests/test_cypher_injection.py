"""Client strings never reach a query text.

Every root field of the schema (queries and mutations, read from the schema)
is called with a Cypher-injection string in every string position; every
query text sent over Bolt is recorded, and none may contain it. The calls
must also reach the database (else the test would prove nothing), and the
graph keeps exactly the nodes the upserts were meant to write.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orggraph.context import Context
from orggraph.graph.driver import recording
from orggraph.settings import Settings
from tests.hostile import (
    SCHEMA,
    SyncGraph,
    mutation_fields,
    open_sync_graph,
    operation,
    query_fields,
    sentinel_arguments,
)

# Valid as an id (printable, no surrounding blanks), hostile as Cypher text.
SENTINELS = (
    "zq7'})DETACH/**/DELETE/**/n//",
    'zq8"}) MATCH (n) DETACH DELETE n //',
    "zq9`) CALL apoc.create.node(['Evil'],{}) //",
)


@pytest.fixture(scope="module")
def db(test_settings: Settings) -> Iterator[SyncGraph]:
    yield from open_sync_graph(test_settings)


def call(db: SyncGraph, kind: str, name: str, field: Any, sentinel: str) -> tuple[Any, list[str]]:
    text = operation(kind, name, field)
    variables = sentinel_arguments(field, sentinel)
    context = Context.for_request(db.graph, Settings())
    with recording() as log:
        result = db.run(SCHEMA.execute(text, variable_values=variables, context_value=context))
    return result, log.queries


@pytest.mark.parametrize("sentinel", SENTINELS)
def test_no_mutation_puts_a_client_string_into_query_text(db: SyncGraph, sentinel: str) -> None:
    reached = 0
    for name, field in sorted(mutation_fields().items()):
        result, queries = call(db, "mutation", name, field, sentinel)
        for query in queries:
            assert sentinel not in query, f"{name} pasted a client string into Cypher"
            assert "zq" not in query, name
        reached += bool(queries)
        codes = [(e.extensions or {}).get("code") for e in result.errors or []]
        assert "INTERNAL" not in codes, (name, result.errors)
    # Most mutations must have reached Neo4j with the hostile strings as parameters.
    assert reached >= len(mutation_fields()) - 3


@pytest.mark.parametrize("sentinel", SENTINELS)
def test_no_query_field_puts_a_client_string_into_query_text(db: SyncGraph, sentinel: str) -> None:
    reached = 0
    fields = {n: f for n, f in query_fields().items() if n != "cypher"}  # its text IS the query
    for name, field in sorted(fields.items()):
        if not field.args:
            continue
        result, queries = call(db, "query", name, field, sentinel)
        for query in queries:
            assert sentinel not in query, f"{name} pasted a client string into Cypher"
        reached += bool(queries)
        codes = [(e.extensions or {}).get("code") for e in result.errors or []]
        assert "INTERNAL" not in codes, (name, result.errors)
    assert reached > 0


def test_hostile_ids_are_stored_as_data_and_nothing_else_is_written(db: SyncGraph) -> None:
    sentinel = SENTINELS[0]
    upsert = (
        "mutation($id: ID!, $n: String!) { upsertTeam(input: {id: $id, name: $n}) { id name } }"
    )
    context = Context.for_request(db.graph, Settings())
    result = db.run(
        SCHEMA.execute(
            upsert, variable_values={"id": sentinel, "n": sentinel}, context_value=context
        )
    )
    assert result.errors is None and result.data == {
        "upsertTeam": {"id": sentinel, "name": sentinel}
    }

    async def labels() -> list[str]:
        async with db.graph.driver.session(database=db.graph.database) as session:
            found = await session.run("MATCH (n:Evil) RETURN count(n) AS c")
            record = await found.single()
            assert record is not None
            return [str(record["c"])]

    assert db.run(labels()) == ["0"]
