"""Revenue attribution against the database: hand-built journeys, hand-computed credits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes

from tests.helpers import error_codes, execute, execute_counted, ok

ATTRIBUTION = """
query A($model: AttributionModel!, $by: AttributionDimension!, $from: DateTime, $to: DateTime,
        $half: Float, $currency: String) {
  attribution(model: $model, by: $by, from: $from, to: $to, halfLifeDays: $half,
              currency: $currency) {
    model by currency halfLifeDays
    rows { key name credit share deals journeys removalEffect }
    wonRevenue attributedRevenue unattributedRevenue dealCount unattributedDeals
    nonConvertingJourneys
  }
}
"""


def at(day: int, hour: int = 0) -> str:
    return f"2024-03-{day:02d}T{hour:02d}:00:00Z"


async def seed(graph: Graph) -> None:
    """Three customers, four channels, two campaigns, two teams.

    alice: web (LEAD, cmp-ads) -> email (MQL) -> phone (OPPORTUNITY, team sales; deal opened)
           -> store (team sales), won deal d1 of 1000 closed on day 10; a later touch after
           the close (ignored) and a second won deal d2 of 300 closed on day 20 with one touch
           (chat) between the two closes.
    bob: web (cmp-ads), email; lost deal (a non-converting journey).
    carol: a won deal d3 of 500 without any touchpoint before it (unattributed).
    """
    await upsert_nodes(
        graph, "Team", [{"id": "sales", "name": "Sales"}, {"id": "mkt", "name": "Marketing"}]
    )
    await upsert_nodes(
        graph,
        "Channel",
        [
            {"id": c, "name": c.title(), "kind": k}
            for c, k in (
                ("web", "WEB"),
                ("email", "EMAIL"),
                ("phone", "PHONE"),
                ("store", "STORE"),
                ("chat", "CHAT"),
            )
        ],
    )
    await upsert_nodes(graph, "Campaign", [{"id": "cmp-ads", "name": "Ads", "teamId": "mkt"}])
    await upsert_nodes(graph, "Process", [{"id": "p", "name": "Lead to customer"}])
    await upsert_nodes(
        graph,
        "Step",
        [
            {"id": f"s-{s.lower()}", "name": s, "stage": s, "processId": "p", "order": i}
            for i, s in enumerate(("LEAD", "MQL", "OPPORTUNITY", "CUSTOMER"))
        ],
    )
    await upsert_nodes(graph, "Customer", [{"id": c, "name": c} for c in ("alice", "bob", "carol")])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {
                "id": "a1",
                "customerId": "alice",
                "at": at(1),
                "type": "PAGE_VIEW",
                "channelId": "web",
                "campaignId": "cmp-ads",
                "stepId": "s-lead",
                "teamId": "mkt",
            },
            {
                "id": "a2",
                "customerId": "alice",
                "at": at(3),
                "type": "EMAIL",
                "channelId": "email",
                "stepId": "s-mql",
                "teamId": "mkt",
            },
            {
                "id": "a3",
                "customerId": "alice",
                "at": at(8),
                "type": "CALL",
                "channelId": "phone",
                "stepId": "s-opportunity",
                "teamId": "sales",
            },
            {
                "id": "a4",
                "customerId": "alice",
                "at": at(9),
                "type": "MEETING",
                "channelId": "store",
                "teamId": "sales",
            },
            {
                "id": "a5",
                "customerId": "alice",
                "at": at(10),
                "type": "PURCHASE",
                "channelId": "store",
            },
            {"id": "a6", "customerId": "alice", "at": at(15), "type": "CHAT", "channelId": "chat"},
            {
                "id": "b1",
                "customerId": "bob",
                "at": at(2),
                "type": "PAGE_VIEW",
                "channelId": "web",
                "campaignId": "cmp-ads",
            },
            {"id": "b2", "customerId": "bob", "at": at(4), "type": "EMAIL", "channelId": "email"},
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": "d1",
                "customerId": "alice",
                "amount": 1000,
                "openedAt": at(8),
                "closedAt": at(10),
                "won": True,
            },
            {
                "id": "d2",
                "customerId": "alice",
                "amount": 300,
                "openedAt": at(16),
                "closedAt": at(20),
                "won": True,
            },
            {
                "id": "d3",
                "customerId": "carol",
                "amount": 500,
                "openedAt": at(5),
                "closedAt": at(12),
                "won": True,
            },
            {
                "id": "dl",
                "customerId": "bob",
                "amount": 900,
                "openedAt": at(4),
                "closedAt": at(6),
                "won": False,
            },
            {"id": "do", "customerId": "bob", "amount": 700, "openedAt": at(5)},
        ],
    )


async def run(graph: Graph, **variables: Any) -> dict[str, Any]:
    return ok(await execute(graph, ATTRIBUTION, variables))["attribution"]  # type: ignore[no-any-return]


def credits(view: dict[str, Any]) -> dict[str | None, str]:
    return {r["key"]: r["credit"] for r in view["rows"]}


async def test_u_shaped_by_channel_over_all_won_deals(graph: Graph) -> None:
    await seed(graph)
    view = await run(graph, model="U_SHAPED", by="CHANNEL")
    # d1 (1000): web 400, email 100, phone 100, store 400 (a5 at the close is not before it);
    # d2 (300): chat 300 (a6, after d1's close); d3 (500): unattributed
    assert credits(view) == {
        "web": "400.00",
        "store": "400.00",
        "chat": "300.00",
        "email": "100.00",
        "phone": "100.00",
    }
    assert [r["key"] for r in view["rows"]] == ["store", "web", "chat", "email", "phone"]
    assert view["wonRevenue"] == "1800.00"
    assert view["attributedRevenue"] == "1300.00"
    assert view["unattributedRevenue"] == "500.00"
    assert (view["dealCount"], view["unattributedDeals"], view["currency"]) == (3, 1, "EUR")
    assert view["rows"][0] == {
        "key": "store",
        "name": "Store",
        "credit": "400.00",
        "share": pytest.approx(400 / 1300),
        "deals": 1,
        "journeys": 1,
        "removalEffect": None,
    }
    assert sum(Decimal(c) for c in credits(view).values()) == Decimal("1300.00")


async def test_every_model_on_alices_first_deal(graph: Graph) -> None:
    await seed(graph)
    window = {"from": at(1), "to": at(11)}  # d1 only
    expected = {
        "FIRST_TOUCH": {"web": "1000.00", "email": "0.00", "phone": "0.00", "store": "0.00"},
        "LAST_TOUCH": {"web": "0.00", "email": "0.00", "phone": "0.00", "store": "1000.00"},
        "LINEAR": {"web": "250.00", "email": "250.00", "phone": "250.00", "store": "250.00"},
        # anchors: first touch a1 (also lead creation: LEAD stage), opportunity creation a3
        # (last touch at or before openedAt): 60 / 5 / 30 / 5
        "W_SHAPED": {"web": "600.00", "email": "50.00", "phone": "300.00", "store": "50.00"},
        # ages 9, 7, 2, 1 days, half-life 7: weights 2^(-9/7), 2^-1, 2^(-2/7), 2^(-1/7)
        # = 0.41016, 0.5, 0.82034, 0.90572 (sum 2.63622)
        "TIME_DECAY": {"web": "155.59", "email": "189.66", "phone": "311.18", "store": "343.57"},
    }
    for model, want in expected.items():
        view = await run(graph, model=model, by="CHANNEL", **window)
        assert credits(view) == want, model
        assert view["wonRevenue"] == "1000.00"
    first = await run(graph, model="FIRST_TOUCH", by="CHANNEL", **window)
    assert [(r["key"], r["deals"], r["journeys"]) for r in first["rows"]] == [
        ("web", 1, 1),
        ("email", 0, 1),
        ("phone", 0, 1),
        ("store", 0, 1),
    ]


async def test_time_decay_half_life_is_a_parameter(graph: Graph) -> None:
    await seed(graph)
    view = await run(graph, model="TIME_DECAY", by="CHANNEL", to=at(11), half=2)
    # ages 9, 7, 2, 1 days, half-life 2: weights 2^-4.5, 2^-3.5, 2^-1, 2^-0.5
    # -> shares 0.032988, 0.065977, 0.373221, 0.527814
    assert credits(view) == {"web": "32.99", "email": "65.98", "phone": "373.22", "store": "527.81"}
    assert view["halfLifeDays"] == 2.0
    # other models ignore it (a UI may always send it)
    linear = await run(graph, model="LINEAR", by="CHANNEL", to=at(11), half=2)
    assert linear["halfLifeDays"] is None
    assert credits(linear)["web"] == "250.00"


async def test_by_team_and_campaign_with_the_none_bucket(graph: Graph) -> None:
    await seed(graph)
    team = await run(graph, model="LINEAR", by="TEAM", to=at(11))
    assert credits(team) == {"mkt": "500.00", "sales": "500.00"}
    campaign = await run(graph, model="LINEAR", by="CAMPAIGN", to=at(11))
    assert credits(campaign) == {None: "750.00", "cmp-ads": "250.00"}
    assert [r["name"] for r in campaign["rows"]] == ["(none)", "Ads"]


async def test_markov_by_channel_uses_bobs_lost_journey(graph: Graph) -> None:
    await seed(graph)
    view = await run(graph, model="MARKOV", by="CHANNEL", to=at(11))
    # converting: web email phone store -> conv;
    # non-converting (in the window): bob web email -> null,
    # carol has no touchpoint. P(conv) = 1/2 (email -> phone once, -> null once); removing any key
    # on alice's path loses every conversion: removal effect 1 each -> 250 each.
    assert credits(view) == {
        "web": "250.00",
        "email": "250.00",
        "phone": "250.00",
        "store": "250.00",
    }
    assert {r["key"]: r["removalEffect"] for r in view["rows"]} == pytest.approx(
        {"web": 1.0, "email": 1.0, "phone": 1.0, "store": 1.0}
    )
    assert view["nonConvertingJourneys"] == 1


async def test_markov_on_a_chain_solved_by_hand(graph: Graph) -> None:
    # A B conv (deal of 1000) | A null | B conv (deal of 400) | B null
    await upsert_nodes(graph, "Channel", [{"id": c, "name": c, "kind": "WEB"} for c in ("A", "B")])
    await upsert_nodes(graph, "Customer", [{"id": f"c{i}", "name": f"c{i}"} for i in range(4)])
    touches = [("c0", "A", 1), ("c0", "B", 2), ("c1", "A", 1), ("c2", "B", 1), ("c3", "B", 1)]
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"t{i}", "customerId": c, "channelId": ch, "at": at(day), "type": "PAGE_VIEW"}
            for i, (c, ch, day) in enumerate(touches)
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": "w0",
                "customerId": "c0",
                "amount": 1000,
                "openedAt": at(2),
                "closedAt": at(3),
                "won": True,
            },
            {
                "id": "w2",
                "customerId": "c2",
                "amount": 400,
                "openedAt": at(2),
                "closedAt": at(3),
                "won": True,
            },
        ],
    )
    view = await run(graph, model="MARKOV", by="CHANNEL")
    # RE(A) = 1/3, RE(B) = 1: w0 splits 1:3 -> A 250, B 750; w2 -> B 400
    assert credits(view) == {"B": "1150.00", "A": "250.00"}
    assert {r["key"]: r["removalEffect"] for r in view["rows"]} == pytest.approx(
        {"A": 1 / 3, "B": 1.0}
    )
    assert view["nonConvertingJourneys"] == 2


async def test_same_timestamp_orders_by_id_and_cents_are_never_lost(graph: Graph) -> None:
    await upsert_nodes(
        graph, "Channel", [{"id": c, "name": c, "kind": "WEB"} for c in ("x", "y", "z")]
    )
    await upsert_nodes(graph, "Customer", [{"id": "c", "name": "c"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": "t2", "customerId": "c", "channelId": "y", "at": at(1), "type": "EMAIL"},
            {"id": "t1", "customerId": "c", "channelId": "x", "at": at(1), "type": "EMAIL"},
            {"id": "t3", "customerId": "c", "channelId": "z", "at": at(2), "type": "EMAIL"},
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": "d",
                "customerId": "c",
                "amount": 100.01,
                "openedAt": at(2),
                "closedAt": at(3),
                "won": True,
            }
        ],
    )
    first = await run(graph, model="FIRST_TOUCH", by="CHANNEL")
    assert credits(first)["x"] == "100.01"  # t1 before t2 at the same time
    linear = await run(graph, model="LINEAR", by="CHANNEL")
    # 10001 cents / 3: 3333 each and two left, to the first two of equal remainders (x, y)
    assert credits(linear) == {"x": "33.34", "y": "33.34", "z": "33.33"}


async def test_one_round_trip_whatever_the_number_of_deals(graph: Graph) -> None:
    await seed(graph)
    result, small = await execute_counted(graph, ATTRIBUTION, {"model": "MARKOV", "by": "TEAM"})
    ok(result)
    await upsert_nodes(graph, "Customer", [{"id": f"x{i}", "name": "x"} for i in range(30)])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"xt{i}", "customerId": f"x{i}", "at": at(1), "type": "EMAIL", "teamId": "mkt"}
            for i in range(30)
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": f"xd{i}",
                "customerId": f"x{i}",
                "amount": 10,
                "openedAt": at(1),
                "closedAt": at(2),
                "won": True,
            }
            for i in range(30)
        ],
    )
    result, large = await execute_counted(graph, ATTRIBUTION, {"model": "MARKOV", "by": "TEAM"})
    assert ok(result)["attribution"]["dealCount"] == 33
    assert small.count == large.count == 1


async def test_bad_inputs(graph: Graph) -> None:
    await seed(graph)
    cases: list[dict[str, Any]] = [
        {"model": "LINEAR", "by": "CHANNEL", "from": at(5), "to": at(5)},
        {"model": "TIME_DECAY", "by": "CHANNEL", "half": 0},
        {"model": "TIME_DECAY", "by": "CHANNEL", "half": -3},
        {"model": "LINEAR", "by": "CHANNEL", "half": 0},
        {"model": "LINEAR", "by": "CHANNEL", "currency": "euro"},
    ]
    for variables in cases:
        assert error_codes(await execute(graph, ATTRIBUTION, variables)) == ["BAD_USER_INPUT"], (
            variables
        )
    assert error_codes(await execute(graph, ATTRIBUTION, {"model": "NOPE", "by": "CHANNEL"})) != []


async def test_mixed_currencies_need_a_currency(graph: Graph) -> None:
    await seed(graph)
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": "usd",
                "customerId": "bob",
                "amount": 50,
                "currency": "USD",
                "openedAt": at(3),
                "closedAt": at(5),
                "won": True,
            }
        ],
    )
    assert error_codes(await execute(graph, ATTRIBUTION, {"model": "LINEAR", "by": "CHANNEL"})) == [
        "BAD_USER_INPUT"
    ]
    usd = await run(graph, model="LINEAR", by="CHANNEL", currency="USD")
    assert credits(usd) == {"web": "25.00", "email": "25.00"}
    assert usd["currency"] == "USD"
    empty = await run(graph, model="LINEAR", by="CHANNEL", currency="JPY")
    assert (empty["rows"], empty["wonRevenue"], empty["dealCount"]) == ([], "0.00", 0)
