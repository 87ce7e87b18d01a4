"""Result types of the reorganisation-impact traversal and its merge what-if."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from orggraph.graph.named_enum import NamedEnum
from orggraph.graph.reorg import (
    Change,
    HandoffChange,
    HandOver,
    Holding,
    Move,
    NewTeam,
    Plan,
    merge_handoffs,
)
from orggraph.schema.processes import StepInProcess
from orggraph.schema.team_services import ServiceLink, SlaRole
from orggraph.schema.types import (
    Campaign,
    Channel,
    Customer,
    Kpi,
    Process,
    Service,
    Sla,
    Step,
    Team,
    as_datetime,
)

# The most customers in flight `reorgImpact(first:)` lists.
MAX_IN_FLIGHT_SAMPLE = 1000


FeedKind = NamedEnum("FeedKind", "STEP PROCESS CHANNEL CAMPAIGN")
strawberry.enum(FeedKind, description="What a KPI measures that the team contributes.")


@strawberry.type(description="A step the team owns now, in its process.")
class ReorgStep(StepInProcess):
    """Each step the team owns now."""


@strawberry.type(description="Something a KPI measures that the team owns, serves or runs.")
class FeedSource:
    kind: FeedKind
    id: strawberry.ID
    name: str | None


@strawberry.type(description="A KPI the team feeds (without necessarily being accountable for it).")
class FedKpi:
    kpi: Kpi
    accountable: Team | None
    through: list[FeedSource]


@strawberry.type(description="An SLA the team is party to.")
class ReorgSla:
    sla: Sla
    roles: list[SlaRole] = strawberry.field(description="PROVIDER, CONSUMER or both.")
    provider: Team | None
    consumer: Team | None
    step: Step | None


@strawberry.type(description="A channel the team serves and who else serves it.")
class ServedChannel:
    channel: Channel
    other_teams: list[Team]
    sole_server: bool = strawberry.field(description="No other team serves it.")


@strawberry.type(description="Customers in flight at one of the team's steps.")
class StepInFlight:
    step: Step
    customers: int


@strawberry.type(description="A customer whose latest touchpoint is at one of the team's steps.")
class CustomerInFlight:
    customer: Customer
    step_id: strawberry.ID
    last_touch_at: datetime | None


@strawberry.type(
    description="Consecutive steps of a process and their owners before / after a merge."
)
class HandoffDiff:
    process_id: strawberry.ID
    from_step: Step
    to_step: Step
    from_teams_before: list[strawberry.ID]
    to_teams_before: list[strawberry.ID]
    from_teams_after: list[strawberry.ID]
    to_teams_after: list[strawberry.ID]


@strawberry.type(description="An SLA whose parties change in the merge.")
class SlaChange:
    sla: Sla
    provider_before: Team | None
    consumer_before: Team | None
    provider_after: Team | None
    consumer_after: Team | None
    becomes_internal: bool = strawberry.field(description="Provider and consumer become one team.")


@strawberry.type(
    description=(
        "What-if of merging the team into `target` (nothing is written): its current step "
        "ownerships, services, channels, campaigns and SLA roles pass to the target; KPI "
        "accountability does not pass by itself."
    )
)
class ReorgWhatIf:
    target: Team
    handoffs_removed: list[HandoffDiff] = strawberry.field(
        description="Hand-offs that disappear (become internal to the target)."
    )
    handoffs_added: list[HandoffDiff] = strawberry.field(
        description="Hand-offs that appear (none when whole owner sets move together)."
    )
    handoffs_changed: list[HandoffDiff] = strawberry.field(
        description="Hand-offs that stay, with different teams on one side."
    )
    sla_changes: list[SlaChange]
    kpis_losing_accountable_team: list[Kpi] = strawberry.field(
        description="KPIs the team is accountable for: they need a new accountable team."
    )
    services_becoming_internal: list[Service] = strawberry.field(
        description="Services between the team and the target: provider and consumer become one."
    )
    channels_gained: list[Channel] = strawberry.field(
        description="Channels the team serves that the target does not serve yet."
    )


@strawberry.type(description="Everything that depends on a team, and optionally a merge's what-if.")
class ReorgImpact:
    team: Team
    at: datetime
    owned_steps: list[ReorgStep]
    processes: list[Process]
    accountable_kpis: list[Kpi]
    shared_kpis: list[Kpi]
    fed_kpis: list[FedKpi]
    slas: list[ReorgSla]
    channels: list[ServedChannel]
    campaigns: list[Campaign]
    provides: list[ServiceLink]
    consumes: list[ServiceLink]
    customers_in_flight: int
    in_flight_by_step: list[StepInFlight]
    latest_customers_in_flight: list[CustomerInFlight] = strawberry.field(
        description="The most recent customers in flight (latest touch first), at most `first`."
    )
    what_if: ReorgWhatIf | None


def _team(props: dict[str, Any] | None) -> Team | None:
    return Team.from_props(props) if props else None


def _ids(ids: frozenset[str] | None) -> list[strawberry.ID]:
    return [strawberry.ID(i) for i in sorted(ids or ())]


def _diff(change: HandoffChange) -> HandoffDiff:
    return HandoffDiff(
        process_id=strawberry.ID(change.process_id),
        from_step=Step.from_props(change.from_step),
        to_step=Step.from_props(change.to_step),
        from_teams_before=_ids(change.before[0]),
        to_teams_before=_ids(change.before[1]),
        from_teams_after=_ids(change.after[0]),
        to_teams_after=_ids(change.after[1]),
    )


def build_what_if(raw: dict[str, Any]) -> ReorgWhatIf:
    team_id, target = raw["team"]["id"], raw["target"]
    target_id = target["id"]
    effects = merge_handoffs(raw["processes"], team_id, target_id)

    def after(party: dict[str, Any] | None) -> dict[str, Any] | None:
        return target if party and party["id"] == team_id else party

    sla_changes = []
    for row in raw["slas"]:
        provider, consumer = after(row.get("provider")), after(row.get("consumer"))
        sla_changes.append(
            SlaChange(
                sla=Sla.from_props(row["sla"]),
                provider_before=_team(row.get("provider")),
                consumer_before=_team(row.get("consumer")),
                provider_after=_team(provider),
                consumer_after=_team(consumer),
                becomes_internal=bool(provider and consumer and provider["id"] == consumer["id"]),
            )
        )
    internal = [
        Service.from_props(link["service"])
        for link in raw["provides"] + raw["consumes"]
        if any(t["id"] == target_id for t in link["teams"])
    ]
    return ReorgWhatIf(
        target=Team.from_props(target),
        handoffs_removed=[_diff(c) for c in effects.handoffs_removed],
        handoffs_added=[_diff(c) for c in effects.handoffs_added],
        handoffs_changed=[_diff(c) for c in effects.handoffs_changed],
        sla_changes=sla_changes,
        kpis_losing_accountable_team=[Kpi.from_props(k) for k in raw["accountableKpis"]],
        services_becoming_internal=sorted(internal, key=lambda s: s.id),
        channels_gained=[
            Channel.from_props(row["channel"])
            for row in raw["channels"]
            if not any(t["id"] == target_id for t in row["teams"])
        ],
    )


def build_reorg_impact(raw: dict[str, Any], at: datetime, first: int) -> ReorgImpact:
    team_id = raw["team"]["id"]

    samples = sorted(
        (s for per_step in raw["inFlightSamples"] for s in per_step),
        key=lambda s: (-s["at"].to_native().timestamp(), s["customer"]["id"]),
    )[:first]
    by_step = sorted(raw["inFlightByStep"], key=lambda r: r["step"]["id"])
    return ReorgImpact(
        team=Team.from_props(raw["team"]),
        at=at,
        owned_steps=[ReorgStep.from_row(r) for r in raw["ownedSteps"]],
        processes=[Process.from_props(p["process"]) for p in raw["processes"]],
        accountable_kpis=[Kpi.from_props(k) for k in raw["accountableKpis"]],
        shared_kpis=[Kpi.from_props(k) for k in raw["sharedKpis"]],
        fed_kpis=[
            FedKpi(
                kpi=Kpi.from_props(r["kpi"]),
                accountable=_team(r.get("accountable")),
                through=[
                    FeedSource(
                        kind=FeedKind(x["kind"].upper()),
                        id=strawberry.ID(x["id"]),
                        name=x.get("name"),
                    )
                    for x in r["through"]
                ],
            )
            for r in raw["fedKpis"]
        ],
        slas=[
            ReorgSla(
                sla=Sla.from_props(r["sla"]),
                roles=[
                    role
                    for role, party in (
                        (SlaRole.PROVIDER, r.get("provider")),
                        (SlaRole.CONSUMER, r.get("consumer")),
                    )
                    if party and party["id"] == team_id
                ],
                provider=_team(r.get("provider")),
                consumer=_team(r.get("consumer")),
                step=Step.from_props(r["step"]) if r.get("step") else None,
            )
            for r in raw["slas"]
        ],
        channels=[
            ServedChannel(
                channel=Channel.from_props(r["channel"]),
                other_teams=[Team.from_props(t) for t in r["teams"]],
                sole_server=not r["teams"],
            )
            for r in raw["channels"]
        ],
        campaigns=[Campaign.from_props(c) for c in raw["campaigns"]],
        provides=ServiceLink.from_rows(raw["provides"]),
        consumes=ServiceLink.from_rows(raw["consumes"]),
        customers_in_flight=sum(r["customers"] for r in by_step),
        in_flight_by_step=[
            StepInFlight(step=Step.from_props(r["step"]), customers=r["customers"]) for r in by_step
        ],
        latest_customers_in_flight=[
            CustomerInFlight(
                customer=Customer.from_props(s["customer"]),
                step_id=strawberry.ID(s["stepId"]),
                last_touch_at=as_datetime(s["at"]),
            )
            for s in samples
        ],
        what_if=build_what_if(raw) if raw.get("target") else None,
    )


# --- the reorganisation plan: previewed by `reorganisationPreview`, applied as is -------

# The most items (merges + new teams + moves + renames) one plan may carry.
MAX_PLAN_ITEMS = 5_000

strawberry.enum(
    Holding,
    name="HoldingKind",
    description=(
        "What a team holds: a STEP it owns, a PERSON member, a child TEAM, a CHANNEL it "
        "serves, a CAMPAIGN it runs, a KPI it is accountable for, an SLA it is provider "
        "(SLA_PROVIDER) or consumer (SLA_CONSUMER) of, a SERVICE it provides, a SYSTEM it "
        "operates."
    ),
)


ChangeOperation = NamedEnum("ChangeOperation", "MOVE RENAME CREATE_TEAM LIFECYCLE")
strawberry.enum(ChangeOperation, description="The kind of an elementary organisational change.")


@strawberry.input(description="Merge a team into another: everything it holds passes to `into`.")
class TeamMergeInput:
    team_id: strawberry.ID
    into: strawberry.ID


@strawberry.input(description="A team the plan creates (a split), optionally under a parent.")
class NewTeamInput:
    id: strawberry.ID
    name: str
    part_of: strawberry.ID | None = None


@strawberry.input(
    description=(
        "Hand one item from a team to another. For an SLA (kind SLA_PROVIDER or "
        "SLA_CONSUMER) every role `fromTeam` plays in it passes to `toTeam`."
    )
)
class MoveInput:
    kind: Holding
    item_id: strawberry.ID
    from_team: strawberry.ID
    to_team: strawberry.ID


@strawberry.input(description="A team's new name.")
class TeamRenameInput:
    team_id: strawberry.ID
    name: str


@strawberry.input(
    description=(
        "A reorganisation, effective at one date: merges, new teams (splits), moves and "
        "renames. The same plan is previewed (`reorganisationPreview`) and applied "
        "(`applyReorganisation`)."
    )
)
class ReorganisationPlanInput:
    effective_at: datetime
    merges: list[TeamMergeInput] = strawberry.field(default_factory=list)
    new_teams: list[NewTeamInput] = strawberry.field(default_factory=list)
    moves: list[MoveInput] = strawberry.field(default_factory=list)
    renames: list[TeamRenameInput] = strawberry.field(default_factory=list)

    def size(self) -> int:
        return len(self.merges) + len(self.new_teams) + len(self.moves) + len(self.renames)

    def to_plan(self, at: datetime) -> Plan:
        return Plan(
            at=at,
            merges=tuple((str(m.team_id), str(m.into)) for m in self.merges),
            new_teams=tuple(
                NewTeam(str(n.id), n.name, str(n.part_of) if n.part_of else None)
                for n in self.new_teams
            ),
            moves=tuple(
                Move(m.kind, str(m.item_id), str(m.from_team), str(m.to_team)) for m in self.moves
            ),
            renames=tuple((str(r.team_id), r.name) for r in self.renames),
        )


@strawberry.type(
    description=(
        "One elementary change: with MOVE, the item of `kind` passes from team `before` to "
        "team `after` (either null: the holding only starts or only ends); with RENAME and "
        "CREATE_TEAM, `before` and `after` are the team's names; with LIFECYCLE, the "
        "process's lifecycle."
    )
)
class ReorganisationChange:
    operation: ChangeOperation
    kind: Holding | None
    item_id: strawberry.ID
    before: str | None
    after: str | None


@strawberry.type(description="What a reorganisation plan changes (or changed) at its date.")
class ReorganisationOutcome:
    effective_at: datetime
    applied: bool = strawberry.field(description="False for a preview: nothing was written.")
    changes: list[ReorganisationChange] = strawberry.field(
        description="Empty when the organisation already is as the plan says."
    )


def build_outcome(at: datetime, changes: list[Change], applied: bool) -> ReorganisationOutcome:
    return ReorganisationOutcome(
        effective_at=at,
        applied=applied,
        changes=[
            ReorganisationChange(
                operation=ChangeOperation(c.operation),
                kind=c.holding,
                item_id=strawberry.ID(c.item_id),
                before=c.before,
                after=c.after,
            )
            for c in changes
        ],
    )


@strawberry.input(description="A step handed to another team than the hand-over's `toTeam`.")
class StepOwnerInput:
    step_id: strawberry.ID
    team_id: strawberry.ID


@strawberry.input(
    description=(
        "Hand a CONSOLIDATED process from the Digital Hub's teams to group teams, effective "
        "at a date: what `fromTeams` hold of it (ownership of each step, the systems "
        "supporting its steps, accountability for the KPIs measuring it or its steps) "
        "passes to `toTeam` (or, for a step, its `stepOwners` team); it becomes INTEGRATED."
    )
)
class HandOverInput:
    process_id: strawberry.ID
    from_teams: list[strawberry.ID]
    to_team: strawberry.ID
    effective_at: datetime
    step_owners: list[StepOwnerInput] = strawberry.field(default_factory=list)

    def to_handover(self, at: datetime) -> HandOver:
        return HandOver(
            process_id=str(self.process_id),
            from_teams=tuple(dict.fromkeys(str(t) for t in self.from_teams)),
            to_team=str(self.to_team),
            at=at,
            step_owners=tuple((str(o.step_id), str(o.team_id)) for o in self.step_owners),
        )
