"""The declarative CSV/JSON-lines import: mapping validation, bad rows, rejects, idempotence."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from orggraph.errors import BadInputError, NotFoundError
from orggraph.graph.driver import Graph
from orggraph.graph.importers.mapping import load_mapping, parse_mapping, run_mapping

MAPPING = """
version: 1
sources:
  - file: teams.csv
    nodes:
      - label: Team
        id: "team:{code}"
        properties:
          name: name
          kind: {value: TEAM}
          function: {column: function}
    relationships:
      - {kind: TEAM_PART_OF_TEAM, from: "team:{code}", to: "team:{parent}"}
  - file: customers.csv
    delimiter: ";"
    nodes:
      - label: Customer
        id: "c:{no}"
        properties: {name: company, kind: {value: ACCOUNT}, segment: segment}
  - file: touchpoints.jsonl
    nodes:
      - label: Touchpoint
        id: tp
        properties:
          at: {column: when, type: datetime, format: "%d/%m/%Y %H:%M"}
          type: kind
          value: {column: amount, type: float}
          customerId: "c:{customer}"
          teamId: "team:{team}"
"""
TEAMS = (
    "code,name,function,parent\nS,Sales,SALES,\nIS,Inside sales,SALES,S\nM,Marketing,MARKETING,\n"
)
CUSTOMERS = "no;company;segment\n1;Acme;SMB\n2;Globex;ENTERPRISE\n"
TOUCHPOINTS = [
    {"tp": "t1", "when": "01/02/2024 09:30", "kind": "EMAIL", "customer": "1", "team": "M"},
    {"tp": "t2", "when": "02/02/2024 10:00", "kind": "CALL", "customer": "1", "team": "IS"},
    {
        "tp": "t3",
        "when": "03/02/2024 11:00",
        "kind": "PURCHASE",
        "amount": "120.5",
        "customer": "1",
        "team": "IS",
    },
    {"tp": "t4", "when": "01/02/2024 08:00", "kind": "PAGE_VIEW", "customer": "2"},
]


def write_files(
    folder: Path, touchpoints: list[dict[str, Any]] = TOUCHPOINTS, customers: str = CUSTOMERS
) -> Path:
    (folder / "teams.csv").write_text(TEAMS)
    (folder / "customers.csv").write_text(customers)
    (folder / "touchpoints.jsonl").write_text("".join(json.dumps(t) + "\n" for t in touchpoints))
    path = folder / "mapping.yaml"
    path.write_text(MAPPING)
    return path


async def totals(graph: Graph) -> tuple[int, int]:
    records, _, _ = await graph.driver.execute_query(
        "MATCH (n) WHERE NOT n:Migration OPTIONAL MATCH (n)-[r]->() "
        "RETURN count(DISTINCT n) AS nodes, count(r) AS rels",
        database_=graph.database,
    )
    return records[0]["nodes"], records[0]["rels"]


# --- the mapping itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "key", "reason"),
    [
        (
            {"sources": [{"rows": [{}], "nodes": [{"label": "Teem", "id": "x"}]}]},
            "sources.0.nodes.0.label",
            "unknown label 'Teem'",
        ),
        (
            {
                "sources": [
                    {
                        "rows": [{}],
                        "nodes": [
                            {
                                "label": "Customer",
                                "id": "x",
                                "properties": {"kind": {"value": "ACCONT"}},
                            }
                        ],
                    }
                ]
            },
            "sources.0.nodes.0",
            "properties.kind: constant 'ACCONT'",
        ),
        (
            {
                "sources": [
                    {
                        "rows": [{}],
                        "nodes": [{"label": "Team", "id": "x", "properties": {"colour": "c"}}],
                    }
                ]
            },
            "sources.0.nodes.0",
            "Team has no property 'colour'",
        ),
        (
            {
                "sources": [
                    {
                        "rows": [{}],
                        "relationships": [{"kind": "TEAM_LIKES_TEAM", "from": "a", "to": "b"}],
                    }
                ]
            },
            "sources.0.relationships.0.kind",
            "Input should be",
        ),
        (
            {
                "sources": [
                    {
                        "rows": [{}],
                        "relationships": [
                            {"kind": "TOUCHPOINT_NEXT_TOUCHPOINT", "from": "a", "to": "b"}
                        ],
                    }
                ]
            },
            "sources.0.relationships.0.kind",
            "maintained by orggraph",
        ),
        (
            {"sources": [{"file": "a.csv", "rows": [{}], "nodes": [{"label": "Team", "id": "x"}]}]},
            "sources.0",
            "exactly one of 'file' or 'rows'",
        ),
        (
            {
                "sources": [
                    {
                        "rows": [{}],
                        "nodes": [{"label": "Team", "id": {"column": "a", "value": "b"}}],
                    }
                ]
            },
            "sources.0.nodes.0.id",
            "exactly one of 'column', 'value' or 'template'",
        ),
    ],
)
def test_an_invalid_mapping_is_rejected_naming_the_key(
    mapping: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(BadInputError) as caught:
        parse_mapping(mapping, Path("."))
    assert key in caught.value.message
    assert reason in caught.value.message


def test_a_mapping_is_validated_before_any_source_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps({"sources": [{"file": "missing.csv", "nodes": [{"label": "Nope", "id": "x"}]}]})
    )
    with pytest.raises(BadInputError, match="sources.0.nodes.0.label"):
        load_mapping(path)


# --- loading ---------------------------------------------------------------------------------


async def test_a_mapping_imports_csv_and_json_lines_with_conversions(
    graph: Graph, tmp_path: Path
) -> None:
    result = await run_mapping(graph, load_mapping(write_files(tmp_path)))
    assert (result.rows_read, result.rows_imported, result.rejected) == (9, 9, 0)
    assert result.nodes == {"Team": 3, "Customer": 2, "Touchpoint": 4}
    assert result.relationships == {"TEAM_PART_OF_TEAM": 1}
    records, _, _ = await graph.driver.execute_query(
        "MATCH (c:Customer {id: 'c:1'})-[:HAD]->(t:Touchpoint) "
        "OPTIONAL MATCH (t)-[:HANDLED_BY]->(team:Team) "
        "RETURN t.id AS id, t.type AS type, t.value AS value, team.name AS team, "
        "toString(t.at) AS at ORDER BY t.at",
        database_=graph.database,
    )
    assert [tuple(r.values()) for r in records] == [
        ("t1", "EMAIL", None, "Marketing", "2024-02-01T09:30:00Z"),
        ("t2", "CALL", None, "Inside sales", "2024-02-02T10:00:00Z"),
        ("t3", "PURCHASE", 120.5, "Inside sales", "2024-02-03T11:00:00Z"),
    ]
    chain = await graph.driver.execute_query(
        "MATCH (a:Touchpoint)-[:NEXT]->(b:Touchpoint) RETURN a.id + '>' + b.id AS step "
        "ORDER BY step",
        database_=graph.database,
    )
    assert [r["step"] for r in chain.records] == ["t1>t2", "t2>t3"]


async def test_reimporting_the_same_mapping_changes_nothing(graph: Graph, tmp_path: Path) -> None:
    mapping = load_mapping(write_files(tmp_path))
    await run_mapping(graph, mapping)
    before = await totals(graph)
    again = await run_mapping(graph, mapping)
    # 10 written or chained, plus LATEST for each of the two customers
    assert await totals(graph) == before == (9, 12)
    assert again.writes.nodes_created == 0
    assert again.writes.relationships_created == 0
    assert again.writes.relationships_deleted == 0


async def test_the_first_bad_row_stops_the_import_before_anything_is_written(
    graph: Graph, tmp_path: Path
) -> None:
    bad = [*TOUCHPOINTS, {"tp": "t5", "when": "2024-02-04", "kind": "EMAIL", "customer": "2"}]
    mapping = load_mapping(write_files(tmp_path, touchpoints=bad))
    with pytest.raises(BadInputError) as caught:
        await run_mapping(graph, mapping)
    error = caught.value
    assert error.details["file"] == "touchpoints.jsonl"
    assert error.details["line"] == 5
    assert error.details["column"] == "when"
    assert "is not a valid datetime" in error.details["reason"]
    assert "touchpoints.jsonl, line 5, column 'when'" in error.message
    assert await totals(graph) == (0, 0)


async def test_an_unknown_enum_value_in_a_row_names_file_line_and_column(
    graph: Graph, tmp_path: Path
) -> None:
    customers = CUSTOMERS + "3;Initech;ENTERPRISE\n"
    bad = [
        *TOUCHPOINTS,
        {"tp": "t9", "when": "01/03/2024 10:00", "kind": "TELEPATHY", "customer": "3"},
    ]
    mapping = load_mapping(write_files(tmp_path, touchpoints=bad, customers=customers))
    with pytest.raises(BadInputError) as caught:
        await run_mapping(graph, mapping)
    assert caught.value.details["column"] == "kind"
    assert caught.value.details["line"] == 5
    assert "Touchpoint.type" in caught.value.details["reason"]


async def test_with_a_rejects_file_bad_rows_are_skipped_and_reported(
    graph: Graph, tmp_path: Path
) -> None:
    bad = [
        *TOUCHPOINTS,
        {"tp": "t5", "when": "yesterday", "kind": "EMAIL", "customer": "2"},
        {"tp": "t6", "when": "05/02/2024 10:00", "kind": "CALL", "amount": "lots", "customer": "2"},
    ]
    mapping = load_mapping(write_files(tmp_path, touchpoints=bad))
    rejects = tmp_path / "rejects.csv"
    result = await run_mapping(graph, mapping, rejects=rejects)
    assert (result.rows_read, result.rows_imported, result.rejected) == (11, 9, 2)
    with rejects.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], r["line"], r["column"]) for r in rows] == [
        ("touchpoints.jsonl", "5", "when"),
        ("touchpoints.jsonl", "6", "amount"),
    ]
    assert "'lots' is not a valid float" in rows[1]["reason"]
    assert await totals(graph) == (9, 12)  # as a clean import, LATEST included


async def test_a_batch_with_a_dangling_reference_is_rolled_back_whole(
    graph: Graph, tmp_path: Path
) -> None:
    bad = [
        *TOUCHPOINTS,
        {"tp": "t5", "when": "05/02/2024 10:00", "kind": "EMAIL", "customer": "404"},
    ]
    mapping = load_mapping(write_files(tmp_path, touchpoints=bad))
    with pytest.raises(NotFoundError, match="c:404"):
        await run_mapping(graph, mapping, batch_size=100)
    # Teams and customers (earlier batches) are in; no touchpoint of the failed batch is.
    records, _, _ = await graph.driver.execute_query(
        "MATCH (n) WHERE NOT n:Migration RETURN labels(n)[0] AS label, count(*) AS n",
        database_=graph.database,
    )
    assert {r["label"]: r["n"] for r in records} == {"Team": 3, "Customer": 2}
