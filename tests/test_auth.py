"""Authentication over HTTP and WebSocket: JWT (HS256, RS256, ES256 by JWKS), API keys."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr
from starlette.testclient import TestClient

from orggraph.app import create_app
from orggraph.graph.driver import Graph
from orggraph.settings import Settings

SECRET = "a-test-secret-of-at-least-32-bytes!!"
API_KEY = "ak_live_0123456789"
TEAMS_QUERY = {"query": "{ teams { edges { node { id } } } }"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = folder / "rsa.pem"
    public_pem.write_bytes(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"}]}))
    api_keys = folder / "api-keys.json"
    api_keys.write_text(json.dumps([{
        "sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
        "subject": "etl-job", "roles": ["WRITER"],
    }]))  # fmt: skip
    return {"rsa": rsa_key, "rsa_pem": public_pem, "ec": ec_key, "jwks": jwks, "api_keys": api_keys}


@pytest.fixture
def client(test_settings: Settings, graph: Graph, keys: dict[str, Any]) -> Iterator[TestClient]:
    settings = test_settings.model_copy(
        update={
            "jwt_secret": SecretStr(SECRET),
            "jwt_public_key_file": keys["rsa_pem"],
            "jwks_file": keys["jwks"],
            "api_keys_file": keys["api_keys"],
        }
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def token(key: Any, algorithm: str, expires_in: int = 300, **claims: Any) -> str:
    payload = {"sub": "ana", "roles": ["ANALYST"], "exp": int(time.time()) + expires_in, **claims}
    headers = {"kid": "ec-1"} if algorithm == "ES256" else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def test_a_valid_token_of_each_kind_is_accepted(client: TestClient, keys: dict[str, Any]) -> None:
    for bearer in (
        token(SECRET, "HS256"),
        token(keys["rsa"], "RS256"),
        token(keys["ec"], "ES256"),
    ):
        response = client.post(
            "/graphql", json=TEAMS_QUERY, headers={"Authorization": f"Bearer {bearer}"}
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json()


def test_an_api_key_is_accepted_in_either_header(client: TestClient) -> None:
    mutation = {"query": 'mutation { upsertTeam(input: {id: "t1", name: "One"}) { id } }'}
    for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"ApiKey {API_KEY}"}):
        response = client.post("/graphql", json=mutation, headers=headers)
        assert response.json() == {"data": {"upsertTeam": {"id": "t1"}}}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "credentials required"),
        ({"Authorization": "Basic abc"}, "must be `Bearer"),
        ({"X-API-Key": "wrong"}, "unknown API key"),
    ],
)
def test_missing_or_bad_credentials_are_401(
    client: TestClient, headers: dict[str, str], reason: str
) -> None:
    response = client.post("/graphql", json=TEAMS_QUERY, headers=headers)
    assert response.status_code == 401
    assert code(response) == "UNAUTHENTICATED"
    assert reason in response.json()["errors"][0]["message"]


def test_expired_and_forged_tokens_say_why(client: TestClient, keys: dict[str, Any]) -> None:
    expired = token(SECRET, "HS256", expires_in=-60)
    forged = token("another-secret-of-at-least-32-bytes!", "HS256")
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bearer, reason in (
        (expired, "expired"),
        (forged, "signature"),
        (token(other_rsa, "RS256"), "signature"),
        (token(SECRET, "HS256", roles=["ROOT"]), "unknown role"),
    ):
        response = client.post(
            "/graphql", json=TEAMS_QUERY, headers={"Authorization": f"Bearer {bearer}"}
        )
        assert response.status_code == 401
        assert code(response) == "UNAUTHENTICATED"
        assert reason in response.json()["errors"][0]["message"]


def test_the_token_carries_roles_and_teams(client: TestClient) -> None:
    member = token(SECRET, "HS256", roles=["FUNCTION"], teams=["t1"])
    headers = {"Authorization": f"Bearer {member}"}
    two_teams = (
        'mutation { upsertTeams(inputs: [{id: "t1", name: "1"}, {id: "t2", name: "2"}]) { rows } }'
    )
    created = client.post("/graphql", json={"query": two_teams}, headers={"X-API-Key": API_KEY})
    assert "errors" not in created.json(), created.text
    own = client.post("/graphql", json={"query": '{ team(id: "t1") { id } }'}, headers=headers)
    assert own.json() == {"data": {"team": {"id": "t1"}}}
    other = client.post("/graphql", json={"query": '{ team(id: "t2") { id } }'}, headers=headers)
    assert code(other) == "FORBIDDEN"
    cypher = client.post("/cypher", json={"query": "RETURN 1 AS one"}, headers=headers)
    assert cypher.status_code == 403


def test_cypher_needs_credentials_too(client: TestClient) -> None:
    assert client.post("/cypher", json={"query": "RETURN 1"}).status_code == 401
    analyst = {"Authorization": f"Bearer {token(SECRET, 'HS256')}"}
    response = client.post("/cypher", json={"query": "RETURN 1 AS one"}, headers=analyst)
    assert response.status_code == 200, response.text


def test_a_websocket_client_authenticates_in_connection_init(client: TestClient) -> None:
    subscription = 'subscription { kpiUpdated(teamId: "t1") { kpiId } }'
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
        closed = ws.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == 4403
    member = token(SECRET, "HS256", roles=["FUNCTION"], teams=["t1"])
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {member}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
        forbidden = 'subscription { kpiUpdated(teamId: "t2") { kpiId } }'
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": forbidden}})
        message = ws.receive_json()
        assert (message["id"], message["type"]) == ("2", "error"), message
        assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN"


def test_without_auth_serve_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ORGGRAPH_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "orggraph.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "without authentication" in result.stderr + result.stdout
