"""The answer of a customer's erasure (right to be forgotten)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from orggraph.graph.erasure import Erasure
from orggraph.schema.results import from_fields


@strawberry.type(
    description=(
        "A customer's erasure: which id, when, by whom and what became of its touchpoints. "
        "Holds nothing personal, like the (:Erasure) record the graph keeps."
    )
)
class ErasureResult:
    customer_id: strawberry.ID
    found: bool = strawberry.field(description="False: no such customer, nothing was done.")
    erased_at: datetime | None = strawberry.field(description="When it was first erased.")
    erased_by: str | None = strawberry.field(description="The subject who first erased it.")
    touchpoints: str | None = strawberry.field(
        description="'anonymise' or 'delete' (setting ORGGRAPH_ERASURE_TOUCHPOINTS)."
    )
    touchpoints_erased: int = strawberry.field(description="Touchpoints anonymised or deleted now.")
    already_erased: bool = strawberry.field(
        description="True: an earlier call erased it; this one changed nothing new."
    )

    @classmethod
    def from_erasure(cls, erasure: Erasure) -> ErasureResult:
        return from_fields(cls, erasure)
