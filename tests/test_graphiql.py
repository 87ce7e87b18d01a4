"""GraphiQL is served by the service itself: its page and assets come from the package
(no CDN), and in headless Chromium with every other host unreachable it loads and runs
its example query."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from orggraph.app import GRAPHIQL_DIR, create_app
from orggraph.graph.driver import Graph
from orggraph.settings import Settings
from tests.helpers import headless_chromium
from tests.served import Served


def test_the_page_and_its_assets_come_from_the_service(test_settings: Settings) -> None:
    unused = Graph.connect("bolt://127.0.0.1:1", None, None, "neo4j", connection_timeout=1)
    with TestClient(create_app(test_settings, graph=unused)) as client:
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(source.startswith("/graphiql/") for source in sources)
        for source in sources:
            assert client.get(source).status_code == 200, source
    for licence in ("LICENSE-graphiql.txt", "LICENSE-react.txt", "LICENSE-react-dom.txt"):
        assert "MIT" in (GRAPHIQL_DIR / "vendor" / licence).read_text()


@pytest.fixture
def browser() -> Iterator[Any]:
    # No network but the service: any other host does not resolve.
    offline = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    with headless_chromium("GraphiQL's browser test drives it", offline) as driver:
        yield driver


def wait_for(browser: Any, source: str, what: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = browser.execute_script(source)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(what)


def test_graphiql_loads_offline_and_runs_its_example_query(
    test_settings: Settings, graph: Graph, browser: Any
) -> None:
    with Served(test_settings) as served:
        httpx.post(
            f"{served.url}/graphql",
            json={"query": 'mutation { upsertTeam(input: {id: "t1", name: "Care"}) { id } }'},
        )
        browser.get(f"{served.url}/graphql")
        wait_for(
            browser,
            "return document.querySelector('.graphiql-execute-button')",
            "GraphiQL did not render (its assets did not load)",
        )
        editor = browser.execute_script(
            "return document.querySelector('.graphiql-query-editor').textContent"
        )
        assert "TeamsAndTheirKpis" in editor
        browser.execute_script("document.querySelector('.graphiql-execute-button').click()")
        result = wait_for(
            browser,
            "const r = document.querySelector('.result-window');"
            "return r && r.textContent.includes('Care') && r.textContent",
            "the example query's answer never showed",
        )
        assert '"teams"' in result
