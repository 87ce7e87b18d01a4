"""Types of KPI values over a window that is not a stored calendar period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.schema.enums import KpiStatus
from orggraph.schema.types import as_float


@strawberry.type(
    description=(
        "A KPI's value over a rolling window (the last N days up to now) or all the data, "
        "computed on request by the KPI's measure (not stored as a Measurement)."
    )
)
class KpiValue:
    kpi_id: strawberry.ID
    since: datetime = strawberry.field(description="Start of the window (included).")
    until: datetime = strawberry.field(description="End of the window (excluded): now.")
    value: float | None
    sample_size: int
    status: KpiStatus = strawberry.field(description="Against the KPI's target and direction.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> KpiValue:
        return cls(
            kpi_id=strawberry.ID(row["kpiId"]),
            since=row["since"],
            until=row["until"],
            value=as_float(row["value"]),
            sample_size=row["sampleSize"],
            status=KpiStatus(row["status"]),
        )
