"""Teams, people, services and systems: the organisation itself."""

from __future__ import annotations

import strawberry

from orggraph.resolvers.entities import (
    get_field,
    list_field,
    upsert_many_field,
    upsert_one_field,
)
from orggraph.schema.inputs import (
    NameFilter,
    PersonInput,
    ServiceInput,
    SystemInput,
    TeamFilter,
    TeamInput,
)
from orggraph.schema.types import Person, Service, System, Team


@strawberry.type
class TeamsQuery:
    team = get_field(Team, "A team (any unit of the organisation) by id.")
    teams = list_field(Team, TeamFilter, "Teams, by id, filtered.")
    person = get_field(Person, "A person by id.")
    people = list_field(Person, NameFilter, "People, by id.")
    service = get_field(Service, "A service by id.")
    services = list_field(Service, NameFilter, "Services, by id.")
    system = get_field(System, "A system by id.")
    systems = list_field(System, NameFilter, "Systems, by id.")


@strawberry.type
class TeamsMutation:
    upsert_team = upsert_one_field(Team, TeamInput, "Create or update a team.")
    upsert_teams = upsert_many_field(Team, TeamInput, "Create or update teams.")
    upsert_person = upsert_one_field(Person, PersonInput, "Create or update a person.")
    upsert_people = upsert_many_field(Person, PersonInput, "Create or update people.")
    upsert_service = upsert_one_field(Service, ServiceInput, "Create or update a service.")
    upsert_services = upsert_many_field(Service, ServiceInput, "Create or update services.")
    upsert_system = upsert_one_field(System, SystemInput, "Create or update a system.")
    upsert_systems = upsert_many_field(System, SystemInput, "Create or update systems.")
