"""The KPI engine: a catalogue of vetted measures, computed per period into Measurements.

A KPI's ``definition`` is a typed specification (:data:`KpiDefinition`, a
pydantic union discriminated on ``measure``), never free Cypher. Each measure
maps to exactly one parameterised query below; every query takes ``$periods``
(a list of ``[start, end)`` pairs) and answers one row per period, so a KPI
costs one round trip however many periods it covers.

Measurements are written with deterministic ids ``"{kpiId}:{periodStart ISO}"``
(MERGE on id), so recomputing a period replaces its value. Each measurement
carries ``status`` against the KPI's target and direction: ON_TARGET,
OFF_TARGET, NO_DATA (no value for the period) or NO_TARGET (the KPI has no
target), as the team-service view grades a KPI's latest value.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, LiteralString

from neo4j.exceptions import Neo4jError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from orggraph.errors import BadInputError, NotFoundError, OrgGraphError
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.model import Stage, TouchpointType, Window
from orggraph.graph.slas import SLA_COMPLIANCE_PERIODS
from orggraph.graph.write_rules import WriteSummary

log = logging.getLogger(__name__)

MAX_PERIODS = 1_000
"""A computation covers at most this many periods per KPI (guards a DAY window over years)."""

# --- the catalogue: typed, validated definitions -----------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def params(self) -> dict[str, Any]:
        return {}


def _stage_pair(from_stage: Stage, to_stage: Stage, process_id: str | None) -> dict[str, Any]:
    """The parameters of a measure between two stages (of one process, when given)."""
    return {"fromStage": from_stage.value, "toStage": to_stage.value, "processId": process_id}


class ConversionRate(_Spec):
    """Customers reaching ``toStage`` / customers reaching ``fromStage``, in the period.

    Same counting as the process funnel: a customer reached a stage when one
    of their touchpoints in the period is AT_STEP a step of that stage (of the
    process, when given)."""

    measure: Literal["CONVERSION_RATE"]
    from_stage: Stage
    to_stage: Stage
    process_id: str | None = None

    def params(self) -> dict[str, Any]:
        return _stage_pair(self.from_stage, self.to_stage, self.process_id)


class Statistic(enum.Enum):
    MEDIAN = "MEDIAN"
    P90 = "P90"


class StageTime(_Spec):
    """Median or p90 seconds from a customer's first touchpoint at ``fromStage`` to their
    first at ``toStage`` (both in the period, as the funnel times them)."""

    measure: Literal["STAGE_TIME"]
    from_stage: Stage
    to_stage: Stage
    statistic: Statistic = Statistic.MEDIAN
    process_id: str | None = None

    def params(self) -> dict[str, Any]:
        percentile = 0.5 if self.statistic is Statistic.MEDIAN else 0.9
        return {
            **_stage_pair(self.from_stage, self.to_stage, self.process_id),
            "percentile": percentile,
        }


class TouchpointCount(_Spec):
    """Touchpoints in the period, optionally of one type, via a channel, from a campaign."""

    measure: Literal["TOUCHPOINT_COUNT"]
    type: TouchpointType | None = None
    channel_id: str | None = None
    campaign_id: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "type": self.type.value if self.type else None,
            "channelId": self.channel_id,
            "campaignId": self.campaign_id,
        }


class FirstResponseTime(_Spec):
    """Median seconds from an inbound touchpoint via the channel (not HANDLED_BY a team)
    to the customer's next touchpoint that a team handled (within 50 journey steps)."""

    measure: Literal["FIRST_RESPONSE_TIME"]
    channel_id: str

    def params(self) -> dict[str, Any]:
        return {"channelId": self.channel_id}


class WonRevenue(_Spec):
    """Sum of the amounts of deals won and closed in the period (sample: those deals)."""

    measure: Literal["WON_REVENUE"]


class DealWinRate(_Spec):
    """Deals won / deals closed (won true or false) in the period."""

    measure: Literal["DEAL_WIN_RATE"]


class SlaCompliance(_Spec):
    """Share of an SLA's decided cases (or periods, for a VOLUME SLA) that met it, per
    period: exactly the ``rate`` of the ``slaCompliance`` field, with the rules of
    :mod:`orggraph.graph.slas` (cases judged at the time of computation; OPEN cases,
    not decided yet, are not in the sample)."""

    measure: Literal["SLA_COMPLIANCE"]
    sla_id: str

    def params(self) -> dict[str, Any]:
        return {"slaId": self.sla_id}


KpiDefinition = Annotated[
    ConversionRate
    | StageTime
    | TouchpointCount
    | FirstResponseTime
    | WonRevenue
    | DealWinRate
    | SlaCompliance,
    Field(discriminator="measure"),
]


class _Holder(BaseModel):
    definition: KpiDefinition


def parse_definition(raw: Any, what: str = "definition") -> Any:
    """Validate a definition (dict or its JSON text); BadInputError names the field."""
    if raw is None:
        raise BadInputError(f"{what}: a KPI needs a definition to be computed", field=what)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise BadInputError(f"{what}: not JSON ({error.msg})", field=what) from None
    try:
        return _Holder(definition=raw).definition
    except ValidationError as error:
        first = error.errors()[0]
        loc = [str(part) for part in first["loc"][1:] if str(part) not in MEASURES]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["measure"]
            message = f"one of {', '.join(MEASURES)}"
        else:
            message = first["msg"]
        name = ".".join([what, *loc])
        raise BadInputError(f"{name}: {message}", field=name) from None


MEASURES: tuple[str, ...] = (
    "CONVERSION_RATE",
    "STAGE_TIME",
    "TOUCHPOINT_COUNT",
    "FIRST_RESPONSE_TIME",
    "WON_REVENUE",
    "DEAL_WIN_RATE",
    "SLA_COMPLIANCE",
)

# --- checks against the graph --------------------------------------------------------------

CHECK_REFERENCES: LiteralString = """
UNWIND $rows AS row
RETURN row.i AS i,
  row.processId IS NULL OR EXISTS { MATCH (:Process {id: row.processId}) } AS processId,
  row.channelId IS NULL OR EXISTS { MATCH (:Channel {id: row.channelId}) } AS channelId,
  row.campaignId IS NULL OR EXISTS { MATCH (:Campaign {id: row.campaignId}) } AS campaignId,
  row.slaId IS NULL OR EXISTS { MATCH (:SLA {id: row.slaId}) } AS slaId,
  row.fromStage IS NULL OR EXISTS {
    MATCH (s:Step {stage: row.fromStage})
    WHERE row.processId IS NULL OR EXISTS { (:Process {id: row.processId})-[:HAS_STEP]->(s) }
  } AS fromStage,
  row.toStage IS NULL OR EXISTS {
    MATCH (s:Step {stage: row.toStage})
    WHERE row.processId IS NULL OR EXISTS { (:Process {id: row.processId})-[:HAS_STEP]->(s) }
  } AS toStage
ORDER BY i
"""
"""Whether each definition's references exist: one row per definition, one round trip."""

_REFERENCES = ("processId", "channelId", "campaignId", "slaId", "fromStage", "toStage")


async def check_definitions(graph: Graph, definitions: Sequence[tuple[str, Any]]) -> None:
    """Referenced nodes must exist and stages must have steps (in the process, if given).

    ``definitions`` pairs each parsed definition with the name of its field (for the
    error); the first failing reference raises BadInputError naming ``<field>.<param>``."""
    if not definitions:
        return
    rows = []
    for i, (_, definition) in enumerate(definitions):
        params = {key: definition.params().get(key) for key in _REFERENCES}
        rows.append({"i": i, **params})
    for record in await graph.query(CHECK_REFERENCES, rows=rows):
        row, (what, _) = rows[record["i"]], definitions[record["i"]]
        for key in _REFERENCES:
            if record[key]:
                continue
            name = f"{what}.{key}"
            if key in ("fromStage", "toStage"):
                raise BadInputError(
                    f"{name}: no step of stage {row[key]!r}"
                    + (f" in process {row['processId']!r}" if row["processId"] else ""),
                    field=name,
                )
            raise BadInputError(f"{name}: no such node {row[key]!r}", field=name)


# --- the vetted queries: one per measure --------------------------------------------------

# Per period, the customers' touchpoints at steps of either stage (of the process, when
# given): the start both stage measures count from, as the funnel does.
_AT_EITHER_STAGE: LiteralString = """
UNWIND $periods AS period
CALL (period) {
  OPTIONAL MATCH (s:Step)<-[:AT_STEP]-(t:Touchpoint)<-[:HAD]-(c:Customer)
  WHERE s.stage IN [$fromStage, $toStage]
    AND ($processId IS NULL OR EXISTS { (:Process {id: $processId})-[:HAS_STEP]->(s) })
    AND t.at >= period[0] AND t.at < period[1]
"""

CONVERSION_RATE: LiteralString = (
    _AT_EITHER_STAGE
    + """  WITH count(DISTINCT CASE WHEN s.stage = $fromStage THEN c END) AS base,
       count(DISTINCT CASE WHEN s.stage = $toStage THEN c END) AS reached
  RETURN base AS sampleSize, CASE WHEN base > 0 THEN toFloat(reached) / base END AS value
}
RETURN period[0] AS periodStart, value, sampleSize
"""
)

STAGE_TIME: LiteralString = (
    _AT_EITHER_STAGE
    + """  WITH c, min(CASE WHEN s.stage = $fromStage THEN t.at END) AS atFrom,
          min(CASE WHEN s.stage = $toStage THEN t.at END) AS atTo
  WITH CASE WHEN atFrom IS NOT NULL AND atTo IS NOT NULL AND atTo >= atFrom
            THEN (atTo.epochMillis - atFrom.epochMillis) / 1000.0 END AS seconds
  RETURN count(seconds) AS sampleSize, percentileCont(seconds, $percentile) AS value
}
RETURN period[0] AS periodStart, CASE WHEN sampleSize > 0 THEN value END AS value, sampleSize
"""
)

TOUCHPOINT_COUNT: LiteralString = """
UNWIND $periods AS period
CALL (period) {
  OPTIONAL MATCH (t:Touchpoint)
  WHERE t.at >= period[0] AND t.at < period[1]
    AND ($type IS NULL OR t.type = $type)
    AND ($channelId IS NULL OR EXISTS { (t)-[:VIA]->(:Channel {id: $channelId}) })
    AND ($campaignId IS NULL OR EXISTS { (t)-[:FROM]->(:Campaign {id: $campaignId}) })
  RETURN count(t) AS sampleSize
}
RETURN period[0] AS periodStart, toFloat(sampleSize) AS value, sampleSize
"""

FIRST_RESPONSE_TIME: LiteralString = """
UNWIND $periods AS period
CALL (period) {
  OPTIONAL MATCH (:Channel {id: $channelId})<-[:VIA]-(t:Touchpoint)
  WHERE t.at >= period[0] AND t.at < period[1] AND NOT EXISTS { (t)-[:HANDLED_BY]->(:Team) }
  WITH t, head(COLLECT {
    MATCH (t)-[:NEXT]->{1,50}(r:Touchpoint)
    WHERE EXISTS { (r)-[:HANDLED_BY]->(:Team) }
    RETURN r.at AS at ORDER BY r.at LIMIT 1
  }) AS respondedAt
  WITH CASE WHEN respondedAt IS NOT NULL
            THEN (respondedAt.epochMillis - t.at.epochMillis) / 1000.0 END AS seconds
  RETURN count(seconds) AS sampleSize, percentileCont(seconds, 0.5) AS value
}
RETURN period[0] AS periodStart, CASE WHEN sampleSize > 0 THEN value END AS value, sampleSize
"""

WON_REVENUE: LiteralString = """
UNWIND $periods AS period
CALL (period) {
  OPTIONAL MATCH (d:Deal)
  WHERE d.won = true AND d.closedAt >= period[0] AND d.closedAt < period[1]
  RETURN count(d) AS sampleSize, sum(d.amountE4) AS e4
}
RETURN period[0] AS periodStart, toFloat(e4) / 10000 AS value, sampleSize
"""

DEAL_WIN_RATE: LiteralString = """
UNWIND $periods AS period
CALL (period) {
  OPTIONAL MATCH (d:Deal)
  WHERE d.won IS NOT NULL AND d.closedAt >= period[0] AND d.closedAt < period[1]
  WITH count(d) AS closed, count(CASE WHEN d.won THEN d END) AS won
  RETURN closed AS sampleSize, CASE WHEN closed > 0 THEN toFloat(won) / closed END AS value
}
RETURN period[0] AS periodStart, value, sampleSize
"""

SLA_COMPLIANCE: LiteralString = (
    SLA_COMPLIANCE_PERIODS
    + """
RETURN periodStart, rate AS value, met + breached AS sampleSize
"""
)
"""The same Cypher as the ``slaCompliance`` field (orggraph.graph.slas): value = its rate,
sample = the decided cases (met + breached) of the period."""

QUERIES: dict[type[_Spec], LiteralString] = {
    ConversionRate: CONVERSION_RATE,
    StageTime: STAGE_TIME,
    TouchpointCount: TOUCHPOINT_COUNT,
    FirstResponseTime: FIRST_RESPONSE_TIME,
    WonRevenue: WON_REVENUE,
    DealWinRate: DEAL_WIN_RATE,
    SlaCompliance: SLA_COMPLIANCE,
}

# --- periods --------------------------------------------------------------------------------


def period_start(at: datetime, window: Window) -> datetime:
    """The start (UTC) of the ``window`` period containing ``at``."""
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if window is Window.DAY:
        return day
    if window is Window.WEEK:
        return day - timedelta(days=day.weekday())
    if window is Window.MONTH:
        return day.replace(day=1)
    if window is Window.QUARTER:
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    return day.replace(day=1, month=1)


def next_period(start: datetime, window: Window) -> datetime:
    if window is Window.DAY:
        return start + timedelta(days=1)
    if window is Window.WEEK:
        return start + timedelta(days=7)
    months = {Window.MONTH: 1, Window.QUARTER: 3, Window.YEAR: 12}[window]
    month0 = start.month - 1 + months
    return start.replace(year=start.year + month0 // 12, month=month0 % 12 + 1)


def periods(since: datetime, until: datetime, window: Window) -> list[tuple[datetime, datetime]]:
    """The ``[start, end)`` periods covering ``since`` .. ``until`` (both included)."""
    out: list[tuple[datetime, datetime]] = []
    start = period_start(since, window)
    while start <= until:
        end = next_period(start, window)
        out.append((start, end))
        if len(out) > MAX_PERIODS:
            raise BadInputError(
                f"since: more than {MAX_PERIODS} {window.value} periods to compute; "
                "give a later 'since'",
                field="since",
            )
        start = end
    return out


# --- computing and writing ------------------------------------------------------------------


class KpiStatus(enum.Enum):
    ON_TARGET = "ON_TARGET"
    OFF_TARGET = "OFF_TARGET"
    NO_TARGET = "NO_TARGET"
    NO_DATA = "NO_DATA"


def status_of(value: float | None, target: float | None, direction: str | None) -> str:
    """Status against target and direction (HIGHER_IS_BETTER: on target when value >= target)."""
    if value is None:
        return KpiStatus.NO_DATA.value
    if target is None:
        return KpiStatus.NO_TARGET.value
    met = value <= target if direction == "LOWER_IS_BETTER" else value >= target
    return KpiStatus.ON_TARGET.value if met else KpiStatus.OFF_TARGET.value


def measurement_id(kpi_id: str, start: datetime) -> str:
    return f"{kpi_id}:{start.isoformat()}"


TREND_PERIODS = 12
"""How many complete periods a KPI's trend shows (newest last)."""

MEASUREMENTS_OF_K: LiteralString = """latest: head(COLLECT {
              MATCH (k)-[:HAS_MEASUREMENT]->(m:Measurement)
              WHERE m.periodEnd IS NULL OR m.at >= m.periodEnd
              RETURN m {.*} ORDER BY m.periodStart DESC, m.at DESC LIMIT 1 }),
            current: head(COLLECT {
              MATCH (k)-[:HAS_MEASUREMENT]->(m:Measurement) WHERE m.at < m.periodEnd
              RETURN m {.*} ORDER BY m.periodStart DESC LIMIT 1 }),
            trend: COLLECT {
              MATCH (k)-[:HAS_MEASUREMENT]->(m:Measurement)
              WHERE m.periodEnd IS NULL OR m.at >= m.periodEnd
              RETURN m {.*} ORDER BY m.periodStart DESC LIMIT 12 }"""
"""Map items for the bound KPI ``k``: ``latest``, its newest COMPLETE measurement (taken
once its period was over, or reported without a period end); ``current``, its newest
PARTIAL one (taken during its period); ``trend``, the last TREND_PERIODS complete ones,
newest first."""

KPIS_TO_COMPUTE: LiteralString = """
MATCH (k:KPI)
WHERE ($kpiId IS NULL AND k.definition IS NOT NULL) OR k.id = $kpiId
RETURN k {.id, .definition, .window, .target, .direction} AS kpi,
       COLLECT { MATCH (t:Team)-[:ACCOUNTABLE_FOR]->(k) RETURN t.id
                 UNION MATCH (k)-[:SHARED_WITH]->(t:Team) RETURN t.id } AS teamIds,
       COLLECT { MATCH (s:SLA)-[:TRACKED_BY]->(k) RETURN s.id } AS slaIds
ORDER BY k.id
"""

DATA_SPAN: LiteralString = """
RETURN COLLECT { MATCH (t:Touchpoint) RETURN t.at AS at ORDER BY t.at LIMIT 1 }
     + COLLECT { MATCH (d:Deal) WHERE d.closedAt IS NOT NULL
                 RETURN d.closedAt AS at ORDER BY d.closedAt LIMIT 1 } AS starts,
       COLLECT { MATCH (t:Touchpoint) RETURN t.at AS at ORDER BY t.at DESC LIMIT 1 }
     + COLLECT { MATCH (d:Deal) WHERE d.closedAt IS NOT NULL
                 RETURN d.closedAt AS at ORDER BY d.closedAt DESC LIMIT 1 } AS ends
"""
"""The first and the last instant of the data KPIs are computed from (index-backed ends)."""

SLA_TEAMS: LiteralString = """
MATCH (s:SLA {id: $slaId})
RETURN COLLECT { MATCH (s)-[:PROVIDER|CONSUMER]->(t:Team) RETURN DISTINCT t.id } AS teamIds
"""

WRITE_MEASUREMENTS: LiteralString = """
MATCH (k:KPI {id: $kpiId})
UNWIND $rows AS row
MERGE (m:Measurement {id: row.id})
SET m:Entity, m.at = row.at, m.periodStart = row.periodStart, m.periodEnd = row.periodEnd,
    m.value = row.value, m.sampleSize = row.sampleSize, m.status = row.status
MERGE (k)-[:HAS_MEASUREMENT]->(m)
"""
"""A measurement is PARTIAL when it was taken (``at``) before its period ended."""


@dataclass
class KpiComputation:
    """What one KPI's computation wrote: its measurements (committed) and who cares; or,
    with ``error``, why this KPI's definition could not be computed (the others were)."""

    kpi_id: str
    team_ids: list[str]
    sla_ids: list[str]
    measure: str
    measurements: list[dict[str, Any]] = field(default_factory=list)
    sla_id: str | None = None
    """The SLA an SLA_COMPLIANCE KPI measures, and its provider and consumer teams."""
    sla_team_ids: list[str] = field(default_factory=list)
    error: str | None = None
    skipped_periods: int = 0
    """Older periods left out to stay within MAX_PERIODS (the newest are computed)."""

    def breaches(self) -> list[dict[str, Any]]:
        """OFF_TARGET complete periods of an SLA_COMPLIANCE KPI, as slaBreached events."""
        if self.sla_id is None:
            return []
        return [
            {**m, "slaId": self.sla_id, "kpiId": self.kpi_id, "teamIds": self.sla_team_ids}
            for m in self.measurements
            if m["status"] == KpiStatus.OFF_TARGET.value and not is_partial(m)
        ]

    def event(self) -> dict[str, Any]:
        """The kpiUpdated event."""
        return {
            "kpiId": self.kpi_id,
            "measure": self.measure,
            "teamIds": self.team_ids,
            "measurements": self.measurements,
        }


def is_partial(measurement: dict[str, Any]) -> bool:
    """Taken before its period ended (the current period): its value may still change."""
    at, end = measurement.get("at"), measurement.get("periodEnd")
    return at is not None and end is not None and at < end


@dataclass(frozen=True)
class _Plan:
    record: Any
    kpi: dict[str, Any]
    definition: Any
    spans: list[tuple[datetime, datetime]]
    skipped: int


async def data_span(graph: Graph) -> tuple[datetime, datetime] | None:
    """The first and last instants of touchpoints and closed deals; None without data."""
    row = (await graph.query(DATA_SPAN))[0]
    starts = [s.to_native().astimezone(UTC) for s in row["starts"]]
    ends = [e.to_native().astimezone(UTC) for e in row["ends"]]
    return (min(starts), max(ends)) if starts and ends else None


def bounded_periods(
    since: datetime, until: datetime, window: Window, *, explicit: bool
) -> tuple[list[tuple[datetime, datetime]], int]:
    """The periods from ``since`` to ``until``; past MAX_PERIODS, an explicit ``since`` is
    refused and the data's own start keeps only the newest MAX_PERIODS (count of the rest)."""
    if explicit:
        return periods(since, until, window), 0
    spans: list[tuple[datetime, datetime]] = []
    start = period_start(since, window)
    while start <= until:
        end = next_period(start, window)
        spans.append((start, end))
        start = end
    skipped = max(0, len(spans) - MAX_PERIODS)
    return spans[skipped:], skipped


async def compute_kpis(
    graph: Graph,
    kpi_id: str | None = None,
    since: datetime | None = None,
    *,
    until: datetime | None = None,
    now: datetime | None = None,
    on_commit: Callable[[KpiComputation], None] | None = None,
) -> list[KpiComputation]:
    """Compute and write Measurements for one KPI (``kpi_id``) or every KPI with a definition.

    Periods cover the data's span: from ``since`` (default: the earliest touchpoint or
    closed deal) to ``until`` (default: the latest, at most ``now``), in each KPI's window;
    a period not over at ``now`` is written as partial (``at`` < ``periodEnd``). With
    ``kpi_id``, a bad definition raises; for every KPI, each definition is checked and
    computed on its own, and one that fails is returned with its ``error`` (and logged)
    while the others are computed. Each KPI's measurements are written in one transaction;
    ``on_commit`` is called with each KPI's computation once it has committed.
    """
    now = now or datetime.now(UTC)
    kpis = await graph.query(KPIS_TO_COMPUTE, kpiId=kpi_id)
    if kpi_id is not None and not kpis:
        raise NotFoundError(f"KPI {kpi_id!r} does not exist", field="kpiId")
    explicit = since is not None
    if since is None or until is None:
        span = await data_span(graph)
        if span is None and since is None:
            return [_no_data(record) for record in kpis]
        if since is None and span is not None:
            since = span[0]
        if until is None:
            until = min(span[1], now) if span is not None else now
    assert since is not None and until is not None
    since = since if since.tzinfo else since.replace(tzinfo=UTC)

    out: list[KpiComputation] = []
    for record in kpis:
        try:
            plan = await _plan(graph, record, since, until, explicit=explicit)
            computation = await _compute(graph, plan, now)
        except (OrgGraphError, Neo4jError) as error:
            if kpi_id is not None:
                raise
            message = error.message if isinstance(error, OrgGraphError) else str(error.message)
            log.error("KPI %s not computed: %s", record["kpi"]["id"], message)
            out.append(_no_data(record, error=message))
            continue
        out.append(computation)
        if on_commit is not None:
            on_commit(computation)
    return out


def _no_data(record: Any, error: str | None = None) -> KpiComputation:
    kpi = record["kpi"]
    measure = "?"
    with contextlib.suppress(Exception):
        measure = str(json.loads(kpi.get("definition") or "{}").get("measure", "?"))
    return KpiComputation(
        kpi_id=kpi["id"],
        team_ids=list(record["teamIds"]),
        sla_ids=list(record["slaIds"]),
        measure=measure,
        error=error,
    )


async def _plan(
    graph: Graph, record: Any, since: datetime, until: datetime, *, explicit: bool
) -> _Plan:
    kpi = record["kpi"]
    what = f"KPI {kpi['id']}.definition"
    definition = parse_definition(kpi.get("definition"), what)
    await check_definitions(graph, [(what, definition)])
    window = Window(kpi.get("window") or Window.MONTH.value)
    spans, skipped = bounded_periods(since, until, window, explicit=explicit)
    if skipped:
        log.warning(
            "KPI %s: %d %s periods before %s left out (at most %d are computed)",
            kpi["id"], skipped, window.value, spans[0][0].date(), MAX_PERIODS,
        )  # fmt: skip
    return _Plan(record, kpi, definition, spans, skipped)


async def _compute(graph: Graph, plan: _Plan, now: datetime) -> KpiComputation:
    kpi, definition = plan.kpi, plan.definition
    ends = dict(plan.spans)
    rows = await graph.query(
        QUERIES[type(definition)],
        periods=[[start, end] for start, end in plan.spans],
        asOf=now,
        **definition.params(),
    )
    measurements = []
    for row in rows:
        start = row["periodStart"].to_native()
        measurements.append(
            {
                "id": measurement_id(kpi["id"], start),
                "at": now,
                "periodStart": start,
                "periodEnd": ends[start],
                "value": row["value"],
                "sampleSize": int(row["sampleSize"] or 0),
                "status": status_of(row["value"], kpi.get("target"), kpi.get("direction")),
            }
        )
    await write_measurements(graph, kpi["id"], measurements)
    computation = KpiComputation(
        kpi_id=kpi["id"],
        team_ids=list(plan.record["teamIds"]),
        sla_ids=list(plan.record["slaIds"]),
        measure=definition.measure,
        measurements=measurements,
        skipped_periods=plan.skipped,
    )
    if isinstance(definition, SlaCompliance):
        computation.sla_id = definition.sla_id
        teams = await graph.query(SLA_TEAMS, slaId=definition.sla_id)
        computation.sla_team_ids = list(teams[0]["teamIds"]) if teams else []
    return computation


async def write_measurements(
    graph: Graph, kpi_id: str, measurements: Sequence[dict[str, Any]]
) -> WriteSummary:
    """Upsert a KPI's measurements (each with ``at`` and ``periodEnd``) in one transaction."""

    async def work(tx: Tx) -> WriteSummary:
        summary = WriteSummary()
        summary.add(await tx.run(WRITE_MEASUREMENTS, kpiId=kpi_id, rows=list(measurements)))
        return summary

    return await graph.write(work)


# --- a value over any window: rolling (last N days) or all-time --------------------------

MAX_ROLLING_DAYS = 3_660


async def kpi_value(
    graph: Graph, kpi_id: str, last_days: int | None, *, now: datetime | None = None
) -> dict[str, Any]:
    """A KPI's value over ``[now - last_days, now)``, or over all the data when
    ``last_days`` is None (from its first instant): computed on request, not stored, by
    the KPI's own measure (one period), so rolling and all-time values count as its
    calendar periods do. Three round trips at most."""
    now = now or datetime.now(UTC)
    if last_days is not None and not 1 <= last_days <= MAX_ROLLING_DAYS:
        raise BadInputError(
            f"lastDays: between 1 and {MAX_ROLLING_DAYS}, got {last_days}", field="lastDays"
        )
    records = await graph.query(KPIS_TO_COMPUTE, kpiId=kpi_id)
    if not records:
        raise NotFoundError(f"KPI {kpi_id!r} does not exist", field="kpiId")
    kpi = records[0]["kpi"]
    definition = parse_definition(kpi.get("definition"), f"KPI {kpi_id}.definition")
    if last_days is not None:
        since = now - timedelta(days=last_days)
    else:
        span = await data_span(graph)
        since = min(span[0], now) if span is not None else now
    rows = await graph.query(
        QUERIES[type(definition)], periods=[[since, now]], asOf=now, **definition.params()
    )
    row = rows[0] if rows else {"value": None, "sampleSize": 0}
    return {
        "kpiId": kpi_id,
        "since": since,
        "until": now,
        "value": row["value"],
        "sampleSize": int(row["sampleSize"] or 0),
        "status": status_of(row["value"], kpi.get("target"), kpi.get("direction")),
    }
