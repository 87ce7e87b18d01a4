"""SLAs between teams."""

from __future__ import annotations

import strawberry

from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
from orggraph.schema.inputs import NameFilter, SlaInput
from orggraph.schema.types import Sla


@strawberry.type
class SlasQuery:
    sla = get_field(Sla, "An SLA by id.")
    slas = list_field(Sla, NameFilter, "SLAs, by id.")


@strawberry.type
class SlasMutation:
    upsert_sla = upsert_one_field(Sla, SlaInput, "Create or update an SLA.")
    upsert_slas = upsert_many_field(Sla, SlaInput, "Create or update SLAs.")
