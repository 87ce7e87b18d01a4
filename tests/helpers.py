"""Helpers shared by the test suites."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from strawberry.types import ExecutionResult

from orggraph.api import build_schema
from orggraph.context import Context
from orggraph.graph.driver import Graph, QueryLog, recording
from orggraph.settings import Settings, default_cache_dir

_SCHEMA = build_schema(Settings())

# Where the Neo4j jars are cached, for tests that start a runtime of their own.
CACHE = Path(os.environ.get("ORGGRAPH_CACHE_DIR") or default_cache_dir())


async def execute(
    graph: Graph, query: str, variables: dict[str, Any] | None = None
) -> ExecutionResult:
    """Run one GraphQL operation against the real database, as the HTTP layer does."""
    context = Context.for_request(graph, Settings())
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
