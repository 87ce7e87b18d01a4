"""Personal data is unreadable through Cypher by construction: the graph holds only
ciphertext and a keyed hash (graph.personal), GraphQL opens it for the `pii` claim.

Three customers, each email carrying the marker "zq7" and an '@' (no other stored
value holds either): any query result, masked or raw, containing one of them has
read plaintext. The review's 17 extraction shapes are run through the analysts'
executor (without the PII permission) and through the raw driver.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import neo4j.graph
import pytest
from pydantic import ValidationError
from strawberry.types import ExecutionResult

from orggraph.api import build_schema
from orggraph.auth import LOCAL_ADMIN, Principal, Role
from orggraph.context import Context
from orggraph.errors import ForbiddenError
from orggraph.graph.cypher import CypherLimits, run_read_only
from orggraph.graph.driver import Graph
from orggraph.graph.importers.bulk import load_nodes
from orggraph.graph.importers.mapping import parse_mapping, run_mapping
from orggraph.graph.migrations import backfill_sealed_emails, seal_customer_emails
from orggraph.graph.personal import (
    KEY_FILE_NAME,
    PersonalData,
    PersonalDataError,
    PersonalKeyError,
    generate_key,
    is_sealed,
    parse_keys,
    personal_data,
)
from orggraph.graph.writes import upsert_nodes
from orggraph.settings import Settings
from tests.helpers import error_codes, ok

SCHEMA = build_schema(Settings())
LIMITS = CypherLimits()
ANALYST = Principal("ana", frozenset({Role.ANALYST}))
ANALYST_PII = Principal("pia", frozenset({Role.ANALYST}), can_read_pii=True)
MARKER = "zq7"
EMAILS = {
    "c1": "ada.zq7@alpha-mail.example",
    "c2": "bob.zq7@beta-mail.example",
    "c3": "Cy.Zq7@Gamma-Mail.example",
}
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


async def seed(graph: Graph) -> None:
    await upsert_nodes(
        graph,
        "Customer",
        [{"id": cid, "name": f"Customer {cid}", "email": email} for cid, email in EMAILS.items()],
    )


def strings(value: Any) -> Iterator[str]:
    """Every string inside a driver value or a JSON result (keys, properties, lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (neo4j.graph.Node, neo4j.graph.Relationship)):
        yield from strings(dict(value.items()))
    elif isinstance(value, neo4j.graph.Path):
        for part in [*value.nodes, *value.relationships]:
            yield from strings(part)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def plaintext_in(value: Any) -> list[str]:
    return [text for text in strings(value) if "@" in text or MARKER in text.lower()]


async def raw_rows(graph: Graph, query: str, params: dict[str, Any] | None = None) -> list[Any]:
    """The query's rows straight from the driver: what a Bolt client of the database sees."""
    async with graph.driver.session(database=graph.database) as session:
        result = await session.run(query, params or {})
        return [list(record.values()) async for record in result]


async def stored(graph: Graph) -> dict[str, dict[str, Any]]:
    rows = await raw_rows(graph, "MATCH (c:Customer) RETURN c.id, properties(c)")
    return {row[0]: dict(row[1]) for row in rows}


# --- Cypher: nothing to extract ------------------------------------------------------------

SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("MATCH (c:Customer) RETURN apoc.convert.toJson(c) AS v", {}),
    ("MATCH (c:Customer) RETURN apoc.convert.toJson(properties(c)) AS v", {}),
    ("MATCH (c:Customer) RETURN apoc.map.sortedProperties(c) AS v", {}),
    ("MATCH (c:Customer) RETURN apoc.map.values(properties(c), keys(c)) AS v", {}),
    ("MATCH (c:Customer) RETURN apoc.create.vNode(['X'], properties(c)) AS v", {}),
    ("MATCH (c:Customer) RETURN c['em' + 'ail'] AS v", {}),
    ("MATCH (c:Customer) RETURN c[$k + $j] AS v", {"k": "em", "j": "ail"}),
    ("MATCH (c:Customer) RETURN [k IN keys(c) | c[k]] AS v", {}),
    ("MATCH (c:Customer) RETURN [k IN keys(c) | [k, toString(c[k])]] AS v", {}),
    ("MATCH (c:Customer) UNWIND keys(c) AS k RETURN k, c[k] AS v", {}),
    ("MATCH (c:Customer) RETURN reduce(s = '', k IN keys(c) | s + toString(c[k])) AS v", {}),
    ("MATCH (c:Customer) RETURN properties(c) AS v", {}),
    ("MATCH (c:Customer) RETURN c", {}),
    ("MATCH (c:Customer) RETURN c {.*} AS v", {}),
    ("MATCH (c:Customer) RETURN c.email AS v", {}),
    ("MATCH (c:Customer) RETURN c['email'] AS v", {}),
    ("MATCH (c:Customer) RETURN c[$k] AS v", {"k": "email"}),
]


@pytest.mark.parametrize(("query", "params"), SHAPES)
async def test_no_query_shape_reads_a_plaintext_email_through_the_analysts_door(
    graph: Graph, query: str, params: dict[str, Any]
) -> None:
    await seed(graph)
    try:
        result = await run_read_only(graph, query, params, LIMITS, can_read_pii=False)
    except ForbiddenError:
        return  # refused for naming `email` (while graph.cypher still checks the text)
    assert len(result.rows) >= 3
    assert plaintext_in(result.to_json()) == []


@pytest.mark.parametrize(("query", "params"), SHAPES)
async def test_no_query_shape_reads_a_plaintext_email_through_the_raw_driver(
    graph: Graph, query: str, params: dict[str, Any]
) -> None:
    await seed(graph)
    rows = await raw_rows(graph, query, params)
    assert len(rows) >= 3
    assert plaintext_in(rows) == []


async def test_the_database_holds_only_ciphertext_and_a_keyed_hash(graph: Graph) -> None:
    await seed(graph)
    assert graph.personal is not None
    props = await stored(graph)
    assert plaintext_in(list(props.values())) == []
    for cid, email in EMAILS.items():
        assert sorted(props[cid]) == ["email", "emailHash", "id", "name"]
        assert props[cid]["email"].startswith(f"pii:v1:{graph.personal.key_id}:")
        assert props[cid]["emailHash"] == graph.personal.lookup_hash("Customer", "email", email)
        assert len(props[cid]["emailHash"]) == 64


ORACLES: list[tuple[str, dict[str, Any]]] = [
    ("MATCH (c:Customer) WHERE c['em' + 'ail'] STARTS WITH 'a' RETURN c.id", {}),
    ("MATCH (c:Customer) WHERE c['em' + 'ail'] CONTAINS '@' RETURN c.id", {}),
    (
        "MATCH (c:Customer) WHERE toLower(c[$k + $j]) ENDS WITH '.example' RETURN c.id",
        {"k": "em", "j": "ail"},
    ),  # fmt: skip
    (
        "MATCH (c:Customer) WHERE c[$k + $j] = $guess RETURN c.id",
        {"k": "em", "j": "ail", "guess": EMAILS["c1"]},
    ),  # fmt: skip
    ("MATCH (c:Customer) UNWIND keys(c) AS k WITH c, k WHERE c[k] STARTS WITH 'a' RETURN c.id", {}),
    (
        "MATCH (c:Customer) WHERE any(k IN keys(c) WHERE toString(c[k]) CONTAINS 'zq7') "
        "RETURN c.id",
        {},
    ),  # fmt: skip
    ("MATCH (c:Customer) WHERE apoc.convert.toJson(c) CONTAINS 'alpha-mail' RETURN c.id", {}),
]


@pytest.mark.parametrize(("query", "params"), ORACLES)
async def test_a_condition_on_the_email_cannot_tell_customers_apart(
    graph: Graph, query: str, params: dict[str, Any]
) -> None:
    """Each condition holds for some plaintext (c1 starts with 'a', all hold '@', ...); on
    the stored form ('pii:v1:...', base64url) it holds for none."""
    await seed(graph)
    result = await run_read_only(graph, query, params, LIMITS, can_read_pii=False)
    assert result.rows == []
    assert await raw_rows(graph, query, params) == []


async def test_ordering_by_the_email_orders_by_ciphertext_not_by_plaintext(graph: Graph) -> None:
    await seed(graph)
    query = "MATCH (c:Customer) RETURN c.id ORDER BY c['em' + 'ail']"
    result = await run_read_only(graph, query, {}, LIMITS, can_read_pii=False)
    props = await stored(graph)
    by_ciphertext = sorted(props, key=lambda cid: props[cid]["email"])
    by_plaintext = sorted(EMAILS, key=lambda cid: EMAILS[cid].lower())
    assert [row[0] for row in result.rows] == by_ciphertext
    assert by_ciphertext != by_plaintext  # the fixed test key orders them c2, c1, c3


# --- GraphQL: the one door to the plaintext -----------------------------------------------


async def run(
    graph: Graph, principal: Principal, query: str, variables: dict[str, Any] | None = None
) -> ExecutionResult:
    context = Context.for_request(graph, Settings())
    context.principal = principal
    return await SCHEMA.execute(query, variable_values=variables, context_value=context)


CUSTOMERS = "query($f: CustomerFilter) { customers(filter: $f) { edges { node { id email } } } }"


def emails_of(data: dict[str, Any]) -> dict[str, str | None]:
    return {e["node"]["id"]: e["node"]["email"] for e in data["customers"]["edges"]}


@pytest.mark.parametrize(
    ("principal", "expected"),
    [(ANALYST_PII, EMAILS), (LOCAL_ADMIN, EMAILS), (ANALYST, dict.fromkeys(EMAILS))],
)
async def test_graphql_opens_emails_for_the_pii_claim_only(
    graph: Graph, principal: Principal, expected: dict[str, str | None]
) -> None:
    await seed(graph)
    assert emails_of(ok(await run(graph, principal, CUSTOMERS))) == expected
    one = ok(await run(graph, principal, '{ customer(id: "c3") { email } }'))
    assert one["customer"]["email"] == expected["c3"]


async def test_the_email_resolver_itself_refuses_to_decrypt_without_the_claim(
    graph: Graph,
) -> None:
    from orggraph.schema.types import Customer, open_email

    await seed(graph)
    props = (await stored(graph))["c1"]
    context = Context.for_request(graph, Settings())
    context.principal = ANALYST

    class FakeInfo:  # the resolver reads only info.context
        def __init__(self, context: Context) -> None:
            self.context = context

    customer = Customer.from_props(props)
    info: Any = FakeInfo(context)
    assert open_email(customer, info) is None
    context.principal = ANALYST_PII
    assert open_email(customer, info) == EMAILS["c1"]


async def test_the_email_filter_finds_the_customer_for_the_pii_claim(graph: Graph) -> None:
    await seed(graph)
    wanted = {"email": "  cy.ZQ7@gamma-mail.EXAMPLE "}  # trimmed, case-insensitive
    assert emails_of(ok(await run(graph, ANALYST_PII, CUSTOMERS, {"f": wanted}))) == {
        "c3": EMAILS["c3"]
    }
    unknown = {"email": "nobody@example.com"}
    assert emails_of(ok(await run(graph, ANALYST_PII, CUSTOMERS, {"f": unknown}))) == {}
    narrowed = {"email": EMAILS["c1"], "nameContains": "c2"}
    assert emails_of(ok(await run(graph, ANALYST_PII, CUSTOMERS, {"f": narrowed}))) == {}


async def test_the_email_filter_is_forbidden_without_the_pii_claim(graph: Graph) -> None:
    await seed(graph)
    result = await run(graph, ANALYST, CUSTOMERS, {"f": {"email": EMAILS["c1"]}})
    assert error_codes(result) == ["FORBIDDEN"]
    assert result.data is None or result.data["customers"] is None
    # other filters stay open to the same principal
    plain = ok(await run(graph, ANALYST, CUSTOMERS, {"f": {"nameContains": "c1"}}))
    assert emails_of(plain) == {"c1": None}


async def test_the_email_look_up_is_anchored_on_the_email_hash_index(graph: Graph) -> None:
    from orggraph.graph.nodes import hashed_list_nodes_query

    async with graph.driver.session(database=graph.database) as session:
        result = await session.run(
            "EXPLAIN " + hashed_list_nodes_query("Customer", "emailHash"),
            hashes=["x"], after="", limit=10, equals={}, nameContains=None, atFrom=None, atTo=None,
        )  # fmt: skip
        summary = await result.consume()
    assert summary.plan is not None
    details: list[str] = []

    def walk(operator: dict[str, Any]) -> None:
        details.append(f"{operator['operatorType']} {operator['args'].get('Details', '')}")
        for child in operator.get("children", []):
            walk(child)

    walk(summary.plan)
    assert any(d.startswith("NodeIndexSeek") and "emailHash" in d for d in details), details


# --- writes ----------------------------------------------------------------------------------


async def test_replaying_an_upsert_writes_the_same_bytes(graph: Graph) -> None:
    await seed(graph)
    before = await stored(graph)
    await seed(graph)
    assert await stored(graph) == before


async def test_a_changed_email_is_sealed_again_and_a_null_one_removes_its_hash(
    graph: Graph,
) -> None:
    await seed(graph)
    before = await stored(graph)
    await upsert_nodes(graph, "Customer", [{"id": "c1", "name": "A", "email": "new.zq7@x.example"}])
    await upsert_nodes(graph, "Customer", [{"id": "c2", "name": "B", "email": None}])
    after = await stored(graph)
    assert after["c1"]["email"] != before["c1"]["email"]
    assert after["c1"]["emailHash"] != before["c1"]["emailHash"]
    assert "email" not in after["c2"] and "emailHash" not in after["c2"]
    data = ok(await run(graph, ANALYST_PII, CUSTOMERS))
    assert emails_of(data) == {"c1": "new.zq7@x.example", "c2": None, "c3": EMAILS["c3"]}


async def test_every_write_path_stores_emails_sealed(graph: Graph, tmp_path: Path) -> None:
    rows = [{"id": "b1", "name": "Bulk", "email": "bulk.zq7@x.example"}]
    await load_nodes(graph, "Customer", rows)
    mapping = {
        "sources": [
            {
                "rows": [{"no": "m1", "mail": "mapped.zq7@x.example"}],
                "nodes": [
                    {
                        "label": "Customer",
                        "id": "{no}",
                        "properties": {"name": "no", "email": "mail"},
                    }
                ],
            }
        ]
    }
    await run_mapping(graph, parse_mapping(mapping, tmp_path))
    graphql = await run(
        graph,
        LOCAL_ADMIN,
        'mutation { upsertCustomer(input: {id: "g1", name: "G", email: "gql.zq7@x.example"}) '
        "{ email } }",
    )
    assert ok(graphql)["upsertCustomer"]["email"] == "gql.zq7@x.example"
    props = await stored(graph)
    assert sorted(props) == ["b1", "g1", "m1"]
    assert plaintext_in(list(props.values())) == []
    assert all(is_sealed(p["email"]) for p in props.values())


async def test_the_demo_seed_stores_emails_sealed(graph: Graph) -> None:
    from orggraph.graph.seed import seed_organisation

    await seed_organisation(graph, customers=3, seed=7, touchpoints_per_customer=2)
    props = await stored(graph)
    assert len(props) == 3
    assert plaintext_in(list(props.values())) == []
    data = ok(await run(graph, ANALYST_PII, '{ customer(id: "c-7-0000002") { email } }'))
    assert data["customer"]["email"] == "contact2@customer7.example"


async def test_a_graph_without_a_key_refuses_to_write_an_email(graph: Graph) -> None:
    keyless = Graph(graph.driver, graph.database)
    with pytest.raises(PersonalDataError, match="no personal-data key"):
        await upsert_nodes(keyless, "Customer", [{"id": "c9", "name": "N", "email": "n@x.example"}])
    await upsert_nodes(keyless, "Customer", [{"id": "c9", "name": "N"}])  # nothing personal
    assert list(await stored(graph)) == ["c9"]


# --- reading what is not where it was sealed ----------------------------------------------


async def test_a_ciphertext_moved_to_another_customer_does_not_decrypt(graph: Graph) -> None:
    await seed(graph)
    await raw_rows(
        graph, "MATCH (a:Customer {id: 'c1'}), (b:Customer {id: 'c2'}) SET b.email = a.email"
    )
    result = await run(graph, ANALYST_PII, '{ customer(id: "c2") { name email } }')
    assert result.data == {"customer": {"name": "Customer c2", "email": None}}
    assert error_codes(result) == ["INTERNAL"]
    message = (result.errors or [])[0].message
    assert "Customer 'c2': email does not decrypt" in message and MARKER not in message
    # the original is still readable where it was sealed
    assert ok(await run(graph, ANALYST_PII, '{ customer(id: "c1") { email } }')) == {
        "customer": {"email": EMAILS["c1"]}
    }


def test_an_altered_or_foreign_ciphertext_is_a_clear_error() -> None:
    codec = PersonalData.from_keys([KEY_A])
    sealed = codec.seal("Customer", "c1", "email", "a@x.example")
    assert codec.open("Customer", "c1", "email", sealed) == "a@x.example"
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(PersonalDataError, match="does not decrypt"):
        codec.open("Customer", "c1", "email", flipped)
    with pytest.raises(PersonalDataError, match="does not decrypt"):
        codec.open("Customer", "c1", "name", sealed)  # another property of the same node
    with pytest.raises(PersonalDataError, match="which is not configured"):
        PersonalData.from_keys([KEY_B]).open("Customer", "c1", "email", sealed)


def test_sealing_is_deterministic_per_place_and_hashing_per_value() -> None:
    codec = PersonalData.from_keys([KEY_A])
    one = codec.seal("Customer", "c1", "email", "a@x.example")
    assert codec.seal("Customer", "c1", "email", "a@x.example") == one
    assert codec.seal("Customer", "c2", "email", "a@x.example") != one  # same value elsewhere
    assert codec.lookup_hash("Customer", "email", " A@X.example ") == codec.lookup_hash(
        "Customer", "email", "a@x.example"
    )
    assert PersonalData.from_keys([KEY_B]).lookup_hash(
        "Customer", "email", "a@x.example"
    ) != codec.lookup_hash("Customer", "email", "a@x.example")


# --- migration and rotation -----------------------------------------------------------------


async def test_the_migration_encrypts_plaintext_an_older_version_wrote(
    graph: Graph, caplog: pytest.LogCaptureFixture
) -> None:
    assert graph.personal is not None
    await upsert_nodes(graph, "Customer", [{"id": "new", "name": "N", "email": "n.zq7@x.example"}])
    await raw_rows(
        graph,
        "UNWIND $rows AS row CREATE (c:Customer) SET c = row",
        {"rows": [
            {"id": "old1", "name": "O1", "email": "old1.zq7@legacy.example"},
            {"id": "old2", "name": "O2", "email": "Old2.zq7@legacy.example"},
            {"id": "none", "name": "no email"},
        ]},
    )  # fmt: skip
    sealed_before = (await stored(graph))["new"]
    with caplog.at_level(logging.INFO, logger="orggraph.graph.migrations"):
        await backfill_sealed_emails(graph)
    assert "email encryption: 4 customers read, 2 emails sealed" in caplog.text
    assert await seal_customer_emails(graph) == 0  # run again: nothing left to do

    props = await stored(graph)
    assert plaintext_in(list(props.values())) == []
    assert props["new"] == sealed_before
    assert "email" not in props["none"]
    assert props["old2"]["emailHash"] == graph.personal.lookup_hash(
        "Customer", "email", "old2.zq7@legacy.example"
    )
    data = ok(await run(graph, ANALYST_PII, CUSTOMERS, {"f": {"email": "OLD2.zq7@legacy.example"}}))
    assert emails_of(data) == {"old2": "Old2.zq7@legacy.example"}


async def test_a_rotated_key_reads_old_values_and_reseals_them(graph: Graph) -> None:
    graph.personal = PersonalData.from_keys([KEY_A])
    await seed(graph)
    graph.personal = PersonalData.from_keys([KEY_B, KEY_A])  # new key first, old kept
    assert emails_of(ok(await run(graph, ANALYST_PII, CUSTOMERS))) == EMAILS
    found = ok(await run(graph, ANALYST_PII, CUSTOMERS, {"f": {"email": EMAILS["c2"]}}))
    assert list(emails_of(found)) == ["c2"]  # a hash of the old key still matches

    assert await seal_customer_emails(graph, rotate=True) == 3
    graph.personal = PersonalData.from_keys([KEY_B])  # the old key retired
    assert emails_of(ok(await run(graph, ANALYST_PII, CUSTOMERS))) == EMAILS
    found = ok(await run(graph, ANALYST_PII, CUSTOMERS, {"f": {"email": EMAILS["c2"]}}))
    assert list(emails_of(found)) == ["c2"]


# --- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        KEY_A.hex(),
        KEY_A.hex().upper(),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",  # base64
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",  # base64url, unpadded
    ],
)
def test_a_key_is_hex_or_base64_of_32_bytes(text: str) -> None:
    assert parse_keys(text) == [KEY_A]


def test_several_keys_are_comma_separated_and_the_first_seals() -> None:
    assert parse_keys(f"{KEY_B.hex()}, {KEY_A.hex()}") == [KEY_B, KEY_A]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("c2VjcmV0", "decodes to 6 bytes"),
        ("not a key!", "neither hex nor base64"),
        (f"{KEY_A.hex()},", "key 2 of ORGGRAPH_PII_KEY is empty"),
    ],
)
def test_a_bad_key_is_refused_without_echoing_it(text: str, reason: str) -> None:
    with pytest.raises(PersonalKeyError, match=reason):
        parse_keys(text)
    with pytest.raises(ValidationError) as caught:
        Settings(pii_key=text)
    assert "ORGGRAPH_PII_KEY" in str(caught.value) and reason in str(caught.value)
    if text:
        assert text not in str(caught.value)


def test_without_a_key_setting_one_is_generated_in_the_home_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path / "home", pii_key=None)
    codec = personal_data(settings)
    path = tmp_path / "home" / KEY_FILE_NAME
    assert not path.exists()  # loaded on first use only
    with caplog.at_level(logging.WARNING, logger="orggraph.graph.personal"):
        sealed = codec.seal("Customer", "c1", "email", "a@x.example")
    assert "ORGGRAPH_PII_KEY is unset: generated a personal-data key" in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(parse_keys(path.read_text().strip())) == 1
    again = personal_data(Settings(home=tmp_path / "home", pii_key=None))
    assert again.open("Customer", "c1", "email", sealed) == "a@x.example"
    assert os.listdir(tmp_path / "home") == [KEY_FILE_NAME]


def test_a_configured_key_wins_over_the_key_file(tmp_path: Path) -> None:
    key = generate_key()
    codec = personal_data(Settings(home=tmp_path, pii_key=key))
    sealed = codec.seal("Customer", "c1", "email", "a@x.example")
    assert PersonalData.from_keys(parse_keys(key)).open("Customer", "c1", "email", sealed)
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_an_unusable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("too short\n")
    (tmp_path / KEY_FILE_NAME).chmod(0o600)
    codec = personal_data(Settings(home=tmp_path, pii_key=None))
    with pytest.raises(PersonalDataError, match="key file is not usable"):
        codec.seal("Customer", "c1", "email", "a@x.example")
