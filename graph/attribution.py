"""Revenue attribution: the won deals' journeys in one Cypher query.

The maths (the models, exact cents, Markov removal effects) is in
``orggraph.attribution_models``; this module fetches, in one round trip,
everything it needs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph
from orggraph.graph.model import DealRecord

from orggraph.attribution_models import (
    NULL,
    START,
    DealJourney,
    State,
    Touch,
    Transitions,
    to_cents,
)

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
         WHERE p.won = true AND p.closedAt < d.closedAt
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
  RETURN collect({id: d.id, amount: d.amount, currency: coalesce(d.currency, $defaultCurrency),
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
(``writes.SINGLE_VALUED``). The journey is the customer's touchpoints strictly
before ``closedAt`` and, when the customer won an earlier deal, strictly
after that deal's ``closedAt`` (no touch is credited twice). A deal without
a customer has an empty journey.

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
    """The one query's answer, as journeys ready for ``attribution_models.attribute``."""
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
                amount_cents=to_cents(deal.get("amount") or 0),
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
