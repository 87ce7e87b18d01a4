"""GraphQL inputs: one per label (upserts), filters for list queries, relationships.

Inputs are converted to plain dicts (``to_dict``) and validated by the model's
pydantic records, so GraphQL and imports share exactly one set of rules.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from pydantic.alias_generators import to_camel
from strawberry.scalars import JSON

from orggraph.errors import BadInputError
from orggraph.graph.money import PLACES
from orggraph.schema import enums

UNSET: Any = strawberry.UNSET


def to_dict(value: Any) -> Any:
    """A strawberry input as a plain dict, leaving out fields the client omitted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return exact_money(
            {
                f.name: to_dict(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if getattr(value, f.name) is not strawberry.UNSET
            }
        )
    if isinstance(value, list):
        return [to_dict(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


EXACT = "_exact"


def exact_money(row: dict[str, Any]) -> dict[str, Any]:
    """A money field given exactly (``amountExact``, a Decimal string) becomes the field
    itself (``amount``) for the model; given both ways, they must agree."""
    for name in [key for key in row if key.endswith(EXACT)]:
        field, exact = name.removesuffix(EXACT), row.pop(name)
        number = row.get(field)
        if number is not None and exact is not None and Decimal(str(number)) != exact:
            raise BadInputError(
                f"'{to_camel(field)}' ({number}) and '{to_camel(name)}' ({exact}) differ: "
                f"give '{to_camel(name)}' alone",
                field=to_camel(name),
            )
        if exact is not None or field not in row:
            row[field] = exact
    return row


def float_money(exact: str) -> Any:
    """The deprecated float twin of a money input (kept for one release)."""
    return strawberry.field(
        default=UNSET,
        description=f"As a float (its decimal text is what counts): prefer {exact}.",
        deprecation_reason=f"A float cannot carry every amount exactly: give {exact}.",
    )


def exact_money_field(what: str) -> Any:
    return strawberry.field(
        default=UNSET,
        description=f"{what}, exact: a decimal string of at most {PLACES} decimal places.",
    )


@strawberry.input
class TeamInput:
    id: strawberry.ID
    name: str
    kind: enums.TeamKind | None = UNSET
    function: enums.Function | None = UNSET


@strawberry.input
class PersonInput:
    id: strawberry.ID
    name: str
    role: str | None = UNSET


@strawberry.input
class ServiceInput:
    id: strawberry.ID
    name: str
    audience: enums.ServiceAudience | None = UNSET


@strawberry.input
class SystemInput:
    id: strawberry.ID
    name: str
    kind: enums.SystemKind | None = UNSET


@strawberry.input
class ProcessInput:
    id: strawberry.ID
    name: str
    lifecycle: enums.Lifecycle | None = UNSET


@strawberry.input
class StepInput:
    id: strawberry.ID
    name: str
    stage: enums.Stage | None = UNSET
    process_id: strawberry.ID | None = UNSET
    order: int | None = UNSET


@strawberry.input
class CustomerInput:
    id: strawberry.ID
    name: str
    kind: enums.CustomerKind | None = UNSET
    segment: str | None = UNSET
    email: str | None = UNSET


@strawberry.input(description="A touchpoint; the *Id fields link it (replacing earlier links).")
class TouchpointInput:
    id: strawberry.ID
    at: datetime
    type: enums.TouchpointType
    activity: str | None = UNSET
    value: float | None = float_money("valueExact")
    value_exact: Decimal | None = exact_money_field("Money (e.g. a purchase's revenue)")
    attributes: JSON | None = UNSET
    customer_id: strawberry.ID | None = UNSET
    channel_id: strawberry.ID | None = UNSET
    campaign_id: strawberry.ID | None = UNSET
    team_id: strawberry.ID | None = UNSET
    person_id: strawberry.ID | None = UNSET
    step_id: strawberry.ID | None = UNSET


@strawberry.input
class ChannelInput:
    id: strawberry.ID
    name: str
    kind: enums.ChannelKind
    online: bool | None = UNSET


@strawberry.input
class CampaignInput:
    id: strawberry.ID
    name: str
    source_kind: enums.SourceKind | None = UNSET
    team_id: strawberry.ID | None = UNSET


@strawberry.input
class DealInput:
    id: strawberry.ID
    opened_at: datetime
    amount: float | None = float_money("amountExact")
    amount_exact: Decimal | None = exact_money_field("The amount")
    currency: str | None = UNSET
    closed_at: datetime | None = UNSET
    won: bool | None = UNSET
    customer_id: strawberry.ID | None = UNSET
    team_id: strawberry.ID | None = UNSET


@strawberry.input(name="KPIInput")
class KpiInput:
    id: strawberry.ID
    name: str
    unit: str | None = UNSET
    direction: enums.KpiDirection | None = UNSET
    target: float | None = UNSET
    definition: JSON | None = UNSET
    window: enums.Window | None = UNSET
    accountable_team_id: strawberry.ID | None = UNSET


@strawberry.input
class MeasurementInput:
    id: strawberry.ID
    at: datetime
    period_start: datetime
    value: float | None = UNSET
    sample_size: int | None = UNSET
    kpi_id: strawberry.ID | None = UNSET


@strawberry.input(name="SLAInput")
class SlaInput:
    id: strawberry.ID
    name: str
    threshold: float
    kind: enums.SlaKind | None = UNSET
    unit: str | None = UNSET
    window: enums.Window | None = UNSET
    provider_team_id: strawberry.ID | None = UNSET
    consumer_team_id: strawberry.ID | None = UNSET
    step_id: strawberry.ID | None = UNSET
    kpi_id: strawberry.ID | None = UNSET


@strawberry.input
class BusinessObjectInput:
    id: strawberry.ID
    type: str
    name: str | None = UNSET
    attributes: JSON | None = UNSET


@strawberry.input(description="One relationship: from and to ids, and its properties.")
class RelationshipInput:
    from_: strawberry.ID = strawberry.field(name="from")
    to: strawberry.ID
    properties: JSON | None = UNSET


@strawberry.input
class RelationshipBatchInput:
    kind: enums.RelationshipKind
    rows: list[RelationshipInput]


@strawberry.input(description="Entities and relationships written in one transaction.")
class GraphInput:
    teams: list[TeamInput] | None = UNSET
    people: list[PersonInput] | None = UNSET
    services: list[ServiceInput] | None = UNSET
    systems: list[SystemInput] | None = UNSET
    processes: list[ProcessInput] | None = UNSET
    steps: list[StepInput] | None = UNSET
    channels: list[ChannelInput] | None = UNSET
    campaigns: list[CampaignInput] | None = UNSET
    customers: list[CustomerInput] | None = UNSET
    business_objects: list[BusinessObjectInput] | None = UNSET
    deals: list[DealInput] | None = UNSET
    kpis: list[KpiInput] | None = UNSET
    measurements: list[MeasurementInput] | None = UNSET
    slas: list[SlaInput] | None = UNSET
    touchpoints: list[TouchpointInput] | None = UNSET
    relationships: list[RelationshipBatchInput] | None = UNSET


# Labels in the order an upsertGraph writes them (referenced entities first).
GRAPH_INPUT_LABELS: tuple[tuple[str, str], ...] = (
    ("teams", "Team"),
    ("people", "Person"),
    ("services", "Service"),
    ("systems", "System"),
    ("processes", "Process"),
    ("steps", "Step"),
    ("channels", "Channel"),
    ("campaigns", "Campaign"),
    ("customers", "Customer"),
    ("business_objects", "BusinessObject"),
    ("kpis", "KPI"),
    ("deals", "Deal"),
    ("measurements", "Measurement"),
    ("slas", "SLA"),
    ("touchpoints", "Touchpoint"),
)


# --- filters for list queries ------------------------------------------------------------


@strawberry.input
class TeamFilter:
    kind: enums.TeamKind | None = None
    function: enums.Function | None = None
    name_contains: str | None = None


@strawberry.input
class CustomerFilter:
    kind: enums.CustomerKind | None = None
    segment: str | None = None
    name_contains: str | None = None
    email: str | None = strawberry.field(
        default=None,
        description="Exactly this email (trimmed, case-insensitive); needs the `pii` claim.",
    )


@strawberry.input
class TouchpointFilter:
    type: enums.TouchpointType | None = None
    activity: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None


@strawberry.input
class StepFilter:
    stage: enums.Stage | None = None
    name_contains: str | None = None


@strawberry.input
class ProcessFilter:
    lifecycle: enums.Lifecycle | None = None
    name_contains: str | None = None


@strawberry.input
class ChannelFilter:
    kind: enums.ChannelKind | None = None
    online: bool | None = None
    name_contains: str | None = None


@strawberry.input
class NameFilter:
    name_contains: str | None = None


@strawberry.input
class DealFilter:
    won: bool | None = None
    currency: str | None = None


@strawberry.input
class BusinessObjectFilter:
    type: str | None = None
    name_contains: str | None = None
