"""Processes (value streams) and their steps."""

from __future__ import annotations

from datetime import datetime

import strawberry

from orggraph.context import Info
from orggraph.graph import processes
from orggraph.graph.model import Lifecycle
from orggraph.resolvers.changes import recorder
from orggraph.resolvers.entities import (
    Entity,
    at_or_now,
    check_window,
    checked_id,
    entity_mutation,
    entity_query,
    found,
)
from orggraph.schema.inputs import ProcessFilter, ProcessInput, StepFilter, StepInput
from orggraph.schema.processes import FunnelFilter, ValueStream, build_value_stream
from orggraph.schema.types import Process, Step


async def resolve_value_stream(
    info: Info,
    process_id: strawberry.ID,
    filter: FunnelFilter | None = None,
    at: datetime | None = None,
) -> ValueStream:
    process = checked_id(process_id, "processId")
    when = at_or_now(at)
    window_from, window_to = check_window(
        filter.window_from if filter else None, filter.window_to if filter else None
    )
    params = processes.FunnelParams(
        window_from=window_from,
        window_to=window_to,
        channel_id=checked_id(filter.channel_id, "channelId")
        if filter and filter.channel_id
        else None,
        campaign_id=checked_id(filter.campaign_id, "campaignId")
        if filter and filter.campaign_id
        else None,
        segment=filter.segment if filter else None,
    )
    raw = await processes.value_stream(info.context.graph, process, when, params)
    return build_value_stream(found(raw, "Process", process, "processId"), when)


ENTITIES = (
    Entity(Process, ProcessInput, "process", "processes", ProcessFilter),
    Entity(
        Step,
        StepInput,
        "step",
        "steps",
        StepFilter,
        describe={
            "get": "A process step by id.",
            "upsert": "Create or update a step (and its place in a process).",
        },
    ),
)
ProcessesQuery = entity_query(
    "ProcessesQuery",
    *ENTITIES,
    value_stream=strawberry.field(
        resolver=resolve_value_stream,
        description=(
            "A process as a value stream in one traversal: ordered steps with the teams owning "
            "them at `at` (default now), hand-offs between teams with the SLA governing each, "
            "and the funnel per stage (reached, conversion, median and p90 time to the next)."
        ),
    ),
)


async def resolve_transition_process(
    info: Info, process_id: strawberry.ID, to: Lifecycle, at: datetime | None = None
) -> Process:
    process = checked_id(process_id, "processId")
    when = at_or_now(at)
    record = recorder(info, "transitionProcess", when, processes.transition_entries)
    await processes.transition_process(info.context.graph, process, to.value, when, record.write)
    record.publish()
    props = await info.context.loaders.node_by_id("Process").load(process)
    assert props is not None  # the transition found it
    return Process.from_props(props)


ProcessesMutation = entity_mutation(
    "ProcessesMutation",
    *ENTITIES,
    transition_process=strawberry.field(
        resolver=resolve_transition_process,
        description=(
            "Move a process along its lifecycle, effective at `at` (default now), recorded "
            "with who made it (see `Process.lifecycleHistory`): EXPERIMENTAL -> CONSOLIDATED "
            "-> INTEGRATED, and RETIRED from any of them. Anything else, or a date before the "
            "latest transition, is a CONFLICT; the state it already has changes nothing."
        ),
    ),
)
