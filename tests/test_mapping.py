"""The declarative CSV/JSON-lines import: mapping validation, bad rows, rejects, idempotence."""

from __future__ import annotations

import asyncio
import csv
import json
import random
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, LiteralString, TypeVar

import pytest
import yaml

from orggraph.errors import BadInputError, DatabaseUnavailableError, NotFoundError
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.importers.mapping import (
    BatchSizer,
    check_mapping,
    load_mapping,
    parse_mapping,
    run_mapping,
)
from orggraph.graph.journeys import rebuild_chains
from orggraph.graph.writes import upsert_nodes
from tests.helpers import unlabelled_entities

T = TypeVar("T")

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
    assert await unlabelled_entities(graph) == []


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


# Pass 2 writes what pass 1 validated when the import is small enough to keep it (the
# second case), else it reads and validates the rows again (the first): the same graph.
@pytest.mark.parametrize("keep_rows", [0, 100], ids=["validated-again", "kept-from-pass-1"])
async def test_with_a_rejects_file_bad_rows_are_skipped_and_reported(
    graph: Graph, tmp_path: Path, keep_rows: int
) -> None:
    bad = [
        *TOUCHPOINTS,
        {"tp": "t5", "when": "yesterday", "kind": "EMAIL", "customer": "2"},
        {"tp": "t6", "when": "05/02/2024 10:00", "kind": "CALL", "amount": "lots", "customer": "2"},
    ]
    mapping = load_mapping(write_files(tmp_path, touchpoints=bad))
    rejects = tmp_path / "rejects.csv"
    result = await run_mapping(graph, mapping, rejects=rejects, keep_rows=keep_rows)
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


# --- a two-file funnel export: joins, value maps, partial updates, optional references ----

FUNNEL = Path(__file__).resolve().parent.parent / "mappings" / "funnel.yaml"
ORIGINS = ["organic_search", "paid_search", "social", "email", "referral", "direct_traffic"]
CHANNEL_NAMES = {
    "organic_search": "Organic search",
    "paid_search": "Paid search",
    "social": "Social",
    "email": "Email",
    "referral": "Referral",
    "direct_traffic": "Direct",
}


@dataclass
class Funnel:
    """What the generated files hold, computed from the generator's own truth."""

    good_leads: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> page, origin
    good_deals: dict[str, str] = field(default_factory=dict)  # lead id -> segment
    rejected: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, column


def write_funnel(folder: Path, leads: int = 300, seed: int = 19) -> Funnel:
    """``leads`` clean leads (1 in 3 won), then dirty rows: an origin no value map has, an
    impossible date, an empty origin and page, a duplicated lead; deals for a lead nobody
    has, without a won date, with a revenue that is not a number."""
    rng = random.Random(seed)
    truth = Funnel()
    pages = {f"p{n}": ORIGINS[n % len(ORIGINS)] for n in range(40)}
    lead_rows = [["lead_id", "first_contact", "landing_page", "origin"]]
    deal_rows = [["lead_id", "won_date", "segment", "monthly_revenue"]]
    for n in range(leads):
        lead = f"L{n:04d}"
        page = rng.choice(sorted(pages))
        lead_rows.append([lead, f"2024-0{1 + n % 6}-{1 + n % 27:02d}", page, pages[page]])
        truth.good_leads[lead] = (page, pages[page])
        if n % 3 == 0:
            segment = rng.choice(["retail", "services", "industry"])
            deal_rows.append([lead, f"2024-0{7 + n % 3}-15T10:00:00", segment, f"{100 + n}.50"])
            truth.good_deals[lead] = segment
    line = len(lead_rows)  # the header is line 1
    lead_rows.append(["L9001", "2024-03-01", "p1", "tv"])  # no value map entry
    truth.rejected.append(("leads.csv", line + 1, "origin"))
    lead_rows.append(["L9002", "2024-02-30", "p1", pages["p1"]])  # no such day
    truth.rejected.append(("leads.csv", line + 2, "first_contact"))
    lead_rows.append(["L9003", "2024-03-02", "", ""])  # no page, no origin: both left out
    truth.good_leads["L9003"] = ("", "")
    lead_rows.append(lead_rows[1])  # the first lead again, identical
    line = len(deal_rows)
    deal_rows.append(["L7777", "2024-08-01T09:00:00", "retail", "10"])  # no such lead
    truth.rejected.append(("deals.csv", line + 1, "lead_id"))
    deal_rows.append(["L0001", "", "retail", "10"])  # not won: no date
    truth.rejected.append(("deals.csv", line + 2, "won_date"))
    deal_rows.append(["L0002", "2024-08-01T09:00:00", "retail", "n/a"])
    truth.rejected.append(("deals.csv", line + 3, "monthly_revenue"))
    for name, rows in (("leads.csv", lead_rows), ("deals.csv", deal_rows)):
        with (folder / name).open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    shutil.copy(FUNNEL, folder / "funnel.yaml")
    return truth


async def rows_of(graph: Graph, query: LiteralString) -> list[tuple[Any, ...]]:
    records, _, _ = await graph.driver.execute_query(query, database_=graph.database)
    return [tuple(r.values()) for r in records]


async def test_a_two_file_funnel_export_is_joined_by_key_and_counted_as_it_is_in_the_graph(
    graph: Graph, tmp_path: Path
) -> None:
    truth = write_funnel(tmp_path)
    said: list[str] = []
    rejects = tmp_path / "rejects.csv"
    result = await run_mapping(
        graph, load_mapping(tmp_path / "funnel.yaml"), rejects=rejects, progress=said.append
    )
    with rejects.open(newline="") as handle:
        bad = [(r["file"], int(r["line"]), r["column"]) for r in csv.DictReader(handle)]
    assert bad == truth.rejected
    assert result.lookups["leads"].duplicates == 1
    pages = {page for page, _ in truth.good_leads.values() if page}
    leads, deals = len(truth.good_leads), len(truth.good_deals)
    # Distinct nodes, not rows: 301 lead rows name 301 customers, 40 pages 40 campaigns.
    assert result.nodes == {
        "Channel": 7,
        "Customer": leads,
        "Campaign": len(pages),
        "Touchpoint": leads + deals,
        "Deal": deals,
    }
    labels = result.labels
    assert len(labels["Campaign"].created) == len(pages)
    # The deals file only updates customers the leads file created.
    deals_source = result.sources[2].nodes["Customer"]
    assert (len(deals_source.created), len(deals_source.updated)) == (0, deals)
    assert any("rows/s" in line for line in said)
    assert "rows/s" in result.describe()

    # The won touchpoint carries the lead's channel, taken from the other file.
    won = await rows_of(
        graph,
        "MATCH (t:Touchpoint {type: 'PURCHASE'})-[:VIA]->(c:Channel) "
        "RETURN c.name AS channel, count(*) AS n ORDER BY channel",
    )
    expected: dict[str, int] = {}
    for lead in truth.good_deals:
        name = CHANNEL_NAMES[truth.good_leads[lead][1]]
        expected[name] = expected.get(name, 0) + 1
    assert won == sorted(expected.items())
    segments = await rows_of(
        graph,
        "MATCH (c:Customer) WHERE c.segment IS NOT NULL "
        "RETURN c.segment AS s, count(*) AS n ORDER BY s",
    )
    by_segment: dict[str, int] = {}
    for segment in truth.good_deals.values():
        by_segment[segment] = by_segment.get(segment, 0) + 1
    assert segments == sorted(by_segment.items())
    # The lead without page or origin: a touchpoint with neither campaign nor channel.
    assert await rows_of(
        graph,
        "MATCH (t:Touchpoint {id: 'funnel:lead:L9003:contact'}) "
        "RETURN EXISTS { (t)-[:FROM]->() } AS campaign, EXISTS { (t)-[:VIA]->() } AS channel",
    ) == [(False, False)]
    # A deal opens at its lead's first contact (joined) and closes when won.
    assert await rows_of(
        graph,
        "MATCH (:Customer {id: 'funnel:lead:L0003'})-[:OPENED]->(d:Deal) "
        "RETURN toString(d.openedAt) AS opened, toString(d.closedAt) AS closed, d.amount AS a",
    ) == [("2024-04-04T00:00:00Z", "2024-07-15T10:00:00Z", 103.5)]

    again = await run_mapping(graph, load_mapping(tmp_path / "funnel.yaml"), rejects=rejects)
    for label, counts in again.labels.items():
        assert (len(counts.created), len(counts.updated)) == (0, 0), label
        assert counts.unchanged == result.nodes[label]


async def test_check_finds_a_value_no_value_map_has_and_writes_nothing(
    graph: Graph, tmp_path: Path
) -> None:
    write_funnel(tmp_path, leads=30)
    rejects = tmp_path / "rejects.csv"
    result = check_mapping(load_mapping(tmp_path / "funnel.yaml"), rejects=rejects)
    assert result.rejected == 5
    with rejects.open(newline="") as handle:
        reasons = [r["reason"] for r in csv.DictReader(handle)]
    assert reasons[0].startswith("'tv' is not in value map 'origin_source' (it has ")
    assert "in the graph" not in result.describe()
    assert await totals(graph) == (0, 0)


def _bad_enum(data: dict[str, Any]) -> None:
    data["value_maps"]["origin_source"]["social"] = "SOCIALISH"


def _no_lookups(data: dict[str, Any]) -> None:
    del data["lookups"]


def _no_channel_map(data: dict[str, Any]) -> None:
    del data["value_maps"]["origin_channel"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            _bad_enum,
            "sources.1.nodes.1.properties.sourceKind: value map entry 'social' -> 'SOCIALISH'",
        ),
        (_no_lookups, "sources.2.join.0: unknown lookup 'leads'"),
        (_no_channel_map, "sources.1.nodes.2.properties.channelId: unknown value map"),
    ],
)
def test_a_value_map_or_join_that_cannot_work_is_refused_naming_the_key(
    change: Callable[[dict[str, Any]], None], reason: str
) -> None:
    data = yaml.safe_load(FUNNEL.read_text())
    change(data)
    with pytest.raises(BadInputError) as caught:
        parse_mapping(data, FUNNEL.parent)
    assert reason in caught.value.message


PARTIAL = """
version: 1
sources:
  - rows:
      - {num: "1", segment: MID}
      - {num: "404", segment: ENTERPRISE}
    nodes:
      - label: Customer
        id: "c:{num}"
        partial: true
        properties: {segment: segment}
"""


async def test_a_partial_update_sets_properties_without_the_required_ones(
    graph: Graph, tmp_path: Path
) -> None:
    await run_mapping(graph, load_mapping(write_files(tmp_path)))
    (tmp_path / "partial.yaml").write_text(PARTIAL)
    result = await run_mapping(graph, load_mapping(tmp_path / "partial.yaml"))
    counts = result.labels["Customer"]
    assert (len(counts.seen), len(counts.updated), len(counts.missing)) == (1, 1, 1)
    assert "1 not found (partial update skipped)" in result.describe()
    assert await rows_of(
        graph, "MATCH (c:Customer) RETURN c.id AS id, c.name AS name, c.segment AS s ORDER BY id"
    ) == [("c:1", "Acme", "MID"), ("c:2", "Globex", "ENTERPRISE")]


def test_a_partial_update_cannot_set_a_reference() -> None:
    mapping = {
        "sources": [
            {
                "rows": [{}],
                "nodes": [
                    {
                        "label": "Touchpoint",
                        "id": "x",
                        "partial": True,
                        "properties": {"teamId": "t"},
                    }
                ],
            }
        ]
    }
    with pytest.raises(BadInputError, match="a partial update sets properties, not references"):
        parse_mapping(mapping, Path("."))


async def test_an_empty_reference_cell_leaves_the_relationship_out(
    graph: Graph, tmp_path: Path
) -> None:
    # t4 has no team: imported, with its customer, without HANDLED_BY.
    result = await run_mapping(graph, load_mapping(write_files(tmp_path)))
    assert result.rejected == 0
    assert await rows_of(
        graph,
        "MATCH (c:Customer)-[:HAD]->(t:Touchpoint {id: 't4'}) "
        "RETURN c.id AS c, EXISTS { (t)-[:HANDLED_BY]->() } AS team",
    ) == [("c:2", False)]


# --- batches: sized by the time they take, retried when their outcome is unknown -----------


def test_the_batch_size_halves_on_slow_batches_and_grows_on_fast_ones_within_bounds() -> None:
    sizer = BatchSizer(1_000, low=100, high=4_000, target_s=2.0)
    sizer.took(1_000, 0.5)
    assert sizer.size == 2_000
    sizer.took(2_000, 3.0)  # within the band: kept
    assert sizer.size == 2_000
    sizer.took(2_000, 0.1)
    sizer.took(4_000, 0.1)
    assert sizer.size == 4_000  # the upper bound
    sizer.took(4_000, 4.5)
    assert sizer.size == 2_000
    for _ in range(10):
        sizer.failed()
    assert sizer.size == 100  # the lower bound
    sizer.took(30, 0.1)  # a short last batch says nothing about speed
    assert sizer.size == 100


class AnswerLost(Graph):
    """The real database, but the answer of the ``lose``-th write is lost after it
    committed, as when the connection drops between COMMIT and its reply."""

    def __init__(self, graph: Graph, lose: set[int]) -> None:
        super().__init__(graph.driver, graph.database, graph.timeout_s, personal=graph.personal)
        self.lose = lose
        self.writes = 0

    async def write(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        self.writes += 1
        answer = await super().write(work)
        if self.writes in self.lose:
            raise DatabaseUnavailableError("the graph database is unavailable")
        return answer


async def test_a_committed_batch_whose_answer_was_lost_is_retried_and_counted_once(
    graph: Graph, tmp_path: Path
) -> None:
    truth = write_funnel(tmp_path, leads=60)
    said: list[str] = []
    losing = AnswerLost(graph, lose={2, 3})
    result = await run_mapping(
        losing,
        load_mapping(tmp_path / "funnel.yaml"),
        rejects=tmp_path / "rejects.csv",
        batch_size=1_000,
        progress=said.append,
    )
    assert result.retried == 2
    assert sum("outcome unknown" in line and "writing it again" in line for line in said) == 2
    customers = result.labels["Customer"]
    # The lost attempt created the leads: the retry finds them, and still counts them created.
    assert len(customers.created) == len(truth.good_leads)
    assert len(customers.updated - customers.created) == 0
    assert result.nodes["Touchpoint"] == len(truth.good_leads) + len(truth.good_deals)
    assert "relationships created: at least" in result.describe()
    assert await rows_of(graph, "MATCH (t:Touchpoint) RETURN count(t) AS n") == [
        (len(truth.good_leads) + len(truth.good_deals),)
    ]
    # The journeys are those of one clean write: the committed attempt appended the new
    # touchpoints, its retry found them there and linked nothing twice.
    leads, deals = len(truth.good_leads), len(truth.good_deals)
    assert await rows_of(graph, LINKS) == [(leads + deals, deals)]
    assert await rows_of(graph, JOURNEY_ENDS) == [(leads, deals, deals)]


LINKS: LiteralString = """
RETURN count { (:Customer)-[:HAD]->(:Touchpoint) } AS had,
       count { (:Touchpoint)-[:NEXT]->(:Touchpoint) } AS next
"""

JOURNEY_ENDS: LiteralString = """
MATCH (c:Customer)
RETURN sum(count { (c)-[:LATEST]->(:Touchpoint) }) AS latest,
       sum(count { (c)-[:LATEST]->(:Touchpoint {activity: 'deal_won'}) }) AS wonLatest,
       sum(count { (c)-[:HAD]->(:Touchpoint {activity: 'first_contact'})
                   -[:NEXT]->(:Touchpoint {activity: 'deal_won'})<-[:HAD]-(c) }) AS contactThenWon
"""
"""Per customer summed: its LATEST touchpoints, those that are a won deal, and the NEXT
from its first contact to its won deal."""


async def test_a_batch_that_keeps_failing_is_given_up_saying_what_is_in(
    graph: Graph, tmp_path: Path
) -> None:
    write_funnel(tmp_path, leads=10)
    losing = AnswerLost(graph, lose=set(range(2, 100)))
    with pytest.raises(DatabaseUnavailableError) as caught:
        await run_mapping(
            losing, load_mapping(tmp_path / "funnel.yaml"), rejects=tmp_path / "rejects.csv"
        )
    assert "leads.csv: a batch of" in caught.value.message
    assert "running the import again finishes it" in caught.value.message


async def test_a_write_that_does_not_answer_in_time_names_the_setting_to_raise(
    graph: Graph,
) -> None:
    never = asyncio.Event()

    async def stuck(tx: Tx) -> None:
        await never.wait()

    writer = graph.bounded_by(0.2, "ORGGRAPH_WRITE_TIMEOUT_S")
    with pytest.raises(DatabaseUnavailableError) as caught:
        await writer.write(stuck)
    assert "within 0.2 s (raise ORGGRAPH_WRITE_TIMEOUT_S" in caught.value.message
    assert caught.value.details["setting"] == "ORGGRAPH_WRITE_TIMEOUT_S"


async def test_demo_seeding_runs_under_the_write_budget_not_the_interactive_one(
    graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orggraph import demo
    from orggraph.graph import demo_history, kpis, seed
    from orggraph.settings import Settings

    bounds: list[tuple[float | None, str]] = []

    async def writing(db: Graph, *_: Any, **__: Any) -> list[Any]:
        bounds.append((db.timeout_s, db.timeout_setting))
        return []

    # The demo's four writes: the organisation, its reported KPIs, its history, the KPIs.
    monkeypatch.setattr(seed, "seed_organisation", writing)
    monkeypatch.setattr(seed, "write_reported_measurements", writing)
    monkeypatch.setattr(demo_history, "write_demo_history", writing)
    monkeypatch.setattr(kpis, "compute_kpis", writing)
    interactive = graph.bounded_by(30.0, "ORGGRAPH_QUERY_TIMEOUT_S")
    await demo.load_demo(interactive, Settings(query_timeout_s=30.0, write_timeout_s=900.0))
    assert bounds == [(900.0, "ORGGRAPH_WRITE_TIMEOUT_S")] * 4


# --- new nodes are created, not merged: journeys and the race with another writer ----------

JOURNEYS_MAPPING = """
version: 1
sources:
  - rows: [{id: sales, name: Sales}]
    nodes: [{label: Process, id: id, properties: {name: name}}]
  - rows:
      - {id: lead, name: Lead, order: "1"}
      - {id: won, name: Won, order: "2"}
      - {id: other, name: Other, order: "3"}
    nodes:
      - label: Step
        id: id
        properties: {name: name, processId: {value: sales}, order: {column: order, type: int}}
  - rows: [{id: web, name: Web, kind: WEB}, {id: mail, name: Mail, kind: EMAIL}]
    nodes: [{label: Channel, id: id, properties: {name: name, kind: kind}}]
  - file: touchpoints.csv
    nodes:
      - label: Customer
        id: "c{customer}"
        properties: {name: {template: "Customer {customer}"}}
      - label: Touchpoint
        id: "t{tp}"
        properties:
          at: {column: at, type: datetime}
          type: {value: EMAIL}
          customerId: "c{customer}"
          channelId: channel
          stepId: step
"""
# Rows out of time order; c1's t3 and t4 share a time (the id breaks the tie).
JOURNEY_ROWS: list[tuple[str, ...]] = [
    ("1", "1", "2024-01-03T00:00:00", "lead", "web"),
    ("2", "1", "2024-01-01T00:00:00", "won", "web"),
    ("6", "3", "2024-03-01T00:00:00", "", "mail"),
    ("3", "1", "2024-01-02T00:00:00", "lead", "mail"),
    ("5", "2", "2024-02-01T00:00:00", "", "web"),
    ("4", "1", "2024-01-02T00:00:00", "", "web"),
    ("7", "3", "2024-03-01T00:00:00", "", "web"),
]

JOURNEY_EDGES: LiteralString = """
MATCH (a)-[r:NEXT|LATEST|REACHED]->(b)
RETURN type(r) AS kind, a.id AS from, b.id AS to, r.touchpointId AS touchpoint,
       toString(r.at) AS at
ORDER BY kind, from, to
"""


def write_journey_files(folder: Path, rows: list[tuple[str, ...]] = JOURNEY_ROWS) -> Path:
    with (folder / "touchpoints.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["tp", "customer", "at", "step", "channel"])
        out.writerows(rows)
    path = folder / "mapping.yaml"
    path.write_text(JOURNEYS_MAPPING)
    return path


@pytest.mark.parametrize("batch_size", [1_000, 2])
async def test_the_journeys_of_customers_the_import_creates_are_those_a_rebuild_writes(
    graph: Graph, tmp_path: Path, batch_size: int
) -> None:
    # In one batch every customer is new (journeys written from the rows); in batches of
    # two, c1 and c3 get touchpoints in later batches too (appended or rebuilt).
    mapping = load_mapping(write_journey_files(tmp_path))
    result = await run_mapping(graph, mapping, batch_size=batch_size)
    assert result.rejected == 0
    assert await rows_of(graph, JOURNEY_EDGES) == [
        ("LATEST", "c1", "t1", None, None),
        ("LATEST", "c2", "t5", None, None),
        ("LATEST", "c3", "t7", None, None),
        ("NEXT", "t2", "t3", None, None),
        ("NEXT", "t3", "t4", None, None),
        ("NEXT", "t4", "t1", None, None),
        ("NEXT", "t6", "t7", None, None),
        ("REACHED", "c1", "lead", "t3", "2024-01-02T00:00:00Z"),
        ("REACHED", "c1", "won", "t2", "2024-01-01T00:00:00Z"),
    ]
    # What the write layer's rebuild would write: it finds nothing to change.
    summary = await graph.write(lambda tx: rebuild_chains(tx, ["c1", "c2", "c3"]))
    assert (summary.relationships_created, summary.relationships_deleted) == (0, 0)
    assert summary.properties_set == 0
    # Every reference once, step orders on HAS_STEP, the Entity label on every node.
    assert await rows_of(
        graph,
        "MATCH (t:Touchpoint) RETURN count { (t)<-[:HAD]-() } AS had, "
        "count { (t)-[:VIA]->() } AS via, count(*) AS n ORDER BY had, via",
    ) == [(1, 1, 7)]
    assert await rows_of(
        graph, "MATCH (:Process)-[r:HAS_STEP]->(s:Step) RETURN s.id, r.order ORDER BY s.id"
    ) == [("lead", 1), ("other", 3), ("won", 2)]
    assert await unlabelled_entities(graph) == []


class WriterAfterRead(Graph):
    """The real database, where another writer runs ``race`` once, right after an import
    batch read which of its touchpoints exist (its first statement), when ``touchpoint``
    was among them."""

    def __init__(
        self, graph: Graph, touchpoint: str, race: Callable[[], Awaitable[object]]
    ) -> None:
        super().__init__(graph.driver, graph.database, graph.timeout_s, personal=graph.personal)
        self.touchpoint = touchpoint
        self.race = race
        self.raced = False

    async def write(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        async def racing(tx: Tx) -> T:
            read = tx.single

            async def single(query: LiteralString, **params: Any) -> Any:
                record = await read(query, **params)
                asked = params.get("ids", {})
                if not self.raced and self.touchpoint in asked.get("Touchpoint", []):
                    self.raced = True
                    await self.race()
                return record

            setattr(tx, "single", single)  # noqa: B010 (the instance's method, for this test)
            return await work(tx)

        return await super().write(racing)


async def test_a_touchpoint_another_writer_creates_meanwhile_keeps_one_target_of_each_kind(
    graph: Graph, tmp_path: Path
) -> None:
    # c1 and its channels exist; between the import batch's read (t1 absent) and its write,
    # another writer creates t1 via mail. The batch's CREATE fails on the id constraint and
    # the batch is written again by MERGE: one t1, via web as imported, one of each reference.
    rows: list[tuple[str, ...]] = [
        ("1", "1", "2024-01-03T00:00:00", "", "web"),
        ("2", "1", "2024-01-04T00:00:00", "", "web"),
    ]
    await run_mapping(graph, load_mapping(write_journey_files(tmp_path, [])))
    mapping = load_mapping(write_journey_files(tmp_path, rows))
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "Customer 1"}])

    async def other_writer() -> None:
        touchpoint = {"id": "t1", "at": "2024-01-05T00:00:00Z", "type": "CALL"}
        await upsert_nodes(
            graph, "Touchpoint", [{**touchpoint, "customerId": "c1", "channelId": "mail"}]
        )

    racing = WriterAfterRead(graph, touchpoint="t1", race=other_writer)
    result = await run_mapping(racing, mapping)
    assert racing.raced
    assert await rows_of(
        graph,
        "MATCH (t:Touchpoint) RETURN t.id, t.type, [(t)-[:VIA]->(c) | c.id], "
        "[(t)<-[:HAD]-(c) | c.id] ORDER BY t.id",
    ) == [("t1", "EMAIL", ["web"], ["c1"]), ("t2", "EMAIL", ["web"], ["c1"])]
    assert await rows_of(graph, JOURNEY_EDGES) == [
        ("LATEST", "c1", "t2", None, None),
        ("NEXT", "t1", "t2", None, None),
    ]
    touchpoints = result.labels["Touchpoint"]
    assert (touchpoints.created, touchpoints.updated) == ({"t2"}, {"t1"})
    assert await unlabelled_entities(graph) == []
