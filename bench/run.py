"""The whole benchmark in one command: seed, serve, measure, write a Markdown report.

    python bench/run.py --touchpoints 100000 --out bench/results-100k.md

Starts an embedded Neo4j in a fresh temporary home (or uses ``NEO4J_URI``: that
database is WIPED), seeds the synthetic organisation at about ``--touchpoints``
touchpoints (``orggraph seed`` as a child process, its peak RSS sampled),
starts the service (uvicorn, loopback, a child process) and the Neo4j GraphQL
Library peer (bench/peers, ``npm ci`` first; Node, loopback), then measures:

a. each traversal over HTTP against its Cypher through the driver (the floor);
b. five queries both servers express, at 1, 8 and 32 concurrent clients;
c. a mixed read load with concurrent touchpoint upserts, stepping up the
   readers to the highest requests/s whose p95 stays under 100 ms;
d. peak RSS of the service (during b and c), of Neo4j, and of the seed.

All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import traversals  # noqa: E402
from bench.loadgen import LoadResult, percentile, post_graphql, run_load  # noqa: E402
from orggraph.graph.driver import Graph  # noqa: E402

PEER_DIR = ROOT / "bench" / "peers"
TOUCHPOINTS_PER_CUSTOMER = 11.3  # what the generator yields on average (10.0 asked, plus the chain)
LEVELS = (1, 8, 32)
MIXED_STEPS = (1, 2, 4, 8, 16, 32)
P95_TARGET_MS = 100.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- memory --------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (None once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0.0
        self._stop = False
        self._thread: Any = None

    def __enter__(self) -> RssSampler:
        import threading

        def loop() -> None:
            while not self._stop:
                value = rss_mb(self.pid)
                if value is None:
                    return
                self.peak = max(self.peak, value)
                time.sleep(self.interval)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop = True
        self._thread.join()


# --- the machine -----------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


async def machine(graph: Graph) -> dict[str, str]:
    import json

    import neo4j

    records = await graph.query(
        "CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0], edition"
    )
    neo4j_version = ", ".join(f"{r[0]} {r[1]} {r[2]}" for r in records)
    peer = json.loads((PEER_DIR / "package.json").read_text())["dependencies"]
    return {
        "CPU": f"{_cpu_model()}, {os.cpu_count()} cores",
        "RAM": f"{_ram_gib():.1f} GiB",
        "OS": platform.platform(),
        "Python": f"{platform.python_version()}, neo4j driver {neo4j.__version__}",
        "Node": f"{_output(['node', '--version'])}, @neo4j/graphql {peer['@neo4j/graphql']}, "
        f"graphql-yoga {peer['graphql-yoga']}, neo4j-driver {peer['neo4j-driver']}",
        "Neo4j": neo4j_version,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --- processes -------------------------------------------------------------------------


@contextlib.contextmanager
def child(
    command: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process whose output goes to ``log``; terminated (then killed) on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_http(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url} died at start:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(url)
                if response.status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {seconds:.0f}s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def neo4j_database(args: argparse.Namespace, work: Path) -> Iterator[tuple[str, int | None]]:
    """(bolt URI, pid or None): NEO4J_URI if set, else an embedded Neo4j in ``work``."""
    external = os.environ.get("NEO4J_URI")
    if external:
        yield external, None
        return
    from orggraph.graph.runtime import EmbeddedNeo4j, RuntimeConfig
    from orggraph.settings import default_cache_dir

    config = RuntimeConfig(
        home=work / "neo4j", cache_dir=default_cache_dir(), heap=args.heap, pagecache=args.pagecache
    )
    runtime = EmbeddedNeo4j(config, progress=say)
    uri = runtime.start()
    # Its Bolt asks for a password: connect() and the service's processes read these.
    os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"] = runtime.auth
    try:
        yield uri, runtime.pid
    finally:
        say("stopping the embedded Neo4j")
        runtime.stop()


def connect(uri: str) -> Graph:
    password = os.environ.get("NEO4J_PASSWORD")
    user = os.environ.get("NEO4J_USER", "neo4j") if password else None
    database = os.environ.get("NEO4J_DATABASE", "neo4j")
    return Graph.connect(uri, user, password, database, notifications_min_severity="OFF")


def child_env(uri: str) -> dict[str, str]:
    env = dict(os.environ)
    env["NEO4J_URI"] = uri
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


# --- seeding ---------------------------------------------------------------------------


@dataclass
class SeedRun:
    customers: int
    touchpoints: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    summary: str = ""


def seed(uri: str, customers: int, log: Path) -> SeedRun:
    """``orggraph seed`` as a child process, its lines echoed, its RSS sampled."""
    run = SeedRun(customers)
    command = [
        sys.executable,
        "-m",
        "orggraph.cli",
        "seed",
        "--customers",
        str(customers),
        "--seed",
        "1",
    ]
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            env=child_env(uri),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        with RssSampler(process.pid, interval=0.05) as sampler:
            for line in process.stdout:
                out.write(line)
                say(f"  seed: {line.rstrip()}")
                if line.startswith("seed "):
                    run.summary = line.strip()
            process.wait()
    run.seconds = time.perf_counter() - started
    run.peak_rss_mb = sampler.peak
    if process.returncode != 0:
        raise RuntimeError(f"orggraph seed failed ({process.returncode}); see {log}")
    return run


# --- the queries both servers express --------------------------------------------------


@dataclass
class Shared:
    name: str
    ours: str
    peer: str
    argument: str | None  # "customer" / "team": the id varies per request; "filter": the prefix
    exact: bool = False  # answers must hold the same values in the same order, not just sizes


SHARED = [
    Shared(
        "customer + touchpoints + channels",
        "query($id: ID!) { customer(id: $id) { id name touchpoints(first: 1000) "
        "{ id at type channel { id name } } } }",
        "query($id: ID!) { customers(where: {id: {eq: $id}}) { id name touchpoints "
        "{ id at type channel { id name } } } }",
        "customer",
    ),
    Shared(
        "team + owned steps",
        "query($id: ID!) { team(id: $id) { id name ownedSteps { validFrom validTo step { id name "
        "stage } } } }",
        "query($id: ID!) { teams(where: {id: {eq: $id}}) { id name ownedStepsConnection "
        "{ edges { properties { from to } node { id name stage } } } } }",
        "team",
    ),
    Shared(
        "100 customers + touchpoints",
        "{ customers(first: 100) { edges { node { id name touchpoints(first: 200) { id at type } "
        "} } } }",
        "{ customers(limit: 100, sort: [{id: ASC}]) { id name touchpoints { id at type } } }",
        None,
    ),
    # The generic API's filters, sort and connection totals (issue 18); the peer's name
    # sort gets the id tie-break ours always applies, so both pages hold the same rows.
    Shared(
        "50 filtered customers by name + touchpoint totals",
        "query($segments: [String!], $prefix: String, $since: DateTime) { customers(first: 50, "
        "where: {segment: {in: $segments}, name: {startsWith: $prefix}}, sort: [{name: ASC}]) "
        "{ edges { node { id name touchpointsConnection(where: {at: {gt: $since}}) "
        "{ totalCount } } } } }",
        "query($segments: [String!], $prefix: String, $since: DateTime) { customers(limit: 50, "
        "where: {segment: {in: $segments}, name: {startsWith: $prefix}}, "
        "sort: [{name: ASC}, {id: ASC}]) { id name touchpointsConnection(where: {node: "
        "{at: {gt: $since}}}) { totalCount } } }",
        "filter",
        exact=True,
    ),
    Shared(
        "aggregate of a customer's touchpoints",
        "query($id: ID!) { customer(id: $id) { id touchpointsConnection { aggregate { count "
        "at { min max } } } } }",
        "query($id: ID!) { customers(where: {id: {eq: $id}}) { id touchpointsConnection "
        "{ aggregate { count { nodes } node { at { min max } } } } } }",
        "customer",
        exact=True,
    ),
]


# The filtered query's segments (about half the customers) and name prefixes: one of
# "Customer 1-0" ... "Customer 1-9" per request (the seeded names cut one digit after
# the dash; "Customer 1-0" matches one name, the others about a ninth of them each).
FILTER_SEGMENTS = ["SMB", "ENTERPRISE"]


@dataclass
class Ids:
    customers: list[str]
    teams: list[str]
    prefixes: list[str]
    since: str  # the middle of the touchpoints' time span, for `at > since`


async def sample_ids(graph: Graph) -> Ids:
    customers = await graph.query(
        "MATCH (c:Customer) WHERE (c)-[:HAD]->() RETURN c.id ORDER BY c.id"
    )
    teams = await graph.query("MATCH (t:Team)-[:OWNS]->() RETURN DISTINCT t.id ORDER BY t.id")
    rng = random.Random(7)
    picked = [r[0] for r in customers]
    rng.shuffle(picked)
    names = await graph.query("MATCH (c:Customer) RETURN c.name LIMIT 1000")
    prefixes = sorted({_name_prefix(r[0]) for r in names})
    span = await graph.query("MATCH (t:Touchpoint) RETURN min(t.at), max(t.at)")
    first, last = (value.to_native() for value in span[0])
    since = (first + (last - first) / 2).astimezone(UTC).replace(microsecond=0)
    return Ids(picked[:1000], [r[0] for r in teams], prefixes, since.isoformat())


def _name_prefix(name: str) -> str:
    """ "Customer 1-234" -> "Customer 1-2": the seeded names, cut one digit after the dash."""
    head, _, tail = name.rpartition("-")
    return f"{head}-{tail[:1]}" if head else name[:1]


def maker(query: str, argument: str | None, ids: Ids):  # type: ignore[no-untyped-def]
    def make(rng: random.Random) -> tuple[str, dict[str, Any]]:
        if argument == "customer":
            return query, {"id": rng.choice(ids.customers)}
        if argument == "team":
            return query, {"id": rng.choice(ids.teams)}
        if argument == "filter":
            prefix = rng.choice(ids.prefixes)
            return query, {"segments": FILTER_SEGMENTS, "prefix": prefix, "since": ids.since}
        return query, {}

    return make


def _count_entities(value: Any) -> int:
    """Objects with an id anywhere in an answer (customers, touchpoints, channels, steps...)."""
    if isinstance(value, dict):
        return int("id" in value) + sum(_count_entities(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_entities(v) for v in value)
    return 0


async def check_answers(ours: str, peer: str, ids: Ids) -> list[str]:
    """The same question must get answers of the same size from both servers."""
    notes = []
    async with httpx.AsyncClient(timeout=60) as client:
        for case in SHARED:
            # The same seed gives both servers the same variables.
            _, variables = maker(case.ours, case.argument, ids)(random.Random(0))
            a = await post_graphql(client, ours, case.ours, variables)
            b = await post_graphql(client, peer, case.peer, variables)
            size_a, size_b = len(str(a)), len(str(b))
            tps_a, tps_b = _count_entities(a), _count_entities(b)
            notes.append(
                f"{case.name}: {tps_a} vs {tps_b} entities, {size_a:,} vs {size_b:,} characters"
            )
            if tps_a != tps_b:
                raise RuntimeError(f"the servers answer {case.name!r} differently: {notes[-1]}")
            if case.exact:
                values_a, values_b = _values(a), _values(b)
                if values_a != values_b:
                    raise RuntimeError(
                        f"the servers answer {case.name!r} with different values: "
                        f"{values_a[:12]} vs {values_b[:12]}"
                    )
                notes[-1] += f", the same {len(values_a)} values"
    return notes


def _values(value: Any) -> list[Any]:
    """An answer's scalars in document order, date-times as instants to the millisecond
    (the peer's `toISOString` precision; ours carries microseconds): the two servers'
    shapes differ (edges/node against a list, `count` against `count { nodes }`) but
    the values they carry, in order, must not."""
    if isinstance(value, dict):
        return [v for item in value.values() for v in _values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            instant = datetime.fromisoformat(value).astimezone(UTC)
            return [instant.replace(microsecond=instant.microsecond // 1000 * 1000)]
    return [value]


# --- mixed load ------------------------------------------------------------------------

JOURNEY = (
    "query($id: ID!) { journey(customerId: $id, first: 50) { furthestStage steps { totalCount "
    "edges { node { touchpoint { id at type } channel { id } step { id } } } } } }"
)
UPSERT = (
    "mutation($inputs: [TouchpointInput!]!) { upsertTouchpoints(inputs: $inputs) "
    "{ rows nodesCreated relationshipsCreated } }"
)
TYPES = ("PAGE_VIEW", "EMAIL", "CALL", "CHAT", "DOWNLOAD")


def mixed_maker(ids: Ids):  # type: ignore[no-untyped-def]
    """Reads: 45% customer + touchpoints, 30% team, 20% journey, 5% page of 100 customers."""
    cases: list[tuple[float, Callable[[random.Random], tuple[str, dict[str, Any]]]]] = [
        (0.45, maker(SHARED[0].ours, "customer", ids)),
        (0.30, maker(SHARED[1].ours, "team", ids)),
        (0.20, maker(JOURNEY, "customer", ids)),
        (0.05, maker(SHARED[2].ours, None, ids)),
    ]

    def make(rng: random.Random) -> tuple[str, dict[str, Any]]:
        roll = rng.random()
        for weight, case in cases:
            if roll < weight:
                return case(rng)
            roll -= weight
        return cases[-1][1](rng)

    return make


@dataclass
class Writer:
    """Upserts ``batch`` new touchpoints per request at ``rate`` requests/s until stopped."""

    url: str
    ids: Ids
    rate: float
    batch: int
    prefix: str
    written: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    _counter: int = 0

    def inputs(self, rng: random.Random) -> list[dict[str, Any]]:
        at = datetime.now(UTC)
        rows = []
        for _ in range(self.batch):
            self._counter += 1
            rows.append(
                {
                    "id": f"{self.prefix}-{self._counter}",
                    "at": (at + timedelta(microseconds=self._counter)).isoformat(),
                    "type": rng.choice(TYPES),
                    "customerId": rng.choice(self.ids.customers),
                }
            )
        return rows

    async def run(self, stop: asyncio.Event, max_seconds: float) -> None:
        rng = random.Random(11)
        deadline = time.perf_counter() + max_seconds
        async with httpx.AsyncClient(timeout=30) as client:
            while not stop.is_set() and time.perf_counter() < deadline:
                began = time.perf_counter()
                rows = self.inputs(rng)
                try:
                    await post_graphql(client, self.url, UPSERT, {"inputs": rows})
                    self.written.extend(r["id"] for r in rows)
                    self.latencies_ms.append((time.perf_counter() - began) * 1000)
                except (RuntimeError, httpx.HTTPError) as error:
                    self.errors += 1
                    self.first_error = self.first_error or str(error)[:300]
                pause = 1.0 / self.rate - (time.perf_counter() - began)
                if pause > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), pause)


@dataclass
class MixedStep:
    readers: int
    reads: LoadResult
    writes: int
    write_p95: float
    write_errors: int


async def mixed_load(
    url: str, ids: Ids, args: argparse.Namespace
) -> tuple[list[MixedStep], Writer]:
    writer = Writer(
        url, ids, rate=args.write_rate, batch=args.write_batch, prefix=f"bench-{int(time.time())}"
    )
    steps = []
    for readers in MIXED_STEPS:
        before_writes, before_lat, before_errors = (
            len(writer.written),
            len(writer.latencies_ms),
            writer.errors,
        )
        stop = asyncio.Event()
        writing = asyncio.create_task(writer.run(stop, args.mixed_seconds + 30))
        reads = await run_load(
            url, mixed_maker(ids), concurrency=readers, max_requests=args.mixed_requests,
            max_seconds=args.mixed_seconds, warmup=readers, seed=readers,
        )  # fmt: skip
        stop.set()
        await writing
        lat = writer.latencies_ms[before_lat:]
        step = MixedStep(
            readers,
            reads,
            (len(writer.written) - before_writes) // max(1, args.write_batch),
            percentile(lat, 0.95),
            writer.errors - before_errors,
        )
        steps.append(step)
        say(
            f"  mixed, {readers:>2} readers: {reads.rps:,.0f} reads/s, p50 {reads.p50:.1f} ms, "
            f"p95 {reads.p95:.1f} ms, {reads.errors} read errors; {step.writes} upserts "
            f"(p95 {step.write_p95:.1f} ms), {step.write_errors} write errors"
        )
        over = [s.reads.p95 >= P95_TARGET_MS for s in steps[-2:]]
        if len(over) == 2 and all(over):
            break  # two steps past the target: more readers only queue longer
    return steps, writer


# --- report ----------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def report(
    args: argparse.Namespace,
    facts: dict[str, str],
    seeded: SeedRun | None,
    graph_size: dict[str, int],
    trav: list[tuple[str, list[float], list[float]]],
    shared: list[tuple[str, int, LoadResult, LoadResult]],
    answers: list[str],
    mixed: list[MixedStep],
    writer: Writer,
    written_found: int,
    rss: dict[str, float],
) -> str:
    lines = [f"# Benchmark: {graph_size['touchpoints']:,} touchpoints", ""]
    lines += [f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
              f"`python bench/run.py {' '.join(sys.argv[1:])}`.", ""]  # fmt: skip
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in facts.items()]
    lines += [
        "",
        "The 2 cores are shared by the database, the service, the peer and the load generator "
        "(and, on this machine, by other work: see the load averages), so absolute numbers are "
        "noisy; the comparisons were measured in the same run, minutes apart.",
        "",
        f"Graph: {graph_size['nodes']:,} nodes, {graph_size['relationships']:,} relationships, "
        f"{graph_size['customers']:,} customers, {graph_size['touchpoints']:,} touchpoints.",
        "",
    ]
    lines += ["## a. Traversals: GraphQL over HTTP against the raw Cypher (the floor)", ""]
    lines += [f"{args.runs} sequential runs each after warm-up; ms.", ""]
    lines += [
        "| traversal | HTTP p50 | HTTP p95 | driver p50 | driver p95 | p50 ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, http, raw in trav:
        lines.append(
            f"| {name} | {fmt(statistics.median(http))} | {fmt(percentile(http, 0.95))} | "
            f"{fmt(statistics.median(raw))} | {fmt(percentile(raw, 0.95))} | "
            f"{statistics.median(http) / statistics.median(raw):.2f} |"
        )
    lines += ["", "## b. Shared queries: orggraph against @neo4j/graphql", ""]
    lines += [
        f"Closed loop: N clients, each sends the next request when the answer arrives; at most "
        f"{args.requests:,} requests or {args.seconds:.0f} s per cell. Ids vary per request "
        "(the same random sequence for both servers). Answers were checked to hold the same "
        "entities: " + "; ".join(answers) + ".",
        "",
        "| query | clients | orggraph req/s | p50 ms | p95 ms | errors | @neo4j/graphql req/s | "
        "p50 ms | p95 ms | errors | throughput ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, clients, ours, peer in shared:
        ratio = ours.rps / peer.rps if peer.rps else float("nan")
        lines.append(
            f"| {name} | {clients} | {fmt(ours.rps, 0)} | {fmt(ours.p50)} | {fmt(ours.p95)} | "
            f"{ours.errors} | "
            f"{fmt(peer.rps, 0)} | {fmt(peer.p50)} | {fmt(peer.p95)} | {peer.errors} | "
            f"**{ratio:.2f}** |"
        )
    lines += ["", "## c. Sustained mixed load with concurrent writes", ""]
    lines += [
        "Reads: 45% customer + touchpoints + channels, 30% team + owned steps, 20% journey "
        "(first 50), 5% page of 100 customers + touchpoints. Meanwhile one writer upserts "
        f"{args.write_batch} new touchpoints per request (`upsertTouchpoints`, journey chain "
        f"maintained) at up to {args.write_rate:g} requests/s. {args.mixed_seconds:.0f} s or "
        f"{args.mixed_requests:,} reads per step.",
        "",
        "| readers | reads/s | p50 ms | p95 ms | read errors "
        "| upserts | upsert p95 ms | write errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step in mixed:
        mark = "" if step.reads.p95 < P95_TARGET_MS else " (over 100 ms)"
        lines.append(
            f"| {step.readers} | {fmt(step.reads.rps, 0)} | {fmt(step.reads.p50)} | "
            f"{fmt(step.reads.p95)}{mark} | "
            f"{step.reads.errors} | {step.writes} | {fmt(step.write_p95)} | {step.write_errors} |"
        )
    within = [s for s in mixed if s.reads.p95 < P95_TARGET_MS]
    best = max(within, key=lambda s: s.reads.rps) if within else None
    errors = sum(s.reads.errors + s.write_errors for s in mixed)
    lines += [
        "",
        (
            f"**Sustained: {fmt(best.reads.rps, 0)} reads/s at p95 {fmt(best.reads.p95)} ms "
            f"({best.readers} readers)**, with writes running"
            if best
            else "**No step kept p95 under 100 ms**"
        )
        + f". Errors over the whole mixed load (reads and writes): **{errors}**. "
        f"Touchpoints acknowledged by the writer: {len(writer.written):,}; found in the graph "
        f"afterwards: {written_found:,}.",
        "",
    ]  # fmt: skip
    lines += ["## d. Memory (peak RSS)", "", "| process | phase | peak RSS MiB |", "|---|---|---:|"]
    if seeded is not None:
        lines.append(
            f"| `orggraph seed` (import) | seeding {seeded.touchpoints:,} touchpoints in "
            f"{seeded.seconds:.0f} s | {fmt(seeded.peak_rss_mb, 0)} |"
        )
    for what, value in rss.items():
        lines.append(f"| {what} | {fmt(value, 0)} |")
    lines += ["", "## Against the targets", ""]
    lines += targets(trav, shared, errors, best)
    if seeded is not None:
        lines += ["", f"Seed: {seeded.summary}"]
    lines += ["", f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.", ""]
    return "\n".join(lines)


def targets(
    trav: list[tuple[str, list[float], list[float]]],
    shared: list[tuple[str, int, LoadResult, LoadResult]],
    errors: int,
    best: MixedStep | None,
) -> list[str]:
    out = []
    cells = [(n, c, o.rps / p.rps) for n, c, o, p in shared if p.rps]
    met = [cell for cell in cells if cell[2] >= 1.0]
    out.append(
        f"- Throughput at least equal to @neo4j/graphql on each shared query: met in {len(met)} of "
        f"{len(cells)} cells (ratios "
        f"{min(c[2] for c in cells):.2f}–{max(c[2] for c in cells):.2f})."
        if cells
        else "- Throughput against @neo4j/graphql: not measured."
    )
    ratios = [(n, statistics.median(h) / statistics.median(r)) for n, h, r in trav]
    under = [r for r in ratios if r[1] < 1.5]
    out.append(
        f"- GraphQL over HTTP under 1.5x the raw driver (p50): met for {len(under)} of "
        f"{len(ratios)} "
        "traversals (" + ", ".join(f"{n} {r:.2f}x" for n, r in ratios) + ")."
    )
    out.append(
        f"- Zero errors under load: {'met' if errors == 0 else f'NOT met ({errors} errors)'}."
    )
    out.append(
        f"- Sustained mixed load at p95 < 100 ms: {fmt(best.reads.rps, 0)} reads/s with writes."
        if best
        else "- Sustained mixed load at p95 < 100 ms: no step met it."
    )
    return out


# --- main ------------------------------------------------------------------------------


async def counts(graph: Graph) -> dict[str, int]:
    nodes = await graph.query("MATCH (n) RETURN count(n)")
    rels = await graph.query("MATCH ()-[r]->() RETURN count(r)")
    customers = await graph.query("MATCH (c:Customer) RETURN count(c)")
    touchpoints = await graph.query("MATCH (t:Touchpoint) RETURN count(t)")
    return {
        "nodes": nodes[0][0],
        "relationships": rels[0][0],
        "customers": customers[0][0],
        "touchpoints": touchpoints[0][0],
    }


@contextlib.asynccontextmanager
async def servers(uri: str, work: Path) -> AsyncIterator[tuple[str, int, str]]:
    """(our /graphql URL, our pid, the peer's /graphql URL)."""
    ours_port, peer_port = free_port(), free_port()
    env = child_env(uri)
    ours_cmd = [
        sys.executable, "-m", "uvicorn", "bench.serve:app", "--factory", "--host", "127.0.0.1",
        "--port", str(ours_port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    peer_env = {**env, "PORT": str(peer_port)}
    with (
        child(ours_cmd, env, ROOT, work / "service.log") as ours,
        child(["node", "server.mjs"], peer_env, PEER_DIR, work / "peer.log") as peer,
    ):
        await wait_http(f"http://127.0.0.1:{ours_port}/readyz", ours, work / "service.log")
        say(f"service ready on 127.0.0.1:{ours_port} (pid {ours.pid})")
        await wait_http(
            f"http://127.0.0.1:{peer_port}/graphql?query=%7B__typename%7D", peer, work / "peer.log"
        )
        say(f"@neo4j/graphql peer ready on 127.0.0.1:{peer_port} (pid {peer.pid})")
        yield (
            f"http://127.0.0.1:{ours_port}/graphql",
            ours.pid,
            f"http://127.0.0.1:{peer_port}/graphql",
        )


async def shared_queries(
    ours: str, peer: str, ids: Ids, args: argparse.Namespace
) -> list[tuple[str, int, LoadResult, LoadResult]]:
    rows = []
    for case in SHARED:
        for clients in LEVELS:
            results = []
            for url, query in ((ours, case.ours), (peer, case.peer)):
                results.append(
                    await run_load(
                        url,
                        maker(query, case.argument, ids),
                        concurrency=clients,
                        max_requests=args.requests,
                        max_seconds=args.seconds,
                        warmup=max(10, clients),
                    )
                )
            a, b = results
            say(
                f"  {case.name}, {clients:>2} clients: orggraph {a.rps:,.0f} req/s p95 "
                f"{a.p95:.1f} ms "
                f"({a.errors} errors) | @neo4j/graphql {b.rps:,.0f} req/s p95 {b.p95:.1f} ms "
                f"({b.errors} errors)"
            )
            for r, who in ((a, "orggraph"), (b, "peer")):
                if r.first_error:
                    say(f"    first {who} error: {r.first_error}")
            rows.append((case.name, clients, a, b))
    return rows


async def main(args: argparse.Namespace) -> None:
    say("npm ci in bench/peers")
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("node and npm are needed for the @neo4j/graphql peer (Node 20+)")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER_DIR, check=True
    )
    work = Path(tempfile.mkdtemp(prefix="orggraph-bench-"))
    say(f"work dir {work} (logs)")
    with neo4j_database(args, work) as (uri, neo4j_pid):
        graph = connect(uri)
        try:
            facts = await machine(graph)
            seeded = None
            if args.touchpoints:
                customers = max(1, round(args.touchpoints / TOUCHPOINTS_PER_CUSTOMER))
                say(
                    f"wiping the database, then seeding {customers:,} customers "
                    f"(~{args.touchpoints:,} touchpoints)"
                )
                await traversals.wipe(graph)
                seeded = seed(uri, customers, work / "seed.log")
            size = await counts(graph)
            if seeded is not None:
                seeded.touchpoints = size["touchpoints"]
            say(f"graph: {size}")
            ids = await sample_ids(graph)
            rss: dict[str, float] = {}
            async with servers(uri, work) as (ours, ours_pid, peer):
                base = ours.removesuffix("/graphql")
                say(f"a. traversals, {args.runs} runs each")
                trav = await traversals.measure(graph, base, args.runs)
                for name, http, raw in trav:
                    say(
                        f"  {name}: HTTP p50 {statistics.median(http):.1f} ms, driver p50 "
                        f"{statistics.median(raw):.1f} ms"
                    )
                answers = await check_answers(ours, peer, ids)
                say("b. shared queries: " + "; ".join(answers))
                with RssSampler(ours_pid) as during_shared:
                    shared = await shared_queries(ours, peer, ids, args)
                say("c. mixed load with writes")
                samplers = [RssSampler(ours_pid)] + ([RssSampler(neo4j_pid)] if neo4j_pid else [])
                with contextlib.ExitStack() as stack:
                    for sampler in samplers:
                        stack.enter_context(sampler)
                    mixed, writer = await mixed_load(ours, ids, args)
                rss["service (uvicorn) | shared-query load"] = during_shared.peak
                rss["service (uvicorn) | mixed load with writes"] = samplers[0].peak
                if neo4j_pid:
                    rss[
                        f"Neo4j (JVM, heap {args.heap}, page cache {args.pagecache}) | mixed load"
                    ] = samplers[1].peak
            found = await graph.query(
                "UNWIND $ids AS id MATCH (t:Touchpoint {id: id}) RETURN count(t)",
                ids=writer.written,
            )
            text = report(
                args, facts, seeded, size, trav, shared, answers, mixed, writer, found[0][0], rss
            )
        finally:
            await graph.close()
    Path(args.out).write_text(text)
    say(f"wrote {args.out}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--touchpoints",
        type=int,
        default=100_000,
        help="seed about this many (0: use the data as is)",
    )
    parser.add_argument("--out", default="bench/results.md")
    parser.add_argument("--runs", type=int, default=30, help="runs per traversal (a)")
    parser.add_argument("--requests", type=int, default=2_000, help="max requests per cell (b)")
    parser.add_argument("--seconds", type=float, default=10.0, help="max seconds per cell (b)")
    parser.add_argument("--mixed-seconds", type=float, default=15.0, help="seconds per step (c)")
    parser.add_argument("--mixed-requests", type=int, default=20_000, help="max reads per step (c)")
    parser.add_argument("--write-rate", type=float, default=10.0, help="upsert requests/s (c)")
    parser.add_argument("--write-batch", type=int, default=5, help="touchpoints per upsert (c)")
    parser.add_argument("--heap", default="2g", help="embedded Neo4j heap")
    parser.add_argument("--pagecache", default="1g", help="embedded Neo4j page cache")
    args = parser.parse_args(argv)
    if not 0 <= args.touchpoints <= 1_000_000:
        parser.error("--touchpoints is between 0 and 1,000,000")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
