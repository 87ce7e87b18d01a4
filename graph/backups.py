"""Offline backup and restore of the embedded database's store.

Neo4j Community has no online backup. With the database stopped, its store
(``ORGGRAPH_HOME/data``: the databases and their transaction logs) is consistent
on disk, and a copy of it is a complete backup. ``backup`` refuses while a Neo4j
holds the store (background or foreground), ``restore`` refuses to overwrite an
existing store unless asked, and keeps the replaced one aside.

For an external Neo4j, use its own tools (``neo4j-admin database dump`` /
``load``, or the cloud provider's snapshots): see docs/operations.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "orggraph-backup.json"
FORMAT = 1
STORE = "data"
# Neo4j takes a file lock on this file while it holds the store.
STORE_LOCK = Path("data") / "databases" / "store_lock"

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    archive: Path
    files: int
    bytes: int


def _store_in_use(home: Path) -> bool:
    lock_file = home / STORE_LOCK
    if not lock_file.exists():
        return False
    with lock_file.open("r+b") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(handle, fcntl.LOCK_UN)
    return False


def _refuse_while_running(home: Path) -> None:
    if _store_in_use(home):
        raise BackupError(
            f"the database in {home} is running: stop it first (`orggraph db stop`, or stop "
            "`orggraph serve`); Neo4j Community's store can only be copied while stopped"
        )


def backup(home: Path, archive: Path, progress: Progress | None = None) -> BackupSummary:
    """Write the store of ``home`` to ``archive`` (.tar.gz), with a manifest."""
    store = home / STORE
    if not store.is_dir():
        raise BackupError(f"no database in {home} (nothing at {store})")
    _refuse_while_running(home)
    if archive.exists():
        raise BackupError(f"{archive} already exists: choose another file name")
    archive.parent.mkdir(parents=True, exist_ok=True)
    files = [path for path in sorted(store.rglob("*")) if path.is_file()]
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "files": len(files),
    }
    partial = archive.with_name(archive.name + ".partial")
    total = 0
    with tarfile.open(partial, "w:gz") as tar:
        _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
        for index, path in enumerate(files, 1):
            tar.add(path, arcname=str(path.relative_to(home)), recursive=False)
            total += path.stat().st_size
            if progress and (index % 50 == 0 or index == len(files)):
                progress(f"{index}/{len(files)} files, {total / 1e6:.1f} MB")
    partial.rename(archive)  # a crash mid-way leaves only the .partial file
    return BackupSummary(archive=archive, files=len(files), bytes=total)


def _add_bytes(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(content))


def restore(home: Path, archive: Path, *, replace: bool = False) -> Path | None:
    """Put the store of ``archive`` in ``home``. An existing store is refused, or with
    ``replace`` moved aside; the moved store's path is returned."""
    if not archive.is_file():
        raise BackupError(f"no backup at {archive}")
    _refuse_while_running(home)
    with tarfile.open(archive, "r:gz") as tar:
        _check_manifest(tar, archive)
        members = [m for m in tar.getmembers() if m.name != MANIFEST]
        for member in members:
            if not (member.isfile() or member.isdir()) or not _inside_store(member.name):
                raise BackupError(f"{archive}: unexpected entry {member.name!r}, not restored")
        store = home / STORE
        kept: Path | None = None
        if store.exists():
            if not replace:
                raise BackupError(
                    f"{home} already has a database: restore into an empty ORGGRAPH_HOME, "
                    "or pass --replace (the current store is kept aside, not deleted)"
                )
            kept = home / f"{STORE}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
            store.rename(kept)
        home.mkdir(parents=True, exist_ok=True)
        with _cleanup_on_failure(store):
            tar.extractall(home, members=members, filter="data")
    return kept


def _check_manifest(tar: tarfile.TarFile, archive: Path) -> None:
    try:
        extracted = tar.extractfile(MANIFEST)
    except KeyError:
        extracted = None
    if extracted is None:
        raise BackupError(f"{archive} is not an orggraph backup (no {MANIFEST})")
    manifest = json.loads(extracted.read())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: backup format {manifest.get('format')!r} is not {FORMAT}")


def _inside_store(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and parts[0] == STORE and ".." not in parts


@contextlib.contextmanager
def _cleanup_on_failure(store: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        import shutil

        shutil.rmtree(store, ignore_errors=True)  # no half-restored store stays behind
        raise
