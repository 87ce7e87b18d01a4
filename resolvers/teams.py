"""Teams, people, services and systems: the organisation itself."""

from __future__ import annotations

from orggraph.resolvers.entities import Entity, entity_mutation, entity_query
from orggraph.schema.inputs import (
    NameFilter,
    PersonInput,
    ServiceInput,
    SystemInput,
    TeamFilter,
    TeamInput,
)
from orggraph.schema.types import Person, Service, System, Team

ENTITIES = (
    Entity(
        Team,
        TeamInput,
        "team",
        "teams",
        TeamFilter,
        describe={"get": "A team (any unit of the organisation) by id."},
    ),
    Entity(Person, PersonInput, "person", "people", NameFilter),
    Entity(Service, ServiceInput, "service", "services", NameFilter),
    Entity(System, SystemInput, "system", "systems", NameFilter),
)
TeamsQuery = entity_query("TeamsQuery", *ENTITIES)
TeamsMutation = entity_mutation("TeamsMutation", *ENTITIES)
