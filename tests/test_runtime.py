"""The embedded Neo4j runtime, for real: Bolt, APOC, clean stops, no orphans, clear errors.

Each JVM start costs 10-20 s on a small machine, so the tests that need one
check several things per start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j import GraphDatabase

from orggraph.cli import main
from orggraph.graph.runtime import (
    EmbeddedNeo4j,
    EmbeddedNeo4jError,
    RuntimeConfig,
    background_crashed,
    bolt_auth,
    check_java,
    ensure_jars,
    pid_alive,
    running_database,
    start_background,
    stop_background,
)
from tests.helpers import CACHE

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("NEO4J_URI")), reason="runtime tests need the embedded database"
)


def make_config(tmp_path: Path, bolt_port: int = 0) -> RuntimeConfig:
    return RuntimeConfig(
        home=tmp_path / "home", cache_dir=CACHE, bolt_port=bolt_port, heap="512m", pagecache="64m"
    )


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not pid_alive(pid)


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A PATH with neither java nor mvn on it."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    yield


def test_serves_bolt_and_apoc_then_stops_without_leaving_a_process(tmp_path: Path) -> None:
    runtime = EmbeddedNeo4j(make_config(tmp_path))
    uri = runtime.start()
    pid = runtime.pid
    try:
        assert uri.startswith("bolt://127.0.0.1:") and runtime.bolt_uri == uri
        assert runtime.start() == uri  # idempotent while running
        with GraphDatabase.driver(uri, auth=runtime.auth) as driver:
            records, _, _ = driver.execute_query("RETURN 1 AS one", database_="neo4j")
            assert records[0]["one"] == 1
            driver.execute_query("CREATE (:Probe {id: $id})", id="p1", database_="neo4j")
            records, _, _ = driver.execute_query(
                "MATCH (p:Probe) RETURN p.id AS id, apoc.version() AS apoc", database_="neo4j"
            )
            assert [r["id"] for r in records] == ["p1"]
            assert records[0]["apoc"].startswith("5.26")
            records, _, _ = driver.execute_query(
                "CALL apoc.help('text') YIELD name RETURN count(name) AS n", database_="neo4j"
            )
            assert records[0]["n"] > 10
    finally:
        runtime.stop()
    assert runtime.bolt_uri is None
    assert pid is not None and wait_gone(pid, 5)
    runtime.stop()  # idempotent
    assert "ORGGRAPH-NEO4J-READY" in (tmp_path / "home" / "logs" / "runtime.log").read_text()


def test_a_taken_port_is_reported_before_java_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[list[str]] = []

    def no_spawn(command: list[str], *args: object, **kwargs: object) -> None:
        spawned.append(command)
        raise AssertionError("Java was started")

    monkeypatch.setattr("orggraph.graph.runtime._spawn", no_spawn)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EmbeddedNeo4jError, match=f"port {port} .*already taken"):
            EmbeddedNeo4j(make_config(tmp_path, bolt_port=port)).start()
    assert spawned == []


def test_missing_java_is_reported_with_the_fix(no_tools: None) -> None:
    with pytest.raises(EmbeddedNeo4jError, match=r"needs Java.*Install a JDK 17"):
        check_java()


def test_cached_jars_need_no_maven_and_missing_maven_is_reported(
    tmp_path: Path, no_tools: None
) -> None:
    # CACHE was filled by the tests above (or any earlier start): no mvn needed now.
    lib = ensure_jars(CACHE)
    assert any(lib.glob("neo4j-bolt-*.jar")) and any((lib / "plugins").glob("apoc-core-*.jar"))
    with pytest.raises(EmbeddedNeo4jError, match="Install Maven 3.8"):
        ensure_jars(tmp_path / "empty-cache")
    assert not (tmp_path / "empty-cache").exists()


def test_background_database_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path)
    monkeypatch.setenv("ORGGRAPH_HOME", str(config.home))
    assert running_database(config.home) is None
    assert stop_background(config.home) is False
    state = start_background(config)
    try:
        assert running_database(config.home) == state
        with GraphDatabase.driver(state.bolt_uri, auth=bolt_auth(config.home)) as driver:
            driver.execute_query("RETURN 1", database_="neo4j")
        capsys.readouterr()
        assert main(["db", "status"]) == 0
        assert capsys.readouterr().out.splitlines() == [
            state.bolt_uri,
            "user: neo4j (password: `orggraph db password`)",
            f"served by a background Neo4j (pid {state.pid})",
        ]
        with pytest.raises(EmbeddedNeo4jError, match="already served by a background Neo4j"):
            start_background(config)
        with pytest.raises(EmbeddedNeo4jError, match=f"connect to that.*{state.bolt_uri}"):
            EmbeddedNeo4j(config).start()
    finally:
        assert stop_background(config.home) is True
    assert wait_gone(state.pid, 5)
    assert running_database(config.home) is None
    assert not (config.home / "runtime.json").exists()


def home_with_a_dead_record(tmp_path: Path, owned: bool = False) -> Path:
    """A home whose runtime.json names a process that has exited (its owner too, if owned)."""
    home = tmp_path / "home"
    home.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f', "owner_pid": {dead.pid}, "owner": "orggraph serve"' if owned else ""
    (home / "runtime.json").write_text(
        f'{{"pid": {dead.pid}, "bolt_uri": "bolt://127.0.0.1:1", "started_at": "x"{owner}}}'
    )
    return home


def test_stale_state_file_is_removed(tmp_path: Path) -> None:
    home = home_with_a_dead_record(tmp_path)
    assert running_database(home) is None
    assert not (home / "runtime.json").exists()
    assert stop_background(home) is False


def test_a_parent_killed_by_sigkill_takes_the_database_with_it(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from orggraph.graph.runtime import EmbeddedNeo4j, RuntimeConfig
        runtime = EmbeddedNeo4j(RuntimeConfig(
            home=Path({str(config.home)!r}), cache_dir=Path({str(config.cache_dir)!r}),
            heap="512m", pagecache="64m"))
        runtime.start()
        print(runtime.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = 0
    try:
        child_pid = int(parent.stdout.readline())
        assert pid_alive(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_gone(child_pid, 30), "the JVM outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        if child_pid and pid_alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_a_stale_record_of_a_served_database_is_ignored(tmp_path: Path) -> None:
    home = home_with_a_dead_record(tmp_path, owned=True)
    assert background_crashed(home) is False  # its owner restarts it, not its users
    assert running_database(home) is None
    assert not (home / "runtime.json").exists()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "orggraph serve exited"
        assert time.monotonic() < deadline, "orggraph serve never became ready"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)


def test_db_status_and_cypher_use_the_database_of_a_running_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    settings = {
        "ORGGRAPH_HOME": str(home),
        "ORGGRAPH_CACHE_DIR": str(CACHE),
        "ORGGRAPH_NEO4J_HEAP": "512m",
        "ORGGRAPH_NEO4J_PAGECACHE": "64m",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "ORGGRAPH_"))}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    serve = subprocess.Popen(
        [sys.executable, "-m", "orggraph.cli", "serve", "--port", str(port)],
        env={**env, **settings},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", serve, timeout=240)
        recorded = running_database(home)
        assert recorded is not None and recorded.owner_pid == serve.pid
        monkeypatch.delenv("NEO4J_URI", raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        assert main(["db", "status"]) == 0
        assert capsys.readouterr().out.splitlines() == [
            recorded.bolt_uri,
            "user: neo4j (password: `orggraph db password`)",
            f"served by the Neo4j (pid {recorded.pid}) of process {serve.pid} (orggraph serve)",
        ]
        assert main(["cypher", "RETURN 40 + 2 AS answer", "--format", "csv"]) == 0
        assert capsys.readouterr().out.splitlines() == ["answer", "42"]
        assert main(["db", "stop"]) == 2
        assert f"belongs to process {serve.pid}" in capsys.readouterr().err
        assert running_database(home) == recorded  # still serving
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(120)
    assert not (home / "runtime.json").exists()
    assert main(["db", "status"]) == 3


def test_a_command_that_fails_prints_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(_: Path) -> None:
        raise EmbeddedNeo4jError("The store is in use by another Neo4j process.\nlog tail\n...")

    monkeypatch.setattr("orggraph.graph.runtime.running_database", fails)
    assert main(["db", "status"]) == 1
    assert capsys.readouterr().err == (
        "orggraph: The store is in use by another Neo4j process. (more with --verbose)\n"
    )
    with pytest.raises(EmbeddedNeo4jError):
        main(["--verbose", "db", "status"])
