"""Revenue attribution: the maths (every model, the exact-sum rule, Markov removal
effects) and the query against the database, on hand-built journeys with hand-computed
credits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orggraph.graph.attribution import (
    CONVERSION,
    NULL,
    START,
    AttributionModel,
    DealJourney,
    MarkovSplit,
    Touch,
    apportion,
    attribute,
    credit_deal,
    path_transitions,
    removal_effects,
    to_cents,
)
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes
from tests.graphs.attribution import ATTRIBUTION, at, run
from tests.helpers import error_codes, execute, execute_counted, ok

M = AttributionModel
DAY = 86_400_000


def journey(
    keys: list[str | None],
    amount: int = 100_000,
    *,
    stages: list[str | None] | None = None,
    ages_days: list[float] | None = None,
    opened_index: int | None = None,
) -> DealJourney:
    """A deal closing at day 100 with one touch per key (one day apart unless ages are given)."""
    closed = 100 * DAY
    ages = ages_days or [float(len(keys) - i) for i in range(len(keys))]
    touches = tuple(
        Touch(key=k, at_ms=closed - round(age * DAY), stage=(stages or [None] * len(keys))[i])
        for i, (k, age) in enumerate(zip(keys, ages, strict=True))
    )
    opened = touches[opened_index].at_ms if opened_index is not None else None
    return DealJourney("d", amount, closed, opened, touches)


def credits(model: AttributionModel, j: DealJourney, **kwargs: float) -> dict[str | None, int]:
    return dict(credit_deal(model, j, **kwargs))  # type: ignore[arg-type]


def test_position_models_on_three_touches_of_1000() -> None:
    j = journey(["a", "b", "c"])
    assert credits(M.FIRST_TOUCH, j) == {"a": 100_000, "b": 0, "c": 0}
    assert credits(M.LAST_TOUCH, j) == {"a": 0, "b": 0, "c": 100_000}
    assert credits(M.LINEAR, j) == {"a": 33_334, "b": 33_333, "c": 33_333}
    assert credits(M.U_SHAPED, j) == {"a": 40_000, "b": 20_000, "c": 40_000}


def test_u_shaped_spreads_twenty_percent_over_the_middle_and_halves_two_touches() -> None:
    assert credits(M.U_SHAPED, journey(["a", "b", "c", "d"])) == {
        "a": 40_000,
        "b": 10_000,
        "c": 10_000,
        "d": 40_000,
    }
    assert credits(M.U_SHAPED, journey(["a", "b"])) == {"a": 50_000, "b": 50_000}


def test_a_key_touched_twice_sums_its_touches() -> None:
    assert credits(M.U_SHAPED, journey(["a", "b", "a"])) == {"a": 80_000, "b": 20_000}
    assert credits(M.LINEAR, journey(["a", None, "a", None])) == {"a": 50_000, None: 50_000}


def test_w_shaped_with_four_touches_and_three_anchors() -> None:
    # first touch a; lead creation b (first LEAD-stage touch);
    # opportunity creation c (deal opened then)
    j = journey(
        ["a", "b", "c", "d"],
        stages=["SUBSCRIBER", "LEAD", "OPPORTUNITY", "CUSTOMER"],
        opened_index=2,
    )
    assert credits(M.W_SHAPED, j) == {"a": 30_000, "b": 30_000, "c": 30_000, "d": 10_000}


def test_w_shaped_anchors_on_the_same_touch_add_up() -> None:
    # the first touch also creates the lead: 60% there, 30% on opportunity creation,
    # 10% over the other two
    j = journey(["a", "b", "c", "d"], stages=["LEAD", "MQL", "OPPORTUNITY", None], opened_index=2)
    assert credits(M.W_SHAPED, j) == {"a": 60_000, "b": 5_000, "c": 30_000, "d": 5_000}


def test_w_shaped_when_every_touch_is_an_anchor_scales_to_the_whole_amount() -> None:
    three = journey(["a", "b", "c"], stages=[None, "LEAD", None], opened_index=2)
    assert credits(M.W_SHAPED, three) == {"a": 33_334, "b": 33_333, "c": 33_333}
    two = journey(["a", "b"], stages=["LEAD", None], opened_index=1)  # first = lead creation
    assert credits(M.W_SHAPED, two) == {"a": 66_667, "b": 33_333}


def test_w_shaped_without_stages_or_opening_falls_back_to_the_first_touch() -> None:
    j = journey(["a", "b", "c"])
    assert credits(M.W_SHAPED, j) == {"a": 90_000, "b": 5_000, "c": 5_000}


def test_time_decay_with_known_ages() -> None:
    # ages 14, 7, 0 days, half-life 7: weights 1/4, 1/2, 1 -> 1/7, 2/7, 4/7 of 1000.00
    j = journey(["a", "b", "c"], ages_days=[14, 7, 0])
    assert credits(M.TIME_DECAY, j) == {"a": 14_286, "b": 28_571, "c": 57_143}
    # half-life 14: weights 1/2, 1/sqrt 2, 1 -> quotas 22654.07, 32037.79, 45308.14 cents:
    # floors sum to 99999, the leftover cent goes to the largest remainder (b)
    halves = credits(M.TIME_DECAY, j, half_life_days=14.0)
    assert halves == {"a": 22_654, "b": 32_038, "c": 45_308}


def test_time_decay_ties_get_equal_weight() -> None:
    assert credits(M.TIME_DECAY, journey(["a", "b"], ages_days=[3, 3])) == {
        "a": 50_000,
        "b": 50_000,
    }


def test_single_touch_gets_everything_under_every_model() -> None:
    for model in M:
        assert credits(model, journey(["a"], amount=12_345)) == {"a": 12_345}, model


def test_largest_remainder_gives_leftover_cents_to_the_earliest_on_ties() -> None:
    assert apportion(100, [1, 1, 1]) == [34, 33, 33]
    assert apportion(2, [1, 1, 1]) == [1, 1, 0]
    assert apportion(10, [0, 0]) == [5, 5]
    assert apportion(0, [3, 1]) == [0, 0]


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**18), min_size=1, max_size=30))
def test_apportion_always_sums_exactly(total: int, weights: list[int]) -> None:
    parts = apportion(total, weights)
    assert sum(parts) == total and all(p >= 0 for p in parts)


def test_amounts_become_cents_half_even() -> None:
    assert to_cents(1000) == 100_000
    assert to_cents(0.1) == 10
    assert to_cents(2.675) == 268  # the float prints as 2.675: half-even on the decimal text
    assert to_cents(Decimal("0.005")) == 0


def test_markov_removal_effects_on_a_chain_solved_by_hand() -> None:
    # A B conv | A null | B conv | B null
    # x_B = 2/3, x_A = 1/2 * 2/3 = 1/3, P(conv) = 1/2 (1/3 + 2/3) = 1/2
    # without A: 1/2 * 2/3 = 1/3 -> RE(A) = 1/3; without B: 0 -> RE(B) = 1
    transitions = path_transitions(
        [(["A", "B"], True), (["A"], False), (["B"], True), (["B"], False)]
    )
    assert transitions[(START, ("key", "A"))] == 2
    assert transitions[(("key", "B"), CONVERSION)] == 2
    assert transitions[(("key", "A"), NULL)] == 1
    effects = removal_effects(transitions)
    assert effects["A"] == pytest.approx(1 / 3)
    assert effects["B"] == pytest.approx(1.0)
    # a deal of 1000 through A then B: 1/3 : 1 -> 250 / 750
    split = credits(M.MARKOV, journey(["A", "B"]), removal_effects=effects)  # type: ignore[arg-type]
    assert split == {"A": 25_000, "B": 75_000}


def test_markov_self_loops_do_not_change_removal_effects() -> None:
    base = removal_effects(path_transitions([(["A", "B"], True), (["A"], False)]))
    looped = removal_effects(path_transitions([(["A", "A", "B"], True), (["A"], False)]))
    assert base["A"] == pytest.approx(1.0) and base["B"] == pytest.approx(1.0)
    assert looped["A"] == pytest.approx(1.0) and looped["B"] == pytest.approx(1.0)


def test_markov_without_any_conversion_has_zero_effects() -> None:
    assert removal_effects(path_transitions([(["A"], False)])) == {"A": 0.0}


def test_attribute_totals_unattributed_deals_and_sorts_rows() -> None:
    deals = [
        journey(["a", "b", "c"]),
        DealJourney("empty", 5_000, 0, None, ()),
        journey(["c"], amount=70_000),
    ]
    result = attribute(M.U_SHAPED, deals)
    assert [(r.key, r.cents, r.deals, r.journeys) for r in result.rows] == [
        ("c", 110_000, 2, 2),
        ("a", 40_000, 1, 1),
        ("b", 20_000, 1, 1),
    ]
    assert (
        result.won_cents,
        result.unattributed_cents,
        result.deal_count,
        result.unattributed_deals,
    ) == (175_000, 5_000, 3, 1)
    assert sum(r.cents for r in result.rows) == result.attributed_cents


def test_attribute_markov_uses_the_non_converting_journeys() -> None:
    lost = path_transitions([(["A"], False), (["B"], False)])
    deals = [journey(["A", "B"]), journey(["B"], amount=40_000)]
    result = attribute(M.MARKOV, deals, non_converting=lost)
    assert [(r.key, r.cents) for r in result.rows] == [("B", 115_000), ("A", 25_000)]
    assert result.rows[1].removal_effect == pytest.approx(1 / 3)


def test_markov_per_deal_and_global_splits_on_the_hand_made_case() -> None:
    # A -> won 100 | A, B -> won 100 | B -> no deal
    # x_B = 1/2, x_A = 1/2 + 1/2 * 1/2 = 3/4, P(conv) = 2/3 * 3/4 + 1/3 * 1/2 = 2/3
    # without A: 1/3 * 1/2 = 1/6 -> RE(A) = 3/4; without B: 2/3 * 1/2 = 1/3 -> RE(B) = 1/2
    deals = [journey(["A"], amount=10_000), journey(["A", "B"], amount=10_000)]
    lost = path_transitions([(["B"], False)])
    per_deal = attribute(M.MARKOV, deals, non_converting=lost)
    assert per_deal.removal_effects == pytest.approx({"A": 3 / 4, "B": 1 / 2})
    # deal 1: all to A; deal 2: 3/4 : 1/2 -> A 60, B 40
    assert [(r.key, r.cents, r.deals, r.journeys) for r in per_deal.rows] == [
        ("A", 16_000, 2, 2),
        ("B", 4_000, 1, 1),
    ]
    whole = attribute(M.MARKOV, deals, non_converting=lost, markov_split=MarkovSplit.GLOBAL)
    # 200 over 3/4 : 1/2 -> A 120, B 80
    assert [(r.key, r.cents, r.deals, r.journeys) for r in whole.rows] == [
        ("A", 12_000, 2, 2),
        ("B", 8_000, 1, 1),
    ]
    assert whole.attributed_cents == 20_000


def test_markov_global_split_credits_keys_met_only_in_lost_journeys() -> None:
    # A -> won 100 | C, A -> no deal: RE(A) = 1, RE(C) = 1/2 (removing C halves x_start)
    deals = [journey(["A"], amount=10_000)]
    lost = path_transitions([(["C", "A"], False)])
    per_deal = attribute(M.MARKOV, deals, non_converting=lost)
    assert [(r.key, r.cents) for r in per_deal.rows] == [("A", 10_000)]
    whole = attribute(M.MARKOV, deals, non_converting=lost, markov_split=MarkovSplit.GLOBAL)
    assert whole.removal_effects == pytest.approx({"A": 1.0, "C": 1 / 2})
    # 100 over 1 : 1/2 -> A 66.67, C 33.33; C touched no won deal's journey
    assert [(r.key, r.cents, r.deals, r.journeys) for r in whole.rows] == [
        ("A", 6_667, 1, 1),
        ("C", 3_333, 0, 0),
    ]


def test_markov_split_leaves_the_other_models_alone() -> None:
    deals = [journey(["A", "B"])]
    for model in M:
        if model is not M.MARKOV:
            assert attribute(model, deals, markov_split=MarkovSplit.GLOBAL) == attribute(
                model, deals
            )


_STAGES = st.sampled_from([None, "SUBSCRIBER", "LEAD", "MQL", "OPPORTUNITY", "SUPPORT"])
_TOUCHES = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 400 * DAY), _STAGES),
    min_size=1,
    max_size=25,
)


@given(
    _TOUCHES,
    st.integers(0, 10**11),
    st.sampled_from(list(M)),
    st.floats(0.01, 1000),
    st.one_of(st.none(), st.integers(0, 400 * DAY)),
)
def test_every_model_splits_every_deal_exactly(
    raw: list[tuple[str | None, int, str | None]],
    amount: int,
    model: AttributionModel,
    half_life: float,
    opened: int | None,
) -> None:
    touches = tuple(Touch(k, at, stage) for k, at, stage in sorted(raw, key=lambda r: r[1]))
    deal = DealJourney("d", amount, 400 * DAY + 1, opened, touches)
    effects = {"a": 0.5, "b": 1.0, "c": 0.0, None: 0.25}
    parts = credit_deal(model, deal, half_life_days=half_life, removal_effects=effects)
    assert sum(cents for _, cents in parts) == amount
    assert all(cents >= 0 for _, cents in parts)
    assert len({key for key, _ in parts}) == len(parts)


# --- attribution against the database: hand-built journeys, hand-computed credits ---


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


def view_credits(view: dict[str, Any]) -> dict[str | None, str]:
    return {r["key"]: r["credit"] for r in view["rows"]}


async def test_u_shaped_by_channel_over_all_won_deals(graph: Graph) -> None:
    await seed(graph)
    view = await run(graph, model="U_SHAPED", by="CHANNEL")
    # d1 (1000): web 400, email 100, phone 100, store 400 (a5 at the close is not before it);
    # d2 (300): chat 300 (a6, after d1's close); d3 (500): unattributed
    assert view_credits(view) == {
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
    assert sum(Decimal(c) for c in view_credits(view).values()) == Decimal("1300.00")


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
        assert view_credits(view) == want, model
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
    assert view_credits(view) == {
        "web": "32.99",
        "email": "65.98",
        "phone": "373.22",
        "store": "527.81",
    }
    assert view["halfLifeDays"] == 2.0
    # other models ignore it (a UI may always send it)
    linear = await run(graph, model="LINEAR", by="CHANNEL", to=at(11), half=2)
    assert linear["halfLifeDays"] is None
    assert view_credits(linear)["web"] == "250.00"


async def test_by_team_and_campaign_with_the_none_bucket(graph: Graph) -> None:
    await seed(graph)
    team = await run(graph, model="LINEAR", by="TEAM", to=at(11))
    assert view_credits(team) == {"mkt": "500.00", "sales": "500.00"}
    campaign = await run(graph, model="LINEAR", by="CAMPAIGN", to=at(11))
    assert view_credits(campaign) == {None: "750.00", "cmp-ads": "250.00"}
    assert [r["name"] for r in campaign["rows"]] == ["(none)", "Ads"]


async def test_markov_by_channel_uses_bobs_lost_journey(graph: Graph) -> None:
    await seed(graph)
    view = await run(graph, model="MARKOV", by="CHANNEL", to=at(11))
    # converting: web email phone store -> conv;
    # non-converting (in the window): bob web email -> null,
    # carol has no touchpoint. P(conv) = 1/2 (email -> phone once, -> null once); removing any key
    # on alice's path loses every conversion: removal effect 1 each -> 250 each.
    assert view_credits(view) == {
        "web": "250.00",
        "email": "250.00",
        "phone": "250.00",
        "store": "250.00",
    }
    assert {r["key"]: r["removalEffect"] for r in view["rows"]} == pytest.approx(
        {"web": 1.0, "email": 1.0, "phone": 1.0, "store": 1.0}
    )
    assert view["nonConvertingJourneys"] == 1


async def channel_journeys(
    graph: Graph, customers: int, touches: list[tuple[str, str, int]], won: dict[str, int]
) -> None:
    """Channels A and B, customers c0.., their page views (customer, channel, day) and
    won deals (customer -> amount, opened on day 2, closed on day 3)."""
    await upsert_nodes(graph, "Channel", [{"id": c, "name": c, "kind": "WEB"} for c in ("A", "B")])
    await upsert_nodes(
        graph, "Customer", [{"id": f"c{i}", "name": f"c{i}"} for i in range(customers)]
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"t{i}", "customerId": c, "channelId": ch, "at": at(day), "type": "PAGE_VIEW"}
            for i, (c, ch, day) in enumerate(touches)
        ],
    )
    deals = [
        {"id": "w" + c[1:], "customerId": c, "amount": amount, "openedAt": at(2)}
        | {"closedAt": at(3), "won": True}
        for c, amount in won.items()
    ]
    await upsert_nodes(graph, "Deal", deals)


async def test_markov_on_a_chain_solved_by_hand(graph: Graph) -> None:
    # A B conv (deal of 1000) | A null | B conv (deal of 400) | B null
    touches = [("c0", "A", 1), ("c0", "B", 2), ("c1", "A", 1), ("c2", "B", 1), ("c3", "B", 1)]
    await channel_journeys(graph, 4, touches, {"c0": 1000, "c2": 400})
    view = await run(graph, model="MARKOV", by="CHANNEL")
    # RE(A) = 1/3, RE(B) = 1: w0 splits 1:3 -> A 250, B 750; w2 -> B 400
    assert view_credits(view) == {"B": "1150.00", "A": "250.00"}
    assert {r["key"]: r["removalEffect"] for r in view["rows"]} == pytest.approx(
        {"A": 1 / 3, "B": 1.0}
    )
    assert view["nonConvertingJourneys"] == 2


async def test_markov_global_split_through_the_api(graph: Graph) -> None:
    # A -> won 100 | A, B -> won 100 | B -> no deal (the hand-made case above)
    touches = [("c0", "A", 1), ("c1", "A", 1), ("c1", "B", 2), ("c2", "B", 1)]
    await channel_journeys(graph, 3, touches, {"c0": 100, "c1": 100})
    per_deal = await run(graph, model="MARKOV", by="CHANNEL")
    assert per_deal["markovSplit"] == "PER_DEAL"
    assert view_credits(per_deal) == {"A": "160.00", "B": "40.00"}
    whole = await run(graph, model="MARKOV", by="CHANNEL", split="GLOBAL")
    assert whole["markovSplit"] == "GLOBAL"
    assert view_credits(whole) == {"A": "120.00", "B": "80.00"}
    assert {r["key"]: r["removalEffect"] for r in whole["rows"]} == pytest.approx(
        {"A": 3 / 4, "B": 1 / 2}
    )
    linear = await run(graph, model="LINEAR", by="CHANNEL", split="GLOBAL")
    assert linear["markovSplit"] is None


async def test_won_deals_closing_at_the_same_instant_share_no_touch(graph: Graph) -> None:
    await upsert_nodes(graph, "Channel", [{"id": c, "name": c, "kind": "WEB"} for c in ("x", "y")])
    await upsert_nodes(graph, "Customer", [{"id": "c", "name": "c"}])
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": "t1", "customerId": "c", "channelId": "x", "at": at(1), "type": "EMAIL"},
            {"id": "t2", "customerId": "c", "channelId": "y", "at": at(2), "type": "EMAIL"},
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": deal_id,
                "customerId": "c",
                "amount": amount,
                "openedAt": at(2),
                "closedAt": at(3),
                "won": True,
            }
            for deal_id, amount in (("d-b", 300), ("d-a", 100))
        ],
    )
    view = await run(graph, model="LINEAR", by="CHANNEL")
    # d-a (smaller id) comes first and takes both touches; d-b's journey is empty
    assert view_credits(view) == {"x": "50.00", "y": "50.00"}
    assert {r["key"]: r["journeys"] for r in view["rows"]} == {"x": 1, "y": 1}
    assert (view["wonRevenue"], view["unattributedRevenue"], view["unattributedDeals"]) == (
        "400.00",
        "300.00",
        1,
    )


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
    assert view_credits(first)["x"] == "100.01"  # t1 before t2 at the same time
    linear = await run(graph, model="LINEAR", by="CHANNEL")
    # 10001 cents / 3: 3333 each and two left, to the first two of equal remainders (x, y)
    assert view_credits(linear) == {"x": "33.34", "y": "33.34", "z": "33.33"}


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
    assert view_credits(usd) == {"web": "25.00", "email": "25.00"}
    assert usd["currency"] == "USD"
    empty = await run(graph, model="LINEAR", by="CHANNEL", currency="JPY")
    # nothing won in yen: zero whole yen (JPY has no minor unit)
    assert (empty["rows"], empty["wonRevenue"], empty["dealCount"]) == ([], "0", 0)
