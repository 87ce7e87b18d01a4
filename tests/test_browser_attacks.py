"""What a web page in the user's browser could do to the loopback service: rebind its
own name to 127.0.0.1 (refused by the Host allow-list, HTTP and WebSocket upgrades),
or send a "simple" cross-site request (refused by CSRF prevention). Stock clients
(the explorer, GraphiQL, Apollo Client, urql) send JSON and keep working."""

from __future__ import annotations

import base64
import os
import re
import socket
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from orggraph.app import EXPLORER_DIR, create_app
from orggraph.graph.driver import Graph
from orggraph.http_security import AllowedHosts, host_of
from orggraph.settings import Settings
from tests.served import Served

QUERY = "{ __typename }"


@pytest.fixture
def client(test_settings: Settings, graph: Graph) -> Iterator[TestClient]:
    with TestClient(create_app(test_settings)) as test_client:
        yield test_client


def code_of(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    return str(body["errors"][0]["extensions"]["code"])


# --- Host ---------------------------------------------------------------------------------------


def test_a_host_the_service_does_not_answer_gets_a_json_400(client: TestClient) -> None:
    for path in ("/graphql", "/cypher"):
        response = client.post(path, json={"query": QUERY}, headers={"host": "evil.example"})
        assert response.status_code == 400
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_REQUEST", "host": "evil.example"}
        assert "ORGGRAPH_ALLOWED_HOSTS" in error["message"]
    assert client.get("/", headers={"host": "evil.example:8000"}).status_code == 400
    # Probes address the service by IP and learn nothing: any Host is answered.
    assert client.get("/healthz", headers={"host": "10.0.0.7:8000"}).status_code == 200
    for allowed in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        answer = client.post("/graphql", json={"query": QUERY}, headers={"host": allowed})
        assert answer.json() == {"data": {"__typename": "Query"}}, allowed


def test_the_default_hosts_are_loopback_and_a_named_bind_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ORGGRAPH_ALLOWED_HOSTS", raising=False)
    loopback = ["localhost", "127.0.0.1", "[::1]"]
    assert Settings(host="127.0.0.1").trusted_hosts() == loopback
    assert Settings(host="0.0.0.0").trusted_hosts() == loopback  # a wildcard names no host
    assert Settings(host="10.1.2.3").trusted_hosts() == [*loopback, "10.1.2.3"]
    assert Settings(host="fd00::5").trusted_hosts() == [*loopback, "[fd00::5]"]
    monkeypatch.setenv("ORGGRAPH_ALLOWED_HOSTS", "graph.example.com, *.corp.example")
    assert Settings().trusted_hosts() == ["graph.example.com", "*.corp.example"]


def test_host_patterns_match_names_not_suffixes() -> None:
    async def app(*_: object) -> None: ...

    hosts = AllowedHosts(app, allowed_hosts=["graph.example.com", "*.corp.example"])
    assert hosts.allows(host_of("graph.example.com:443"))
    assert hosts.allows(host_of("api.corp.example"))
    assert not hosts.allows(host_of("corp.example.evil"))
    assert not hosts.allows(host_of("graph.example.com.evil"))
    assert not hosts.allows(host_of(None))
    assert host_of("[::1]:8000") == "[::1]" and host_of("LocalHost:1") == "localhost"


def upgrade_status(port: int, host: str) -> tuple[int, bytes]:
    """The status and body a raw WebSocket upgrade request gets (a real socket)."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /graphql HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += conn.recv(4096)
        head, _, body = answer.partition(b"\r\n\r\n")
        match = re.match(rb"HTTP/1\.1 (\d+)", head)
        assert match, head
        status = int(match[1])
        if status == 400:
            length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
            while len(body) < length:
                body += conn.recv(4096)
        return status, body


def test_a_websocket_upgrade_to_another_host_is_refused(
    test_settings: Settings, graph: Graph
) -> None:
    with Served(test_settings) as served:
        status, body = upgrade_status(served.port, "rebound.example")
        assert status == 400 and b'"code":"BAD_REQUEST"' in body
        assert upgrade_status(served.port, f"127.0.0.1:{served.port}")[0] == 101


# --- CSRF ---------------------------------------------------------------------------------------


def test_simple_cross_site_requests_are_refused_with_the_header_to_add(client: TestClient) -> None:
    body = b'{"query": "{ __typename }"}'
    for content_type in (
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "message/ad-auction-trusted-signals-request",  # safelisted by Chromium
    ):
        for path in ("/graphql", "/cypher"):
            response = client.post(path, content=body, headers={"content-type": content_type})
            assert response.status_code == 400, (path, content_type)
            assert code_of(response) == "CSRF_PREVENTED", (path, content_type)
            assert "GraphQL-Preflight" in response.json()["errors"][0]["message"]
    no_type = client.post("/graphql", content=body, headers={"content-type": ""})
    assert code_of(no_type) == "CSRF_PREVENTED"


def test_a_get_operation_needs_a_preflight_header(client: TestClient) -> None:
    # <img src="http://127.0.0.1:8000/graphql?query=..."> would otherwise read emails.
    emails = "{ customers { edges { node { email } } } }"
    refused = client.get("/graphql", params={"query": emails})
    assert refused.status_code == 400 and code_of(refused) == "CSRF_PREVENTED"
    empty = client.get("/graphql", params={"query": QUERY}, headers={"GraphQL-Preflight": " "})
    assert code_of(empty) == "CSRF_PREVENTED"
    for header in ("GraphQL-Preflight", "Apollo-Require-Preflight", "X-Apollo-Operation-Name"):
        answer = client.get("/graphql", params={"query": QUERY}, headers={header: "1"})
        assert answer.json() == {"data": {"__typename": "Query"}}, header
    # Apollo Client sends its JSON Content-Type on a GET too.
    typed = client.get(
        "/graphql", params={"query": QUERY}, headers={"content-type": "application/json"}
    )
    assert typed.json() == {"data": {"__typename": "Query"}}


def test_json_clients_and_the_graphiql_page_keep_working(client: TestClient) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8"):
        answer = client.post(
            "/graphql",
            content=b'{"query": "{ __typename }"}',
            headers={"content-type": content_type},
        )
        assert answer.json() == {"data": {"__typename": "Query"}}
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    rows = client.post("/cypher", json={"query": "RETURN 1 AS one"})
    assert rows.status_code == 200 and rows.json()["data"]["rows"] == [[1]]
    # A preflight header lets a non-JSON body through CSRF prevention; it is then
    # refused for what it is.
    plain = client.post(
        "/graphql", content=b"{}", headers={"content-type": "text/plain", "GraphQL-Preflight": "1"}
    )
    assert plain.status_code == 400 and code_of(plain) == "BAD_USER_INPUT"


def test_the_explorer_posts_json_and_its_queries_pass_every_limit(client: TestClient) -> None:
    transport = (EXPLORER_DIR / "api.js").read_text()
    assert '"Content-Type": "application/json"' in transport and 'method: "POST"' in transport
    # Each view's module declares its documents as constants: `const X = `query Name(...`.
    scripts = "".join(path.read_text() for path in sorted(EXPLORER_DIR.glob("*.js")))
    found = {name: text for text, name in re.findall(r"= `(query (\w+)[^`]*)`", scripts)}
    numbers = dict(re.findall(r"const (\w+) = (\d+);", scripts))  # e.g. ${MEASUREMENTS}
    queries = {
        name: re.sub(r"\$\{(\w+)\}", lambda m: numbers[m.group(1)], text)
        for name, text in found.items()
    }
    assert set(queries) == {
        "ExplorerChoices", "ExplorerFunnel", "ExplorerJourneyMap", "ExplorerMapCases",
        "ExplorerJourney", "ExplorerTeam",
    }  # fmt: skip
    variables = {
        "ExplorerFunnel": {"processId": "p"},
        "ExplorerJourneyMap": {"by": "ACTIVITY", "minEdgeCount": 1},
        "ExplorerMapCases": {"by": "ACTIVITY", "source": "a", "target": "b"},
        "ExplorerJourney": {"customerId": "c"},
        "ExplorerTeam": {"teamId": "t"},
    }
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    for name, query in queries.items():
        body = {"query": query, "variables": variables.get(name, {})}
        answer = client.post("/graphql", json=body, headers=headers)
        assert answer.status_code == 200, name
        codes = [e["extensions"]["code"] for e in answer.json().get("errors", [])]
        # On an empty database the views may find nothing; no limit may refuse them.
        assert set(codes) <= {"NOT_FOUND"}, (name, codes)
