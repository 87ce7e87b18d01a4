# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Everything else the project needs (Python packages, Neo4j's jars) is installed
# by these targets; Java 17+ and Maven must be on the machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# An editable install of this layout (orggraph/ shares the package's name; orggraph.graph,
# .schema, ... are mapped to graph/, schema/, ...) makes setuptools print a 10-line
# "Editable installation" notice, which no layout short of moving every folder under src/
# avoids. Only warnings starting with those words are silenced: any other warning of pip
# or of the build, and every error, still shows.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation." $(BIN)/pip install --quiet

.PHONY: demo test install install-test check-tools lint typecheck wheel-check explorer-vendor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python check-tools
	$(PIP_INSTALL) -e .

install-test: $(BIN)/python check-tools
	@command -v g++ >/dev/null || { echo "g++ is needed to build the tests' ChannelAttribution (e.g. apt-get install g++)"; exit 1; }
	$(PIP_INSTALL) -e '.[test]'

check-tools:
	@command -v java >/dev/null || { echo "Java 17+ is needed (e.g. apt-get install openjdk-17-jdk-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed (e.g. apt-get install maven)"; exit 1; }

## Run the service on the embedded Neo4j with the demo organisation.
demo: install
	$(BIN)/orggraph serve --demo

## Run the whole test suite against a real (embedded) Neo4j.
test: install-test
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## mypy strict over the installed package layout, then over tests/ and bench/ against it.
typecheck: install-test
	rm -rf build/typecheck
	$(BIN)/pip install --quiet --no-deps --target build/typecheck .
	cp pyproject.toml build/typecheck/
	cd build/typecheck && ../../$(BIN)/mypy -p orggraph
	mkdir -p build/typecheck/src && cp -r tests bench build/typecheck/src/
	cd build/typecheck/src && MYPYPATH=.. ../../../$(BIN)/mypy --config-file ../pyproject.toml --explicit-package-bases tests bench

## Build the wheel and check it installs and runs in a fresh virtual environment.
wheel-check: $(BIN)/python
	rm -rf dist build /tmp/orggraph-wheel-venv
	$(BIN)/pip wheel --quiet --no-deps -w dist .
	$(PYTHON) -m venv /tmp/orggraph-wheel-venv
	/tmp/orggraph-wheel-venv/bin/pip install --quiet dist/orggraph-*.whl
	cd /tmp && /tmp/orggraph-wheel-venv/bin/orggraph --help >/dev/null
	cd /tmp && /tmp/orggraph-wheel-venv/bin/python -c "import orggraph.graph.runtime as r, orggraph.app as a; assert r.POM.exists() and r.LAUNCHER.exists() and (a.EXPLORER_DIR / 'index.html').exists() and (a.EXPLORER_DIR / 'vendor' / 'elk-worker.min.js').exists() and (a.GRAPHIQL_DIR / 'vendor' / 'graphiql.min.js').exists()"
	@echo "wheel OK"

## Refresh the explorer's layout library (committed, so a clean clone needs no npm):
## elkjs's API and Web Worker builds and licence from the npm registry, at the pinned version.
ELKJS_VERSION := 0.12.1
explorer-vendor:
	rm -rf build/elkjs && mkdir -p build/elkjs
	cd build/elkjs && npm pack --silent elkjs@$(ELKJS_VERSION) >/dev/null && tar xzf elkjs-$(ELKJS_VERSION).tgz
	cp build/elkjs/package/lib/elk-api.js build/elkjs/package/lib/elk-worker.min.js orggraph/explorer/vendor/
	cp build/elkjs/package/LICENSE.md orggraph/explorer/vendor/elkjs-LICENSE.md
	cd orggraph/explorer/vendor && sha256sum elk-api.js elk-worker.min.js

clean:
	rm -rf $(VENV) dist build *.egg-info
