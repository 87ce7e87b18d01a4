"""The embedded Neo4j runtime: start, Bolt, APOC, clean stop, orphans, clear errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from neo4j import GraphDatabase

from orggraph.graph.runtime import (
    EmbeddedNeo4j,
    EmbeddedNeo4jError,
    RuntimeConfig,
    check_java,
    running_database,
    start_background,
    stop_background,
)
from orggraph.settings import default_cache_dir

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("NEO4J_URI")), reason="runtime tests need the embedded database"
)


def config(tmp_path: Path, **kwargs: object) -> RuntimeConfig:
    cache = Path(os.environ.get("ORGGRAPH_CACHE_DIR") or default_cache_dir())
    return RuntimeConfig(home=tmp_path / "home", cache_dir=cache, heap="512m", pagecache="64m", **kwargs)  # type: ignore[arg-type]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def test_the_runtime_serves_bolt_with_apoc_and_stops_cleanly(tmp_path: Path) -> None:
    runtime = EmbeddedNeo4j(config(tmp_path))
    uri = runtime.start()
    pid = runtime.pid
    assert uri.startswith("bolt://127.0.0.1:")
    with GraphDatabase.driver(uri) as driver:
        driver.execute_query("CREATE (:Probe {id: 'p'})", database_="neo4j")
        records, _, _ = driver.execute_query(
            "MATCH (p:Probe) RETURN p.id AS id, apoc.version() AS apoc", database_="neo4j"
        )
    assert records[0]["id"] == "p"
    assert records[0]["apoc"].startswith("5.26")
    runtime.stop()
    assert pid is not None and not pid_alive(pid)


def test_a_taken_port_is_reported_before_starting(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EmbeddedNeo4jError, match=f"port {port}.*already taken"):
            EmbeddedNeo4j(config(tmp_path, bolt_port=port)).start()


def test_missing_java_gives_an_actionable_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EmbeddedNeo4jError, match="Java 17"):
        check_java()


def test_a_killed_parent_never_leaves_the_database_running(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from orggraph.graph.runtime import *; "
        f"r = EmbeddedNeo4j(RuntimeConfig(home=Path({str(tmp_path / 'home')!r}), "
        f"cache_dir=Path({str(config(tmp_path).cache_dir)!r}), heap='512m', pagecache='64m')); "
        "r.start(); print(r.pid, flush=True); import time; time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert pid_alive(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while pid_alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pid_alive(child_pid)


def test_background_database_is_found_by_status_and_stopped(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    state = start_background(cfg)
    try:
        found = running_database(cfg.home)
        assert found is not None and found.bolt_uri == state.bolt_uri
        with pytest.raises(EmbeddedNeo4jError, match="already served"):
            EmbeddedNeo4j(cfg).start()
    finally:
        assert stop_background(cfg.home)
    assert running_database(cfg.home) is None
    assert not pid_alive(state.pid)
