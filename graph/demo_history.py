"""The demo organisation's history: one applied reorganisation and one Digital Hub hand-over.

Written by ``orggraph serve --demo`` after the seed (``orggraph.demo``), through the
same functions the API uses, so the demo's ``changes`` and ``lifecycleHistory`` have
something to show:

* the app-onboarding pilot (``proc-app-onboarding``), run by the Hub Lab, is consolidated,
  then handed over to E-commerce (its steps, the app it runs on, its KPI);
* a reorganisation follows the hand-over: one of the Hub Lab's people moves to
  E-commerce with the process, and the Hub Lab is renamed Digital Hub Lab.

Dates derive from the pilot's own ownership (30 and 60 days after its latest start), so
they stay consistent with the organisation's dates. Written once: a database whose
history already holds the hand-over is left as it is (a later re-seed re-asserts the
description's undated facts - lifecycle, names, KPI accountability, system operators -
while the dated ownerships and memberships keep their end).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import LiteralString

from orggraph.graph import processes, reorg
from orggraph.graph.changes import record_changes
from orggraph.graph.driver import Graph, Tx

PILOT = "proc-app-onboarding"
HUB_TEAM = "t-hub-lab"
GROUP_TEAM = "t-ecommerce"
MOVED_PERSON = "p-hub-lab-4"
DEMO_PRINCIPAL = "demo"

PILOT_STATE: LiteralString = """
MATCH (p:Process {id: $processId})
OPTIONAL MATCH (p)-[:HAS_STEP]->(:Step)<-[o:OWNS]-(:Team)
WITH p, max(o.from) AS since
RETURN p.lifecycle AS lifecycle, since,
  EXISTS { MATCH (c:Change {entityId: $processId}) WHERE c.operation = 'handOverProcess' }
    AS handedOver
"""
"""The pilot's lifecycle, whether its hand-over is recorded, and its latest ownership start."""


def _recorder(operation: str, at: datetime, entries: reorg.Entries) -> reorg.RecordChanges:
    async def record(tx: Tx, changes: list[reorg.Change]) -> None:
        await record_changes(tx, operation, DEMO_PRINCIPAL, at, entries(changes))

    return record


async def write_demo_history(graph: Graph) -> bool:
    """Consolidate and hand over the pilot, then reorganise; False when already written."""
    records = await graph.query(PILOT_STATE, processId=PILOT)
    if not records or records[0]["handedOver"] or records[0]["since"] is None:
        return False
    since: datetime = records[0]["since"].to_native()
    consolidated, handed_over = since + timedelta(days=30), since + timedelta(days=60)
    if records[0]["lifecycle"] == "EXPERIMENTAL":
        await processes.transition_process(
            graph,
            PILOT,
            "CONSOLIDATED",
            consolidated,
            _transition_recorder(consolidated),
        )
    handover = reorg.HandOver(PILOT, (HUB_TEAM,), GROUP_TEAM, handed_over)
    entries = reorg.history_entries
    await reorg.apply_handover(graph, handover, _recorder("handOverProcess", handed_over, entries))
    plan = reorg.Plan(
        at=handed_over,
        moves=(reorg.Move(reorg.Holding.PERSON, MOVED_PERSON, HUB_TEAM, GROUP_TEAM),),
        renames=((HUB_TEAM, "Digital Hub Lab"),),
    )
    await reorg.apply_reorganisation(
        graph, plan, _recorder("applyReorganisation", handed_over, entries)
    )
    return True


def _transition_recorder(at: datetime) -> processes.RecordTransitions:
    async def record(tx: Tx, transitions: list[processes.Transition]) -> None:
        entries = processes.transition_entries(transitions)
        await record_changes(tx, "transitionProcess", DEMO_PRINCIPAL, at, entries)

    return record
