"""The cookbooks' queries run: every GraphQL document and every Cypher query of
docs/graphql-cookbook.md and docs/cypher-cookbook.md, on a seeded organisation
(the demo's generator, fewer customers), so the docs cannot drift from the code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from orggraph.graph.cypher import run_read_only
from orggraph.graph.driver import Graph
from orggraph.graph.seed import seed_organisation
from orggraph.settings import Settings
from tests.helpers import _SCHEMA, execute

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Example:
    text: str
    arguments: dict[str, Any]


def examples(doc: str, language: str, arguments_tag: str) -> list[Example]:
    """The ``language`` blocks of ``doc``, each with the JSON block tagged
    ``arguments_tag`` (variables, parameters) that follows it, if any."""
    blocks = [(m[1], m[2].strip(), m[3]) for m in FENCE.finditer((DOCS / doc).read_text())]
    found: list[Example] = []
    for index, (lang, _, text) in enumerate(blocks):
        if lang != language:
            continue
        arguments: dict[str, Any] = {}
        if index + 1 < len(blocks) and blocks[index + 1][:2] == ("json", arguments_tag):
            arguments = json.loads(blocks[index + 1][2])
        found.append(Example(text, arguments))
    return found


GRAPHQL = examples("graphql-cookbook.md", "graphql", "variables")
CYPHER = examples("cypher-cookbook.md", "cypher", "parameters")


def test_the_cookbooks_have_an_example_per_question() -> None:
    operations = {parse(e.text).definitions[0].name.value for e in GRAPHQL}  # type: ignore[attr-defined]
    for name in ("CustomerJourney", "ValueStream", "JourneyMap", "JourneyMapCases", "TeamService",
                 "KpiLineage", "SlaCompliance", "SlaBreaches", "Attribution", "ReorgImpact",
                 "ChannelCoverage",
                 "InformationGaps", "Cypher", "Record", "KpiUpdates",
                 "CustomersFiltered", "TouchpointAggregate", "StepsAndMembers"):  # fmt: skip
        assert name in operations
    assert len(CYPHER) >= 8


@pytest.fixture
async def organisation(graph: Graph) -> Graph:
    await seed_organisation(graph, customers=20, seed=7)
    return graph


async def test_every_graphql_example_runs(organisation: Graph) -> None:
    for example in GRAPHQL:
        document = parse(example.text)
        if example.text.lstrip().startswith("subscription"):
            assert validate(_SCHEMA._schema, document) == [], example.text
            continue
        result = await execute(organisation, example.text, example.arguments)
        assert result.errors is None, (example.text, [e.formatted for e in result.errors or []])
        assert result.data, example.text


async def test_every_cypher_example_runs_read_only(
    organisation: Graph, test_settings: Settings
) -> None:
    for example in CYPHER:
        result = await run_read_only(
            organisation,
            example.text,
            example.arguments,
            test_settings.cypher_limits(),
            can_read_pii=False,
        )
        assert result.columns, example.text
        assert result.rows, f"no rows on the seeded organisation: {example.text}"
