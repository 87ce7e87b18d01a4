"""Channel coverage: demand per channel against the teams that serve it. One Cypher query.

Demand is read from a derived fact the write layer keeps in the touchpoints' own
transaction: each touchpoint with a channel has one ``IN_DAY`` relationship to the
``(:ChannelDay {channelId, day})`` node of its channel and UTC calendar day
(``link_channel_days``), so a channel's demand on a day is that node's degree, which Neo4j
keeps (no counter to increment, so no lost update, no lock on a hot counter, and a
re-sent batch or a deleted touchpoint, whose relationships go with it, needs no
arithmetic). Every period unit is a union of UTC days: the answer sums the days of the
window's whole days and scans only the touchpoints of its two partial edge days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, LiteralString

from orggraph.graph.driver import Graph, Tx, id_anchored
from orggraph.graph.model import Window
from orggraph.graph.write_rules import WriteSummary

TIME_UNITS: list[str] = ["seconds", "minutes", "hours", "days"]
"""A KPI with one of these units that MEASURES a channel is a response-time KPI of it."""

TRUNCATE_UNIT: dict[Window, str] = {
    Window.DAY: "day",
    Window.WEEK: "week",
    Window.MONTH: "month",
    Window.QUARTER: "quarter",
    Window.YEAR: "year",
}
"""``datetime.truncate`` units (an allow-list: never client text); weeks start on Monday."""

_SCANNED_DEMAND: LiteralString = """
CALL () {
  MATCH (t:Touchpoint)-[:VIA]->(ch:Channel)
  WHERE t.at >= $from AND t.at < $to
  WITH ch.id AS channelId, datetime.truncate($unit, t.at) AS periodStart, count(*) AS touchpoints
  RETURN collect({channelId: channelId, periodStart: periodStart, touchpoints: touchpoints})
         AS demand
}
"""

_DAILY_DEMAND: LiteralString = """
CALL () {
  CALL () {
    MATCH (d:ChannelDay) WHERE d.day >= $fromDay AND d.day < $toDay
    RETURN d.channelId AS channelId,
           datetime.truncate($unit, datetime({date: d.day, timezone: 'Z'})) AS periodStart,
           COUNT { (d)<-[:IN_DAY]-() } AS touchpoints
    UNION ALL
    UNWIND $edges AS edge
    MATCH (t:Touchpoint) WHERE t.at >= edge.from AND t.at < edge.to
    MATCH (t)-[:VIA]->(ch:Channel)
    RETURN ch.id AS channelId, datetime.truncate($unit, t.at) AS periodStart, 1 AS touchpoints
  }
  WITH channelId, periodStart, sum(touchpoints) AS touchpoints WHERE touchpoints > 0
  RETURN collect({channelId: channelId, periodStart: periodStart, touchpoints: touchpoints})
         AS demand
}
"""

_COVERAGE_OF_DEMAND: LiteralString = """
MATCH (ch:Channel)
WITH ch, [d IN demand WHERE d.channelId = ch.id] AS trend
WITH ch, trend,
  COLLECT {
    MATCH (k:KPI)-[:MEASURES]->(ch)
    WHERE toLower(k.unit) IN $timeUnits
    RETURN {kpi: k {.*},
            accountable: head(COLLECT { MATCH (x:Team)-[:ACCOUNTABLE_FOR]->(k)
                                        RETURN x.id ORDER BY x.id }),
            sharedWith: COLLECT { MATCH (k)-[:SHARED_WITH]->(x:Team) RETURN x.id ORDER BY x.id },
            latest: head(COLLECT { MATCH (k)-[:HAS_MEASUREMENT]->(m:Measurement)
                                   WHERE m.periodEnd IS NULL OR m.at >= m.periodEnd
                                   RETURN m {.*} ORDER BY m.periodStart DESC, m.id DESC LIMIT 1 })}
    ORDER BY k.id
  } AS kpis
RETURN ch {.*} AS channel,
  reduce(n = 0, d IN trend | n + d.touchpoints) AS touchpoints,
  trend,
  COLLECT { MATCH (x:Team)-[:SERVES]->(ch) RETURN x {.*} ORDER BY x.id } AS servingTeams,
  kpis
ORDER BY touchpoints DESC, ch.id
"""

CHANNEL_COVERAGE: LiteralString = _DAILY_DEMAND + _COVERAGE_OF_DEMAND
"""Every channel's demand in ``[$from, $to)`` and who serves it, in one round trip.

Demand per channel and period (``datetime.truncate($unit, ...)``, UTC calendar periods)
is the sum of the window's whole UTC days ``[$fromDay, $toDay)``, each a ChannelDay's
IN_DAY degree (found by the ChannelDay(day) index: channels times days, whatever the
touchpoints), and of the touchpoints of the partial days at its edges (``$edges``, at
most two ranges shorter than a day, on the Touchpoint ``at`` index). Per channel: its
total and non-empty periods, the teams that SERVE it and its response-time KPIs (KPIs
that MEASURE the channel in a time unit: ``$timeUnits``) with their accountable team, the
teams they are shared with and their latest measurement (newest complete period).
Channels without demand are listed too (with zero).
"""

CHANNEL_COVERAGE_SCAN: LiteralString = _SCANNED_DEMAND + _COVERAGE_OF_DEMAND
"""``CHANNEL_COVERAGE`` with its demand counted by scanning every touchpoint of the window
(the Touchpoint ``at`` index, then VIA): what served the answer before the ChannelDay
facts, kept as the reference they must equal (tests, bench/coverage_facts.py)."""


@dataclass(frozen=True)
class DaySplit:
    """A window ``[start, end)`` cut at UTC midnights: the whole days ``[first_day,
    end_day)`` (none when ``first_day >= end_day``) and the partial ranges at its edges."""

    first_day: date
    end_day: date
    edges: list[dict[str, datetime]]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def split_days(start: datetime, end: datetime) -> DaySplit:
    """The window's whole UTC days and what lies outside them (at most a day at each end;
    the whole window when it holds no whole day)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(1)
    last = end.date()
    if first >= last or start >= end:
        return DaySplit(first, first, [{"from": start, "to": end}] if start < end else [])
    edges = [
        {"from": a, "to": b}
        for a, b in ((start, _midnight(first)), (_midnight(last), end))
        if a < b
    ]
    return DaySplit(first, last, edges)


async def channel_coverage(
    graph: Graph, window_from: datetime, window_to: datetime, period: Window
) -> list[dict[str, Any]]:
    split = split_days(window_from, window_to)
    records = await graph.query(
        CHANNEL_COVERAGE,
        unit=TRUNCATE_UNIT[period],
        timeUnits=TIME_UNITS,
        fromDay=split.first_day,
        toDay=split.end_day,
        edges=split.edges,
    )
    return [dict(r) for r in records]


async def channel_coverage_scan(
    graph: Graph, window_from: datetime, window_to: datetime, period: Window
) -> list[dict[str, Any]]:
    """The same answer from ``CHANNEL_COVERAGE_SCAN`` (the reference)."""
    records = await graph.query(
        CHANNEL_COVERAGE_SCAN,
        unit=TRUNCATE_UNIT[period],
        timeUnits=TIME_UNITS,
        **{"from": window_from, "to": window_to},
    )
    return [dict(r) for r in records]


# --- the ChannelDay facts, kept on write ---------------------------------------------------


LINK_CHANNEL_DAYS: LiteralString = id_anchored(
    """
UNWIND $ids AS id
MATCH (t:Touchpoint {id: id})
OPTIONAL MATCH (t)-[:VIA]->(ch:Channel)
WITH t, ch.id AS channelId, date(datetime({epochMillis: t.at.epochMillis})) AS day
CALL (t, channelId, day) {
  OPTIONAL MATCH (t)-[old:IN_DAY]->(d:ChannelDay)
  WHERE channelId IS NULL OR d.channelId <> channelId OR d.day <> day
  DELETE old
}
WITH channelId, day, collect(t) AS touchpoints
WHERE channelId IS NOT NULL AND day IS NOT NULL
WITH channelId, day, touchpoints ORDER BY channelId, day
MERGE (d:ChannelDay {channelId: channelId, day: day})
WITH d, touchpoints
UNWIND touchpoints AS t
MERGE (t)-[:IN_DAY]->(d)
"""
)
"""Each of these touchpoints' IN_DAY made right: one relationship to the ChannelDay of
its channel (VIA) and UTC day when it has a channel, none otherwise. A wrong one is
deleted and the right one merged, so a touchpoint already right (a re-sent batch)
writes nothing; each ChannelDay the batch concerns is merged once, on its (channelId,
day) uniqueness constraint (which also serialises two writers creating the same one),
in (channel, day) order so that two writers lock ChannelDays in one order. Ids naming no
touchpoint (deleted ones) are skipped: their relationships went with them."""


def _channel_day_key(state: Any) -> tuple[Any, list[str]]:
    refs = [ref for ref in (state or {}).get("refs") or [] if ref.startswith("VIA:")]
    return (state or {}).get("properties", {}).get("at"), refs


def moved_in_channel_days(before: Any, after: Any) -> list[str]:
    """The touchpoints (of states before and after a write, ``touchpoint_states``) whose
    channel or time the write set or changed: only theirs can need another IN_DAY."""
    return sorted(
        i
        for i, state in after.items()
        if state is not None
        and (before.get(i) is None or _channel_day_key(before[i]) != _channel_day_key(state))
    )


async def link_channel_days(tx: Tx, touchpoint_ids: Iterable[str]) -> WriteSummary:
    """Make these touchpoints' IN_DAY right (``LINK_CHANNEL_DAYS``), in ``tx``: after any
    write that may have created them, moved them in time or between channels, or taken
    their channel away; returns what that changed. The write paths leave it out of their
    summary (the NEXT chain's bookkeeping is counted, but a write's counts should say what
    the caller wrote, not one more relationship per touchpoint); a repair reports it."""
    summary = WriteSummary()
    ids = sorted(set(touchpoint_ids))
    if ids:
        summary.add(await tx.run(LINK_CHANNEL_DAYS, ids=ids))
    return summary
