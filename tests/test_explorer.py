"""The explorer at `/`, driven by headless Chromium against the real service.

The graph is the hand-built value stream of the funnel tests, so the numbers the
page must draw were computed by hand there. A screenshot of each view is kept in
test-artifacts/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from orggraph.app import create_app
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes
from orggraph.settings import Settings
from tests.graphs.funnel import H, at, seed
from tests.helpers import headless_chromium

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service(test_settings: Settings, graph: Graph) -> Iterator[str]:
    """The whole service on uvicorn, in a thread, on a loopback port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(test_settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def browser() -> Iterator[Any]:
    with headless_chromium("the explorer's browser test drives it") as driver:
        yield driver


def wait_for(browser: Any, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    error = browser.execute_script("return document.getElementById('error').textContent")
    raise AssertionError(f"{what} (page error: {error!r})")


def script(browser: Any, source: str) -> Any:
    return browser.execute_script(source)


def screenshot(browser: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"explorer-{name}.png"))


async def seed_explorer_graph(graph: Graph) -> None:
    await seed(graph)
    # The funnel seed puts c1's touchpoint on another process at the same instant as
    # its first one; moved 30 h later, every customer's order of steps is unambiguous:
    # c1 s1 s2 s3 s1 s4 o1, c2 s1 s2 s3, c3 s1 s2, c4 s1.
    await upsert_nodes(graph, "Touchpoint", [{
        "id": "c1-o1-0", "at": at(30 * H), "type": "OTHER", "customerId": "c1",
        "stepId": "o1", "channelId": "web",
    }])  # fmt: skip


async def test_the_explorer_draws_the_funnel_journey_map_and_team(
    service: str, browser: Any, graph: Graph
) -> None:
    await seed_explorer_graph(graph)
    browser.get(service)

    # Funnel: the longest established process is shown first ("Lead to deal").
    stages = wait_for(
        browser,
        lambda: script(
            browser,
            """
        return [...document.querySelectorAll('#funnel-chart g.stage')]
          .map(g => [g.dataset.stage, Number(g.dataset.reached)]);""",
        ),
        "no funnel drawn",
    )
    assert stages == [["LEAD", 4], ["MQL", 3], ["SQL", 2], ["OPPORTUNITY", 1]]
    assert script(browser, "return document.getElementById('funnel-title').textContent") == (
        "Funnel of Lead to deal"
    )
    table = script(
        browser,
        """return [...document.querySelectorAll('#funnel-table tbody tr')]
        .map(tr => [...tr.children].map(td => td.textContent));""",
    )
    # MQL: 3 of 4 (75%), median 2.5 h to SQL; SQL: 2 of 3 (66.7%), 50% overall, 24 h to next.
    assert table[1] == ["MQL", "Score", "3", "75.0%", "75.0%", "2.5 h", "2.9 h"]
    assert table[2] == ["SQL", "Qualify", "2", "66.7%", "50.0%", "1.0 d", "1.0 d"]
    bar_widths = script(
        browser,
        """return [...document.querySelectorAll('#funnel-chart rect.bar')]
        .map(r => Number(r.getAttribute('width')));""",
    )
    assert bar_widths == sorted(bar_widths, reverse=True) and bar_widths[0] == 4 * bar_widths[3]
    screenshot(browser, "funnel")

    # Journey map by step, every edge shown.
    browser.find_element("css selector", 'nav button[data-view="journey-map"]').click()
    wait_for(
        browser,
        lambda: (
            "transitions shown"
            in script(browser, "return document.getElementById('map-summary').textContent")
        ),
        "no map drawn",
    )
    script(
        browser,
        """
        document.getElementById('map-by').value = 'STEP';
        document.getElementById('map-min').value = '1';
        document.getElementById('map-summary').textContent = '';
        document.querySelector('#map-form button').click();""",
    )
    summary = wait_for(
        browser,
        lambda: script(browser, "return document.getElementById('map-summary').textContent"),
        "no map redrawn",
    )
    assert summary == "4 customers · 5 activities · 5 transitions shown"
    edges = script(
        browser,
        """return [...document.querySelectorAll('#map-diagram g.edge')]
        .map(g => [g.dataset.source, g.dataset.target, Number(g.dataset.count),
                   g.querySelector('text') ? g.querySelector('text').textContent : null]);""",
    )
    assert sorted(edges) == [
        ["s1", "s2", 3, "3 · 2.0 h"],  # c1 1 h, c2 2 h, c3 4 h: median 2 h
        ["s1", "s4", 1, "1 · 7.0 h"],  # c1 20 h -> 27 h
        ["s2", "s3", 2, "2 · 2.5 h"],  # c1 2 h, c2 3 h
        ["s3", "s1", 1, "1 · 17.0 h"],  # c1 3 h -> 20 h, drawn back as an arc
        ["s4", "o1", 1, "1 · 3.0 h"],  # c1 27 h -> 30 h
    ]
    nodes = script(
        browser,
        """return [...document.querySelectorAll('#map-diagram g.node')]
        .map(g => [g.dataset.key, Number(g.dataset.count), g.classList.contains('start')]);""",
    )
    assert sorted(nodes) == [
        ["o1", 1, False],
        ["s1", 5, True],
        ["s2", 3, False],
        ["s3", 2, False],
        ["s4", 1, False],
    ]
    screenshot(browser, "journey-map")

    # Team: its steps, current and past owner.
    browser.find_element("css selector", 'nav button[data-view="team"]').click()
    script(
        browser,
        """
        document.getElementById('team-select').value = 'sales';
        document.getElementById('team-title').textContent = '';
        document.querySelector('#team-form button').click();""",
    )
    wait_for(browser, lambda: script(
        browser, "return document.getElementById('team-title').textContent") == "sales",
        "no team shown")  # fmt: skip
    owned = script(
        browser,
        """return [...document.querySelectorAll('#team-body section')]
        .find(s => s.querySelector('h3').textContent === 'Steps owned')
        .querySelectorAll('tr').length""",
    )
    assert owned == 3  # heading, Qualify (current), Propose (until 2024)
    screenshot(browser, "team")


def test_the_explorer_page_and_its_assets_are_served(service: str) -> None:
    import httpx

    page = httpx.get(service)
    assert page.status_code == 200 and "orggraph explorer" in page.text
    for asset in ("explorer.js", "explorer.css"):
        response = httpx.get(f"{service}explorer/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000
