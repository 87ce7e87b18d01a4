"""Test fixtures: one real Neo4j per test session, emptied before each test.

The embedded runtime is started once (a throwaway home under pytest's tmp
dir, its Bolt behind the password it generates) unless ``NEO4J_URI`` points at
another Neo4j (with ``NEO4J_USER``/``NEO4J_PASSWORD``), which is then used as
is (its data is wiped: never point tests at a database you care about).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orggraph.graph.driver import Graph
from orggraph.graph.migrations import migrate
from orggraph.settings import Settings, default_cache_dir
from tests.helpers import connect, wipe

# The personal-data key of every test database (fixed: the same value seals to the same bytes).
TEST_PII_KEY = "s_ajJfCNksIjJocaWNFcMQuua3M9-YwAEuUB5-N4oOI"

if TYPE_CHECKING:
    from orggraph.graph.runtime import EmbeddedNeo4j


@pytest.fixture(scope="session")
def neo4j_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNeo4j | None]:
    """The session's embedded database; None when NEO4J_URI names another one."""
    if os.environ.get("NEO4J_URI"):
        yield None
        return
    from orggraph.graph.runtime import EmbeddedNeo4j, RuntimeConfig

    cache = Path(os.environ.get("ORGGRAPH_CACHE_DIR") or default_cache_dir())
    home = tmp_path_factory.mktemp("neo4j-home")
    # Smaller sizes let several test runs share one machine (ORGGRAPH_TEST_HEAP=768m).
    heap = os.environ.get("ORGGRAPH_TEST_HEAP", "2g")
    pagecache = os.environ.get("ORGGRAPH_TEST_PAGECACHE", "1g")
    runtime = EmbeddedNeo4j(
        RuntimeConfig(home=home, cache_dir=cache, heap=heap, pagecache=pagecache)
    )
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture(scope="session")
def neo4j_uri(neo4j_runtime: EmbeddedNeo4j | None) -> str:
    if neo4j_runtime is None:
        return os.environ["NEO4J_URI"]
    assert neo4j_runtime.bolt_uri is not None
    return neo4j_runtime.bolt_uri


@pytest.fixture(scope="session")
def neo4j_auth(neo4j_runtime: EmbeddedNeo4j | None) -> tuple[str, str] | None:
    """(user, password) of the session's database; None for an external one without."""
    if neo4j_runtime is not None:
        return neo4j_runtime.auth
    password = os.environ.get("NEO4J_PASSWORD")
    return (os.environ.get("NEO4J_USER", "neo4j"), password) if password else None


@pytest.fixture(scope="session")
def test_settings(
    neo4j_uri: str, neo4j_auth: tuple[str, str] | None, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings pointing at the session's database (as if NEO4J_URI were set)."""
    return Settings(
        neo4j_uri=neo4j_uri,
        neo4j_user=neo4j_auth[0] if neo4j_auth else "neo4j",
        neo4j_password=neo4j_auth[1] if neo4j_auth else None,
        neo4j_database=os.environ.get("NEO4J_DATABASE", "neo4j"),
        home=tmp_path_factory.mktemp("orggraph-home"),
        pii_key=TEST_PII_KEY,
        # Starlette's TestClient sends `Host: testserver`.
        allowed_hosts=["localhost", "127.0.0.1", "[::1]", "testserver"],
    )


_migrated: set[str] = set()


@pytest.fixture
async def graph(test_settings: Settings) -> AsyncIterator[Graph]:
    """A connected Graph on an empty (but migrated) database."""
    db = connect(test_settings)
    try:
        await wipe(db)
        if db.database not in _migrated:
            await migrate(db)
            _migrated.add(db.database)
        yield db
    finally:
        await db.close()
