"""A process as a value stream: steps, owners, SLAs and the funnel, in one Cypher query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from orggraph.errors import ConflictError, NotFoundError
from orggraph.graph.changes import ChangeEntry
from orggraph.graph.driver import Graph, Tx

_STEPS_AND_STAGES: LiteralString = """
MATCH (p:Process {id: $processId})
CALL (p) {
  OPTIONAL MATCH (p)-[h:HAS_STEP]->(s:Step)
  WITH s, h ORDER BY h.order, s.id
  RETURN collect(s {
    .*,
    order: h.order,
    owners: COLLECT {
      MATCH (team:Team)-[o:OWNS]->(s)
      WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
      RETURN team {.*, validFrom: o.from, validTo: o.to} ORDER BY team.id
    },
    slas: COLLECT { MATCH (sla:SLA)-[:GOVERNS]->(s) RETURN sla {.*} ORDER BY sla.id }
  }) AS steps
}
WITH p, steps,
     reduce(acc = [], s IN steps |
        CASE WHEN s.stage IN acc THEN acc ELSE acc + [s.stage] END) AS stages
OPTIONAL CALL (p, stages) {
"""

_FIRSTS_FROM_TOUCHPOINTS: LiteralString = """
  MATCH (p)-[:HAS_STEP]->(s:Step)
  WITH s, head([k IN range(0, size(stages) - 1) WHERE stages[k] = s.stage]) AS i
  MATCH (s)<-[:AT_STEP]-(t:Touchpoint)<-[:HAD]-(c:Customer)
  WHERE ($from IS NULL OR t.at >= $from) AND ($to IS NULL OR t.at < $to)
    AND ($segment IS NULL OR c.segment = $segment)
    AND ($channelId IS NULL OR EXISTS { (t)-[:VIA]->(:Channel {id: $channelId}) })
    AND ($campaignId IS NULL OR EXISTS { (t)-[:FROM]->(:Campaign {id: $campaignId}) })
  WITH c, i, min(t.at) AS firstAt
"""

_FIRSTS_FROM_REACHED: LiteralString = """
  MATCH (p)-[:HAS_STEP]->(s:Step)
  WITH s, head([k IN range(0, size(stages) - 1) WHERE stages[k] = s.stage]) AS i
  MATCH (s)<-[r:REACHED]-(c)
  WHERE $segment IS NULL OR c.segment = $segment
  WITH c, i, min(r.at) AS firstAt
"""


def _firsts_from_fact(
    fact: LiteralString, label: LiteralString, key: LiteralString
) -> LiteralString:
    """The first arrivals of a funnel filtered by one channel or campaign, from that node's
    funnel facts (graph/journeys.py ``_RESET_FUNNEL_FACTS``): one row per customer, step and
    node, instead of every touchpoint via the channel (from the campaign)."""
    return (
        """
  MATCH (p)-[:HAS_STEP]->(s:Step)
  WITH collect({id: s.id, i: head([k IN range(0, size(stages) - 1) WHERE stages[k] = s.stage])})
       AS steps
  MATCH (:"""
        + label
        + " {id: $"
        + key
        + "})<-[r:"
        + fact
        + """]-(c:Customer)
  WHERE $segment IS NULL OR c.segment = $segment
  WITH c, r, [x IN steps WHERE x.id = r.stepId | x.i] AS here
  WHERE size(here) > 0
  WITH c, here[0] AS i, min(r.at) AS firstAt
"""
    )


_FUNNEL_FROM_FIRSTS: LiteralString = """
  WITH c, collect([i, firstAt]) AS firsts
  UNWIND firsts AS here
  WITH here[0] AS i, here[1] AS atHere,
        head([x IN firsts WHERE x[0] = here[0] + 1 | x[1]]) AS atNext
  WHERE i IS NOT NULL
  WITH i, atHere,
       CASE WHEN atHere IS NOT NULL AND atNext IS NOT NULL AND atNext >= atHere
            THEN (atNext.epochMillis - atHere.epochMillis) / 1000.0 END AS seconds
  WITH i, count(atHere) AS reached, count(seconds) AS timed,
       percentileCont(seconds, 0.5) AS median, percentileCont(seconds, 0.9) AS p90
  ORDER BY i
  RETURN collect({i: i, reached: reached, timed: timed, median: median, p90: p90}) AS funnel
}
RETURN p {.*} AS process, steps, stages, coalesce(funnel, []) AS funnel
"""

VALUE_STREAM: LiteralString = _STEPS_AND_STAGES + _FIRSTS_FROM_TOUCHPOINTS + _FUNNEL_FROM_FIRSTS
"""A process's value stream in one round trip, anchored on the Process id constraint.

``steps``: the process's steps in HAS_STEP order, each with the teams owning
it at ``$at`` (OWNS valid then) and the SLAs governing it. ``stages``: the
distinct stages of those steps, in step order. ``funnel``: per stage index
(ordered; a stage nobody reached has no entry), the customers that reached it
(a touchpoint AT_STEP one of its steps, the
touchpoint in the window and via the channel / from the campaign, the
customer in the segment, when given) and, over customers that reached this
stage and then the next one, the median and p90 seconds from their first
touchpoint at this stage to their first at the next (percentileCont, linear
interpolation; customers who reached the next stage first are not timed).
"""

VALUE_STREAM_FROM_REACHED: LiteralString = (
    _STEPS_AND_STAGES + _FIRSTS_FROM_REACHED + _FUNNEL_FROM_FIRSTS
)
"""``VALUE_STREAM`` for a funnel over all time (optionally one segment).

Reads each customer's REACHED relationship to each step (its first touchpoint
there, kept by the write layer) instead of every touchpoint: the same answer
from one row per customer and step rather than one per touchpoint. Windows,
channels and campaigns filter touchpoints, so they take ``VALUE_STREAM``.
"""

VALUE_STREAM_FROM_REACHED_VIA: LiteralString = (
    _STEPS_AND_STAGES
    + _firsts_from_fact("REACHED_VIA", "Channel", "channelId")
    + _FUNNEL_FROM_FIRSTS
)
"""``VALUE_STREAM`` for a funnel over all time via one channel (optionally one segment),
from the channel's REACHED_VIA facts (each customer's first touchpoint at each step via
the channel, kept by the write layer)."""

VALUE_STREAM_FROM_REACHED_FROM: LiteralString = (
    _STEPS_AND_STAGES
    + _firsts_from_fact("REACHED_FROM", "Campaign", "campaignId")
    + _FUNNEL_FROM_FIRSTS
)
"""``VALUE_STREAM`` for a funnel over all time from one campaign (optionally one segment),
from the campaign's REACHED_FROM facts."""


@dataclass(frozen=True)
class FunnelParams:
    window_from: datetime | None = None
    window_to: datetime | None = None
    channel_id: str | None = None
    campaign_id: str | None = None
    segment: str | None = None


def value_stream_query(funnel: FunnelParams) -> LiteralString:
    """The cheapest query answering this funnel exactly: an all-time funnel (optionally
    one segment) from the first-arrival facts, REACHED or, filtered by one channel or one
    campaign, REACHED_VIA / REACHED_FROM; a window, or a channel and a campaign at once,
    from the touchpoints (``VALUE_STREAM``)."""
    if funnel.window_from is not None or funnel.window_to is not None:
        return VALUE_STREAM
    if funnel.channel_id is None and funnel.campaign_id is None:
        return VALUE_STREAM_FROM_REACHED
    if funnel.campaign_id is None:
        return VALUE_STREAM_FROM_REACHED_VIA
    if funnel.channel_id is None:
        return VALUE_STREAM_FROM_REACHED_FROM
    return VALUE_STREAM


def value_stream_parameters(process_id: str, at: datetime, funnel: FunnelParams) -> dict[str, Any]:
    """The parameters every form of the value stream query takes."""
    return {
        "processId": process_id,
        "at": at,
        "segment": funnel.segment,
        "channelId": funnel.channel_id,
        "campaignId": funnel.campaign_id,
        "from": funnel.window_from,
        "to": funnel.window_to,
    }


async def value_stream(
    graph: Graph, process_id: str, at: datetime, funnel: FunnelParams
) -> dict[str, Any] | None:
    """The value stream's raw answer, or None when the process does not exist."""
    records = await graph.query(
        value_stream_query(funnel), **value_stream_parameters(process_id, at, funnel)
    )
    return dict(records[0]) if records else None


# --- lifecycle transitions ---------------------------------------------------------------

# The transitions a process may make: forward only, and retirement from any live state.
TRANSITIONS: dict[str, frozenset[str]] = {
    "EXPERIMENTAL": frozenset({"CONSOLIDATED", "RETIRED"}),
    "CONSOLIDATED": frozenset({"INTEGRATED", "RETIRED"}),
    "INTEGRATED": frozenset({"RETIRED"}),
    "RETIRED": frozenset(),
}

PROCESS_LIFECYCLE: LiteralString = """
MATCH (p:Process {id: $processId})
RETURN p.lifecycle AS lifecycle,
  head(COLLECT { MATCH (c:Change {entityId: $processId}) WHERE c.field = 'lifecycle'
                 RETURN c.effectiveAt ORDER BY c.effectiveAt DESC LIMIT 1 }) AS lastAt
"""
"""A process's lifecycle and the date of its latest recorded transition."""

SET_LIFECYCLE: LiteralString = """
MATCH (p:Process {id: $processId}) SET p.lifecycle = $lifecycle
"""

LIFECYCLE_HISTORIES: LiteralString = """
UNWIND $ids AS id
RETURN id, COLLECT {
  MATCH (c:Change {entityId: id}) WHERE c.field = 'lifecycle'
  RETURN c {.*} ORDER BY c.effectiveAt, c.id
} AS history
"""
"""The recorded lifecycle transitions of each process, oldest first (Change entityId index)."""


@dataclass(frozen=True)
class Transition:
    process_id: str
    before: str
    after: str
    at: datetime


def check_transition(
    process_id: str, current: str, to: str, last_at: datetime | None, at: datetime
) -> bool:
    """Whether a change is needed (False: already there); raises on an impossible one."""
    if current == to:
        return False
    if to not in TRANSITIONS.get(current, frozenset()):
        raise ConflictError(
            f"process '{process_id}' cannot go from {current} to {to}", item=process_id
        )
    if last_at is not None and at < last_at:
        raise ConflictError(
            f"process '{process_id}' last changed lifecycle at {last_at.isoformat()}, "
            f"after {at.isoformat()}",
            item=process_id,
        )
    return True


RecordTransitions = Callable[[Tx, list[Transition]], Awaitable[None]]


async def transition_in(tx: Tx, process_id: str, to: str, at: datetime) -> list[Transition]:
    """Move one process to ``to`` in ``tx`` (no change when already there)."""
    record = await tx.single(PROCESS_LIFECYCLE, processId=process_id)
    if record is None:
        raise NotFoundError(f"no Process with id '{process_id}'", item=process_id)
    current = str(record["lifecycle"] or "CONSOLIDATED")
    last = record["lastAt"].to_native() if record["lastAt"] is not None else None
    if not check_transition(process_id, current, to, last, at):
        return []
    await tx.run(SET_LIFECYCLE, processId=process_id, lifecycle=to)
    return [Transition(process_id, current, to, at)]


async def transition_process(
    graph: Graph, process_id: str, to: str, at: datetime, record: RecordTransitions
) -> list[Transition]:
    """One dated, recorded lifecycle transition, in one transaction."""

    async def work(tx: Tx) -> list[Transition]:
        done = await transition_in(tx, process_id, to, at)
        if done:
            await record(tx, done)
        return done

    return await graph.write(work)


def transition_entries(transitions: list[Transition]) -> list[ChangeEntry]:
    return [
        ChangeEntry(t.process_id, "Process", "lifecycle", t.before, t.after) for t in transitions
    ]


async def lifecycle_histories(graph: Graph, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    records = await graph.query(LIFECYCLE_HISTORIES, ids=ids)
    return {str(r["id"]): [dict(c) for c in r["history"]] for r in records}
