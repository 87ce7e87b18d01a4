"""Processes (value streams) and their steps."""

from __future__ import annotations

import strawberry

from orggraph.resolvers.entities import get_field, list_field, upsert_many_field, upsert_one_field
from orggraph.schema.inputs import ProcessFilter, ProcessInput, StepFilter, StepInput
from orggraph.schema.types import Process, Step


@strawberry.type
class ProcessesQuery:
    process = get_field(Process, "A process by id.")
    processes = list_field(Process, ProcessFilter, "Processes, by id, filtered.")
    step = get_field(Step, "A process step by id.")
    steps = list_field(Step, StepFilter, "Steps, by id, filtered.")


@strawberry.type
class ProcessesMutation:
    upsert_process = upsert_one_field(Process, ProcessInput, "Create or update a process.")
    upsert_processes = upsert_many_field(Process, ProcessInput, "Create or update processes.")
    upsert_step = upsert_one_field(Step, StepInput, "Create or update a step (and its place in a process).")
    upsert_steps = upsert_many_field(Step, StepInput, "Create or update steps.")
