"""SLAs between teams: entities, compliance per period and the breaches themselves."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from orggraph.context import Info
from orggraph.errors import BadInputError, NotFoundError
from orggraph.graph import slas
from orggraph.graph.kpis import periods
from orggraph.graph.model import Window as ModelWindow
from orggraph.graph.model import as_utc
from orggraph.resolvers.entities import (
    Entity,
    at_or_now,
    checked_id,
    entity_mutation,
    entity_query,
    found,
)
from orggraph.schema.enums import Window
from orggraph.schema.inputs import NameFilter, SlaInput
from orggraph.schema.relay import (
    DEFAULT_PAGE_SIZE,
    PageInfo,
    decode_cursor,
    encode_cursor,
    page_size,
)
from orggraph.schema.slas import (
    SlaBreachCase,
    SlaBreachConnection,
    SlaBreachEdge,
    SlaComplianceReport,
    SlaPeriod,
)
from orggraph.schema.types import Sla

DEFAULT_BREACH_WINDOW = timedelta(days=90)


def window_periods(
    window_from: datetime, window_to: datetime, period: ModelWindow
) -> list[tuple[datetime, datetime]]:
    """Whole calendar periods covering ``[from, to)``; ``from`` must come before ``to``."""
    start, end = as_utc(window_from), as_utc(window_to)
    if start >= end:
        raise BadInputError("'from' must be before 'to'", field="from")
    return periods(start, end - timedelta(microseconds=1), period)


async def resolve_sla_compliance(
    info: Info,
    id: strawberry.ID,
    window_from: Annotated[datetime, strawberry.argument(name="from")],
    window_to: Annotated[datetime, strawberry.argument(name="to")],
    period: Window | None = None,
    as_of: datetime | None = None,
) -> SlaComplianceReport:
    sla_id = checked_id(id, "id")
    when = at_or_now(as_of)
    if as_utc(window_from) >= as_utc(window_to):
        raise BadInputError("'from' must be before 'to'", field="from")
    sla = found(await slas.sla(info.context.graph, sla_id), "SLA", sla_id, "id")
    # A VOLUME threshold is per the SLA's own window: grade it in that window only.
    own = ModelWindow(sla["window"]) if sla.get("window") else None
    if sla.get("kind") == "VOLUME" and own is not None:
        if period is not None and period is not own:
            raise BadInputError(
                f"period: a VOLUME SLA is graded per its window {own.value}", field="period"
            )
        period = own
    chosen = period or own or ModelWindow.MONTH
    spans = window_periods(window_from, window_to, chosen)
    rows = await slas.sla_compliance(info.context.graph, sla_id, spans, when)
    return SlaComplianceReport.build(sla, chosen, when, [SlaPeriod.from_row(r) for r in rows])


def _breach_cursor(sla_id: str, customer_id: str) -> str:
    return encode_cursor(json.dumps([sla_id, customer_id]))


def _decode_breach_cursor(after: str | None) -> tuple[str, str] | None:
    raw = decode_cursor(after)
    if raw is None:
        return None
    try:
        sla_id, customer_id = json.loads(raw)
        return str(sla_id), str(customer_id)
    except (ValueError, TypeError):
        raise BadInputError("'after' is not a valid cursor", field="after") from None


async def resolve_sla_breaches(
    info: Info,
    sla_id: strawberry.ID | None = None,
    team_id: strawberry.ID | None = None,
    window_from: Annotated[datetime | None, strawberry.argument(name="from")] = None,
    window_to: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    in_breach_now: bool | None = None,
    as_of: datetime | None = None,
    first: int | None = None,
    after: str | None = None,
) -> SlaBreachConnection:
    sla = checked_id(sla_id, "slaId") if sla_id is not None else None
    team = checked_id(team_id, "teamId") if team_id is not None else None
    when = at_or_now(as_of)
    end = as_utc(window_to) if window_to else when
    start = as_utc(window_from) if window_from else end - DEFAULT_BREACH_WINDOW
    if start >= end:
        raise BadInputError("'from' must be before 'to'", field="from")
    size = page_size(first, DEFAULT_PAGE_SIZE, info.context.settings.max_page_size)
    cursor = _decode_breach_cursor(after)
    raw = await slas.sla_breaches(
        info.context.graph,
        sla_id=sla,
        team_id=team,
        window_from=start,
        window_to=end,
        in_breach_now=in_breach_now,
        as_of=when,
        first=size,
        after=cursor,
    )
    if not raw["slaExists"]:
        raise NotFoundError(f"no SLA with id '{sla}'", field="slaId")
    if not raw["teamExists"]:
        raise NotFoundError(f"no Team with id '{team}'", field="teamId")
    if raw["start"] is None:
        raise BadInputError("'after' is not a breach of this selection", field="after")
    rows = raw["page"]
    edges = [
        SlaBreachEdge(
            cursor=_breach_cursor(row["slaId"], row["customerId"]),
            node=SlaBreachCase.from_row(row),
        )
        for row in rows[:size]
    ]
    return SlaBreachConnection(
        edges=edges,
        page_info=PageInfo.of(
            [e.cursor for e in edges], has_next=len(rows) > size, has_previous=raw["start"] > 0
        ),
        total_count=raw["totalCount"],
    )


ENTITIES = (Entity(Sla, SlaInput, "SLA", "SLAs", NameFilter, article="an"),)
SlasQuery = entity_query(
    "SlasQuery",
    *ENTITIES,
    sla_compliance=strawberry.field(
        resolver=resolve_sla_compliance,
        description=(
            "An SLA's compliance over [from, to) in whole periods (default: the SLA's window): "
            "met, breached, open and in-breach-now counts, rate and trend, judged at `asOf` "
            "(default now). A VOLUME SLA is graded per its own window."
        ),
    ),
    sla_breaches=strawberry.field(
        resolver=resolve_sla_breaches,
        description=(
            "Breached hand-offs of RESPONSE_TIME SLAs (one SLA, the SLAs a team provides or "
            "consumes, or all) that started in [from, to) (default: the 90 days before `to`, "
            "default `asOf`, default now): customer, teams, step, how late; `inBreachNow` "
            "keeps the still unanswered (true) or the answered late (false)."
        ),
    ),
)
SlasMutation = entity_mutation("SlasMutation", *ENTITIES)
