"""Persisted documents, driven by a stock client: Apollo Client's persisted-queries link
(automatic persisted queries) against the served app, and the trusted-documents mode
(``ORGGRAPH_TRUSTED_DOCUMENTS``) where only the manifest's documents run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orggraph.graph.driver import Graph
from orggraph.persisted import read_manifest
from orggraph.settings import Settings
from tests.helpers import node_json
from tests.served import Served

TYPENAME = "query Typename { __typename }"
SCHEMA_NAME = "query QueryType { __schema { queryType { name } } }"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@pytest.fixture
def served(test_settings: Settings, graph: Graph) -> Iterator[Served]:
    with Served(test_settings) as service:
        yield service


def test_apollo_registers_an_unknown_hash_once_then_sends_the_hash_alone(
    served: Served,
) -> None:
    report = node_json("persisted.mjs", f"{served.url}/graphql", TYPENAME)
    assert report["runs"] == [{"data": {"__typename": "Query"}}] * 2
    hash_ = sha256(report["sent"][1]["document"])  # Apollo's printing of TYPENAME
    # Hash alone: not found; the document with its hash: registered; then the hash alone.
    assert [(s["withDocument"], s["hash"]) for s in report["sent"]] == [
        (False, hash_),
        (True, hash_),
        (False, hash_),
    ]
    # Apollo Client 3 accepts application/json: the not-found answer is a 200.
    assert [s["status"] for s in report["sent"]] == [200, 200, 200]


def post(served: Served, body: dict[str, object]) -> dict[str, object]:
    answer = httpx.post(f"{served.url}/graphql", json=body)
    result: dict[str, object] = answer.json()
    return result


def codes(result: dict[str, object]) -> list[str]:
    errors = result.get("errors") or []
    assert isinstance(errors, list)
    return [error["extensions"]["code"] for error in errors]


def test_a_hash_that_does_not_match_its_document_is_refused(served: Served) -> None:
    lying = {"version": 1, "sha256Hash": sha256(SCHEMA_NAME)}
    result = post(served, {"query": TYPENAME, "extensions": {"persistedQuery": lying}})
    assert codes(result) == ["BAD_USER_INPUT"]
    # ... and registered nothing under that hash.
    result = post(served, {"extensions": {"persistedQuery": lying}})
    assert codes(result) == ["PERSISTED_QUERY_NOT_FOUND"]


class Trusted(Served):
    manifest: Path


@pytest.fixture
def trusted(test_settings: Settings, graph: Graph, tmp_path: Path) -> Iterator[Trusted]:
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps(node_json("persisted.mjs", "--manifest", TYPENAME)))
    settings = test_settings.model_copy(update={"trusted_documents": manifest})
    service = Trusted(settings)
    with service:
        service.manifest = manifest
        yield service


def test_trusted_documents_run_by_hash_and_nothing_else_runs(trusted: Trusted) -> None:
    report = node_json("persisted.mjs", f"{trusted.url}/graphql", TYPENAME, SCHEMA_NAME)
    assert report["runs"][:2] == [{"data": {"__typename": "Query"}}] * 2
    assert [s["withDocument"] for s in report["sent"][:2]] == [False, False]
    for refused in report["runs"][2:]:
        assert refused["codes"] == ["PERSISTED_QUERY_NOT_IN_LIST"]
    assert codes(post(trusted, {"query": SCHEMA_NAME})) == ["PERSISTED_QUERY_NOT_IN_LIST"]
    (listed,) = read_manifest(trusted.manifest).values()
    assert post(trusted, {"query": listed}) == {"data": {"__typename": "Query"}}


def test_an_apollo_manifest_is_read_and_a_wrong_entry_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "persisted-query-manifest.json"
    operations = [{"id": sha256(TYPENAME), "name": "Typename", "type": "query", "body": TYPENAME}]
    apollo = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    manifest.write_text(json.dumps(apollo))
    assert read_manifest(manifest) == {sha256(TYPENAME): TYPENAME}
    manifest.write_text(json.dumps({sha256(TYPENAME): SCHEMA_NAME}))
    with pytest.raises(Exception, match="does not hash to its key"):
        read_manifest(manifest)


def test_a_hash_over_get_runs_the_registered_document_not_graphiql(served: Served) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(TYPENAME)}}
    post(served, {"query": TYPENAME, "extensions": extensions})
    answer = httpx.get(
        f"{served.url}/graphql",
        params={"extensions": json.dumps(extensions)},
        headers={"accept": "*/*", "graphql-preflight": "1"},
    )
    assert answer.json() == {"data": {"__typename": "Query"}}
