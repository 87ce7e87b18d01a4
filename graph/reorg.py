"""Reorganisation impact: everything that depends on a team, and a merge's what-if.

One Cypher query (anchored on the Team id constraint) reads the team's
dependants; the what-if of merging it into another team is computed from
that one answer in Python, without writing anything.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, LiteralString

from orggraph.errors import BadInputError, ConflictError, NotFoundError
from orggraph.graph.changes import ChangeEntry
from orggraph.graph.driver import Graph, Tx
from orggraph.graph.team_services import SERVICES_OF_TEAM

REORG_IMPACT: LiteralString = (
    """
MATCH (team:Team {id: $teamId})
OPTIONAL MATCH (target:Team {id: $moveTo})
CALL (team) {
  MATCH (team)-[o:OWNS]->(s:Step)
  WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
  WITH DISTINCT s
  WITH collect(s) AS owned, sum(COUNT { (s)<-[:AT_STEP]-() }) AS touchesAtOwned
  CALL () { MATCH (x:Customer) RETURN count(x) AS customers }
  CALL (owned, touchesAtOwned, customers) {
    WITH owned, touchesAtOwned, customers WHERE touchesAtOwned <= customers
    UNWIND owned AS s
    MATCH (s)<-[:AT_STEP]-(t:Touchpoint)<-[:LATEST]-(c:Customer)
    RETURN s, c, t
    UNION
    WITH owned, touchesAtOwned, customers WHERE touchesAtOwned > customers
    MATCH (c:Customer)-[:LATEST]->(t:Touchpoint)-[:AT_STEP]->(s:Step)
    WHERE s IN owned
    RETURN s, c, t
  }
  WITH s, c, t
  WHERE NOT EXISTS { MATCH (c)-[:OPENED]->(d:Deal) WHERE d.closedAt >= t.at }
  WITH s, c, t.at AS at ORDER BY at DESC, c.id
  WITH s, count(c) AS n, collect([c, at])[..$first] AS latest
  RETURN collect({step: s {.*}, customers: n}) AS inFlightByStep,
         collect([x IN latest | {customer: properties(x[0]), at: x[1], stepId: s.id}])
           AS inFlightSamples
}
RETURN team {.*} AS team, target {.*} AS target, inFlightByStep, inFlightSamples,
  COLLECT {
    MATCH (team)-[o:OWNS]->(s:Step)
    WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
    WITH DISTINCT s
    OPTIONAL MATCH (p:Process)-[h:HAS_STEP]->(s)
    RETURN {step: s {.*}, process: p {.*}, order: h.order}
    ORDER BY p.id, h.order, s.id
  } AS ownedSteps,
  COLLECT {
    MATCH (team)-[o:OWNS]->(:Step)<-[:HAS_STEP]-(p:Process)
    WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at)
    WITH DISTINCT p
    RETURN {process: p {.*}, steps: COLLECT {
      MATCH (p)-[h:HAS_STEP]->(s:Step)
      RETURN {step: s {.*}, order: h.order,
              owners: COLLECT {
                MATCH (x:Team)-[ow:OWNS]->(s)
                WHERE ow.from <= $at AND (ow.to IS NULL OR ow.to > $at)
                RETURN DISTINCT x {.*} ORDER BY x.id
              },
              slas: COLLECT { MATCH (sla:SLA)-[:GOVERNS]->(s) RETURN sla {.*} ORDER BY sla.id }}
      ORDER BY h.order, s.id
    }}
    ORDER BY p.id
  } AS processes,
  COLLECT {
     MATCH (team)-[:ACCOUNTABLE_FOR]->(k:KPI) RETURN k {.*} ORDER BY k.id
   } AS accountableKpis,
  COLLECT { MATCH (k:KPI)-[:SHARED_WITH]->(team) RETURN k {.*} ORDER BY k.id } AS sharedKpis,
  COLLECT {
    MATCH (k:KPI)-[:MEASURES]->(x)
    WHERE (x:Step AND EXISTS {
             MATCH (team)-[o:OWNS]->(x) WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at) })
       OR (x:Process AND EXISTS {
             MATCH (team)-[o:OWNS]->(:Step)<-[:HAS_STEP]-(x)
             WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at) })
       OR (x:Channel AND EXISTS { (team)-[:SERVES]->(x) })
       OR (x:Campaign AND EXISTS { (x)-[:RUN_BY]->(team) })
    WITH k, x ORDER BY x.id
    WITH k, collect(DISTINCT {
                  kind: head([l IN labels(x)
                              WHERE l IN ['Step', 'Process', 'Channel', 'Campaign']]),
                  id: x.id, name: x.name}) AS through
    RETURN {kpi: k {.*}, through: through,
            accountable: head(COLLECT {
              MATCH (a:Team)-[:ACCOUNTABLE_FOR]->(k) RETURN a {.*} ORDER BY a.id })}
    ORDER BY k.id
  } AS fedKpis,
  COLLECT {
    MATCH (sla:SLA)-[:PROVIDER|CONSUMER]->(team)
    WITH DISTINCT sla
    RETURN {sla: sla {.*},
            provider: head(COLLECT {
              MATCH (sla)-[:PROVIDER]->(x:Team) RETURN x {.*} ORDER BY x.id }),
            consumer: head(COLLECT {
              MATCH (sla)-[:CONSUMER]->(x:Team) RETURN x {.*} ORDER BY x.id }),
            step: head(COLLECT { MATCH (sla)-[:GOVERNS]->(x:Step) RETURN x {.*} ORDER BY x.id })}
    ORDER BY sla.id
  } AS slas,
  COLLECT {
    MATCH (team)-[:SERVES]->(ch:Channel)
    RETURN {channel: ch {.*},
            teams: COLLECT {
              MATCH (x:Team)-[:SERVES]->(ch) WHERE x <> team RETURN x {.*} ORDER BY x.id }}
    ORDER BY ch.id
  } AS channels,
  COLLECT { MATCH (cmp:Campaign)-[:RUN_BY]->(team) RETURN cmp {.*} ORDER BY cmp.id } AS campaigns,
"""
    + SERVICES_OF_TEAM
    + """
"""
)
"""What depends on a team, in one round trip (Team id constraint anchor).

Ownership is the ``OWNS`` relationships valid at ``$at``. ``ownedSteps``:
the steps the team owns, with their process and order. ``processes``: every
process holding one of them, all its steps in order with their owners at
``$at`` and governing SLAs (to compute hand-offs). ``accountableKpis``,
``sharedKpis``; ``fedKpis``: KPIs that MEASURE one of its steps, a process
holding one, a channel it SERVES or a campaign RUN_BY it (``through`` says
which), with their accountable team. ``slas``: SLAs it is PROVIDER or
CONSUMER of, with both parties and the step governed. ``channels`` it
serves with the other teams serving each; ``campaigns`` it runs; services it
``provides`` (with consumers) and ``consumes`` (with providers).
Customers in flight: customers whose LATEST touchpoint (the end of their
chain, kept by the write layer) is AT_STEP a step the team owns and who have
no deal closed at or after that touchpoint: a count per step and, per step,
the ``$first`` most recent. They are found from the smaller side: the
touchpoints at the owned steps when those are fewer than the customers (a
degree count), else every customer's LATEST touchpoint (an early funnel step
can hold most of the log).
``target``: the team ``$moveTo`` (null when absent or not found).
"""


async def reorg_impact(
    graph: Graph, team_id: str, move_to: str | None, at: datetime, first: int
) -> dict[str, Any] | None:
    """The raw answer, or None when the team does not exist."""
    records = await graph.query(REORG_IMPACT, teamId=team_id, moveTo=move_to, at=at, first=first)
    return dict(records[0]) if records else None


# --- the merge what-if (pure) ------------------------------------------------------------


@dataclass(frozen=True)
class HandoffChange:
    process_id: str
    from_step: dict[str, Any]
    to_step: dict[str, Any]
    # Owner ids of both steps, now and after the merge.
    before: tuple[frozenset[str], frozenset[str]]
    after: tuple[frozenset[str], frozenset[str]]


@dataclass
class MergeEffects:
    handoffs_removed: list[HandoffChange] = field(default_factory=list)
    handoffs_added: list[HandoffChange] = field(default_factory=list)
    handoffs_changed: list[HandoffChange] = field(default_factory=list)


def _moved(owners: frozenset[str], team: str, target: str) -> frozenset[str]:
    return frozenset(target if o == team else o for o in owners)


def merge_handoffs(processes: list[dict[str, Any]], team: str, target: str) -> MergeEffects:
    """Hand-offs (consecutive steps whose owner sets differ) before and after the merge."""
    effects = MergeEffects()
    for process in processes:
        steps = process["steps"]
        for before_step, after_step in zip(steps, steps[1:], strict=False):
            owners = (
                frozenset(t["id"] for t in before_step["owners"]),
                frozenset(t["id"] for t in after_step["owners"]),
            )
            moved = (_moved(owners[0], team, target), _moved(owners[1], team, target))
            was, now = owners[0] != owners[1], moved[0] != moved[1]
            change = HandoffChange(
                process_id=process["process"]["id"],
                from_step=before_step["step"],
                to_step=after_step["step"],
                before=owners,
                after=moved,
            )
            if was and not now:
                effects.handoffs_removed.append(change)
            elif now and not was:
                effects.handoffs_added.append(change)
            elif was and now and owners != moved:
                effects.handoffs_changed.append(change)
    return effects


# --- applying a reorganisation -----------------------------------------------------------
#
# A plan (merges, new teams, moves, renames, effective at one date) is expanded against
# the organisation as it stands at that date into elementary changes: "item X passes
# from team A to team B". The preview returns them without writing; the apply writes
# exactly them, in the same transaction that read the state, so what the preview
# announced is what the graph becomes.


class Holding(enum.Enum):
    """How a team holds an item: one relationship type, its direction and validity."""

    STEP = "STEP"  # (Team)-[:OWNS {from, to}]->(Step)
    PERSON = "PERSON"  # (Person)-[:MEMBER_OF {from, to, role}]->(Team)
    TEAM = "TEAM"  # (Team)-[:PART_OF {from, to}]->(parent Team)
    CHANNEL = "CHANNEL"  # (Team)-[:SERVES]->(Channel)
    CAMPAIGN = "CAMPAIGN"  # (Campaign)-[:RUN_BY]->(Team)
    KPI = "KPI"  # (Team)-[:ACCOUNTABLE_FOR]->(KPI)
    SLA_PROVIDER = "SLA_PROVIDER"  # (SLA)-[:PROVIDER]->(Team)
    SLA_CONSUMER = "SLA_CONSUMER"  # (SLA)-[:CONSUMER]->(Team)
    SERVICE = "SERVICE"  # (Team)-[:PROVIDES]->(Service)
    SYSTEM = "SYSTEM"  # (Team)-[:OPERATES]->(System)


# Holdings whose relationship carries validity: they end at the date and start anew.
DATED: frozenset[Holding] = frozenset({Holding.STEP, Holding.PERSON, Holding.TEAM})
# The state query's key for each holding.
HOLDING_KEYS: dict[Holding, str] = {h: h.value.lower() for h in Holding}


@dataclass(frozen=True)
class Move:
    """Hand ``item_id`` (a step, channel, ... or an SLA's both roles) from one team to another."""

    holding: Holding
    item_id: str
    from_team: str
    to_team: str


@dataclass(frozen=True)
class NewTeam:
    id: str
    name: str
    part_of: str | None = None


@dataclass(frozen=True)
class Plan:
    at: datetime
    merges: tuple[tuple[str, str], ...] = ()  # (team, into)
    new_teams: tuple[NewTeam, ...] = ()
    moves: tuple[Move, ...] = ()
    renames: tuple[tuple[str, str], ...] = ()  # (team, new name)

    def team_ids(self) -> list[str]:
        ids = {t for pair in self.merges for t in pair}
        ids |= {m.from_team for m in self.moves} | {m.to_team for m in self.moves}
        ids |= {t for t, _ in self.renames} | {n.id for n in self.new_teams}
        ids |= {n.part_of for n in self.new_teams if n.part_of}
        return sorted(ids)


@dataclass(frozen=True)
class Change:
    """One elementary change: the item passes from ``before`` to ``after`` (team ids).

    ``before`` None: a new holding (a new team's parent); for renames and new teams
    ``holding`` is None and before/after are names.
    """

    operation: str  # MOVE | RENAME | CREATE_TEAM | LIFECYCLE (a process's)
    holding: Holding | None
    item_id: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class TeamState:
    id: str
    name: str
    held: dict[Holding, frozenset[str]]
    roles: dict[str, str | None]  # person id -> role in this team
    parents: frozenset[str] = frozenset()


TEAMS_AT: LiteralString = """
UNWIND $teamIds AS teamId
MATCH (team:Team {id: teamId})
RETURN team.id AS id, team.name AS name,
  COLLECT { MATCH (team)-[o:OWNS]->(x:Step)
            WHERE o.from <= $at AND (o.to IS NULL OR o.to > $at) RETURN DISTINCT x.id } AS step,
  COLLECT { MATCH (x:Person)-[m:MEMBER_OF]->(team)
            WHERE coalesce(m.from, $epoch) <= $at AND (m.to IS NULL OR m.to > $at)
            RETURN DISTINCT {id: x.id, role: m.role} } AS person,
  COLLECT { MATCH (x:Team)-[p:PART_OF]->(team)
            WHERE coalesce(p.from, $epoch) <= $at AND (p.to IS NULL OR p.to > $at)
            RETURN DISTINCT x.id } AS team,
  COLLECT { MATCH (team)-[p:PART_OF]->(x:Team)
            WHERE coalesce(p.from, $epoch) <= $at AND (p.to IS NULL OR p.to > $at)
            RETURN DISTINCT x.id } AS parents,
  COLLECT { MATCH (team)-[:SERVES]->(x:Channel) RETURN x.id } AS channel,
  COLLECT { MATCH (x:Campaign)-[:RUN_BY]->(team) RETURN x.id } AS campaign,
  COLLECT { MATCH (team)-[:ACCOUNTABLE_FOR]->(x:KPI) RETURN x.id } AS kpi,
  COLLECT { MATCH (x:SLA)-[:PROVIDER]->(team) RETURN x.id } AS sla_provider,
  COLLECT { MATCH (x:SLA)-[:CONSUMER]->(team) RETURN x.id } AS sla_consumer,
  COLLECT { MATCH (team)-[:PROVIDES]->(x:Service) RETURN x.id } AS service,
  COLLECT { MATCH (team)-[:OPERATES]->(x:System) RETURN x.id } AS system
"""
"""What each team of ``$teamIds`` holds at ``$at`` (Team id constraint anchor).

Dated holdings (ownership, membership, hierarchy) count when valid at ``$at``;
a membership or hierarchy edge written before it carried validity counts from
``$epoch``. Teams that do not exist are absent from the answer.
"""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def teams_at(tx: Tx, team_ids: list[str], at: datetime) -> dict[str, TeamState]:
    records = await tx.records(TEAMS_AT, teamIds=team_ids, at=at, epoch=EPOCH)
    states: dict[str, TeamState] = {}
    for r in records:
        held = {h: frozenset(_ids_of(r[HOLDING_KEYS[h]])) for h in Holding}
        roles = {p["id"]: p.get("role") for p in r["person"]}
        states[r["id"]] = TeamState(r["id"], r["name"], held, roles, frozenset(r["parents"]))
    return states


def _ids_of(values: list[Any]) -> list[str]:
    return [v["id"] if isinstance(v, dict) else str(v) for v in values]


def plan_changes(plan: Plan, states: dict[str, TeamState]) -> list[Change]:
    """The elementary changes of ``plan`` on the teams as they are at ``plan.at``.

    Raises ``ConflictError`` (naming the item) when the plan contradicts the
    organisation, ``NotFoundError`` for a team that does not exist. A plan already
    applied yields no change.
    """
    _check_teams(plan, states)
    changes: list[Change] = []
    for new in plan.new_teams:
        if new.id not in states:
            changes.append(Change("CREATE_TEAM", None, new.id, None, new.name))
            if new.part_of:
                changes.append(Change("MOVE", Holding.TEAM, new.id, None, new.part_of))
    moved: set[tuple[Holding, str]] = set()
    for move in plan.moves:
        for change in _move_changes(move, states):
            key = (change.holding or Holding.STEP, change.item_id)
            if key in moved:
                raise ConflictError(
                    f"{move.holding.value.lower()} '{move.item_id}' is moved twice in the plan",
                    item=move.item_id,
                )
            moved.add(key)
            changes.append(change)
    for team, into in plan.merges:
        state = states[team]
        for holding in Holding:
            for item in sorted(state.held[holding]):
                if (holding, item) in moved:
                    raise ConflictError(
                        f"{holding.value.lower()} '{item}' is both moved and merged in the plan",
                        item=item,
                    )
                changes.append(Change("MOVE", holding, item, team, into))
        for parent in sorted(state.parents):
            changes.append(Change("MOVE", Holding.TEAM, team, parent, None))
    for team, name in plan.renames:
        if states[team].name != name:
            changes.append(Change("RENAME", None, team, states[team].name, name))
    return changes


def _check_teams(plan: Plan, states: dict[str, TeamState]) -> None:
    created = {n.id for n in plan.new_teams}
    for team in plan.team_ids():
        if team not in states and team not in created:
            raise NotFoundError(f"no Team with id '{team}'", item=team)
    merged = {team for team, _ in plan.merges}
    if len(merged) < len(plan.merges):
        twice = sorted(t for t in merged if sum(m[0] == t for m in plan.merges) > 1)[0]
        raise ConflictError(f"team '{twice}' is merged twice in the plan", item=twice)
    for team, into in plan.merges:
        if team == into:
            raise BadInputError(f"team '{team}' cannot merge into itself", item=team)
        if into in merged:
            raise ConflictError(
                f"team '{into}' receives a merge but is itself merged in the plan", item=into
            )
    for move in plan.moves:
        if move.from_team == move.to_team:
            raise BadInputError(
                f"'{move.item_id}' is moved from '{move.from_team}' to itself", item=move.item_id
            )
        if move.from_team in merged or move.to_team in merged:
            raise ConflictError(
                f"'{move.item_id}' is moved from or to a team merged in the plan",
                item=move.item_id,
            )


def _move_changes(move: Move, states: dict[str, TeamState]) -> list[Change]:
    """A move's changes: none when the target already holds the item and the source not."""
    holdings = (
        [Holding.SLA_PROVIDER, Holding.SLA_CONSUMER]
        if move.holding in (Holding.SLA_PROVIDER, Holding.SLA_CONSUMER)
        else [move.holding]
    )
    source, target = states.get(move.from_team), states.get(move.to_team)
    changes = [
        Change("MOVE", h, move.item_id, move.from_team, move.to_team)
        for h in holdings
        if source is not None and move.item_id in source.held[h]
    ]
    already = target is not None and any(move.item_id in target.held[h] for h in holdings)
    if not changes and not already:
        raise ConflictError(
            f"{move.holding.value.lower()} '{move.item_id}' is held neither by "
            f"'{move.from_team}' nor by '{move.to_team}' at the effective date",
            item=move.item_id,
        )
    return changes


def apply_to_states(
    states: dict[str, TeamState], changes: list[Change]
) -> dict[str, dict[str, Any]]:
    """The teams' holdings after ``changes``, as plain sets (what the apply must produce)."""
    view: dict[str, dict[str, Any]] = {
        t: {"name": s.name, **{h.value: set(s.held[h]) for h in Holding}} for t, s in states.items()
    }
    for c in changes:
        if c.operation == "CREATE_TEAM":
            view[c.item_id] = {"name": c.after, **{h.value: set() for h in Holding}}
        elif c.operation == "RENAME":
            view[c.item_id]["name"] = c.after
        elif c.holding is Holding.TEAM:
            # The item is a child team: its parent holds it.
            if c.before in view:
                view[c.before][Holding.TEAM.value].discard(c.item_id)
            if c.after in view:
                view[c.after][Holding.TEAM.value].add(c.item_id)
        elif c.holding is not None:
            if c.before in view:
                view[c.before][c.holding.value].discard(c.item_id)
            if c.after in view:
                view[c.after][c.holding.value].add(c.item_id)
    return view


def holdings_view(states: dict[str, TeamState]) -> dict[str, dict[str, Any]]:
    return apply_to_states(states, [])


# --- writing the changes -----------------------------------------------------------------

# Per holding: the item's label, the relationship type, whether the team is its source.
PATTERNS: dict[Holding, tuple[LiteralString, LiteralString, bool]] = {
    Holding.STEP: ("Step", "OWNS", True),
    Holding.PERSON: ("Person", "MEMBER_OF", False),
    Holding.TEAM: ("Team", "PART_OF", False),
    Holding.CHANNEL: ("Channel", "SERVES", True),
    Holding.CAMPAIGN: ("Campaign", "RUN_BY", False),
    Holding.KPI: ("KPI", "ACCOUNTABLE_FOR", True),
    Holding.SLA_PROVIDER: ("SLA", "PROVIDER", False),
    Holding.SLA_CONSUMER: ("SLA", "CONSUMER", False),
    Holding.SERVICE: ("Service", "PROVIDES", True),
    Holding.SYSTEM: ("System", "OPERATES", True),
}
VALID_AT: LiteralString = "coalesce(r.from, $epoch) <= $at AND (r.to IS NULL OR r.to > $at)"


def _pattern(holding: Holding, team: LiteralString) -> LiteralString:
    label, type_, team_is_source = PATTERNS[holding]
    item: LiteralString = "(x:" + label + " {id: row.item})"
    holder: LiteralString = "(t:Team {id: row." + team + "})"
    if team_is_source:
        return holder + "-[r:" + type_ + "]->" + item
    return item + "-[r:" + type_ + "]->" + holder


@functools.cache
def end_holding_query(holding: Holding) -> LiteralString:
    """End (dated) or delete (undated) the holdings of ``row.item`` by team ``row.before``."""
    match: LiteralString = "UNWIND $rows AS row MATCH " + _pattern(holding, "before")
    if holding in DATED:
        return match + " WHERE " + VALID_AT + " SET r.to = $at"
    return match + " DELETE r"


@functools.cache
def start_holding_query(holding: Holding) -> LiteralString:
    """Give ``row.item`` to team ``row.after`` unless it already holds it (from ``$at``)."""
    label, type_, team_is_source = PATTERNS[holding]
    ends: LiteralString = (
        "UNWIND $rows AS row MATCH (t:Team {id: row.after}) MATCH (x:" + label + " {id: row.item}) "
    )
    pattern: LiteralString = (
        "(t)-[r:" + type_ + "]->(x)" if team_is_source else "(x)-[r:" + type_ + "]->(t)"
    )
    if holding in DATED:
        return (
            ends
            + "WHERE NOT EXISTS { MATCH "
            + pattern
            + " WHERE "
            + VALID_AT
            + " } MERGE "
            + pattern.replace("]", " {from: $at}]")
            + " SET r.to = null, r += row.props"
        )
    return ends + "MERGE " + pattern


CREATE_TEAMS: LiteralString = """
UNWIND $rows AS row
MERGE (t:Team {id: row.item}) ON CREATE SET t:Entity, t.name = row.after, t.kind = 'TEAM'
"""
RENAME_TEAMS: LiteralString = """
UNWIND $rows AS row
MATCH (t:Team {id: row.item}) SET t.name = row.after
"""


async def write_changes(
    tx: Tx, changes: list[Change], states: dict[str, TeamState], at: datetime
) -> None:
    """Write ``changes`` (from :func:`plan_changes`) in ``tx``: a bounded number of queries."""
    created = [_row(c) for c in changes if c.operation == "CREATE_TEAM"]
    if created:
        await tx.run(CREATE_TEAMS, rows=created)
    moves = [c for c in changes if c.operation == "MOVE" and c.holding is not None]
    for holding in Holding:
        mine = [c for c in moves if c.holding is holding]
        ended = [_row(c) for c in mine if c.before is not None]
        started = [_row(c, states) for c in mine if c.after is not None]
        if ended:
            await tx.run(end_holding_query(holding), rows=ended, at=at, epoch=EPOCH)
        if started:
            await tx.run(start_holding_query(holding), rows=started, at=at, epoch=EPOCH)
    renamed = [_row(c) for c in changes if c.operation == "RENAME"]
    if renamed:
        await tx.run(RENAME_TEAMS, rows=renamed)


def _row(change: Change, states: dict[str, TeamState] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if states and change.holding is Holding.PERSON and change.before in states:
        role = states[change.before].roles.get(change.item_id)
        if role is not None:
            props["role"] = role
    return {"item": change.item_id, "before": change.before, "after": change.after, "props": props}


async def preview_reorganisation(graph: Graph, plan: Plan) -> list[Change]:
    """The changes ``plan`` would make (one read, nothing written)."""

    async def work(tx: Tx) -> list[Change]:
        return plan_changes(plan, await teams_at(tx, plan.team_ids(), plan.at))

    return await graph.read(work)


RecordChanges = Callable[[Tx, list[Change]], Awaitable[None]]
Entries = Callable[[list[Change]], list[ChangeEntry]]


async def apply_reorganisation(
    graph: Graph, plan: Plan, record: RecordChanges | None = None
) -> list[Change]:
    """Apply ``plan`` in one transaction: read, expand, refuse or write (and record) it all."""

    async def work(tx: Tx) -> list[Change]:
        states = await teams_at(tx, plan.team_ids(), plan.at)
        changes = plan_changes(plan, states)
        if changes:
            await write_changes(tx, changes, states, plan.at)
            if record is not None:
                await record(tx, changes)
        return changes

    return await graph.write(work)


def history_entries(changes: list[Change]) -> list[ChangeEntry]:
    """The history records of a reorganisation's changes (ids and names only)."""
    entries: list[ChangeEntry] = []
    # A process's lifecycle change concerns every team of the operation.
    team_ids = tuple(sorted({t for c in changes if c.holding for t in (c.before, c.after) if t}))
    label: str
    teams: tuple[str, ...]
    for c in changes:
        if c.operation == "LIFECYCLE":
            field_, label, teams = "lifecycle", "Process", team_ids
        elif c.holding is None:
            field_ = "name"
            label = "Team"
            teams = (c.item_id,)
        else:
            label, field_, _ = PATTERNS[c.holding]
            teams = tuple(t for t in (c.before, c.after) if t is not None)
        entries.append(ChangeEntry(c.item_id, label, field_, c.before, c.after, teams))
    return entries


# --- the Digital Hub hand-over -----------------------------------------------------------

HANDOVER_SCOPE: LiteralString = """
MATCH (p:Process {id: $processId})
RETURN p.lifecycle AS lifecycle,
  COLLECT { MATCH (p)-[h:HAS_STEP]->(s:Step) RETURN s.id ORDER BY h.order, s.id } AS steps,
  COLLECT { MATCH (p)-[:HAS_STEP]->(:Step)<-[:SUPPORTS]-(y:System)
            RETURN DISTINCT y.id ORDER BY y.id } AS systems,
  COLLECT { MATCH (k:KPI)-[:MEASURES]->(x)
            WHERE x = p OR (x:Step AND (p)-[:HAS_STEP]->(x))
            RETURN DISTINCT k.id ORDER BY k.id } AS kpis
"""
"""What a process hand-over can move: its steps, the systems supporting them, the KPIs
measuring the process or one of its steps (Process id constraint anchor)."""


@dataclass(frozen=True)
class HandOver:
    process_id: str
    from_teams: tuple[str, ...]
    to_team: str
    at: datetime
    # Step id -> the team receiving it instead of ``to_team``.
    step_owners: tuple[tuple[str, str], ...] = ()


HANDED_OVER = "INTEGRATED"
HANDED_FROM = "CONSOLIDATED"


async def handover_changes(tx: Tx, handover: HandOver) -> tuple[list[Change], dict[str, TeamState]]:
    """The hand-over as elementary changes: what the hub teams hold of the process (steps,
    supporting systems, accountable KPIs) passes to the group teams; the process becomes
    INTEGRATED. Only a CONSOLIDATED process may be handed over (an INTEGRATED one: no change)."""
    scope = await tx.single(HANDOVER_SCOPE, processId=handover.process_id)
    if scope is None:
        raise NotFoundError(f"no Process with id '{handover.process_id}'", item=handover.process_id)
    lifecycle = str(scope["lifecycle"] or HANDED_FROM)
    if lifecycle not in (HANDED_FROM, HANDED_OVER):
        raise ConflictError(
            f"process '{handover.process_id}' is {lifecycle}: only a CONSOLIDATED process "
            "is handed over",
            item=handover.process_id,
        )
    owners = dict(handover.step_owners)
    unknown = sorted(set(owners) - set(scope["steps"]))
    if unknown:
        raise BadInputError(f"step '{unknown[0]}' is not a step of the process", item=unknown[0])
    moves = []
    for hub in handover.from_teams:
        for holding, key in (
            (Holding.STEP, "steps"),
            (Holding.SYSTEM, "systems"),
            (Holding.KPI, "kpis"),
        ):
            moves += [
                (holding, item, hub, owners.get(item, handover.to_team)) for item in scope[key]
            ]
    team_ids = sorted({handover.to_team, *handover.from_teams, *owners.values()})
    states = await teams_at(tx, team_ids, handover.at)
    missing = [t for t in team_ids if t not in states]
    if missing:
        raise NotFoundError(f"no Team with id '{missing[0]}'", item=missing[0])
    changes = [
        Change("MOVE", holding, item, hub, to)
        for holding, item, hub, to in moves
        if item in states[hub].held[holding]
    ]
    if lifecycle != HANDED_OVER:
        changes.append(Change("LIFECYCLE", None, handover.process_id, lifecycle, HANDED_OVER))
    return changes, states


SET_PROCESS_LIFECYCLE: LiteralString = """
MATCH (p:Process {id: $processId}) SET p.lifecycle = $lifecycle
"""


async def preview_handover(graph: Graph, handover: HandOver) -> list[Change]:
    async def work(tx: Tx) -> list[Change]:
        return (await handover_changes(tx, handover))[0]

    return await graph.read(work)


async def apply_handover(
    graph: Graph, handover: HandOver, record: RecordChanges | None = None
) -> list[Change]:
    """The hand-over in one transaction: ownerships end and start at its date."""

    async def work(tx: Tx) -> list[Change]:
        changes, states = await handover_changes(tx, handover)
        if changes:
            await write_changes(tx, changes, states, handover.at)
            for c in changes:
                if c.operation == "LIFECYCLE":
                    await tx.run(SET_PROCESS_LIFECYCLE, processId=c.item_id, lifecycle=c.after)
            if record is not None:
                await record(tx, changes)
        return changes

    return await graph.write(work)
