"""Helpers shared by the test suites."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, LiteralString

from strawberry.types import ExecutionResult

from orggraph.api import build_schema
from orggraph.context import Context
from orggraph.events import Broker
from orggraph.graph.driver import Graph, QueryLog, recording
from orggraph.graph.model import LABELS
from orggraph.graph.personal import personal_data
from orggraph.settings import Settings, default_cache_dir

_SCHEMA = build_schema(Settings())

# Where the Neo4j jars are cached, for tests that start a runtime of their own.
CACHE = Path(os.environ.get("ORGGRAPH_CACHE_DIR") or default_cache_dir())


# Relationships first, then nodes, each in bounded batches: deleting a node deletes all
# its relationships in the same transaction, which for a dense node can exceed the
# database's per-transaction memory limit (docs/database-hardening.md).
WIPES: tuple[LiteralString, ...] = (
    "MATCH (a)-[r]->(b) WHERE NOT a:Migration AND NOT b:Migration "
    "CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n) WHERE NOT n:Migration CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
)


def connect(settings: Settings) -> Graph:
    """A Graph on the test database of ``settings`` (with its personal-data key), no time
    bound: imports of the shared datasets may take long on a loaded machine."""
    password = settings.neo4j_password
    return Graph.connect(
        settings.neo4j_uri or "",
        settings.neo4j_user if password else None,
        password.get_secret_value() if password else None,
        settings.neo4j_database,
        personal=personal_data(settings),
    )


async def wipe(graph: Graph) -> None:
    """Delete everything but the migration records."""
    async with graph.driver.session(database=graph.database) as session:
        for query in WIPES:
            await (await session.run(query)).consume()


async def execute(
    graph: Graph,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    broker: Broker | None = None,
) -> ExecutionResult:
    """Run one GraphQL operation against the real database, as the HTTP layer does (with
    the app's event broker when one is given)."""
    context = Context.for_request(graph, settings or Settings())
    if broker is not None:
        context.extras["broker"] = broker
    return await _SCHEMA.execute(query, variable_values=variables, context_value=context)


async def execute_counted(
    graph: Graph, query: str, variables: dict[str, Any] | None = None
) -> tuple[ExecutionResult, QueryLog]:
    """Run one operation and return the Bolt queries it sent."""
    with recording() as queries:
        result = await execute(graph, query, variables)
    return result, queries


def ok(result: ExecutionResult) -> dict[str, Any]:
    assert result.errors is None, [e.formatted for e in result.errors or []]
    assert result.data is not None
    return result.data


def error_codes(result: ExecutionResult) -> list[str]:
    return [(e.extensions or {}).get("code", "") for e in result.errors or []]


def require_program(name: str, why: str) -> str:
    """The path of a system program a test drives; skip without it, or fail in CI.

    CI installs the programs and sets ORGGRAPH_REQUIRE_SYSTEM_DEPS, so a test
    there can never pass by skipping.
    """
    import os
    import shutil

    import pytest

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({why}; e.g. apt-get install {name})"
        if os.environ.get("ORGGRAPH_REQUIRE_SYSTEM_DEPS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def as_dfg(data: dict[str, Any]) -> dict[str, Any]:
    """A `journeyMap` answer as the same shape the tests compute by hand: (key, count)
    pairs, (source, target, count, median) edges, start and end activities."""
    m = data["journeyMap"]
    return {
        "caseCount": m["caseCount"],
        "nodes": list(zip(m["nodes"]["keys"], m["nodes"]["counts"], strict=True)),
        "edges": list(
            zip(
                m["edges"]["sources"],
                m["edges"]["targets"],
                m["edges"]["counts"],
                m["edges"]["medianSeconds"],
                strict=True,
            )
        ),
        "starts": list(
            zip(m["startActivities"]["keys"], m["startActivities"]["counts"], strict=True)
        ),
        "ends": list(zip(m["endActivities"]["keys"], m["endActivities"]["counts"], strict=True)),
    }


JS_DIR = Path(__file__).resolve().parent / "js"  # package.json: the pinned Node tools


def node_json(script: str, *args: str) -> Any:
    """Run ``tests/js/<script>`` on Node with ``args`` and parse what it prints (JSON).
    Its npm packages (package-lock.json) are installed on first use."""
    import subprocess

    node = require_program("node", f"{script} runs on it")
    if not (JS_DIR / "node_modules").is_dir():
        npm = require_program("npm", "it installs the Node tools the tests drive")
        command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(command, cwd=JS_DIR, check=True, timeout=300)
    finished = subprocess.run(
        [node, script, *args], cwd=JS_DIR, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


@contextlib.contextmanager
def headless_chromium(why: str, *arguments: str) -> Iterator[Any]:
    """A Selenium driver of headless Chromium (skipped without it, ``why`` says who needs
    it), with ``arguments`` added to the usual ones; quit on exit."""
    chromium = require_program("chromium", why)
    driver_path = require_program("chromedriver", "Selenium talks to Chromium through it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", *arguments):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


async def unlabelled_entities(graph: Graph) -> list[str]:
    """Ids of nodes of a model label that lack the Entity label (ids unique across labels,
    migration 12): every write path must set it."""
    records = await graph.query(
        "MATCH (n) WHERE NOT n:Entity AND any(label IN labels(n) WHERE label IN $labels) "
        "RETURN n.id AS id ORDER BY id LIMIT 10",
        labels=list(LABELS),
    )
    return [str(r["id"]) for r in records]
