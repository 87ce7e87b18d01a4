"""Result types of the team-as-a-service traversal, and KPI / SLA status rules."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry

from orggraph.graph import model
from orggraph.graph.kpis import status_of
from orggraph.schema.enums import KpiStatus
from orggraph.schema.processes import StepInProcess
from orggraph.schema.types import Kpi, Measurement, Service, Sla, Step, Team, as_datetime


@strawberry.enum(
    description="The latest measurement of the KPI tracking an SLA: against the KPI's target "
    "when it has one (a compliance share), else against the SLA's threshold."
)
class SlaCompliance(enum.Enum):
    COMPLIANT = "COMPLIANT"
    BREACHED = "BREACHED"
    NO_DATA = "NO_DATA"


@strawberry.enum
class SlaRole(enum.Enum):
    PROVIDER = "PROVIDER"
    CONSUMER = "CONSUMER"


def kpi_status(kpi: dict[str, Any], latest: dict[str, Any] | None) -> KpiStatus:
    """The latest value against the KPI's target and direction (``graph.kpis.status_of``)."""
    value = latest.get("value") if latest else None
    return KpiStatus(status_of(value, kpi.get("target"), kpi.get("direction")))


def sla_compliance(
    sla: dict[str, Any], kpi: dict[str, Any] | None, latest: dict[str, Any] | None
) -> SlaCompliance:
    """The latest measurement of the KPI tracking the SLA, judged by what that KPI measures.

    A KPI with a target (e.g. an SLA_COMPLIANCE share of customers handed over in time,
    target 0.95) is judged against its target: on target is COMPLIANT. A KPI without a
    target measures the SLA's own quantity (hours to follow up, leads delivered) and is
    judged against the SLA's threshold: RESPONSE_TIME compliant when value <= threshold,
    VOLUME when value >= threshold.
    """
    if kpi is not None and kpi.get("target") is not None:
        return {
            KpiStatus.ON_TARGET: SlaCompliance.COMPLIANT,
            KpiStatus.OFF_TARGET: SlaCompliance.BREACHED,
        }.get(kpi_status(kpi, latest), SlaCompliance.NO_DATA)
    value = latest.get("value") if latest else None
    threshold = sla.get("threshold")
    if value is None or threshold is None:
        return SlaCompliance.NO_DATA
    if sla.get("kind") == model.SlaKind.VOLUME.value:
        return SlaCompliance.COMPLIANT if value >= threshold else SlaCompliance.BREACHED
    return SlaCompliance.COMPLIANT if value <= threshold else SlaCompliance.BREACHED


def _team(props: dict[str, Any] | None) -> Team | None:
    return Team.from_props(props) if props else None


@strawberry.type(description="A service and the teams on the other side of it.")
class ServiceLink:
    service: Service
    teams: list[Team] = strawberry.field(
        description="Consumers of a provided service; providers of a consumed one."
    )

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> list[ServiceLink]:
        """One link per row of ``service`` and its ``teams`` (SERVICES_OF_TEAM)."""
        return [
            cls(
                service=Service.from_props(r["service"]),
                teams=[Team.from_props(t) for t in r["teams"]],
            )
            for r in rows
        ]


@strawberry.type(description="A step the team owns or owned, in its process.")
class OwnedStep(StepInProcess):
    valid_from: datetime | None
    valid_to: datetime | None
    current: bool = strawberry.field(description="Whether the ownership holds at the asked time.")


def _measurement(props: dict[str, Any] | None) -> Measurement | None:
    return Measurement.from_props(props) if props else None


def _trend(rows: list[dict[str, Any]] | None) -> list[Measurement]:
    return [Measurement.from_props(m) for m in reversed(rows or [])]


LATEST = "Its last complete period (the current one is `current`)."
CURRENT = "The current period, still partial (`partial: true`), when computed."
TREND = "The last complete periods (at most 12), oldest first: the trend, `latest` last."


@strawberry.type(description="A KPI with its latest value against target.")
class KpiWithStatus:
    kpi: Kpi
    shared: bool = strawberry.field(description="Shared with the team (not its own).")
    latest: Measurement | None = strawberry.field(description=LATEST)
    current: Measurement | None = strawberry.field(description=CURRENT)
    trend: list[Measurement] = strawberry.field(description=TREND)
    status: KpiStatus = strawberry.field(description="Of `latest`, against target.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> KpiWithStatus:
        latest = row.get("latest")
        return cls(
            kpi=Kpi.from_props(row["kpi"]),
            shared=bool(row.get("shared")),
            latest=_measurement(latest),
            current=_measurement(row.get("current")),
            trend=_trend(row.get("trend")),
            status=kpi_status(row["kpi"], latest),
        )


@strawberry.type(description="An SLA the team is party to, with current compliance.")
class TeamSla:
    sla: Sla
    role: SlaRole
    provider: Team | None
    consumer: Team | None
    step: Step | None
    latest: Measurement | None = strawberry.field(
        description="Its KPI's last complete period (the current one is `current`)."
    )
    current: Measurement | None = strawberry.field(description=CURRENT)
    trend: list[Measurement] = strawberry.field(
        description=TREND + " Compliance over time: each period's status."
    )
    compliance: SlaCompliance = strawberry.field(description="Of `latest`.")


@strawberry.type(description="A team as a service: what it provides, owns, measures and promises.")
class TeamService:
    team: Team
    at: datetime
    parents: list[Team]
    children: list[Team]
    provides: list[ServiceLink]
    consumes: list[ServiceLink]
    owned_steps: list[OwnedStep]
    kpis: list[KpiWithStatus]
    slas: list[TeamSla]

    @classmethod
    def from_raw(cls, raw: dict[str, Any], at: datetime) -> TeamService:
        return cls(
            team=Team.from_props(raw["team"]),
            at=at,
            parents=[Team.from_props(t) for t in raw["parents"]],
            children=[Team.from_props(t) for t in raw["children"]],
            provides=ServiceLink.from_rows(raw["provides"]),
            consumes=ServiceLink.from_rows(raw["consumes"]),
            owned_steps=[
                OwnedStep.from_row(
                    r,
                    valid_from=as_datetime(r.get("validFrom")),
                    valid_to=as_datetime(r.get("validTo")),
                    current=bool(r.get("current")),
                )
                for r in raw["ownedSteps"]
            ],
            kpis=[
                KpiWithStatus.from_row(r)
                for r in sorted(raw["kpis"], key=lambda r: (bool(r.get("shared")), r["kpi"]["id"]))
            ],
            slas=[
                TeamSla(
                    sla=Sla.from_props(r["sla"]),
                    role=SlaRole(r["role"]),
                    provider=_team(r.get("provider")),
                    consumer=_team(r.get("consumer")),
                    step=Step.from_props(r["step"]) if r.get("step") else None,
                    latest=_measurement(r.get("latest")),
                    current=_measurement(r.get("current")),
                    trend=_trend(r.get("trend")),
                    compliance=sla_compliance(r["sla"], r.get("kpi"), r.get("latest")),
                )
                for r in raw["slas"]
            ],
        )
