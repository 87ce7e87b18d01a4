"""Touchpoints: the events of customer journeys."""

from __future__ import annotations

import strawberry

from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
from orggraph.schema.inputs import TouchpointFilter, TouchpointInput
from orggraph.schema.types import Touchpoint


@strawberry.type
class JourneysQuery:
    touchpoint = get_field(Touchpoint, "A touchpoint by id.")
    touchpoints = list_field(Touchpoint, TouchpointFilter, "Touchpoints, by id, filtered.")


@strawberry.type
class JourneysMutation:
    upsert_touchpoint = upsert_one_field(
        Touchpoint, TouchpointInput, "Create or update a touchpoint; the journey chain follows."
    )
    upsert_touchpoints = upsert_many_field(
        Touchpoint, TouchpointInput, "Create or update touchpoints; the journey chain follows."
    )
