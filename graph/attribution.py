"""Revenue attribution: the won deals' journeys in one Cypher query, and the models.

The fetch builds, in one round trip, every won deal's journey (and the
non-converting ones Markov needs); the models below are pure functions over
those journeys, so every rule is unit-tested with hand-computed numbers.

Rules (also in docs/traversals.md):

* A journey is the deal's touchpoints in ``(at, id)`` order: same timestamp,
  smaller id first. Each touch carries the key of the asked dimension
  (``None`` is the explicit "(none)" bucket), its time and its step's stage.
* Every model gives each touch a non-negative *integer* weight; weights are
  summed per key and the deal's amount, in whole minor units of its currency
  ("cents" below: cents of EUR, yen of JPY, thousandths of KWD; the exact
  amount rounded half-even to them, graph.money), is split over the keys by the
  largest-remainder rule (floors first, then one unit each to the largest
  remainders; equal remainders go to the key that appears first in the
  journey). So the credits of a deal add up to its amount exactly.
* A single-touch journey gives 100% to its touch under every model. A deal
  without touchpoints is unattributed (counted in the totals only).
* FIRST_TOUCH / LAST_TOUCH: 100% to the first / last touch.
* LINEAR: equal weight per touch.
* U_SHAPED: 40% first, 40% last, 20% spread equally over the touches between;
  two touches: 50/50.
* W_SHAPED: 30% to each anchor (first touch, lead creation, opportunity
  creation; anchors falling on the same touch add up), 10% spread equally
  over the other touches; when every touch is an anchor, the anchor weights
  are scaled to 100% (three distinct anchors: a third each). Lead creation:
  the first touch at stage LEAD or a later funnel stage (MQL, SAL, SQL,
  OPPORTUNITY, CUSTOMER), else the first touch. Opportunity creation: the
  last touch at or before the deal's ``openedAt``, else the first touch.
* TIME_DECAY: weight ``2^(-age / halfLife)``, age = deal ``closedAt`` minus
  the touch's ``at``, in days (default half-life 7 days).
* MARKOV: first-order Markov chain over ``start -> key -> ... -> conversion |
  null`` built from the converting journeys (won deals) and the
  non-converting ones; each key's removal effect is the relative drop of the
  conversion probability from ``start`` when the key leads to null. A deal's
  amount is split over the distinct keys of its journey in proportion to
  their removal effects (once per key, however many touches it has): the
  PER_DEAL split (default). The GLOBAL split (``MarkovSplit.GLOBAL``, what
  ChannelAttribution and most tools do) instead splits the attributed
  revenue as a whole over every key of the chain in proportion to the
  removal effects normalised over all keys at once, so a key met only in
  non-converting journeys gets its share too.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.model import DealRecord
from orggraph.graph.money import stored_amount, to_minor_units

# --- the models ------------------------------------------------------------------------

DEFAULT_HALF_LIFE_DAYS = 7.0
DAY_MS = 86_400_000
# Float weights (time decay, Markov) become integers at this resolution.
FLOAT_WEIGHT_SCALE = 2**52
# Stages at which a touch counts as lead creation (the funnel from LEAD on).
LEAD_STAGES: frozenset[str] = frozenset({"LEAD", "MQL", "SAL", "SQL", "OPPORTUNITY", "CUSTOMER"})

Key = str | None


class AttributionModel(enum.Enum):
    FIRST_TOUCH = "FIRST_TOUCH"
    LAST_TOUCH = "LAST_TOUCH"
    LINEAR = "LINEAR"
    U_SHAPED = "U_SHAPED"
    W_SHAPED = "W_SHAPED"
    TIME_DECAY = "TIME_DECAY"
    MARKOV = "MARKOV"


class MarkovSplit(enum.Enum):
    PER_DEAL = "PER_DEAL"
    GLOBAL = "GLOBAL"


@dataclass(frozen=True)
class Touch:
    key: Key
    at_ms: int
    stage: str | None = None


@dataclass(frozen=True)
class DealJourney:
    deal_id: str
    amount_cents: int
    closed_ms: int
    opened_ms: int | None
    touches: tuple[Touch, ...]


@dataclass
class KeyCredit:
    key: Key
    cents: int = 0
    deals: int = 0  # deals giving the key a credit above zero
    journeys: int = 0  # deals whose journey touched the key
    removal_effect: float | None = None


@dataclass
class Attribution:
    rows: list[KeyCredit]
    won_cents: int
    unattributed_cents: int
    deal_count: int
    unattributed_deals: int
    removal_effects: dict[Key, float] = field(default_factory=dict)

    @property
    def attributed_cents(self) -> int:
        return self.won_cents - self.unattributed_cents


def to_cents(amount: float | int | Decimal) -> int:
    """An amount in integer cents (half-even at the third decimal)."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# --- apportioning ---------------------------------------------------------------------


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` over ``weights`` (integers >= 0) so the parts sum to it exactly.

    Largest remainder: each part is the floor of its quota, the cents left go
    one each to the largest remainders, ties to the earlier position. All
    zero weights split equally (same rule).
    """
    if not weights:
        raise ValueError("nothing to apportion over")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights, weight_sum = [1] * len(weights), len(weights)
    parts = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[index] += 1
    return parts


def _scaled(values: Sequence[float]) -> list[int]:
    top = max(values, default=0.0)
    if top <= 0 or not math.isfinite(top):
        return [1] * len(values)
    return [round(v / top * FLOAT_WEIGHT_SCALE) for v in values]


# --- per-touch weights ------------------------------------------------------------------


def lead_creation_index(touches: Sequence[Touch]) -> int:
    return next((i for i, t in enumerate(touches) if t.stage in LEAD_STAGES), 0)


def opportunity_creation_index(touches: Sequence[Touch], opened_ms: int | None) -> int:
    if opened_ms is None:
        return 0
    before = [i for i, t in enumerate(touches) if t.at_ms <= opened_ms]
    return before[-1] if before else 0


def touch_weights(
    model: AttributionModel,
    journey: DealJourney,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    removal_effects: Mapping[Key, float] | None = None,
) -> list[int]:
    """Integer weight of each touch of a (non-empty) journey under ``model``."""
    touches = journey.touches
    n = len(touches)
    if n == 0:
        raise ValueError("a journey without touches has no weights")
    if n == 1:
        return [1]
    if model is AttributionModel.FIRST_TOUCH:
        return [1] + [0] * (n - 1)
    if model is AttributionModel.LAST_TOUCH:
        return [0] * (n - 1) + [1]
    if model is AttributionModel.LINEAR:
        return [1] * n
    if model is AttributionModel.U_SHAPED:
        if n == 2:
            return [1, 1]
        middle = n - 2  # 40% = 4*middle, 20% = 2*middle over the middle touches
        return [4 * middle] + [2] * middle + [4 * middle]
    if model is AttributionModel.W_SHAPED:
        return _w_shaped(journey)
    if model is AttributionModel.TIME_DECAY:
        if half_life_days <= 0:
            raise ValueError("half-life must be positive")
        ages = [(journey.closed_ms - t.at_ms) / DAY_MS for t in touches]
        youngest = min(ages)
        # Relative to the youngest touch, so weights never underflow all at once.
        return _scaled([2.0 ** (-(age - youngest) / half_life_days) for age in ages])
    if model is AttributionModel.MARKOV:
        effects = removal_effects or {}
        weights = [0.0] * n
        seen: set[Key] = set()
        for i, t in enumerate(touches):
            if t.key not in seen:
                seen.add(t.key)
                weights[i] = max(0.0, effects.get(t.key, 0.0))
        if not any(w > 0 for w in weights):
            return [1] * n  # no removal effect known: linear
        return _scaled(weights)
    raise ValueError(f"unknown model {model}")


def _w_shaped(journey: DealJourney) -> list[int]:
    touches = journey.touches
    anchors = [
        0,
        lead_creation_index(touches),
        opportunity_creation_index(touches, journey.opened_ms),
    ]
    roles = [anchors.count(i) for i in range(len(touches))]
    others = sum(1 for r in roles if r == 0)
    if others == 0:
        return roles  # 30% per role, scaled to 100%
    # 30% = 3*others per role, 10% = 1 per other touch (total 10*others).
    return [3 * others * r if r else 1 for r in roles]


# --- one deal -----------------------------------------------------------------------------


def credit_deal(
    model: AttributionModel,
    journey: DealJourney,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    removal_effects: Mapping[Key, float] | None = None,
) -> list[tuple[Key, int]]:
    """The deal's amount in cents per key (keys in order of first appearance)."""
    weights = touch_weights(
        model, journey, half_life_days=half_life_days, removal_effects=removal_effects
    )
    per_key: dict[Key, int] = {}
    for touch, weight in zip(journey.touches, weights, strict=True):
        per_key[touch.key] = per_key.get(touch.key, 0) + weight
    keys = list(per_key)
    return list(zip(keys, apportion(journey.amount_cents, [per_key[k] for k in keys]), strict=True))


# --- Markov chain removal effects -------------------------------------------------------------

# Chain states: ("start", None), ("key", key), ("conv", None), ("null", None).
State = tuple[str, Key]
START: State = ("start", None)
CONVERSION: State = ("conv", None)
NULL: State = ("null", None)
Transitions = dict[tuple[State, State], int]


def path_transitions(paths: Iterable[tuple[Sequence[Key], bool]]) -> Transitions:
    """Transition counts of journeys ``(keys, converted)``: start -> keys -> conv | null."""
    counts: Transitions = {}
    for keys, converted in paths:
        if not keys:
            continue
        states = [START, *(("key", k) for k in keys), CONVERSION if converted else NULL]
        for pair in zip(states, states[1:], strict=False):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_transitions(*parts: Mapping[tuple[State, State], int]) -> Transitions:
    merged: Transitions = {}
    for part in parts:
        for pair, count in part.items():
            merged[pair] = merged.get(pair, 0) + count
    return merged


def removal_effects(transitions: Mapping[tuple[State, State], int]) -> dict[Key, float]:
    """Removal effect of every key of the chain (0.0 when nothing converts).

    With N = (I - Q)^-1 over the transient states (start and the keys), x the
    probability of conversion from each state and h_s(k) = N[s][k] / N[k][k]
    the probability of ever reaching k from start, the conversions lost when
    k leads to null are exactly those through k: h_s(k) * x_k. So one matrix
    inversion gives every removal effect: RE(k) = h_s(k) * x_k / x_s.
    """
    states: list[State] = [START]
    for source, target in transitions:
        for state in (source, target):
            if state[0] == "key" and state not in states:
                states.append(state)
    index = {state: i for i, state in enumerate(states)}
    size = len(states)
    out_total = [0] * size
    for (source, _), count in transitions.items():
        if source in index:
            out_total[index[source]] += count
    # A = I - Q; r = one-step conversion probabilities.
    a = [[1.0 if i == j else 0.0 for j in range(size)] for i in range(size)]
    r = [0.0] * size
    for (source, target), count in transitions.items():
        i = index.get(source)
        if i is None or out_total[i] == 0:
            continue
        p = count / out_total[i]
        if target in index:
            a[i][index[target]] -= p
        elif target == CONVERSION:
            r[i] += p
    inverse = _invert(a)
    x = [sum(inverse[i][j] * r[j] for j in range(size)) for i in range(size)]
    start = x[0]
    effects: dict[Key, float] = {}
    for state, k in index.items():
        if state == START:
            continue
        if start <= 0 or inverse[k][k] == 0:
            effects[state[1]] = 0.0
            continue
        reach = inverse[0][k] / inverse[k][k]
        effects[state[1]] = min(1.0, max(0.0, reach * x[k] / start))
    return effects


def _invert(matrix: list[list[float]]) -> list[list[float]]:
    """Gauss-Jordan with partial pivoting (the chain's I - Q is non-singular)."""
    n = len(matrix)
    aug = [row[:] + [1.0 if i == j else 0.0 for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda i: abs(aug[i][col]))
        if abs(aug[pivot][col]) < 1e-15:
            raise ValueError("singular chain")
        aug[col], aug[pivot] = aug[pivot], aug[col]
        head = aug[col][col]
        row_col = [v / head for v in aug[col]]
        aug[col] = row_col
        for i in range(n):
            if i != col:
                factor = aug[i][col]
                if factor != 0.0:
                    row_i = aug[i]
                    aug[i] = [vi - factor * vc for vi, vc in zip(row_i, row_col, strict=True)]
    return [row[n:] for row in aug]


# --- the whole attribution ---------------------------------------------------------------------


def attribute(
    model: AttributionModel,
    journeys: Sequence[DealJourney],
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    non_converting: Mapping[tuple[State, State], int] | None = None,
    markov_split: MarkovSplit = MarkovSplit.PER_DEAL,
) -> Attribution:
    """Credits per key over every won deal; rows sorted by credit (desc), then key."""
    effects: dict[Key, float] = {}
    if model is AttributionModel.MARKOV:
        converting = path_transitions(
            ([t.key for t in j.touches], True) for j in journeys if j.touches
        )
        effects = removal_effects(merge_transitions(converting, non_converting or {}))
    rows: dict[Key, KeyCredit] = {}
    won = unattributed = unattributed_deals = 0
    split_globally = model is AttributionModel.MARKOV and markov_split is MarkovSplit.GLOBAL
    for journey in journeys:
        won += journey.amount_cents
        if not journey.touches:
            unattributed += journey.amount_cents
            unattributed_deals += 1
            continue
        if split_globally:
            for key in dict.fromkeys(t.key for t in journey.touches):
                rows.setdefault(key, KeyCredit(key)).journeys += 1
            continue
        for key, cents in credit_deal(
            model, journey, half_life_days=half_life_days, removal_effects=effects
        ):
            row = rows.setdefault(key, KeyCredit(key))
            row.cents += cents
            row.journeys += 1
            row.deals += cents > 0
    if split_globally:
        _split_globally(rows, effects, won - unattributed)
    if model is AttributionModel.MARKOV:
        for row in rows.values():
            row.removal_effect = effects.get(row.key, 0.0)
    ordered = sorted(rows.values(), key=lambda r: (-r.cents, r.key is None, r.key or ""))
    return Attribution(
        rows=ordered,
        won_cents=won,
        unattributed_cents=unattributed,
        deal_count=len(journeys),
        unattributed_deals=unattributed_deals,
        removal_effects=effects,
    )


def _split_globally(rows: dict[Key, KeyCredit], effects: Mapping[Key, float], total: int) -> None:
    """The whole attributed revenue over every key of the chain by removal effect.

    Keys in (key, None last) order, so equal remainders go to the smaller id; a
    key met only in non-converting journeys gets a row (``journeys`` 0). Its
    ``deals`` are the won deals whose journey touched it when its credit is above
    zero (the credit is not per deal).
    """
    if total == 0 or not effects:
        return
    keys = sorted(effects, key=lambda k: (k is None, k or ""))
    for key, cents in zip(keys, apportion(total, _scaled([effects[k] for k in keys])), strict=True):
        row = rows.setdefault(key, KeyCredit(key))
        row.cents = cents
        row.deals = row.journeys if cents > 0 else 0


# --- the fetch -------------------------------------------------------------------------

# Open window ends become far bounds, so the Deal closedAt range index always anchors.
WINDOW_START = datetime(1, 1, 1, tzinfo=UTC)
WINDOW_END = datetime(9999, 12, 31, tzinfo=UTC)
# The "(none)" key inside Cypher lists (collect drops nulls; ids are never empty).
NO_KEY = ""
# The write layer stores only the fields a caller set: an unset currency is the model's default.
DEFAULT_CURRENCY: str = DealRecord.model_fields["currency"].default


class Dimension(enum.Enum):
    CHANNEL = "CHANNEL"
    CAMPAIGN = "CAMPAIGN"
    TEAM = "TEAM"


_TEMPLATE: LiteralString = """
CALL () {
  MATCH (d:Deal)
  WHERE d.closedAt >= $from AND d.closedAt < $to AND d.won = true
    AND ($currency IS NULL OR coalesce(d.currency, $defaultCurrency) = $currency)
  OPTIONAL MATCH (c:Customer)-[:OPENED]->(d)
  WITH d, c,
       head(COLLECT {
         MATCH (c)-[:OPENED]->(p:Deal)
         WHERE p.won = true
           AND (p.closedAt < d.closedAt OR (p.closedAt = d.closedAt AND p.id < d.id))
         RETURN p.closedAt ORDER BY p.closedAt DESC LIMIT 1
       }) AS since
  CALL (c, d, since) {
    MATCH (c)-[:HAD]->(t:Touchpoint)
    WHERE t.at < d.closedAt AND (since IS NULL OR t.at > since)
    OPTIONAL MATCH (t)-[:__KEY__)
    OPTIONAL MATCH (t)-[:AT_STEP]->(s:Step)
    WITH t, x, s ORDER BY t.at, t.id
    RETURN collect(coalesce(x.id, '')) AS keys,
           collect(t.at.epochMillis) AS ats,
           collect(coalesce(s.stage, '')) AS stages
  }
  RETURN collect({id: d.id, amount: d.amount, amountE4: d.amountE4,
                  currency: coalesce(d.currency, $defaultCurrency),
                  closed: d.closedAt.epochMillis, opened: d.openedAt.epochMillis,
                  keys: keys, ats: ats, stages: stages}) AS deals
}
CALL () {
  WITH $markov AS markov WHERE markov
  MATCH (c:Customer)
  WHERE NOT EXISTS {
    MATCH (c)-[:OPENED]->(w:Deal)
    WHERE w.won = true AND w.closedAt >= $from AND w.closedAt < $to
      AND ($currency IS NULL OR coalesce(w.currency, $defaultCurrency) = $currency)
  }
  CALL (c) {
    MATCH (c)-[:HAD]->(t:Touchpoint)
    WHERE t.at >= $from AND t.at < $to
    OPTIONAL MATCH (t)-[:__KEY__)
    WITH t, x ORDER BY t.at, t.id
    RETURN collect(coalesce(x.id, '')) AS path
  }
  WITH path WHERE size(path) > 0
  UNWIND range(0, size(path)) AS i
  WITH CASE WHEN i > 0 THEN path[i - 1] END AS source,
       CASE WHEN i < size(path) THEN path[i] END AS target
  WITH source, target, count(*) AS n
  RETURN collect([source, target, n]) AS lost,
         sum(CASE WHEN source IS NULL THEN n ELSE 0 END) AS lostJourneys
}
CALL (deals, lost) {
  UNWIND [deal IN deals | deal.keys] + [[transition IN lost | transition[1]]] AS list
  UNWIND list AS k
  WITH DISTINCT k WHERE k IS NOT NULL AND k <> ''
  MATCH (x:__LABEL__ {id: k})
  RETURN collect([x.id, coalesce(x.name, x.id)]) AS names
}
RETURN deals, lost, lostJourneys, names
"""


def _query(key_pattern: LiteralString, label: LiteralString) -> LiteralString:
    return _TEMPLATE.replace("__KEY__", key_pattern).replace("__LABEL__", label)


ATTRIBUTION_BY_CHANNEL: LiteralString = _query("VIA]->(x:Channel", "Channel")
ATTRIBUTION_BY_CAMPAIGN: LiteralString = _query("FROM]->(x:Campaign", "Campaign")
ATTRIBUTION_BY_TEAM: LiteralString = _query("HANDLED_BY]->(x:Team", "Team")
"""Won deals' journeys and the non-converting paths, in one round trip, per dimension.

Anchored on the Deal ``closedAt`` range index: won deals (``won = true``)
closed in ``[from, to)`` (open ends are passed as far bounds), in
``$currency`` when given (an unset currency is ``$defaultCurrency``).

``deals``: per deal its amount, currency, ``closedAt`` / ``openedAt`` (epoch
ms) and its journey as parallel lists in ``(at, id)`` order: the dimension
key of each touch (``''`` for none), its time (epoch ms) and its step's
stage (``''`` for none). Keys and stages come from OPTIONAL MATCH rather than
pattern comprehensions (a quarter faster at 1M); that adds no row because the
write layer keeps a touch's channel, campaign, team and step single-valued
(``write_rules.SINGLE_VALUED``). The journey is the customer's touchpoints strictly
before ``closedAt`` and, when the customer won an earlier deal, strictly
after that deal's ``closedAt`` (no touch is credited twice). Won deals of one
customer are ordered by ``(closedAt, id)``: of two closing at the same instant,
the one with the larger id comes second and so has an empty journey (its
predecessor took every touch). A deal without a customer has an empty journey.

``lost`` (only when ``$markov``): the transition counts ``[source, target,
n]`` of the non-converting journeys, ``null`` standing for start (source)
and for the null end (target): every customer without a won deal closed in
the window contributes its touchpoints in the window, in ``(at, id)``
order. ``lostJourneys`` counts those journeys. ``names``: ``[id, name]`` of
every key met.
"""

QUERIES: dict[Dimension, LiteralString] = {
    Dimension.CHANNEL: ATTRIBUTION_BY_CHANNEL,
    Dimension.CAMPAIGN: ATTRIBUTION_BY_CAMPAIGN,
    Dimension.TEAM: ATTRIBUTION_BY_TEAM,
}


@dataclass(frozen=True)
class AttributionData:
    journeys: list[DealJourney]
    currencies: list[str]
    non_converting: Transitions
    non_converting_journeys: int
    names: dict[str, str]


def _key(value: str) -> str | None:
    return None if value == NO_KEY else value


def _state(value: str | None, end: State) -> State:
    return end if value is None else ("key", _key(value))


async def attribution_data(
    graph: Graph,
    by: Dimension,
    *,
    window_from: datetime | None,
    window_to: datetime | None,
    currency: str | None,
    markov: bool,
) -> AttributionData:
    """The one query's answer, as journeys ready for ``attribute``."""
    records = await graph.query(
        QUERIES[by],
        currency=currency,
        defaultCurrency=DEFAULT_CURRENCY,
        markov=markov,
        **{"from": window_from or WINDOW_START, "to": window_to or WINDOW_END},
    )
    raw: dict[str, Any] = dict(records[0])
    journeys: list[DealJourney] = []
    currencies: set[str] = set()
    for deal in sorted(raw["deals"], key=lambda d: (d["closed"], d["id"])):
        currencies.add(deal.get("currency") or "")
        touches = tuple(
            Touch(key=_key(k), at_ms=at, stage=stage or None)
            for k, at, stage in zip(deal["keys"], deal["ats"], deal["stages"], strict=True)
        )
        journeys.append(
            DealJourney(
                deal_id=deal["id"],
                amount_cents=to_minor_units(
                    stored_amount(deal) or Decimal(0), deal.get("currency")
                ),
                closed_ms=deal["closed"],
                opened_ms=deal.get("opened"),
                touches=touches,
            )
        )
    transitions: Transitions = {}
    for source, target, count in raw["lost"] or []:
        pair = (_state(source, START), _state(target, NULL))
        transitions[pair] = transitions.get(pair, 0) + count
    return AttributionData(
        journeys=journeys,
        currencies=sorted(currencies),
        non_converting=transitions,
        non_converting_journeys=int(raw["lostJourneys"] or 0),
        names={k: v for k, v in raw["names"]},
    )
