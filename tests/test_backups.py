"""Offline backup and restore of the embedded store, with a real Neo4j on each side."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from neo4j import GraphDatabase

from orggraph.graph.backups import BackupError, backup, restore
from orggraph.graph.runtime import EmbeddedNeo4j, RuntimeConfig
from tests.helpers import CACHE


def config(home: Path) -> RuntimeConfig:
    return RuntimeConfig(home=home, cache_dir=CACHE, bolt_port=0, heap="512m", pagecache="64m")


def probes(home: Path) -> list[str]:
    runtime = EmbeddedNeo4j(config(home))
    uri = runtime.start()
    try:
        with GraphDatabase.driver(uri, auth=runtime.auth) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (p:Probe) RETURN p.id AS id ORDER BY id", database_="neo4j"
            )
            return [r["id"] for r in records]
    finally:
        runtime.stop()


def test_a_backup_restores_the_same_graph_and_refuses_while_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    archive = tmp_path / "backups" / "orggraph.tar.gz"
    runtime = EmbeddedNeo4j(config(home))
    uri = runtime.start()
    try:
        with GraphDatabase.driver(uri, auth=runtime.auth) as driver:
            driver.execute_query(
                "UNWIND ['a', 'b'] AS id CREATE (:Probe {id: id})", database_="neo4j"
            )
        with pytest.raises(BackupError, match="is running: stop it first"):
            backup(home, archive)
        assert not archive.exists()
    finally:
        runtime.stop()

    summary = backup(home, archive)
    assert summary.files > 10 and archive.is_file()
    with pytest.raises(BackupError, match="already exists"):
        backup(home, archive)

    elsewhere = tmp_path / "restored"
    assert restore(elsewhere, archive) is None
    assert probes(elsewhere) == ["a", "b"]

    with pytest.raises(BackupError, match="already has a database"):
        restore(elsewhere, archive)
    kept = restore(elsewhere, archive, replace=True)
    assert kept is not None and (kept / "databases").is_dir()
    assert probes(elsewhere) == ["a", "b"]


def test_an_archive_that_is_not_a_backup_restores_nothing(tmp_path: Path) -> None:
    outside = tmp_path / "evil.tar.gz"
    payload = tmp_path / "payload.txt"
    payload.write_text("x")
    with tarfile.open(outside, "w:gz") as tar:
        tar.add(payload, arcname="../escape.txt")
    with pytest.raises(BackupError, match="not an orggraph backup"):
        restore(tmp_path / "home", outside)
    assert not (tmp_path / "home").exists() and not (tmp_path / "escape.txt").exists()
