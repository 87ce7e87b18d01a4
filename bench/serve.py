"""The service as a uvicorn factory, configured from the environment (NEO4J_URI, ...).

uvicorn bench.serve:app --factory --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

from starlette.applications import Starlette

from orggraph.app import create_app
from orggraph.settings import Settings


def app() -> Starlette:
    return create_app(Settings())
