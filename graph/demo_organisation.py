"""The demo organisation's description (``demo/organisation.yaml``), loaded and checked.

The file says what the organisation is (teams, people per team, services,
systems, channels, campaigns, processes with their steps and owners, KPIs,
SLAs); ``graph/seed.py`` turns it into rows and generates customers around it.
Loading validates every entry (unknown keys, missing fields, values outside
the model's enums) and every reference between entries (a step owned by a team
the file does not define), and reports all problems at once, each named by its
place in the file, e.g. ``teams[3].parent``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from orggraph.graph import model
from orggraph.graph.model import NodeId

DEMO_ORGANISATION_FILE = "demo/organisation.yaml"
TIMELINE_END = datetime(2024, 12, 1, tzinfo=UTC)
"""The file's dates (owners' ``from``/``to``) are written for generated data ending here;
the seed moves them by whole days so that they keep their place in a timeline ending on
another day (the demo's: the day it is loaded)."""


class DemoOrganisationError(ValueError):
    """The organisation file is not valid: every problem, one line each."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoTeam(_Entry):
    id: NodeId
    name: str
    kind: model.TeamKind | None = None
    function: model.Function | None = None
    parent: NodeId | None = None
    also_part_of: tuple[NodeId, ...] = ()
    members: int = Field(default=0, ge=0, le=1000)


class DemoService(_Entry):
    id: NodeId
    name: str
    audience: model.ServiceAudience
    provider: NodeId
    consumers: tuple[NodeId, ...] = ()


class DemoSystem(_Entry):
    id: NodeId
    name: str
    kind: model.SystemKind
    operator: NodeId


class DemoChannel(_Entry):
    id: NodeId
    name: str
    kind: model.ChannelKind
    online: bool
    served_by: tuple[NodeId, ...] = ()


class FirstTouch(_Entry):
    channel: NodeId
    type: model.TouchpointType


class DemoCampaign(_Entry):
    id: NodeId
    name: str
    source_kind: model.SourceKind
    team: NodeId
    weight: int = Field(gt=0)
    first_touch: FirstTouch


class DemoOwner(_Entry):
    team: NodeId
    valid_from: AwareDatetime = Field(alias="from")
    valid_to: AwareDatetime | None = Field(default=None, alias="to")


class DemoStep(_Entry):
    id: NodeId
    name: str
    stage: model.Stage
    owners: tuple[DemoOwner, ...] = ()
    supported_by: tuple[NodeId, ...] = ()


class DemoProcess(_Entry):
    id: NodeId
    name: str
    lifecycle: model.Lifecycle
    steps: tuple[DemoStep, ...] = Field(min_length=1)


class DemoMeasures(_Entry):
    steps: tuple[NodeId, ...] = ()
    processes: tuple[NodeId, ...] = ()
    channels: tuple[NodeId, ...] = ()
    campaigns: tuple[NodeId, ...] = ()


class DemoKpi(_Entry):
    id: NodeId
    name: str
    unit: str
    direction: model.KpiDirection
    target: float = Field(allow_inf_nan=False)
    window: model.Window
    accountable: NodeId
    shared_with: tuple[NodeId, ...] = ()
    measures: DemoMeasures = DemoMeasures()
    definition: dict[str, str] | None = None


class DemoSla(_Entry):
    id: NodeId
    name: str
    kind: model.SlaKind
    threshold: float = Field(allow_inf_nan=False)
    unit: str
    window: model.Window
    provider: NodeId
    consumer: NodeId
    step: NodeId
    kpi: NodeId


@dataclass(frozen=True)
class DemoPerson:
    """A generated member of a team with ``members``: the first one leads."""

    id: str
    name: str
    role: str
    team: str


class DemoOrganisation(_Entry):
    teams: tuple[DemoTeam, ...]
    services: tuple[DemoService, ...] = ()
    systems: tuple[DemoSystem, ...] = ()
    channels: tuple[DemoChannel, ...] = ()
    campaigns: tuple[DemoCampaign, ...] = Field(min_length=1)
    processes: tuple[DemoProcess, ...] = ()
    kpis: tuple[DemoKpi, ...] = ()
    slas: tuple[DemoSla, ...] = ()

    @property
    def steps(self) -> tuple[DemoStep, ...]:
        return tuple(s for p in self.processes for s in p.steps)

    def people(self) -> list[DemoPerson]:
        """``members`` people per team, ids and names from the team id (``t-`` dropped)."""
        people: list[DemoPerson] = []
        for team in self.teams:
            slug = team.id.removeprefix("t-")
            for k in range(1, team.members + 1):
                name = f"{slug.replace('-', ' ').title()} member {k}"
                role = "lead" if k == 1 else "member"
                people.append(DemoPerson(f"p-{slug}-{k}", name, role, team.id))
        return people

    def shifted(self, delta: timedelta) -> DemoOrganisation:
        """The same organisation with every instant moved by ``delta`` (the file's dates are
        written for a timeline ending on ``TIMELINE_END``; the demo's ends on its load day)."""
        if not delta:
            return self

        def owner(o: DemoOwner) -> DemoOwner:
            until = None if o.valid_to is None else o.valid_to + delta
            return o.model_copy(update={"valid_from": o.valid_from + delta, "valid_to": until})

        processes = tuple(
            p.model_copy(
                update={
                    "steps": tuple(
                        s.model_copy(update={"owners": tuple(owner(o) for o in s.owners)})
                        for s in p.steps
                    )
                }
            )
            for p in self.processes
        )
        return self.model_copy(update={"processes": processes})

    def sla(self, sla_id: str) -> DemoSla:
        for sla in self.slas:
            if sla.id == sla_id:
                return sla
        raise KeyError(sla_id)


def load_demo_organisation() -> DemoOrganisation:
    """The organisation shipped with the package (``graph/demo/organisation.yaml``)."""
    resource = files("orggraph.graph").joinpath(DEMO_ORGANISATION_FILE)
    return parse_demo_organisation(resource.read_text(encoding="utf-8"), DEMO_ORGANISATION_FILE)


def parse_demo_organisation(text: str, origin: str) -> DemoOrganisation:
    """Parse and check an organisation file; ``origin`` names it in the errors."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DemoOrganisationError(f"{origin}: not valid YAML: {error}") from error
    try:
        organisation = DemoOrganisation.model_validate(raw)
    except ValidationError as error:
        problems = [f"{_path(e['loc'])}: {e['msg']}" for e in error.errors()]
        raise _error(origin, problems) from error
    problems = list(_duplicate_ids(organisation)) + list(_unknown_references(organisation))
    if problems:
        raise _error(origin, problems)
    return organisation


def _error(origin: str, problems: Sequence[str]) -> DemoOrganisationError:
    return DemoOrganisationError("\n".join(f"{origin}: {p}" for p in problems))


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(the whole file)"


def _entries(org: DemoOrganisation) -> Iterator[tuple[str, str, str]]:
    """(kind, YAML path, id) of every entry that others can refer to."""
    for section, kind in (
        ("teams", "team"),
        ("services", "service"),
        ("systems", "system"),
        ("channels", "channel"),
        ("campaigns", "campaign"),
        ("processes", "process"),
        ("kpis", "KPI"),
        ("slas", "SLA"),
    ):
        for i, entry in enumerate(getattr(org, section)):
            yield kind, f"{section}[{i}]", entry.id
    for i, process in enumerate(org.processes):
        for j, step in enumerate(process.steps):
            yield "step", f"processes[{i}].steps[{j}]", step.id


def _duplicate_ids(org: DemoOrganisation) -> Iterator[str]:
    seen: dict[tuple[str, str], str] = {}
    for kind, path, entry_id in _entries(org):
        if (kind, entry_id) in seen:
            yield f"{path}.id: {kind} {entry_id!r} is already defined at {seen[kind, entry_id]}"
        seen.setdefault((kind, entry_id), path)


def _references(org: DemoOrganisation) -> Iterator[tuple[str, str, str]]:
    """(YAML path, kind, id) of every reference from one entry to another."""

    def many(path: str, kind: str, ids: Sequence[str]) -> Iterator[tuple[str, str, str]]:
        for k, ref in enumerate(ids):
            yield f"{path}[{k}]", kind, ref

    for i, t in enumerate(org.teams):
        if t.parent is not None:
            yield f"teams[{i}].parent", "team", t.parent
        yield from many(f"teams[{i}].also_part_of", "team", t.also_part_of)
    for i, s in enumerate(org.services):
        yield f"services[{i}].provider", "team", s.provider
        yield from many(f"services[{i}].consumers", "team", s.consumers)
    for i, y in enumerate(org.systems):
        yield f"systems[{i}].operator", "team", y.operator
    for i, c in enumerate(org.channels):
        yield from many(f"channels[{i}].served_by", "team", c.served_by)
    for i, m in enumerate(org.campaigns):
        yield f"campaigns[{i}].team", "team", m.team
        yield f"campaigns[{i}].first_touch.channel", "channel", m.first_touch.channel
    for i, p in enumerate(org.processes):
        for j, step in enumerate(p.steps):
            path = f"processes[{i}].steps[{j}]"
            for k, owner in enumerate(step.owners):
                yield f"{path}.owners[{k}].team", "team", owner.team
            yield from many(f"{path}.supported_by", "system", step.supported_by)
    for i, kpi in enumerate(org.kpis):
        yield f"kpis[{i}].accountable", "team", kpi.accountable
        yield from many(f"kpis[{i}].shared_with", "team", kpi.shared_with)
        for section, kind in (
            ("steps", "step"),
            ("processes", "process"),
            ("channels", "channel"),
            ("campaigns", "campaign"),
        ):
            yield from many(f"kpis[{i}].measures.{section}", kind, getattr(kpi.measures, section))
    for i, sla in enumerate(org.slas):
        yield f"slas[{i}].provider", "team", sla.provider
        yield f"slas[{i}].consumer", "team", sla.consumer
        yield f"slas[{i}].step", "step", sla.step
        yield f"slas[{i}].kpi", "KPI", sla.kpi


def _unknown_references(org: DemoOrganisation) -> Iterator[str]:
    known = {(kind, entry_id) for kind, _, entry_id in _entries(org)}
    for path, kind, ref in _references(org):
        if (kind, ref) not in known:
            yield f"{path}: no {kind} has the id {ref!r}"
    for i, p in enumerate(org.processes):
        for j, step in enumerate(p.steps):
            for k, owner in enumerate(step.owners):
                if owner.valid_to is not None and owner.valid_to <= owner.valid_from:
                    path = f"processes[{i}].steps[{j}].owners[{k}]"
                    yield f"{path}.to: ownership ends before it starts"
