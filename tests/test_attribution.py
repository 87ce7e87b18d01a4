"""Attribution maths, hand-computed: every model, the exact-sum rule, Markov removal effects."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orggraph.graph.attribution import (
    CONVERSION,
    NULL,
    START,
    AttributionModel,
    DealJourney,
    Touch,
    apportion,
    attribute,
    credit_deal,
    path_transitions,
    removal_effects,
    to_cents,
)

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
