"""The history of organisational changes: recorded with each write, read back per entity
and per team, never holding personal data, and reported live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orggraph.api import build_schema
from orggraph.auth import Principal, Role
from orggraph.context import Context
from orggraph.events import Broker
from orggraph.graph.changes import WITHHELD, ChangeEntry, record_changes
from orggraph.graph.driver import Graph, Tx
from orggraph.resolvers.changes import concerning
from orggraph.resolvers.history import TOPIC
from orggraph.settings import Settings
from tests.graphs.reorg import APPLY, EFFECTIVE, MERGE_CHANGES, MERGE_PLAN, PLAN_FIELDS, seed_org
from tests.helpers import error_codes, execute, execute_counted, ok

CHANGES = """
query C($id: ID!, $first: Int, $after: String) {
  changes(entityId: $id, first: $first, after: $after) {
    edges { cursor node {
      operation principal effectiveAt entityId entityLabel field before after teamIds
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def changes(graph: Graph, entity: str, **page: Any) -> dict[str, Any]:
    return ok(await execute(graph, CHANGES, {"id": entity, **page}))["changes"]  # type: ignore[no-any-return]


async def test_an_applied_reorganisation_is_recorded_per_entity(graph: Graph) -> None:
    await seed_org(graph)
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    page = await changes(graph, "s1")
    assert [e["node"] for e in page["edges"]] == [
        {
            "operation": "applyReorganisation",
            "principal": "local",
            "effectiveAt": "2025-03-01T00:00:00+00:00",
            "entityId": "s1",
            "entityLabel": "Step",
            "field": "OWNS",
            "before": "hub",
            "after": "sales",
            "teamIds": ["hub", "sales"],
        }
    ]
    renamed = await changes(graph, "sales", first=1)
    assert renamed["edges"][0]["node"]["field"] == "name"  # the newest: the rename comes last
    assert (renamed["edges"][0]["node"]["before"], renamed["edges"][0]["node"]["after"]) == (
        "sales",
        "Sales & Hub",
    )


async def test_a_team_s_history_pages_through_everything_that_moved_to_or_from_it(
    graph: Graph,
) -> None:
    await seed_org(graph)
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    # every change of the merge concerns sales but hub leaving group
    expected = [c for c in MERGE_CHANGES if "sales" in (c[2], c[3], c[4])]
    assert len(expected) == 13
    seen: list[dict[str, Any]] = []
    after = None
    pages = 0
    while True:
        page, queries = await execute_counted(
            graph, CHANGES, {"id": "sales", "first": 5, "after": after}
        )
        assert queries.count == 1
        data = ok(page)["changes"]
        seen += [e["node"] for e in data["edges"]]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert pages == 3
    assert sorted((n["entityId"], n["field"]) for n in seen) == sorted(
        (c[2], _field(c[1]) if c[1] else "name") for c in expected
    )
    group = await changes(graph, "group")
    assert [(e["node"]["entityId"], e["node"]["before"]) for e in group["edges"]] == [
        ("hub", "group")
    ]
    total = '{ changes(entityId: "sales", first: 1) { totalCount } }'
    assert ok(await execute(graph, total))["changes"]["totalCount"] == 13
    # a second apply changes nothing, so records nothing
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    assert len((await changes(graph, "group"))["edges"]) == 1


def _field(kind: str) -> str:
    return {
        "STEP": "OWNS",
        "PERSON": "MEMBER_OF",
        "TEAM": "PART_OF",
        "CHANNEL": "SERVES",
        "CAMPAIGN": "RUN_BY",
        "KPI": "ACCOUNTABLE_FOR",
        "SLA_PROVIDER": "PROVIDER",
        "SLA_CONSUMER": "CONSUMER",
        "SERVICE": "PROVIDES",
    }[kind]


async def test_personal_data_is_never_copied_into_the_history(graph: Graph) -> None:
    entries = [
        ChangeEntry("c1", "Customer", "email", "old@example.com", "new@example.com"),
        ChangeEntry("c1", "Customer", "emailHash", "hash-old", "hash-new"),
        ChangeEntry("c1", "Customer", "segment", "SMB", "ENTERPRISE"),
    ]

    async def work(tx: Tx) -> list[dict[str, Any]]:
        return await record_changes(tx, "test", "someone", None, entries)

    written = await graph.write(work)
    # that the email changed is kept, never its values
    assert [(r["field"], r["before"], r["after"]) for r in written] == [
        ("email", WITHHELD, WITHHELD),
        ("emailHash", WITHHELD, WITHHELD),
        ("segment", "SMB", "ENTERPRISE"),
    ]
    stored = await graph.query("MATCH (c:Change) RETURN properties(c) AS p ORDER BY c.id")
    assert [r["p"]["field"] for r in stored] == ["email", "emailHash", "segment"]
    assert not any("example.com" in str(r["p"]) or "hash-" in str(r["p"]) for r in stored)


async def test_a_bad_cursor_is_refused(graph: Graph) -> None:
    result = await execute(graph, CHANGES, {"id": "x", "after": "not a cursor"})
    assert error_codes(result) == ["BAD_USER_INPUT"]


async def test_organisation_changed_reports_the_changes_after_the_commit(graph: Graph) -> None:
    await seed_org(graph)
    broker = Broker()
    context = Context.for_request(graph, Settings())
    context.extras["broker"] = broker
    schema = build_schema(Settings())
    async with (
        broker.subscribe(TOPIC, concerning("group", None)) as group_events,
        broker.subscribe(TOPIC, concerning(None, "s1")) as s1_events,
    ):
        result = await schema.execute(
            APPLY % PLAN_FIELDS, variable_values={"plan": MERGE_PLAN}, context_value=context
        )
        assert result.errors is None
        hub_left = await group_events.get()
        owner = await s1_events.get()
        assert group_events.queue.empty() and s1_events.queue.empty()
    assert (hub_left["entityId"], hub_left["before"], hub_left["after"]) == ("hub", "group", None)
    assert (owner["field"], owner["before"], owner["after"]) == ("OWNS", "hub", "sales")
    assert owner["effectiveAt"] == datetime(2025, 3, 1, tzinfo=UTC)
    assert broker.published_total == len(MERGE_CHANGES)
    assert EFFECTIVE.startswith("2025-03-01")


DEMO_HISTORY = """
{
  process(id: "proc-app-onboarding") {
    lifecycle lifecycleHistory { before after principal }
  }
  pilot: changes(entityId: "step-app-signup") { edges { node { operation field before after } } }
  lab: changes(entityId: "t-hub-lab", first: 100) { edges { node { operation entityId field } } }
}
"""


async def test_the_demo_organisation_shows_a_hand_over_and_a_reorganisation(
    graph: Graph,
) -> None:
    from orggraph.graph.demo_history import write_demo_history
    from orggraph.graph.seed import seed_organisation

    await seed_organisation(graph, customers=0, seed=1)
    assert await write_demo_history(graph) is True
    data = ok(await execute(graph, DEMO_HISTORY))
    assert data["process"] == {
        "lifecycle": "INTEGRATED",
        "lifecycleHistory": [
            {"before": "EXPERIMENTAL", "after": "CONSOLIDATED", "principal": "demo"},
            {"before": "CONSOLIDATED", "after": "INTEGRATED", "principal": "demo"},
        ],
    }
    assert [e["node"] for e in data["pilot"]["edges"]] == [
        {
            "operation": "handOverProcess",
            "field": "OWNS",
            "before": "t-hub-lab",
            "after": "t-ecommerce",
        }
    ]
    lab = {
        (e["node"]["operation"], e["node"]["entityId"], e["node"]["field"])
        for e in data["lab"]["edges"]
    }
    assert lab == {
        ("handOverProcess", "step-app-signup", "OWNS"),
        ("handOverProcess", "step-app-first-order", "OWNS"),
        ("handOverProcess", "sys-app", "OPERATES"),
        ("handOverProcess", "kpi-app-adoption", "ACCOUNTABLE_FOR"),
        ("handOverProcess", "proc-app-onboarding", "lifecycle"),
        ("applyReorganisation", "p-hub-lab-4", "MEMBER_OF"),
        ("applyReorganisation", "t-hub-lab", "name"),
    }
    assert await write_demo_history(graph) is False  # written once


async def test_a_team_member_reads_the_history_of_its_own_team_only(graph: Graph) -> None:
    await seed_org(graph)
    ok(await execute(graph, APPLY % PLAN_FIELDS, {"plan": MERGE_PLAN}))
    member = Principal(subject="cid", roles=frozenset({Role.FUNCTION}), teams=frozenset({"sales"}))
    context = Context.for_request(graph, Settings())
    context.principal = member
    schema = build_schema(Settings())

    async def ask(entity: str) -> Any:
        return await schema.execute(CHANGES, variable_values={"id": entity}, context_value=context)

    own = await ask("sales")
    assert own.errors is None and own.data is not None
    assert len(own.data["changes"]["edges"]) == 13
    assert error_codes(await ask("group")) == ["FORBIDDEN"]
