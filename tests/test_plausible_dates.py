"""Every stored date-time lies in the plausible range (ORGGRAPH_MIN_DATE,
ORGGRAPH_MAX_DATE_AHEAD_DAYS): through GraphQL, the write layer and imports, a date
outside it is BAD_USER_INPUT naming the row and field, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orggraph.errors import BadInputError
from orggraph.graph.driver import Graph
from orggraph.graph.importers.mapping import load_mapping, run_mapping
from orggraph.graph.model import date_bounds
from orggraph.graph.writes import upsert_nodes
from tests.helpers import execute


async def count(graph: Graph, label: str) -> int:
    records, _, _ = await graph.driver.execute_query(
        f"MATCH (n:{label}) RETURN count(n)", database_=graph.database
    )
    return int(records[0][0])


@pytest.fixture
def bounds_from_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    date_bounds.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    date_bounds.cache_clear()


async def test_a_touchpoint_before_1970_is_refused_naming_the_field(graph: Graph) -> None:
    result = await execute(
        graph,
        'mutation { upsertTouchpoint(input: {id: "t", at: "1969-12-31T23:59:59Z", type: CALL})'
        " { id } }",
    )
    assert result.errors is not None and len(result.errors) == 1
    error = result.errors[0]
    assert (error.extensions or {})["code"] == "BAD_USER_INPUT"
    assert (error.extensions or {})["field"] == "at"
    assert "1970-01-01" in error.message and "ORGGRAPH_MIN_DATE" in error.message
    assert await count(graph, "Touchpoint") == 0


async def test_one_deal_closing_too_far_ahead_refuses_the_whole_batch(graph: Graph) -> None:
    far = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    near = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    rows = [
        {"id": "d1", "amount": 1, "openedAt": "2024-01-01T00:00:00Z", "closedAt": near},
        {"id": "d2", "amount": 1, "openedAt": "2024-01-01T00:00:00Z", "closedAt": far},
    ]
    with pytest.raises(BadInputError) as caught:
        await upsert_nodes(graph, "Deal", rows)
    assert caught.value.details["row"] == 1
    assert caught.value.details["field"] == "closedAt"
    assert "366 days ahead" in caught.value.message
    assert "ORGGRAPH_MAX_DATE_AHEAD_DAYS" in caught.value.message
    assert await count(graph, "Deal") == 0
    await upsert_nodes(graph, "Deal", rows[:1])
    assert await count(graph, "Deal") == 1


async def test_an_imported_row_with_an_old_date_names_file_line_and_column(
    graph: Graph, tmp_path: Path
) -> None:
    (tmp_path / "events.jsonl").write_text(
        "".join(
            json.dumps(row) + "\n"
            for row in (
                {"id": "t1", "when": "2024-03-01T10:00:00Z"},
                {"id": "t2", "when": "0023-03-01T10:00:00Z"},
            )
        )
    )
    (tmp_path / "mapping.yaml").write_text(
        """
version: 1
sources:
  - file: events.jsonl
    nodes:
      - label: Touchpoint
        id: id
        properties:
          at: {column: when, type: datetime}
          type: {value: CALL}
"""
    )
    with pytest.raises(BadInputError) as caught:
        await run_mapping(graph, load_mapping(tmp_path / "mapping.yaml"))
    assert caught.value.details["line"] == 2
    assert caught.value.details["column"] == "when"
    assert "earliest plausible date" in caught.value.details["reason"]
    assert await count(graph, "Touchpoint") == 0


async def test_the_range_is_configurable(graph: Graph, bounds_from_env: pytest.MonkeyPatch) -> None:
    bounds_from_env.setenv("ORGGRAPH_MIN_DATE", "1900-01-01")
    bounds_from_env.setenv("ORGGRAPH_MAX_DATE_AHEAD_DAYS", "0")
    date_bounds.cache_clear()
    await upsert_nodes(graph, "Touchpoint", [{"id": "old", "at": "1950-06-01", "type": "CALL"}])
    assert await count(graph, "Touchpoint") == 1
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with pytest.raises(BadInputError):
        await upsert_nodes(graph, "Touchpoint", [{"id": "new", "at": tomorrow, "type": "CALL"}])


async def test_a_relationship_date_is_bounded_too(graph: Graph) -> None:
    from orggraph.graph.model import RelationshipKind
    from orggraph.graph.writes import upsert_relationships

    await upsert_nodes(graph, "Team", [{"id": "t", "name": "T"}])
    await upsert_nodes(graph, "Step", [{"id": "s", "name": "S"}])
    with pytest.raises(BadInputError) as caught:
        await upsert_relationships(
            graph,
            RelationshipKind.TEAM_OWNS_STEP,
            [{"from": "t", "to": "s", "properties": {"from": "1900-01-01T00:00:00Z"}}],
        )
    assert caught.value.details["field"] == "from"
