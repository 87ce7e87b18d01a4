"""Attribution checked against an independent reference: ChannelAttribution 2.2.5, fed the
same journeys (the hand-made case of the docs, random journeys, and once through the database).

What is compared, and how exactly:

* First-order transition probabilities: its ``transition_matrix`` (self-loops kept,
  ``flg_equal=True``, as in our chain) divides the same integer counts in double precision,
  so each probability must be bit-for-bit ours.
* Removal effects: its ``markov_model`` estimates them by simulation, so they are compared
  twice. Exactly (1e-9), against the removal effects computed by their definition (send the
  key to null, solve the chain again with numpy) on *its* transition matrix. And within a
  tolerance against its simulated ones: each of its ``nfold`` runs walks ``nsim_start /
  nfold`` paths from start, about ``n * P(conversion)`` of them convert, and a removal effect
  is the share of those that visited the key: a binomial proportion, so six of its standard
  deviations, ``6 * sqrt(RE * (1 - RE) / (n * P(conversion)))``. ``max_step`` is set far
  above any path the chain walks in practice, so no simulated path is cut short.
* FIRST_TOUCH / LAST_TOUCH: its credits are float sums of our integer cents (values fed in
  cents, below 2^53 so every sum is exact): equal to the cent, compared as integers.
* LINEAR: it keeps each key's exact quota (touches / length of the amount) in floats; we round
  each deal's quotas to whole cents by the largest remainder, so per deal and key ours is
  within one cent of its quota (strictly), and over a key the gap stays below the number of
  deals that touched it.
* MARKOV GLOBAL: its ``total_conversions`` split the conversions over the keys in proportion
  to the (simulated) removal effects; our GLOBAL split is that rule on the exact removal
  effects: within one cent of the exact quotas, and inside the interval the simulation's
  tolerance allows. Its ``total_conversion_value`` weighs each simulated conversion by a value
  drawn from the deals ending at the last key, which is not what we do (docs/traversals.md):
  it is compared only where every deal has the same amount, where both rules agree.
  PER_DEAL has no counterpart in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ChannelAttribution as reference
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orggraph.graph.attribution import (
    CONVERSION,
    NULL,
    START,
    AttributionModel,
    DealJourney,
    Key,
    MarkovSplit,
    State,
    Touch,
    attribute,
    credit_deal,
    merge_transitions,
    path_transitions,
    removal_effects,
)
from orggraph.graph.driver import Graph
from orggraph.graph.writes import upsert_nodes
from tests.graphs.attribution import at, run

M = AttributionModel
# How the "(none)" bucket is spelt in the reference's paths.
NONE_NAME = "(none)"
REFERENCE_STATES: dict[str, State] = {"(start)": START, "(conversion)": CONVERSION, "(null)": NULL}
# The simulation's parameters: nsim_start, its default nfold, and a max_step no walk reaches.
SIMULATIONS = 1_000_000
FOLDS = 10
MAX_STEP = 10_000
SIGMAS = 6


@dataclass(frozen=True)
class Journeys:
    """Won journeys (keys in order, amount in cents) and non-converting ones."""

    won: Sequence[tuple[tuple[Key, ...], int]]
    lost: Sequence[tuple[Key, ...]] = ()

    def deals(self) -> list[DealJourney]:
        return [
            DealJourney(
                f"d{i}", cents, len(keys), None, tuple(Touch(k, t) for t, k in enumerate(keys))
            )
            for i, (keys, cents) in enumerate(self.won)
        ]

    def transitions(self) -> dict[tuple[State, State], int]:
        return merge_transitions(
            path_transitions((list(keys), True) for keys, _ in self.won),
            path_transitions((list(keys), False) for keys in self.lost),
        )

    def total_cents(self) -> int:
        return sum(cents for _, cents in self.won)


def name(key: Key) -> str:
    return NONE_NAME if key is None else key


def key_of(channel: str) -> Key:
    return None if channel == NONE_NAME else channel


def frame(won: Iterable[tuple[Sequence[Key], int]], lost: Iterable[Sequence[Key]] = ()) -> Any:
    """The reference's input: one row per distinct path, conversions, nulls, value in cents."""
    rows: dict[str, list[float]] = {}
    for keys, cents in won:
        row = rows.setdefault(">".join(map(name, keys)), [0, 0, 0.0])
        row[0] += 1
        row[2] += cents
    for keys in lost:
        rows.setdefault(">".join(map(name, keys)), [0, 0, 0.0])[1] += 1
    return pd.DataFrame(
        [(path, int(c), int(n), v) for path, (c, n, v) in rows.items()],
        columns=["path", "conv", "null", "value"],
    )


# --- the reference's answers --------------------------------------------------------------


def reference_transitions(journeys: Journeys) -> dict[tuple[State, State], float]:
    answer = reference.transition_matrix(
        frame(journeys.won, journeys.lost), "path", "conv", "null", flg_equal=True, flg_pro=False
    )
    names = {str(i): key_of(n) for i, n in answer["channels"].itertuples(index=False)}

    def state(label: str) -> State:
        return REFERENCE_STATES.get(label) or ("key", names[label])

    return {
        (state(source), state(target)): float(p)
        for source, target, p in answer["transition_matrix"].itertuples(index=False)
    }


def conversion_probability(
    probabilities: Mapping[tuple[State, State], float], removed: State | None = None
) -> float:
    """P(conversion from start), with ``removed`` leading to null: numpy, by definition."""
    keys = {s for pair in probabilities for s in pair if s[0] == "key"}
    transient = [START, *sorted(keys, key=lambda s: (s[1] is None, s[1] or ""))]
    index = {s: i for i, s in enumerate(transient)}
    q = np.zeros((len(transient), len(transient)))
    r = np.zeros(len(transient))
    for (source, target), p in probabilities.items():
        if source == removed:
            continue
        if target in index:
            q[index[source], index[target]] += p
        elif target == CONVERSION:
            r[index[source]] += p
    return float(np.linalg.solve(np.eye(len(transient)) - q, r)[0])


def removal_effects_by_removal(
    probabilities: Mapping[tuple[State, State], float],
) -> dict[Key, float]:
    base = conversion_probability(probabilities)
    keys = {s for pair in probabilities for s in pair if s[0] == "key"}
    return {s[1]: 1 - conversion_probability(probabilities, s) / base for s in keys}


@dataclass(frozen=True)
class Simulated:
    removal_effects: dict[Key, float]
    conversions: dict[Key, float]
    values: dict[Key, float]


def reference_markov(journeys: Journeys, simulations: int = SIMULATIONS) -> Simulated:
    answer = reference.markov_model(
        frame(journeys.won, journeys.lost),
        "path",
        "conv",
        var_value="value",
        var_null="null",
        out_more=True,
        nsim_start=simulations,
        nfold=FOLDS,
        max_step=MAX_STEP,
        seed=0,
        verbose=False,
        flg_pro=False,
    )
    effects = answer["removal_effects"]
    result = answer["result"]

    def column(table: Any, values: str) -> dict[Key, float]:
        return dict(zip(map(key_of, table["channel_name"]), table[values], strict=True))

    return Simulated(
        removal_effects=column(effects, "removal_effects_conversion"),
        conversions=column(result, "total_conversions"),
        values=column(result, "total_conversion_value"),
    )


def tolerance(effect: float, p_conversion: float, simulations: int) -> float:
    converting = simulations / FOLDS * p_conversion
    return SIGMAS * math.sqrt(max(effect * (1 - effect), 0.0) / converting) + 1e-9


def share_interval(
    effects: Mapping[Key, float], slack: Mapping[Key, float], key: Key
) -> tuple[float, float]:
    """Bounds of ``key``'s share of the removal effects when each is off by its slack."""
    others_low = sum(max(0.0, effects[k] - slack[k]) for k in effects if k != key)
    others_high = sum(effects[k] + slack[k] for k in effects if k != key)
    low = max(0.0, effects[key] - slack[key])
    high = effects[key] + slack[key]
    return low / (low + others_high), high / (high + others_low) if high + others_low else 1.0


def reference_heuristics(won: Iterable[tuple[Sequence[Key], int]]) -> dict[str, dict[Key, float]]:
    answer = reference.heuristic_models(
        frame(won), "path", "conv", var_value="value", flg_pro=False
    )
    keys = list(map(key_of, answer["channel_name"]))
    return {
        model: dict(zip(keys, answer[f"{model}_touch_value"], strict=True))
        for model in ("first", "last", "linear")
    }


# --- the comparisons -------------------------------------------------------------------------


def ours(model: AttributionModel, journeys: Journeys, **options: Any) -> dict[Key, int]:
    lost = path_transitions((list(keys), False) for keys in journeys.lost)
    result = attribute(model, journeys.deals(), non_converting=lost, **options)
    return {row.key: row.cents for row in result.rows}


def as_cents(values: Mapping[Key, float]) -> dict[Key, int]:
    assert all(float(v).is_integer() for v in values.values()), values
    return {k: int(v) for k, v in values.items() if v}


def credited(credits: Mapping[Key, int]) -> dict[Key, int]:
    return {k: v for k, v in credits.items() if v}


def check_transitions(journeys: Journeys) -> None:
    counts = journeys.transitions()
    out: dict[State, int] = {}
    for (source, _), n in counts.items():
        out[source] = out.get(source, 0) + n
    mine = {pair: n / out[pair[0]] for pair, n in counts.items()}
    assert reference_transitions(journeys) == mine


def check_markov(journeys: Journeys, simulations: int = SIMULATIONS) -> dict[Key, float]:
    """Removal effects (exact and simulated) and the GLOBAL split; returns the exact effects."""
    probabilities = reference_transitions(journeys)
    exact = removal_effects_by_removal(probabilities)
    mine = removal_effects(journeys.transitions())
    assert mine.keys() == exact.keys()
    for key, effect in exact.items():
        assert math.isclose(mine[key], effect, abs_tol=1e-9), (key, mine[key], effect)
    p_conversion = conversion_probability(probabilities)
    simulated = reference_markov(journeys, simulations)
    slack = {k: tolerance(e, p_conversion, simulations) for k, e in exact.items()}
    for key, effect in exact.items():
        assert abs(simulated.removal_effects[key] - effect) <= slack[key], (key, simulated, exact)
    total = journeys.total_cents()
    split = ours(M.MARKOV, journeys, markov_split=MarkovSplit.GLOBAL)
    assert sum(split.values()) == total
    conversions = len(journeys.won)
    for key, effect in exact.items():
        assert abs(split.get(key, 0) - total * effect / sum(exact.values())) < 1, key
        low, high = share_interval(exact, slack, key)
        assert low - 1e-9 <= simulated.conversions[key] / conversions <= high + 1e-9, key
    return exact


def check_heuristics(
    journeys: Journeys,
    first: Mapping[Key, int],
    last: Mapping[Key, int],
    linear: Mapping[Key, int],
) -> None:
    """Credits per key (ours, from the functions or the query) against the reference's."""
    expected = reference_heuristics(journeys.won)
    assert credited(first) == as_cents(expected["first"])
    assert credited(last) == as_cents(expected["last"])
    assert sum(linear.values()) == journeys.total_cents()
    touched = {k: sum(k in keys for keys, _ in journeys.won) for k in expected["linear"]}
    for key, value in expected["linear"].items():
        assert abs(linear.get(key, 0) - value) < touched[key], key


def check_heuristic_functions(journeys: Journeys) -> None:
    """``attribute`` against the reference, and LINEAR deal by deal within a cent."""
    check_heuristics(
        journeys,
        ours(M.FIRST_TOUCH, journeys),
        ours(M.LAST_TOUCH, journeys),
        ours(M.LINEAR, journeys),
    )
    for deal, (keys, cents) in zip(journeys.deals(), journeys.won, strict=True):
        quotas = reference_heuristics([(keys, cents)])["linear"]
        for key, cents_of_key in credit_deal(M.LINEAR, deal):
            assert abs(cents_of_key - quotas[key]) < 1, (keys, cents, key)


# --- the hand-made case -----------------------------------------------------------------------

# A -> won 100 | A, B -> won 100 | B -> no deal (docs/traversals.md)
HAND_MADE = Journeys(won=[(("A",), 10_000), (("A", "B"), 10_000)], lost=[("B",)])


def test_hand_made_case_transitions_equal_the_reference() -> None:
    check_transitions(HAND_MADE)
    assert reference_transitions(HAND_MADE) == {
        (START, ("key", "A")): 2 / 3,
        (START, ("key", "B")): 1 / 3,
        (("key", "A"), CONVERSION): 1 / 2,
        (("key", "A"), ("key", "B")): 1 / 2,
        (("key", "B"), CONVERSION): 1 / 2,
        (("key", "B"), NULL): 1 / 2,
    }


def test_hand_made_case_removal_effects_and_global_split_match_the_reference() -> None:
    exact = check_markov(HAND_MADE)
    assert exact == pytest.approx({"A": 3 / 4, "B": 1 / 2}, abs=1e-12)
    # Equal amounts: its value split is its conversion split, A 120 / B 80 within the
    # simulation's slack (P(conversion) = 2/3: slack 0.010 on A, 0.012 on B).
    simulated = reference_markov(HAND_MADE)
    slack = {k: tolerance(e, 2 / 3, SIMULATIONS) for k, e in exact.items()}
    assert ours(M.MARKOV, HAND_MADE, markov_split=MarkovSplit.GLOBAL) == {"A": 12_000, "B": 8_000}
    for key in exact:
        low, high = share_interval(exact, slack, key)
        assert low * 20_000 <= simulated.values[key] <= high * 20_000
    # PER_DEAL, which the reference has no counterpart for: A 160 / B 40.
    assert ours(M.MARKOV, HAND_MADE) == {"A": 16_000, "B": 4_000}


def test_hand_made_case_heuristics_match_the_reference_to_the_cent() -> None:
    check_heuristic_functions(HAND_MADE)
    assert ours(M.LINEAR, HAND_MADE) == {"A": 15_000, "B": 5_000}


def test_linear_rounding_stays_within_a_cent_of_the_reference() -> None:
    # 100.00 over B, C, B: quotas 6666.67 and 3333.33 cents, ours 6667 and 3333; one cent
    # over (none), C: quotas 0.5 each, the cent to the key met first. The reference keeps
    # B 6666.67, C 3333.83, (none) 0.5.
    journeys = Journeys(won=[(("B", "C", "B"), 10_000), ((None, "C"), 1)])
    check_heuristic_functions(journeys)
    assert ours(M.LINEAR, journeys) == {"B": 6_667, "C": 3_333, None: 1}


# --- random journeys ----------------------------------------------------------------------------

_KEYS = st.sampled_from(["a", "b", "c", None])
_PATH = st.lists(_KEYS, min_size=1, max_size=5).map(tuple)
_JOURNEYS = st.builds(
    Journeys,
    won=st.lists(st.tuples(_PATH, st.integers(1, 10**9)), min_size=1, max_size=6),
    lost=st.lists(_PATH, max_size=6),
)


@settings(max_examples=25, deadline=None)
@given(_JOURNEYS)
def test_random_journeys_match_the_reference(journeys: Journeys) -> None:
    check_transitions(journeys)
    check_markov(journeys, simulations=200_000)
    check_heuristic_functions(journeys)


# --- through the database -------------------------------------------------------------------------


async def write_journeys(
    graph: Graph, won: list[tuple[Key, ...]], lost: list[tuple[Key, ...]], amounts: list[str]
) -> None:
    """One customer per journey, one touch a day from day 1 (a ``None`` key: no channel),
    won deals closing on day 28."""
    paths = [*won, *lost]
    channels = sorted({k for path in paths for k in path if k is not None})
    await upsert_nodes(graph, "Channel", [{"id": c, "name": c, "kind": "WEB"} for c in channels])
    await upsert_nodes(
        graph, "Customer", [{"id": f"c{i}", "name": f"c{i}"} for i in range(len(paths))]
    )
    await upsert_nodes(
        graph,
        "Touchpoint",
        [
            {"id": f"t{i}-{day}", "customerId": f"c{i}", "at": at(day + 1), "type": "PAGE_VIEW"}
            | ({} if channel is None else {"channelId": channel})
            for i, path in enumerate(paths)
            for day, channel in enumerate(path)
        ],
    )
    await upsert_nodes(
        graph,
        "Deal",
        [
            {
                "id": f"w{i}",
                "customerId": f"c{i}",
                "amount": amount,
                "openedAt": at(1),
                "closedAt": at(28),
                "won": True,
            }
            for i, amount in enumerate(amounts)
        ],
    )


async def test_the_attribution_query_matches_the_reference(graph: Graph) -> None:
    # The hand-made case (A won, A B won, B lost) and more, with the (none) bucket.
    won: list[tuple[Key, ...]] = [("A",), ("A", "B"), ("C", None, "A", "C"), ("B", "C", "B")]
    amounts = ["100", "100", "250.01", "99.99"]
    lost: list[tuple[Key, ...]] = [("B",), ("C", "B"), (None, "B")]
    await write_journeys(graph, won, lost, amounts)
    journeys = Journeys(
        won=[(keys, int(Decimal(a) * 100)) for keys, a in zip(won, amounts, strict=True)],
        lost=lost,
    )

    async def credits(model: str, **options: str) -> dict[Key, int]:
        view = await run(graph, model=model, by="CHANNEL", **options)
        return {row["key"]: int(Decimal(row["credit"]) * 100) for row in view["rows"]}

    check_heuristics(
        journeys,
        await credits("FIRST_TOUCH"),
        await credits("LAST_TOUCH"),
        await credits("LINEAR"),
    )
    exact = check_markov(journeys)
    view = await run(graph, model="MARKOV", by="CHANNEL", split="GLOBAL")
    assert view["nonConvertingJourneys"] == len(lost)
    for row in view["rows"]:
        assert math.isclose(row["removalEffect"], exact[row["key"]], abs_tol=1e-9)
    assert await credits("MARKOV", split="GLOBAL") == ours(
        M.MARKOV, journeys, markov_split=MarkovSplit.GLOBAL
    )
