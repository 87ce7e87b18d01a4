"""SLA compliance and breaches: one Cypher query each, sharing the rules below.

The rules (the KPI engine's SLA_COMPLIANCE measure runs the same Cypher):

* An SLA GOVERNS the step at the receiving end of a hand-off (as the value
  stream shows it: the hand-off *into* the governed step). Its PROVIDER team
  hands over, its CONSUMER team takes over.
* RESPONSE_TIME. The hand-off's *source* steps are the steps NEXT to the
  governed step or, when none is linked, the step just before it in its
  process's order. A **case** is a customer, clocked from their first
  touchpoint ever AT_STEP a source step (``reachedAt``; ties: any of them, the
  time is the same). The **response** is the customer's first touchpoint
  strictly after ``reachedAt`` HANDLED_BY the consumer team (``respondedAt``),
  at any step. The limit is ``threshold`` in ``unit`` (seconds, minutes,
  hours, days; anything else counts as hours). At ``asOf`` (default now; later
  touchpoints are ignored, as if not yet happened) a case is MET when it was
  answered within the limit, BREACHED when answered late or still unanswered
  past the limit (the latter are **in breach now**), OPEN when unanswered and
  still within the limit. A case belongs to the period of its ``reachedAt``.
  An SLA without a consumer team is never answered; without a threshold its
  cases stay OPEN.
* VOLUME. What is delivered is customers: a customer counts in the period of
  their first touchpoint ever AT_STEP the governed step. A period is MET when
  it delivered at least ``threshold``, BREACHED when it delivered less and
  has ended by ``asOf``, OPEN while it runs short of the threshold.
* Rate: MET / (MET + BREACHED), null when nothing is decided. OPEN cases
  are not in the sample (they cannot be graded yet).
* Periods are whole calendar periods (UTC, weeks from Monday) covering the
  asked window; the caller builds them (``orggraph.graph.kpis.periods``).

Cases and deliveries are read from the first arrivals the write layer keeps,
``(:Customer)-[:REACHED {at}]->(:Step)`` (graph/journeys.py), in a window found through
the REACHED(at) index: their cost is that of the customers who first arrived in the
window, not of the touchpoints there. Every other look-up starts from the customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, LiteralString

from orggraph.graph.driver import Graph

_SLA_TERMS: LiteralString = """
WITH sla,
     head(COLLECT { MATCH (sla)-[:GOVERNS]->(x:Step) RETURN x ORDER BY x.id }) AS governed,
     head(COLLECT { MATCH (sla)-[:PROVIDER]->(x:Team) RETURN x ORDER BY x.id }) AS provider,
     head(COLLECT { MATCH (sla)-[:CONSUMER]->(x:Team) RETURN x ORDER BY x.id }) AS consumer,
     CASE toLower(coalesce(sla.unit, 'hours'))
       WHEN 'seconds' THEN 1.0 WHEN 'minutes' THEN 60.0 WHEN 'days' THEN 86400.0
       ELSE 3600.0 END * sla.threshold AS limitSeconds,
     coalesce(sla.kind, 'RESPONSE_TIME') AS kind
WITH sla, governed, provider, consumer, limitSeconds, kind,
     COLLECT { MATCH (b:Step)-[:NEXT]->(governed) RETURN b } AS linked,
     COLLECT { MATCH (p:Process)-[hg:HAS_STEP]->(governed), (p)-[hb:HAS_STEP]->(b:Step)
               WHERE hb.order < hg.order RETURN b ORDER BY hb.order DESC LIMIT 1 } AS ordered
WITH sla, governed, provider, consumer, limitSeconds, kind,
     CASE WHEN size(linked) > 0 THEN linked ELSE ordered END AS sources
"""
"""Binds, per SLA: governed step, provider, consumer, limit in seconds, kind, source steps."""

RESPONSE_CASES_FROM_REACHED: LiteralString = """
  UNWIND sources AS source
  MATCH (c:Customer)-[r:REACHED]->(source) USING INDEX r:REACHED(at)
  WHERE r.at >= lo AND r.at < hi AND r.at <= $asOf
  WITH c, min(r.at) AS reachedAt, sources, consumer, limitSeconds
  WHERE size(sources) = 1
     OR NOT EXISTS { MATCH (c)-[e:REACHED]->(s:Step) WHERE e.at < reachedAt AND s IN sources }
"""
"""Binds ``c, reachedAt, consumer, limitSeconds``: one row per RESPONSE_TIME case whose
``reachedAt`` lies in ``[lo, hi)`` and not after ``$asOf``.

REACHED holds each customer's first touchpoint at each step (graph/journeys.py keeps it
in the touchpoints' transaction), so a case is a customer whose earliest REACHED among
the source steps lies in the window: the source steps' REACHED relationships in the
window, then (when there are several source steps) that customer's own REACHED (a
handful) to drop those who reached another source step earlier.

Anchored on the REACHED(at) index (migration 13): the first arrivals in the window at
any step, kept where they are at a source step. That costs the window's first arrivals,
however long the history; expanding the source steps' REACHED instead (the planner's
own choice) costs every first arrival there since the start: slower on a quarter of a
two-year history, a little faster on all of it (bench/README.md)."""

_RESPONSE_OPEN: LiteralString = """
CALL (kind, sources, consumer, limitSeconds, lo, hi) {
  WITH * WHERE kind = 'RESPONSE_TIME'
"""

_RESPONSE_JUDGED: LiteralString = """
  WITH c, reachedAt, limitSeconds, head(COLLECT {
    MATCH (c)-[:HAD]->(u:Touchpoint)
    WHERE u.at > reachedAt AND u.at <= $asOf AND EXISTS { (u)-[:HANDLED_BY]->(consumer) }
    RETURN u.at AS at ORDER BY u.at LIMIT 1
  }) AS respondedAt
  WITH c, reachedAt, respondedAt, limitSeconds,
       (coalesce(respondedAt, $asOf).epochMillis - reachedAt.epochMillis) / 1000.0 AS waited
  RETURN c AS customer, reachedAt, respondedAt, waited,
         CASE WHEN respondedAt IS NOT NULL AND waited <= limitSeconds THEN 'MET'
              WHEN waited > limitSeconds THEN 'BREACHED'
              ELSE 'OPEN' END AS status
}
"""


def response_cases(cases: LiteralString) -> LiteralString:
    """A ``CALL`` that needs ``kind, sources, consumer, limitSeconds`` and the bounds
    ``lo, hi``, finds the cases with ``cases`` (``RESPONSE_CASES_FROM_REACHED``), and
    returns one row per case: customer, reachedAt, respondedAt, waited, status.

    The response is looked up through the customer's own HAD touchpoints (a handful),
    never through the consumer team's HANDLED_BY relationships (they grow with the log)."""
    return _RESPONSE_OPEN + cases + _RESPONSE_JUDGED


DELIVERIES_FROM_REACHED: LiteralString = """
  MATCH (c:Customer)-[r:REACHED]->(governed) USING INDEX r:REACHED(at)
  WHERE r.at >= lo AND r.at < hi AND r.at <= $asOf
  WITH c, r.at AS reachedAt
"""
"""Binds ``c, reachedAt``: one row per customer whose first touchpoint ever at the
governed step (its REACHED) lies in ``[lo, hi)`` and not after ``$asOf``. Anchored on
the REACHED(at) index like the cases: the window's first arrivals, not the touchpoints
at the step."""


_PER_PERIOD: LiteralString = """
UNWIND $periods AS period
WITH sla, kind, period,
     [x IN rcases WHERE x.at >= period[0] AND x.at < period[1]] AS pc,
     size([d IN deliveries WHERE d >= period[0] AND d < period[1]]) AS delivered
WITH sla, kind, period, delivered, size(pc) AS cases,
     size([x IN pc WHERE x.status = 'MET']) AS rMet,
     size([x IN pc WHERE x.status = 'BREACHED']) AS rBreached,
     size([x IN pc WHERE x.status = 'OPEN']) AS rOpen,
     size([x IN pc WHERE x.status = 'BREACHED' AND NOT x.answered]) AS rNow
WITH period, kind, cases, delivered,
     CASE WHEN kind = 'VOLUME' THEN
       CASE WHEN delivered >= sla.threshold THEN 1 ELSE 0 END ELSE rMet END AS met,
     CASE WHEN kind = 'VOLUME' THEN
       CASE WHEN delivered < sla.threshold AND period[1] <= $asOf THEN 1 ELSE 0 END
       ELSE rBreached END AS breached,
     CASE WHEN kind = 'VOLUME' THEN
       CASE WHEN delivered < sla.threshold AND period[1] > $asOf THEN 1 ELSE 0 END
       ELSE rOpen END AS open,
     CASE WHEN kind = 'VOLUME' THEN 0 ELSE rNow END AS inBreachNow
WITH period[0] AS periodStart, period[1] AS periodEnd, kind, cases, delivered,
     met, breached, open, inBreachNow,
     CASE WHEN met + breached > 0 THEN toFloat(met) / (met + breached) END AS rate
"""


def compliance_periods(cases: LiteralString, deliveries: LiteralString) -> LiteralString:
    """The per-period body of an SLA's compliance (``SLA_COMPLIANCE_PERIODS``), with
    ``cases`` finding its RESPONSE_TIME cases and ``deliveries`` its VOLUME deliveries."""
    return (
        """
MATCH (sla:SLA {id: $slaId})
"""
        + _SLA_TERMS
        + """
WITH sla, governed, consumer, limitSeconds, kind, sources,
     $periods[0][0] AS lo, $periods[-1][1] AS hi
CALL (kind, sources, consumer, limitSeconds, lo, hi) {
"""
        + response_cases(cases)
        + """
  RETURN collect({at: reachedAt, status: status, answered: respondedAt IS NOT NULL}) AS rcases
}
CALL (governed, kind, lo, hi) {
  WITH governed, kind, lo, hi WHERE kind = 'VOLUME'
"""
        + deliveries
        + """
  RETURN collect(reachedAt) AS deliveries
}
"""
        + _PER_PERIOD
    )


SLA_COMPLIANCE_PERIODS: LiteralString = compliance_periods(
    RESPONSE_CASES_FROM_REACHED, DELIVERIES_FROM_REACHED
)
"""The per-period body both SLA_COMPLIANCE and the KPI engine's measure end with a RETURN.

Cases and deliveries are found once over the whole span of ``$periods`` (which must be
sorted and contiguous) from the customers' REACHED relationships, then counted per
period in memory."""

SLA_COMPLIANCE: LiteralString = (
    SLA_COMPLIANCE_PERIODS
    + """
RETURN periodStart, periodEnd, cases, delivered, met, breached, open, inBreachNow, rate
"""
)
"""An SLA's compliance per period, one round trip, anchored on the SLA id constraint.

``$periods`` is a list of ``[start, end)`` pairs; ``$asOf`` the time the cases are
judged at. Per period: RESPONSE_TIME cases (``cases``) split into ``met``,
``breached`` (of which ``inBreachNow`` unanswered) and ``open``; VOLUME customers
``delivered`` and the period itself graded (``met``/``breached``/``open`` are 0 or 1);
``rate`` = met / (met + breached). Cases and deliveries start from the REACHED
relationships (first arrivals) in the periods' span (``RESPONSE_CASES_FROM_REACHED``,
``DELIVERIES_FROM_REACHED``), each customer's look-ups go through their own REACHED and
HAD relationships only. Rules: module doc.
"""

SLA_EXISTS: LiteralString = """
MATCH (sla:SLA {id: $slaId})
RETURN sla {.*} AS sla
"""
"""The SLA's own properties (kind and window pick the periods), by the id constraint."""


def breaches(cases: LiteralString) -> LiteralString:
    """The breaches query (``SLA_BREACHES``), with ``cases`` finding the RESPONSE_TIME cases."""
    return (
        """
CALL () {
  MATCH (sla:SLA)
  WHERE ($slaId IS NULL OR sla.id = $slaId)
    AND ($teamId IS NULL OR EXISTS { (sla)-[:PROVIDER|CONSUMER]->(:Team {id: $teamId}) })
"""
        + _SLA_TERMS
        + """
  WITH sla, governed, provider, consumer, limitSeconds, kind, sources, $from AS lo, $to AS hi
"""
        + response_cases(cases)
        + """
  WITH sla, governed, provider, consumer, limitSeconds, customer, reachedAt, respondedAt,
       waited, status
  WHERE status = 'BREACHED'
    AND ($inBreachNow IS NULL OR (respondedAt IS NULL) = $inBreachNow)
  RETURN {slaId: sla.id, sla: sla {.*}, customerId: customer.id, customer: customer {.*},
          provider: provider {.*}, consumer: consumer {.*}, step: governed {.*},
          reachedAt: reachedAt, respondedAt: respondedAt, waitedSeconds: waited,
          lateSeconds: waited - limitSeconds, inBreachNow: respondedAt IS NULL} AS row
  ORDER BY reachedAt, sla.id, customer.id
}
WITH collect(row) AS rows
WITH rows,
     CASE WHEN $afterSla IS NULL THEN 0
          ELSE head([i IN range(0, size(rows) - 1)
                     WHERE rows[i].slaId = $afterSla AND rows[i].customerId = $afterCustomer]) + 1
     END AS start
RETURN size(rows) AS totalCount, start,
       rows[coalesce(start, 0)..coalesce(start, 0) + $first + 1] AS page,
       ($slaId IS NULL OR EXISTS { MATCH (:SLA {id: $slaId}) }) AS slaExists,
       ($teamId IS NULL OR EXISTS { MATCH (:Team {id: $teamId}) }) AS teamExists
"""
    )


SLA_BREACHES: LiteralString = breaches(RESPONSE_CASES_FROM_REACHED)
"""Each breach of the RESPONSE_TIME SLAs (of one SLA, of the SLAs a team provides or
consumes, or all), one round trip.

Cases whose ``reachedAt`` lies in ``[$from, $to)`` and that are BREACHED at ``$asOf``
(answered late, or unanswered past the limit: ``inBreachNow``; ``$inBreachNow``
true/false keeps only those / only the answered ones). Each row: customer, SLA,
provider and consumer teams, governed step, ``reachedAt``, ``respondedAt`` (null
when unanswered), ``lateSeconds`` (seconds past the limit, at ``asOf`` for
unanswered ones). Ordered by (reachedAt, SLA id, customer id); ``page`` holds
``$first + 1`` rows from just after the (``$afterSla``, ``$afterCustomer``)
cursor (``start`` is null when the cursor is not a breach). VOLUME SLAs have no
per-customer breaches: their short periods are in SLA_COMPLIANCE.
"""


async def sla(graph: Graph, sla_id: str) -> dict[str, Any] | None:
    records = await graph.query(SLA_EXISTS, slaId=sla_id)
    return dict(records[0]["sla"]) if records else None


async def sla_compliance(
    graph: Graph, sla_id: str, spans: list[tuple[datetime, datetime]], as_of: datetime
) -> list[dict[str, Any]]:
    records = await graph.query(
        SLA_COMPLIANCE, slaId=sla_id, periods=[[s, e] for s, e in spans], asOf=as_of
    )
    return [dict(r) for r in records]


async def sla_breaches(
    graph: Graph,
    *,
    sla_id: str | None,
    team_id: str | None,
    window_from: datetime,
    window_to: datetime,
    in_breach_now: bool | None,
    as_of: datetime,
    first: int,
    after: tuple[str, str] | None,
) -> dict[str, Any]:
    records = await graph.query(
        SLA_BREACHES,
        slaId=sla_id,
        teamId=team_id,
        inBreachNow=in_breach_now,
        asOf=as_of,
        first=first,
        afterSla=after[0] if after else None,
        afterCustomer=after[1] if after else None,
        **{"from": window_from, "to": window_to},
    )
    return dict(records[0])
