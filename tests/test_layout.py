"""The layout's rules: every module imports on its own, and dependencies point one way.

``graph/`` (Neo4j) <- ``loaders/`` <- ``schema/`` (Strawberry types) <- ``resolvers/``
<- ``orggraph.api`` (the composition root) <- the app and the CLI. The modules shared
by every layer (errors, settings, auth, the request context, events) import none of
the layers above ``graph/``.
"""

from __future__ import annotations

import ast
import concurrent.futures
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS: dict[str, str] = {
    "graph": "orggraph.graph",
    "loaders": "orggraph.loaders",
    "schema": "orggraph.schema",
    "resolvers": "orggraph.resolvers",
    "orggraph": "orggraph",
}
LAYERS = ("graph", "loaders", "schema", "resolvers")
SHARED = ("errors", "settings", "auth", "context", "events", "events_redis")
# What each layer may import, besides itself and the standard library and third parties.
ALLOWED: dict[str, frozenset[str]] = {
    "graph": frozenset({"errors", "settings"}),
    "loaders": frozenset({"graph", "errors"}),
    "schema": frozenset({"graph", "loaders", *SHARED}),
    "resolvers": frozenset({"graph", "loaders", "schema", *SHARED}),
    **{name: frozenset({"graph", "loaders", *SHARED}) for name in SHARED},
}


def modules() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts]
            parts = [p for p in parts if p != "__init__"]
            found.append((".".join([package, *parts]), path))
    return found


def layer_of(module: str) -> str:
    """``graph``, ``schema``..., else the top-level module's own name (``api``, ``app``)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return parts[1] if len(parts) > 1 else "orggraph"


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name == "orggraph" or name.startswith("orggraph.")}


def test_dependencies_point_one_way() -> None:
    wrong: list[str] = []
    for module, path in modules():
        layer = layer_of(module)
        if layer not in ALLOWED:
            continue  # the composition root, the app and the CLI may use everything
        for target in imported(path):
            other = layer_of(target)
            if other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def _import_alone(module: str) -> tuple[str, int, str]:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=300,
    )
    return module, done.returncode, done.stderr.strip()[-500:]


@pytest.mark.timeout(900)
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    names = [module for module, _ in modules()]
    assert len(names) > 80
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        failed = [r for r in pool.map(_import_alone, names) if r[1] != 0]
    assert failed == []
