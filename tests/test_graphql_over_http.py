"""The GraphQL-over-HTTP specification, checked by its own audit (graphql-http's
``serverAudits``, run by Node against the served app) and by hand: the media type by
Accept, request errors without ``data`` and with 400 under that media type, 200 under
``application/json``, and every refusal before GraphQL runs in JSON with a code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orggraph.graph.driver import Graph
from orggraph.settings import Settings
from tests.helpers import node_json
from tests.served import Served

GRAPHQL_RESPONSE = "application/graphql-response+json"
# MAY audits of GET queries sent without a preflight header, which CSRF prevention refuses.
NOTICES_BY_DESIGN = {"5A70", "D6D5", "6A70"}


@pytest.fixture
def served(test_settings: Settings, graph: Graph) -> Iterator[Served]:
    with Served(test_settings) as service:
        yield service


def test_the_graphql_over_http_audit_finds_no_warning_and_no_error(served: Served) -> None:
    report = node_json("audit.mjs", f"{served.url}/graphql")
    failed = [audit for audit in report["failed"] if audit["status"] != "notice"]
    assert failed == []
    assert (report["warn"], report["error"]) == (0, 0)
    assert report["ok"] > 50  # every audit ran
    # The notices are MAYs: GET queries without a preflight header are refused on
    # purpose (CSRF prevention, docs/http-security.md).
    assert {audit["id"] for audit in report["failed"]} <= NOTICES_BY_DESIGN


def post(served: Served, body: Any, accept: str) -> httpx.Response:
    return httpx.post(f"{served.url}/graphql", json=body, headers={"accept": accept})


def test_the_graphql_media_type_is_chosen_by_accept(served: Served) -> None:
    query = {"query": "{ __typename }"}
    for accept, expected in [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
    ]:
        answer = post(served, query, accept)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == f"{expected}; charset=utf-8", accept
        assert answer.json() == {"data": {"__typename": "Query"}}


def test_request_errors_are_400_without_data_under_the_graphql_media_type(
    served: Served,
) -> None:
    variable = "query ($id: ID!) { customer(id: $id) { id } }"
    requests = {
        "GRAPHQL_PARSE_FAILED": {"query": "{ customer(id: "},
        "GRAPHQL_VALIDATION_FAILED": {"query": "{ noSuchField }"},
        "BAD_USER_INPUT": {"query": variable, "variables": {"id": {"not": "an id"}}},
    }
    for code, body in requests.items():
        modern = post(served, body, GRAPHQL_RESPONSE)
        assert modern.status_code == 400, code
        assert "data" not in modern.json(), code
        assert modern.json()["errors"][0]["extensions"]["code"] == code
        legacy = post(served, body, "application/json")
        assert legacy.status_code == 200, code
        assert legacy.json()["data"] is None
        assert legacy.json()["errors"][0]["extensions"]["code"] == code


def test_a_field_error_keeps_status_200_and_data_under_the_graphql_media_type(
    served: Served,
) -> None:
    body = {"query": '{ __typename team(id: "nobody") { id } }'}
    answer = post(served, body, GRAPHQL_RESPONSE)
    assert answer.status_code == 200
    assert answer.json()["data"]["__typename"] == "Query"


def test_refusals_before_graphql_runs_are_json_with_a_code(served: Served) -> None:
    url = f"{served.url}/graphql"
    json_type = {"content-type": "application/json"}
    refusals = [
        (httpx.put(url, json={"query": "{ __typename }"}), 405, "METHOD_NOT_ALLOWED"),
        (httpx.delete(url), 405, "METHOD_NOT_ALLOWED"),
        (httpx.post(url, content=b"{oops", headers=json_type), 400, "BAD_USER_INPUT"),
        (httpx.post(url, content=b"[{}]", headers=json_type), 400, "BAD_USER_INPUT"),
        (
            httpx.post(url, content=b"<q/>", headers={"content-type": "application/xml",
                                                       "graphql-preflight": "1"}),
            400,
            "BAD_USER_INPUT",
        ),
    ]  # fmt: skip
    for answer, status, code in refusals:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["errors"][0]["extensions"]["code"] == code
    assert refusals[0][0].headers["allow"] == "GET, POST"
