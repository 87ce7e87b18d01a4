"""The ``orggraph`` command line: one entry point, one module per command group.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)`` which adds its
sub-commands and sets ``handler`` (a callable taking the parsed args and the
settings, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from orggraph.errors import OrgGraphError
from orggraph.settings import Settings

COMMAND_MODULES: tuple[str, ...] = (
    "orggraph.commands.db",
    "orggraph.commands.serve",
    "orggraph.commands.schema",
    "orggraph.commands.imports",
    "orggraph.commands.kpi",
    "orggraph.commands.cypher",
    "orggraph.commands.delete",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orggraph",
        description="The organisation's information graph (Neo4j), served over GraphQL.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("neo4j").setLevel(logging.WARNING)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args, Settings()))
    except OrgGraphError as error:
        print(f"orggraph: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # people get one line; --verbose keeps the traceback
        if args.verbose:
            raise
        print(f"orggraph: {one_line(error)}", file=sys.stderr)
        return 1


def one_line(error: BaseException) -> str:
    """The first line of an error's message (a start-up failure appends the log's tail)."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    more = " (more with --verbose)" if len(lines) > 1 else ""
    return f"{first}{more}"


if __name__ == "__main__":
    sys.exit(main())
