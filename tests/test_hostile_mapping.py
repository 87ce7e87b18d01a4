"""The CSV mapping import under hostile files: every cell random, huge, unicode,
an injection attempt, a malformed date or an unknown enum; broken bytes; broken
mappings. Each import either succeeds storing text verbatim or fails with a
clear coded error and writes nothing.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orggraph.errors import OrgGraphError
from orggraph.graph.importers.mapping import parse_mapping, run_mapping
from orggraph.settings import Settings
from tests.hostile import (
    INJECTIONS,
    MALFORMED_DATES,
    SyncGraph,
    hostile_json,
    hostile_text,
    open_sync_graph,
)

CLIENT_CODES = {"BAD_USER_INPUT", "NOT_FOUND", "CONFLICT"}
HOSTILE = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)
MAPPING: dict[str, Any] = {
    "version": 1,
    "sources": [
        {
            "file": "teams.csv",
            "nodes": [
                {
                    "label": "Team",
                    "id": "team:{code}",
                    "properties": {
                        "name": "name",
                        "kind": {"column": "kind"},
                        "function": "function",
                    },
                }
            ],
            "relationships": [
                {"kind": "TEAM_PART_OF_TEAM", "from": "team:{code}", "to": "team:{parent}"}
            ],
        },
        {
            "file": "touchpoints.csv",
            "nodes": [
                {
                    "label": "Touchpoint",
                    "id": "tp",
                    "properties": {
                        "at": {"column": "when", "type": "datetime"},
                        "type": "kind",
                        "value": {"column": "amount", "type": "float"},
                        "teamId": "team:{team}",
                    },
                }
            ],
        },
    ],
}
TEAM_COLUMNS = ("code", "name", "kind", "function", "parent")
TOUCHPOINT_COLUMNS = ("tp", "when", "kind", "amount", "team")

cell = st.one_of(
    hostile_text,
    st.sampled_from(INJECTIONS),
    st.sampled_from(MALFORMED_DATES),
    st.sampled_from(["TEAM", "GROUP", "MARKETING", "SALES", "EMAIL", "CALL", "NOT_AN_ENUM", ""]),
    st.sampled_from(["2024-03-01T09:00:00Z", "1e309", "nan", "-inf", "12.5", "9" * 400]),
    st.just("T1"),
)


@pytest.fixture(scope="module")
def db(test_settings: Settings) -> Iterator[SyncGraph]:
    yield from open_sync_graph(test_settings)


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    # surrogatepass: a lone surrogate becomes invalid UTF-8 bytes, as in a broken file.
    with path.open("w", newline="", encoding="utf-8", errors="surrogatepass") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def import_(db: SyncGraph, folder: Path, mapping: Any = None) -> tuple[Any, OrgGraphError | None]:
    try:
        loaded = parse_mapping(MAPPING if mapping is None else mapping, folder)
        return db.run(run_mapping(db.graph, loaded)), None
    except OrgGraphError as error:
        return None, error


def assert_clear(error: OrgGraphError) -> None:
    assert error.code in CLIENT_CODES, (error.code, error.message)
    assert error.message and "Traceback" not in error.message


def row(columns: tuple[str, ...]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({c: cell for c in columns})


def names_by_id(db: SyncGraph) -> dict[str, str]:
    async def read() -> dict[str, str]:
        async with db.graph.driver.session(database=db.graph.database) as session:
            result = await session.run("MATCH (t:Team) RETURN t.id AS id, t.name AS name")
            return {r["id"]: r["name"] async for r in result}

    return db.run(read())  # type: ignore[no-any-return]


@HOSTILE
@given(
    teams=st.lists(row(TEAM_COLUMNS), min_size=1, max_size=4),
    touchpoints=st.lists(row(TOUCHPOINT_COLUMNS), max_size=4),
)
def test_hostile_cells_give_a_clear_error_and_write_nothing_or_import_verbatim(
    db: SyncGraph, teams: list[dict[str, str]], touchpoints: list[dict[str, str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder / "teams.csv", TEAM_COLUMNS, teams)
        write_csv(folder / "touchpoints.csv", TOUCHPOINT_COLUMNS, touchpoints)
        before = db.fingerprint()
        result, error = import_(db, folder)
    if error is not None:
        assert_clear(error)
        assert db.fingerprint() == before, "a failed import left writes behind"
        return
    assert result is not None and result.rejected == 0
    stored = names_by_id(db)
    # The last row of a code wins (idempotent upsert by id): its name is stored as is.
    expected = {f"team:{t['code']}": t["name"] for t in teams if t["name"].strip()}
    for team_id, name in expected.items():
        if team_id in stored:
            assert stored[team_id] == name


@HOSTILE
@given(content=st.binary(max_size=300))
def test_arbitrary_bytes_as_a_csv_are_a_clear_error_or_a_clean_import(
    db: SyncGraph, content: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "teams.csv").write_bytes(b"code,name,kind,function,parent\n" + content)
        write_csv(folder / "touchpoints.csv", TOUCHPOINT_COLUMNS, [])
        before = db.fingerprint()
        _, error = import_(db, folder)
    if error is not None:
        assert_clear(error)
        assert db.fingerprint() == before


@HOSTILE
@given(mapping=hostile_json)
def test_a_hostile_mapping_document_is_refused_before_any_file_is_read(
    db: SyncGraph, mapping: Any
) -> None:
    before = db.fingerprint()
    with tempfile.TemporaryDirectory() as tmp:
        _, error = import_(db, Path(tmp), mapping)
    assert error is not None  # no random document is a complete valid mapping with its files
    assert_clear(error)
    assert db.fingerprint() == before


@HOSTILE
@given(label=hostile_text, column=hostile_text, kind=hostile_text)
def test_injection_in_mapping_names_is_refused_by_the_allow_lists(
    db: SyncGraph, label: str, column: str, kind: str
) -> None:
    mapping = {
        "version": 1,
        "sources": [
            {
                "rows": [{"a": "x"}],
                "nodes": [{"label": label, "id": "a", "properties": {column: "a"}}],
                "relationships": [{"kind": kind, "from": "a", "to": "a"}],
            }
        ],
    }
    before = db.fingerprint()
    with tempfile.TemporaryDirectory() as tmp:
        _, error = import_(db, Path(tmp), mapping)
    assert error is not None
    assert_clear(error)
    assert db.fingerprint() == before


def test_a_lone_surrogate_in_a_file_is_a_clear_error(db: SyncGraph) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        team = {"code": "a", "name": "x\ud800", "kind": "TEAM", "function": "SALES", "parent": ""}
        write_csv(folder / "teams.csv", TEAM_COLUMNS, [team])
        write_csv(folder / "touchpoints.csv", TOUCHPOINT_COLUMNS, [])
        before = db.fingerprint()
        _, error = import_(db, folder)
    assert error is not None and error.code == "BAD_USER_INPUT"
    assert "teams.csv" in error.message and "utf-8" in error.message
    assert db.fingerprint() == before
