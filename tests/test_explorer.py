"""The explorer at `/`, driven by headless Chromium against the real service.

Two hand-built graphs: the value stream of the funnel tests (funnel, journey map,
drill-down, one customer's journey) and the hand-off of the SLA tests with a KPI
measured weekly (team view); the numbers the page must draw were computed by hand
there and below. A screenshot of each view at 1440x900 is kept in test-artifacts/
(git-ignored).
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
LONG_NAME = "Elsewhere: a step of another process, with a name far too long for one line"


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
    # The screenshots are kept at 1440x900 (the later --window-size wins).
    with headless_chromium(
        "the explorer's browser test drives it", "--window-size=1440,900", "--hide-scrollbars"
    ) as driver:
        yield driver


def wait_for(browser: Any, condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    states = script(
        browser,
        "return [...document.querySelectorAll('.state, #error')].map(s => s.textContent)",
    )
    raise AssertionError(f"{what} (page states: {states!r})")


def script(browser: Any, source: str) -> Any:
    return browser.execute_script(source)


def settled(browser: Any, view: str) -> str:
    """The view's state once its request is answered: ready, empty or error."""
    return str(
        wait_for(
            browser,
            lambda: script(
                browser,
                f"""const s = document.getElementById('view-{view}').dataset.state;
                return ['ready', 'empty', 'error'].includes(s) ? s : null;""",
            ),
            f"the {view} view never settled",
        )
    )


def open_view(browser: Any, service: str, view: str) -> None:
    browser.get(f"{service}#{view}")
    settled(browser, view)


def submit(browser: Any, form: str, values: dict[str, str]) -> None:
    """Set the form's fields and submit it (the view goes to 'loading' at once)."""
    assignments = "".join(
        f"document.getElementById({name!r}).value = {value!r};" for name, value in values.items()
    )
    script(browser, assignments + f"document.querySelector('#{form} button[type=submit]').click();")


def rows(browser: Any, selector: str) -> list[list[str]]:
    return list(
        script(
            browser,
            f"""return [...document.querySelectorAll({selector!r} + ' tbody tr')]
            .map(tr => [...tr.children].map(td => td.textContent));""",
        )
    )


def exported_csv(browser: Any, table: str) -> str:
    """Clicks the table's "Export CSV" button and reads the file it offered."""
    return str(
        browser.execute_async_script(
            f"""const done = arguments[arguments.length - 1];
            const wrap = document.querySelector({table!r});
            wrap.querySelector('button.export').click();
            fetch(wrap.querySelector('a.csv-download').href).then(r => r.text()).then(done);"""
        )
    )


def screenshot(browser: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.get_window_size() == {"width": 1440, "height": 900}
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
    await upsert_nodes(graph, "Step", [{"id": "o1", "name": LONG_NAME}])


async def test_the_funnel_is_drawn_filtered_exported_and_says_when_a_window_is_empty(
    service: str, browser: Any, graph: Graph
) -> None:
    await seed_explorer_graph(graph)
    browser.get(service)

    # The longest established process is shown first ("Lead to deal"), unfiltered.
    assert settled(browser, "funnel") == "ready"
    stages = script(
        browser,
        """return [...document.querySelectorAll('#funnel-chart g.stage')]
          .map(g => [g.dataset.stage, Number(g.dataset.reached)]);""",
    )
    assert stages == [["LEAD", 4], ["MQL", 3], ["SQL", 2], ["OPPORTUNITY", 1]]
    title = script(browser, "return document.getElementById('funnel-title').textContent")
    assert title == "Funnel of Lead to deal · all customers, all time"
    table = rows(browser, "#funnel-table")
    # MQL: 3 of 4 (75%), median 2.5 h to SQL; SQL: 2 of 3 (66.7%), 50% overall, 24 h to next.
    assert table[1] == ["MQL", "Score", "3", "75.0%", "75.0%", "2.5 h", "2.9 h"]
    assert table[2] == ["SQL", "Qualify", "2", "66.7%", "50.0%", "1.0 d", "1.0 d"]
    bar_widths = script(
        browser,
        """return [...document.querySelectorAll('#funnel-chart rect.bar')]
        .map(r => Number(r.getAttribute('width')));""",
    )
    assert bar_widths == sorted(bar_widths, reverse=True) and bar_widths[0] == 4 * bar_widths[3]
    csv = exported_csv(browser, "#funnel-table").splitlines()
    assert csv[0] == "Stage,Steps,Reached,From previous,Overall,Median to next,p90 to next"
    assert csv[2] == "MQL,Score,3,75.0%,75.0%,2.5 h,2.9 h" and len(csv) == 5
    screenshot(browser, "funnel")

    # Segment SMB: c1 (to OPPORTUNITY) and c2 (to SQL).
    # Submitting says "Loading…" at once (read in the same task as the click, before
    # any answer can be drawn) and dims the previous picture.
    loading = script(
        browser,
        """document.getElementById('funnel-segment').value = 'SMB';
        document.querySelector('#funnel-form button[type=submit]').click();
        const section = document.getElementById('view-funnel');
        const state = section.querySelector('.state');
        return [section.dataset.state, state.textContent, state.hidden,
                section.querySelector('.result').classList.contains('stale')];""",
    )
    assert loading == ["loading", "Loading…", False, True]
    assert settled(browser, "funnel") == "ready"
    assert [r[2] for r in rows(browser, "#funnel-table")] == ["2", "2", "2", "1"]
    # Channel phone: only c4's LEAD touchpoint is on the phone.
    submit(browser, "funnel-form", {"funnel-segment": "", "funnel-channel": "phone"})
    assert settled(browser, "funnel") == "ready"
    assert [r[2] for r in rows(browser, "#funnel-table")] == ["1", "0", "0", "0"]
    title = script(browser, "return document.getElementById('funnel-title').textContent")
    assert title == "Funnel of Lead to deal · channel Phone"
    screenshot(browser, "funnel-filtered")

    # A window without touchpoints says so instead of drawing empty bars.
    submit(browser, "funnel-form", {"funnel-channel": "", "funnel-from": "2030-01-01"})
    assert settled(browser, "funnel") == "empty"
    shown = script(
        browser,
        """const s = document.querySelector('#view-funnel .state');
        return [s.hidden, s.textContent, document.querySelector('#view-funnel .result').hidden];""",
    )
    assert shown == [False, "No data for this window.", True]
    screenshot(browser, "funnel-empty")


def map_edges(browser: Any) -> list[list[Any]]:
    return sorted(
        script(
            browser,
            """return [...document.querySelectorAll('#map-diagram g.edge')]
            .map(g => [g.dataset.source, g.dataset.target, Number(g.dataset.count),
                       g.querySelector('text').textContent, g.classList.contains('back')]);""",
        )
    )


async def test_the_journey_map_toggles_zooms_and_drills_down_to_a_customer_journey(
    service: str, browser: Any, graph: Graph
) -> None:
    await seed_explorer_graph(graph)
    open_view(browser, service, "journey-map")
    submit(browser, "map-form", {"map-by": "STEP", "map-min": "1"})
    assert settled(browser, "journey-map") == "ready"
    summary = script(browser, "return document.getElementById('map-summary').textContent")
    assert summary == "4 customers · 5 activities · 5 transitions shown"
    # Frequency: each arrow labelled with its count; s3 -> s1 goes back (c1's second lead).
    assert map_edges(browser) == [
        ["s1", "s2", 3, "3", False],
        ["s1", "s4", 1, "1", False],
        ["s2", "s3", 2, "2", False],
        ["s3", "s1", 1, "1", True],
        ["s4", "o1", 1, "1", False],
    ]
    # Names in full: a long one wraps onto lines (one tspan each), never cut.
    nodes = script(
        browser,
        """return [...document.querySelectorAll('#map-diagram g.node')]
        .map(g => [g.dataset.key, Number(g.dataset.count), g.classList.contains('start'),
                   [...g.querySelectorAll('text.name tspan')].map(t => t.textContent)]);""",
    )
    assert sorted(nodes)[1:] == [
        ["s1", 5, True, ["Capture"]],
        ["s2", 3, False, ["Score"]],
        ["s3", 2, False, ["Qualify"]],
        ["s4", 1, False, ["Propose"]],
    ]
    o1 = sorted(nodes)[0]
    assert o1[:3] == ["o1", 1, False] and len(o1[3]) > 1 and " ".join(o1[3]) == LONG_NAME
    # No two boxes or labels overlap (ELK placed them).
    overlaps = script(
        browser,
        """const boxes = [...document.querySelectorAll(
            '#map-diagram g.node rect, #map-diagram g.edge rect.label-box')]
          .map(r => r.getBBox());
        let n = 0;
        boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
          if (a.x < b.x + b.width && b.x < a.x + a.width &&
              a.y < b.y + b.height && b.y < a.y + a.height) n++; }));
        return n;""",
    )
    assert overlaps == 0
    screenshot(browser, "journey-map")

    # Performance: the same arrows labelled with the median time between the steps.
    script(browser, "document.querySelector('input[name=map-mode][value=performance]').click()")
    wait_for(
        browser,
        lambda: (
            script(browser, "return document.querySelector('svg.map').dataset.mode")
            == "performance"
        ),
        "no performance map",
    )
    assert [edge[3] for edge in map_edges(browser)] == [
        "2.0 h",  # c1 1 h, c2 2 h, c3 4 h
        "7.0 h",  # c1 20 h -> 27 h
        "2.5 h",  # c1 2 h, c2 3 h
        "17.0 h",  # c1 3 h -> 20 h
        "3.0 h",  # c1 27 h -> 30 h
    ]
    screenshot(browser, "journey-map-performance")

    # Zoom in by the button: 25% larger.
    before = script(browser, "return document.getElementById('map-zoom-level').textContent")
    script(browser, "document.getElementById('map-zoom-in').click()")
    after = script(browser, "return document.getElementById('map-zoom-level').textContent")
    assert round(int(before[:-1]) * 1.25) == int(after[:-1])
    script(browser, "document.getElementById('map-zoom-fit').click()")

    # Dragging the background pans the map by as much, and opens no drill-down.
    def offset() -> list[float]:
        transform = script(
            browser, "return document.querySelector('svg.map g.viewport').getAttribute('transform')"
        )
        x, y = transform.split("translate(")[1].split(")")[0].split(",")
        return [float(x), float(y)]

    from selenium.webdriver.common.action_chains import ActionChains

    picture = browser.find_element("css selector", "svg.map")
    start = offset()
    corner = (-picture.size["width"] // 2 + 6, -picture.size["height"] // 2 + 6)
    ActionChains(browser).move_to_element_with_offset(
        picture, *corner
    ).click_and_hold().move_by_offset(60, 30).release().perform()
    assert [round(b - a) for a, b in zip(start, offset(), strict=True)] == [60, 30]
    assert script(browser, "return document.getElementById('map-cases').children.length") == 0
    script(browser, "document.getElementById('map-zoom-fit').click()")
    assert offset() == start

    # The customers behind the node s1 (c1 passes it twice), then behind the edge s1 -> s2.
    def cases() -> list[list[str]]:
        return rows(browser, "#map-cases")

    script(browser, """document.querySelector('#map-diagram g.node[data-key="s1"]')
        .dispatchEvent(new MouseEvent('click', {bubbles: true}))""")  # fmt: skip
    wait_for(browser, cases, "no customers behind s1")
    assert cases() == [
        ["c1", "SMB", "2", "journey →"],
        ["c2", "SMB", "1", "journey →"],
        ["c3", "ENT", "1", "journey →"],
        ["c4", "ENT", "1", "journey →"],
    ]
    script(browser, """document.querySelector(
        '#map-diagram g.edge[data-source="s2"][data-target="s3"] path.hit')
        .dispatchEvent(new MouseEvent('click', {bubbles: true}))""")  # fmt: skip
    wait_for(browser, lambda: len(cases()) == 2, "no customers behind s2 -> s3")
    heading = script(browser, "return document.querySelector('#map-cases h3').textContent")
    assert heading == "Customers through Score → Qualify"
    assert cases() == [["c1", "SMB", "1", "journey →"], ["c2", "SMB", "1", "journey →"]]
    screenshot(browser, "journey-map-customers")

    # The link leads to c2's journey: Capture, Score (2 h later), Qualify (3 h later).
    script(browser, "document.querySelector('#map-cases tr[data-customer=\"c2\"] a').click()")
    wait_for(
        browser,
        lambda: script(browser, "return !document.getElementById('view-journey').hidden"),
        "the journey view did not open",
    )
    assert settled(browser, "journey") == "ready"
    assert script(browser, "return document.getElementById('journey-summary').textContent") == (
        "3 touchpoints · furthest stage SQL · stalled at Qualify · 0 deals"
    )
    steps = rows(browser, "#journey-steps")
    assert [(s[0], s[5], s[6], s[8]) for s in steps] == [
        ("2024-03-01 00:00", "Capture", "LEAD", "–"),
        ("2024-03-01 02:00", "Score", "MQL", "2.0 h"),
        ("2024-03-01 05:00", "Qualify", "SQL", "3.0 h"),
    ]
    screenshot(browser, "journey")

    # An unknown customer is an error the view states, not a blank page.
    submit(browser, "journey-form", {"journey-customer": "nobody"})
    assert settled(browser, "journey") == "error"
    message = script(browser, "return document.querySelector('#view-journey .state').textContent")
    assert "nobody" in message and "NOT_FOUND" in message


async def seed_team_graph(graph: Graph) -> None:
    from tests.graphs.slas import seed as seed_slas

    await seed_slas(graph)
    await upsert_nodes(graph, "KPI", [{
        "id": "k-answer", "name": "MQLs answered in 24h", "target": 0.9,
        "accountableTeamId": "sales",
    }])  # fmt: skip
    weekly = [("2024-02-26", 0.1), ("2024-03-04", 0.5), ("2024-03-11", 0.75), ("2024-03-18", 0.8)]
    await upsert_nodes(graph, "Measurement", [{
        "id": f"k-answer:{start}", "kpiId": "k-answer", "at": f"{start}T00:00:00Z",
        "periodStart": f"{start}T00:00:00Z", "value": value,
    } for start, value in weekly])  # fmt: skip


async def test_the_team_view_draws_kpi_trends_and_sla_compliance_over_time(
    service: str, browser: Any, graph: Graph
) -> None:
    await seed_team_graph(graph)
    open_view(browser, service, "team")
    # The weeks of 4, 11 and 18 March 2024.
    submit(
        browser,
        "team-form",
        {"team-select": "sales", "team-from": "2024-03-04", "team-to": "2024-03-24"},
    )
    assert settled(browser, "team") == "ready"
    assert script(browser, "return document.getElementById('team-title').textContent") == "sales"
    kpi = script(
        browser,
        """const tr = document.querySelector('#team-kpis tr[data-kpi="MQLs answered in 24h"]');
        return JSON.parse(tr.querySelector('svg.sparkline').dataset.values);""",
    )
    assert kpi == [0.5, 0.75, 0.8]  # the February week is outside the window
    captions = script(
        browser,
        """return [...document.querySelectorAll('#team-body .trend .caption')]
        .map(c => c.textContent)""",
    )
    assert captions == ["0.500 · 0.750 · 0.800", "33.3% · 50.0% · 0.0%", "100.0% · 0.0% · 0.0%"]
    slas = {r[0]: r for r in rows(browser, "#team-slas")}
    # "Answer MQLs in 24h", judged now: week 1 a met, b late, c unanswered; week 2 d met,
    # g answered after 7 days; week 3 e never answered. 2 met of 6.
    assert slas["Answer MQLs in 24h"][1:5] == ["consumer", "mkt", "24.0 hours", "33.3% (2 of 6)"]
    rates = script(
        browser,
        """const tr = document.querySelector('#team-slas tr[data-sla="Answer MQLs in 24h"]');
        return JSON.parse(tr.querySelector('svg.sparkline').dataset.values);""",
    )
    assert rates == [pytest.approx(1 / 3), 0.5, 0.0]
    csv = exported_csv(browser, "#team-slas .table-wrap").splitlines()
    assert csv[0] == ("SLA,Role,Counterpart,Threshold,Met in window,Compliance over time,Now")
    # The trend column exports the rates the sparkline draws.
    assert (
        "Answer MQLs in 24h,consumer,mkt,24.0 hours,33.3% (2 of 6),0.3333333333333333 0.5 0,no data"
        in csv
    )
    screenshot(browser, "team")


def test_the_explorer_page_and_its_assets_are_served(service: str) -> None:
    import httpx

    page = httpx.get(service)
    assert page.status_code == 200 and "orggraph explorer" in page.text
    for asset in ("explorer.js", "api.js", "ui.js", "funnel.js", "journey-map.js", "team.js",
                  "journey.js", "explorer.css", "vendor/elk-api.js",
                  "vendor/elk-worker.min.js"):  # fmt: skip
        response = httpx.get(f"{service}explorer/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000, asset
