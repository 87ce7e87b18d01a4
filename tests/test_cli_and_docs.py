"""The command line and the generated docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orggraph.cli import build_parser, main
from orggraph.commands.schema import model_markdown, sdl
from orggraph.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_help_lists_every_command_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "db", "schema"):
        assert command in out


def test_db_actions_parse() -> None:
    parser = build_parser()
    for action in ("start", "stop", "status", "migrate", "check-derived", "rebuild-derived"):
        assert parser.parse_args(["db", action]).handler is not None


def test_the_model_doc_is_generated_from_the_code_and_current() -> None:
    assert (DOCS / "model.md").read_text() == model_markdown(), (
        "docs/model.md is stale: run `orggraph schema model -o docs/model.md`"
    )


def test_the_sdl_names_every_label() -> None:
    text = sdl()
    for type_name in ("type Team", "type Customer", "type Touchpoint", "type KPI", "type SLA"):
        assert type_name in text


def test_the_checked_in_sdl_is_what_the_code_exports() -> None:
    assert (DOCS / "schema.graphql").read_text() == sdl(), (
        "docs/schema.graphql is stale: run `orggraph schema export -o docs/schema.graphql`"
    )


def test_every_setting_is_documented_in_operations() -> None:
    from pydantic import AliasChoices

    from orggraph.settings import Settings

    operations = (DOCS / "operations.md").read_text()
    missing = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [f"ORGGRAPH_{name.upper()}"]
        if not any(f"`{env}`" in operations for env in names):
            missing.append(names[0])
    assert missing == [], f"settings missing from docs/operations.md: {missing}"


def test_the_docs_index_links_every_doc() -> None:
    index = (DOCS / "README.md").read_text()
    for doc in sorted(DOCS.glob("*.md")):
        if doc.name != "README.md":
            assert f"({doc.name})" in index, f"docs/README.md does not link {doc.name}"


def test_orggraph_cypher_runs_from_a_fresh_shell(test_settings: Settings) -> None:
    """The command imports nothing else first (as from a real shell)."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "NEO4J_URI": test_settings.neo4j_uri or ""}
    if test_settings.neo4j_password is not None:
        env["NEO4J_PASSWORD"] = test_settings.neo4j_password.get_secret_value()
    result = subprocess.run(
        [sys.executable, "-m", "orggraph.cli", "cypher", "RETURN $n + 1 AS two",
         "--param", "n=1", "--format", "json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == [[2]]
