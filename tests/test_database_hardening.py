"""The embedded Neo4j refuses on its own what analysts must not do, behind its own password.

Every query here goes straight to the database through the driver with the admin
password: what is refused is refused by Neo4j's configuration, not by the service's
plan check (graph/cypher.py), which these tests never pass through. A dedicated
runtime (heap 512m: transactions get 128 MiB each, 256 MiB together) is started
with fake secrets in this process's environment; the session's database serves
the checks an external Neo4j gets at start-up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, Neo4jError

from orggraph.cli import main
from orggraph.database import (
    HARDENING_SETTINGS,
    Hardening,
    hardening_warnings,
    open_graph,
    read_hardening,
)
from orggraph.graph.cypher import ALLOWED_PROCEDURES
from orggraph.graph.driver import Graph
from orggraph.graph.runtime import LAUNCHER, PASSWORD_FILE, EmbeddedNeo4j, RuntimeConfig
from orggraph.settings import Settings
from tests.helpers import CACHE

embedded_only = pytest.mark.skipif(
    bool(os.environ.get("NEO4J_URI")), reason="checks the embedded database's configuration"
)
FAKE_SECRETS = {
    "ORGGRAPH_JWT_SECRET": "fake-jwt-secret-3f9a1c",
    "NEO4J_PASSWORD": "fake-neo4j-password-77e2",
    "ORGGRAPH_PII_KEY": "fake-pii-key-0b5d",
    "SOME_OTHER_SERVICE_TOKEN": "fake-token-c41e",
}
REVIEW_BYPASS = (
    "RETURN CASE WHEN rand() < 2 THEN COLLECT { LOAD CSV FROM 'file:///etc/passwd' AS l "
    "RETURN l[0] } END AS x"
)


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNeo4j]:
    """A runtime started while this process's environment holds FAKE_SECRETS."""
    saved = {name: os.environ.get(name) for name in FAKE_SECRETS}
    os.environ.update(FAKE_SECRETS)
    home = tmp_path_factory.mktemp("hardened") / "home"
    runtime = EmbeddedNeo4j(RuntimeConfig(home=home, cache_dir=CACHE, heap="512m", pagecache="64m"))
    try:
        runtime.start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture
def admin(hardened: EmbeddedNeo4j) -> Iterator[Driver]:
    with GraphDatabase.driver(hardened.bolt_uri or "", auth=hardened.auth) as driver:
        yield driver


def refusal(driver: Driver, query: str) -> Neo4jError:
    """The error the database answers ``query`` with (fails the test if it answers rows)."""
    with driver.session(database="neo4j") as session, pytest.raises(Neo4jError) as refused:
        session.run(query).consume()
    return refused.value


def names(driver: Driver, query: Any) -> set[str]:
    records, _, _ = driver.execute_query(query, database_="neo4j")
    return {str(record["name"]) for record in records}


# --- the JVM's environment and command line -------------------------------------------


@embedded_only
def test_the_jvm_inherits_none_of_the_services_secrets(hardened: EmbeddedNeo4j) -> None:
    environ = Path(f"/proc/{hardened.pid}/environ").read_bytes().split(b"\0")
    variables = dict(entry.decode().split("=", 1) for entry in environ if b"=" in entry)
    assert "PATH" in variables
    for name, value in FAKE_SECRETS.items():
        assert name not in variables
        assert value.encode() not in b"\0".join(environ)
    assert not [name for name in variables if name.startswith(("ORGGRAPH_", "NEO4J_"))]
    cmdline = Path(f"/proc/{hardened.pid}/cmdline").read_bytes()
    assert hardened.auth[1].encode() not in cmdline  # a file path, not the password
    assert f"{PASSWORD_FILE}".encode() in cmdline


@embedded_only
def test_the_database_refuses_to_read_its_own_environment_or_any_file(admin: Driver) -> None:
    for query in (
        "LOAD CSV FROM 'file:///proc/self/environ' AS line RETURN line",
        REVIEW_BYPASS,  # a subquery in an expression, which once escaped the plan check
    ):
        error = refusal(admin, query)
        assert error.code == "Neo.ClientError.Statement.ExternalResourceFailed"
        assert "dbms.security.allow_csv_import_from_file_urls" in str(error.message)


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        _Counting.hits.append(self.path)
        body = b"a,b\n1,2\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def csv_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@embedded_only
def test_url_fetches_are_blocked_before_any_connection_is_made(admin: Driver) -> None:
    with csv_server() as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/reachable") as reply:
            assert reply.read() == b"a,b\n1,2\n"  # it answers anyone who connects
        _Counting.hits.clear()
        for host in ("127.0.0.1", "localhost", "[::1]", "0.0.0.0"):
            error = refusal(admin, f"LOAD CSV FROM 'http://{host}:{port}/x.csv' AS l RETURN l")
            assert error.code == "Neo.ClientError.Statement.ExternalResourceFailed", host
            assert "blocked via the configuration property" in str(error.message), host
    assert _Counting.hits == []


# --- procedures and functions ---------------------------------------------------------

DENIED = (
    "apoc.load.json",
    "apoc.load.csv",
    "apoc.import.csv",
    "apoc.export.csv.all",
    "apoc.export.json.query",
    "apoc.cypher.run",
    "apoc.cypher.doIt",
    "apoc.periodic.iterate",
    "apoc.trigger.add",
    "apoc.do.when",
    "apoc.when",
    "apoc.graph.fromCypher",
    "apoc.search.node",
    "apoc.spatial.geocode",
    "apoc.log.stream",
    "apoc.util.sleep",
    "apoc.warmup.run",
    "apoc.create.node",
    "apoc.merge.node",
    "apoc.refactor.mergeNodes",
    "apoc.schema.assert",
)
DENIED_FUNCTIONS = ("apoc.cypher.runFirstColumnSingle", "apoc.xml.parse", "apoc.util.decompress")
ALLOWED_FUNCTIONS = (
    "apoc.coll.sum",
    "apoc.map.merge",
    "apoc.text.join",
    "apoc.convert.toJson",
    "apoc.date.format",
    "apoc.temporal.format",
    "apoc.number.format",
    "apoc.math.maxLong",
    "apoc.agg.median",
    "apoc.util.md5",
    "apoc.util.sha256",
    "apoc.create.vNode",
    "apoc.node.degree",
    "apoc.rel.type",
    "apoc.version",
)
PROCEDURES: Any = "SHOW PROCEDURES YIELD name RETURN name"
FUNCTIONS: Any = "SHOW FUNCTIONS YIELD name RETURN name"


@embedded_only
def test_only_allow_listed_apoc_is_loaded(admin: Driver) -> None:
    procedures, functions = names(admin, PROCEDURES), names(admin, FUNCTIONS)
    assert not [name for name in DENIED if name in procedures]
    assert not [name for name in DENIED_FUNCTIONS if name in functions]
    assert not [n for n in procedures | functions if n.startswith(("apoc.load.", "apoc.export."))]
    assert [name for name in ALLOWED_FUNCTIONS if name not in functions] == []
    # Every procedure family analysts may call is there for them.
    for allowed in ALLOWED_PROCEDURES:
        prefix = allowed if allowed.endswith(".") else None
        assert any(n == allowed or (prefix and n.startswith(prefix)) for n in procedures), allowed
    # Built-in procedures do not depend on the allow-list.
    assert {"db.labels", "dbms.components", "db.schema.visualization"} <= procedures
    error = refusal(admin, "CALL apoc.load.json('file:///etc/passwd') YIELD value RETURN value")
    assert error.code == "Neo.ClientError.Procedure.ProcedureNotFound"


@embedded_only
def test_allowed_apoc_works_including_what_needs_the_internal_api(admin: Driver) -> None:
    admin.execute_query(
        "CREATE (:HardeningProbe {id: 'a'})-[:R]->(:HardeningProbe {id: 'b'})", database_="neo4j"
    )
    try:
        records, _, _ = admin.execute_query(
            "MATCH (a:HardeningProbe {id: 'a'})-[r]->() "
            "RETURN apoc.text.join(['x', 'y'], '-') AS joined, apoc.coll.sum([1, 2, 3]) AS sum, "
            "apoc.node.degree(a) AS degree, apoc.rel.type(r) AS type",
            database_="neo4j",
        )
        assert [dict(r) for r in records] == [
            {"joined": "x-y", "sum": 6.0, "degree": 1, "type": "R"}
        ]
        records, _, _ = admin.execute_query(
            "MATCH (a:HardeningProbe {id: 'a'}) "
            "CALL apoc.path.subgraphNodes(a, {relationshipFilter: 'R>'}) YIELD node "
            "RETURN node.id AS id ORDER BY id",
            database_="neo4j",
        )
        assert [r["id"] for r in records] == ["a", "b"]
    finally:
        admin.execute_query("MATCH (n:HardeningProbe) DETACH DELETE n", database_="neo4j")


# --- memory ---------------------------------------------------------------------------


@embedded_only
def test_a_query_over_its_memory_limit_is_killed_and_the_database_stays_up(
    hardened: EmbeddedNeo4j, admin: Driver
) -> None:
    records, _, _ = admin.execute_query(
        "SHOW SETTINGS YIELD name, value WHERE name IN $names RETURN name, value",
        names=["db.memory.transaction.max", "dbms.memory.transaction.total.max"],
        database_="neo4j",
    )
    assert {r["name"]: r["value"] for r in records} == {
        "db.memory.transaction.max": "128.00MiB",  # a quarter of the 512m heap
        "dbms.memory.transaction.total.max": "256.00MiB",  # half of it
    }
    pid = hardened.pid
    error = refusal(admin, "UNWIND range(1, 30000000) AS x RETURN size(collect(toString(x)))")
    assert error.code == "Neo.TransientError.General.MemoryPoolOutOfMemoryError"
    assert "db.memory.transaction.max" in str(error.message)
    records, _, _ = admin.execute_query("RETURN 1 AS alive", database_="neo4j")
    assert records[0]["alive"] == 1 and hardened.pid == pid and hardened.exit_code() is None


# --- the Bolt password ------------------------------------------------------------------


@embedded_only
def test_bolt_refuses_no_password_a_wrong_one_and_the_default(hardened: EmbeddedNeo4j) -> None:
    uri = hardened.bolt_uri or ""
    for auth in (None, ("neo4j", "wrong-password"), ("neo4j", "neo4j")):
        with GraphDatabase.driver(uri, auth=auth) as driver, pytest.raises(AuthError):
            driver.verify_connectivity()
    with GraphDatabase.driver(uri, auth=hardened.auth) as driver:
        driver.verify_connectivity()
    user, password = hardened.auth
    assert user == "neo4j" and len(password) >= 32
    home = hardened.config.home
    assert stat.S_IMODE((home / PASSWORD_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


@embedded_only
def test_the_password_command_prints_what_the_database_accepts(
    hardened: EmbeddedNeo4j, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORGGRAPH_HOME", str(hardened.config.home))
    assert main(["db", "password"]) == 0
    assert capsys.readouterr().out.strip() == hardened.auth[1]


@embedded_only
def test_a_new_password_file_is_set_with_bolt_closed_and_a_changed_password_is_reset(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    runtime = EmbeddedNeo4j(RuntimeConfig(home=home, cache_dir=CACHE, heap="512m", pagecache="64m"))
    runtime.start()
    try:
        old = runtime.auth
        runtime.stop()
        (home / PASSWORD_FILE).write_text("a-new-password-for-the-store\n")
        runtime.start()
        log_text = (home / "logs" / "runtime.log").read_text()
        assert "ORGGRAPH-NEO4J-SETTING-PASSWORD" in log_text
        uri = runtime.bolt_uri or ""
        with GraphDatabase.driver(uri, auth=old) as driver, pytest.raises(AuthError):
            driver.verify_connectivity()
        with GraphDatabase.driver(uri, auth=("neo4j", "a-new-password-for-the-store")) as driver:
            driver.execute_query(
                "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                old="a-new-password-for-the-store",
                new="changed-over-bolt",
                database_="system",
            )
        runtime.stop()
        runtime.start()
        assert "ORGGRAPH-NEO4J-PASSWORD-RESET" in (home / "logs" / "runtime.log").read_text()
        with GraphDatabase.driver(runtime.bolt_uri or "", auth=runtime.auth) as driver:
            driver.verify_connectivity()
        assert runtime.auth == ("neo4j", "a-new-password-for-the-store")
    finally:
        runtime.stop()


# --- what the service checks of an external Neo4j ---------------------------------------


@embedded_only
async def test_the_session_database_reads_as_hardened(graph: Graph) -> None:
    found = await read_hardening(graph)
    assert set(found.settings) == set(HARDENING_SETTINGS)
    assert found.settings["dbms.security.allow_csv_import_from_file_urls"] == "false"
    assert found.settings["dbms.security.auth_enabled"] == "true"
    assert "apoc.load" not in found.settings["dbms.security.procedures.allowlist"]
    assert found.loopback_url_blocked is True
    assert hardening_warnings(found) == []


@embedded_only
async def test_opening_the_hardened_database_logs_no_hardening_warning(
    test_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="orggraph.database"):
        async with open_graph(test_settings, apply_migrations=False) as opened:
            await opened.ping()
    assert [r.getMessage() for r in caplog.records if r.name == "orggraph.database"] == []


def test_an_unhardened_neo4j_gets_one_warning_per_missing_protection() -> None:
    defaults = Hardening(
        settings={
            "dbms.security.auth_enabled": "true",
            "dbms.security.allow_csv_import_from_file_urls": "true",
            "dbms.security.procedures.allowlist": "*",
            "db.memory.transaction.max": "0B",
            "dbms.memory.transaction.total.max": "716.80MiB",
        },
        loopback_url_blocked=False,
    )
    warnings = hardening_warnings(defaults)
    assert len(warnings) == 4
    assert "allow_csv_import_from_file_urls=true" in warnings[0]
    assert "allowlist=* loads apoc.load.json" in warnings[1]
    assert "db.memory.transaction.max=0B" in warnings[2]
    assert "internal.dbms.cypher_ip_blocklist=0.0.0.0/0,::/0" in warnings[3]


def test_a_partial_allow_list_is_judged_by_what_it_loads() -> None:
    settings = {
        "dbms.security.auth_enabled": "false",
        "dbms.security.allow_csv_import_from_file_urls": "false",
        "dbms.security.procedures.allowlist": "apoc.coll.*,apoc.cypher.*",
        "db.memory.transaction.max": "128.00MiB",
    }
    warnings = hardening_warnings(Hardening(settings=settings, loopback_url_blocked=None))
    assert warnings == [
        "could not read the setting dbms.memory.transaction.total.max: check it by hand",
        "dbms.security.auth_enabled=false: anyone reaching Bolt is an admin",
        "dbms.security.procedures.allowlist=apoc.coll.*,apoc.cypher.* loads apoc.cypher.run, "
        "apoc.cypher.runFirstColumnSingle (file and URL reads, Cypher from text): list only "
        "what analysts need",
        "could not tell whether the IP block list refuses URL fetches",
    ]


def test_a_hardened_configuration_gets_no_warning() -> None:
    settings = {
        "dbms.security.auth_enabled": "true",
        "dbms.security.allow_csv_import_from_file_urls": "false",
        "dbms.security.procedures.allowlist": "apoc.coll.*,apoc.meta.*,apoc.path.*",
        "db.memory.transaction.max": "256.00MiB",
        "dbms.memory.transaction.total.max": "1.00GiB",
    }
    assert hardening_warnings(Hardening(settings=settings, loopback_url_blocked=True)) == []


def _launcher_list(name: str) -> list[str]:
    text = LAUNCHER.read_text()
    found = re.search(rf"static final List<String> {name} = List\.of\((.*?)\);", text, re.S)
    assert found is not None, name
    return re.findall(r'"([^"]+)"', found.group(1))


def test_the_documented_neo4j_conf_is_the_embedded_configuration() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "database-hardening.md").read_text()
    conf = dict(
        line.split("=", 1) for line in doc.splitlines() if re.match(r"(dbms|db|internal)\.", line)
    )
    assert conf["dbms.security.procedures.allowlist"].split(",") == _launcher_list("ALLOWED")
    unrestricted = conf["dbms.security.procedures.unrestricted"].split(",")
    assert unrestricted == _launcher_list("UNRESTRICTED")
    assert conf["dbms.security.allow_csv_import_from_file_urls"] == "false"
    assert conf["internal.dbms.cypher_ip_blocklist"] == "0.0.0.0/0,::/0"
