"""GraphQL inputs: one per label (upserts), filters for list queries, relationships.

Inputs are converted to plain dicts (``to_dict``) and validated by the model's
pydantic records, so GraphQL and imports share exactly one set of rules.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from decimal import Decimal
from typing import Any

import strawberry
from pydantic.alias_generators import to_camel
from strawberry.scalars import JSON

from orggraph.errors import BadInputError
from orggraph.graph.filters import plain_type
from orggraph.graph.model import RECORDS, REFS
from orggraph.graph.money import PLACES
from orggraph.schema.filters import declare

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


# Each label's upsert input (``record_input``).
INPUTS: dict[str, Any] = {}
# What each money field is (the description of its exact input).
MONEY_FIELDS = {"value": "Money (e.g. a purchase's revenue)", "amount": "The amount"}


def record_input(label: str, description: str | None = None) -> Any:
    """``<Label>Input``, the upsert input of a label, from its record (``graph.model``):
    the id and the fields without a default required, in the record's order; references
    as ids; a money field twice, exact and as the deprecated float (``exact_money``)."""
    record = RECORDS[label]
    required: dict[str, tuple[Any, str | None]] = {}
    optional: dict[str, tuple[Any, str | None]] = {}
    described: dict[str, Any] = {}
    for name, info in record.model_fields.items():
        if name in record.money_fields:
            exact = name + EXACT
            optional[name] = (float | None, None)
            optional[exact] = (Decimal | None, None)
            described[name] = float_money(to_camel(exact))
            described[exact] = exact_money_field(MONEY_FIELDS[name])
            continue
        plain = plain_type(info.annotation)
        if name == "id" or name in REFS.get(label, {}):
            plain = strawberry.ID
        elif dict in (plain, typing.get_origin(plain)):
            plain = JSON
        if info.is_required():
            required[name] = (plain, None)
        else:
            optional[name] = (plain | None, None)
    fields = {**required, **optional}
    INPUTS[label] = declare(
        f"{label}Input",
        fields,
        input=True,
        description=description,
        extra=described,
        required=frozenset(required),
    )
    return INPUTS[label]


TeamInput = record_input("Team")
PersonInput = record_input("Person")
ServiceInput = record_input("Service")
SystemInput = record_input("System")
ProcessInput = record_input("Process")
StepInput = record_input("Step")
CustomerInput = record_input("Customer")
ChannelInput = record_input("Channel")
CampaignInput = record_input("Campaign")
DealInput = record_input("Deal")
KpiInput = record_input("KPI")
MeasurementInput = record_input("Measurement")
SlaInput = record_input("SLA")
BusinessObjectInput = record_input("BusinessObject")


@strawberry.input(description="One relationship: from and to ids, and its properties.")
class RelationshipInput:
    from_: strawberry.ID = strawberry.field(name="from")
    to: strawberry.ID
    properties: JSON | None = UNSET


# --- filters for list queries ------------------------------------------------------------


def list_filter(label: str, *equal: str, extra: dict[str, tuple[Any, Any]] | None = None) -> Any:
    """``<Label>Filter``, the (deprecated) ``filter`` of a list field: the record's
    ``equal`` fields matched exactly, typed as in the model; ``nameContains`` where the
    record has a name; then ``extra`` (Python name -> (annotation, default or field))."""
    fields = RECORDS[label].model_fields
    declared = {name: plain_type(fields[name].annotation) | None for name in equal}
    if "name" in fields:
        declared["name_contains"] = str | None
    namespace: dict[str, Any] = dict.fromkeys(declared)
    for name, (annotation, default) in (extra or {}).items():
        declared[name], namespace[name] = annotation, default
    return strawberry.input(type(f"{label}Filter", (), {**namespace, "__annotations__": declared}))


@strawberry.input
class NameFilter:
    name_contains: str | None = None


TeamFilter = list_filter("Team", "kind", "function")
CustomerFilter = list_filter(
    "Customer",
    "kind",
    "segment",
    extra={
        "email": (
            str | None,
            strawberry.field(
                default=None,
                description=(
                    "Exactly this email (trimmed, case-insensitive); needs the `pii` claim."
                ),
            ),
        )
    },
)
StepFilter = list_filter("Step", "stage")
ProcessFilter = list_filter("Process", "lifecycle")
ChannelFilter = list_filter("Channel", "kind", "online")
DealFilter = list_filter("Deal", "won", "currency")
BusinessObjectFilter = list_filter("BusinessObject", "type")
