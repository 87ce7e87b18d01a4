"""The embedded Neo4j runtime: Neo4j 5.26 Community in a JVM child process.

Jars come from Maven Central through ``neo4j_runtime/pom.xml`` and are cached
per user (outside the work tree), keyed by the pom's content, so a second
start needs no network. The JVM runs ``neo4j_runtime/Launcher.java`` in
source-file mode (no build step) with Bolt on 127.0.0.1.

Foreground children watch their stdin and exit when the parent goes away, so
a killed parent never leaves an orphan. Background databases (``orggraph db
start``) record ``<home>/runtime.json`` so other commands can find them.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO

log = logging.getLogger(__name__)

RUNTIME_DIR = Path(__file__).parent / "neo4j_runtime"
POM = RUNTIME_DIR / "pom.xml"
LAUNCHER = RUNTIME_DIR / "Launcher.java"
READY_MARKER = "ORGGRAPH-NEO4J-READY"
STATE_FILE = "runtime.json"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
LOG_TAIL_LINES = 40


class EmbeddedNeo4jError(Exception):
    """The embedded database cannot be prepared or started; the message says why and what to do."""


@dataclass(frozen=True)
class RuntimeConfig:
    home: Path
    cache_dir: Path
    bolt_port: int = 0
    heap: str = "1g"
    pagecache: str = "512m"
    start_timeout_s: float = 180.0


@dataclass(frozen=True)
class DatabaseState:
    pid: int
    bolt_uri: str
    started_at: str


# --- prerequisites ------------------------------------------------------------------


def check_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise EmbeddedNeo4jError(
            "Java 17 or newer is needed for the embedded Neo4j, and `java` is not on PATH. "
            "Install a JDK 17+ (e.g. `apt-get install openjdk-17-jdk-headless`), "
            "or set NEO4J_URI to use an external Neo4j."
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):
        major = int(match.group(2))
    if major < 17:
        raise EmbeddedNeo4jError(
            f"Java 17 or newer is needed for the embedded Neo4j 5.26; `{java}` is version "
            f"{major or 'unknown'}. Install a JDK 17+ or set NEO4J_URI."
        )
    return java


def _pom_key() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()[:16]


def ensure_jars(cache_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """The lib dir holding Neo4j's jars; resolved with Maven on first use only."""
    lib = cache_dir / f"neo4j-lib-{_pom_key()}"
    if (lib / ".complete").exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EmbeddedNeo4jError(
            "Maven is needed once to fetch Neo4j's jars from Maven Central, and `mvn` is not on "
            "PATH. Install Maven 3.8+ (e.g. `apt-get install maven`), or set NEO4J_URI."
        )
    say = progress or log.info
    say("resolving the Neo4j 5.26 jars with Maven (first start only, ~130 MB)...")
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="neo4j-lib-", dir=cache_dir))
    command = [
        mvn, "-B", "-q", "-f", str(POM),
        f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise EmbeddedNeo4jError(f"Maven could not resolve Neo4j's jars:\n{tail}")
    (staging / ".complete").write_text(datetime.now(timezone.utc).isoformat())
    try:
        staging.rename(lib)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    say(f"Neo4j jars cached in {lib}")
    return lib


def _plugin_dir(lib: Path) -> Path:
    plugins = lib.parent / f"{lib.name}-plugins"
    if not plugins.exists():
        staging = Path(tempfile.mkdtemp(prefix="plugins-", dir=lib.parent))
        for jar in lib.glob("apoc-*.jar"):
            shutil.copy2(jar, staging / jar.name)
        try:
            staging.rename(plugins)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return plugins


# --- ports ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise EmbeddedNeo4jError(
                f"port {port} on 127.0.0.1 is already taken ({error.strerror}); choose another "
                "with ORGGRAPH_BOLT_PORT, or 0 for any free port"
            ) from error


# --- the JVM child ----------------------------------------------------------------------


def _command(config: RuntimeConfig, lib: Path, port: int, watch_stdin: bool) -> list[str]:
    java = check_java()
    command = [
        java, f"-Xmx{config.heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
        "-cp", str(lib / "*"), str(LAUNCHER),
        str(config.home), str(port), config.pagecache, str(_plugin_dir(lib)),
    ]
    if watch_stdin:
        command.append("--exit-on-stdin-eof")
    return command


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _wait_ready(process: subprocess.Popen[bytes], log_path: Path, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedNeo4jError(
                f"the embedded Neo4j exited with code {process.returncode} during start-up; "
                f"last lines of {log_path}:\n{_log_tail(log_path)}"
            )
        if READY_MARKER in log_path.read_text(errors="replace") and port_accepts(port):
            return
        time.sleep(0.25)
    raise EmbeddedNeo4jError(
        f"the embedded Neo4j did not become ready within {timeout:.0f}s; "
        f"last lines of {log_path}:\n{_log_tail(log_path)}"
    )


def _refuse_if_in_use(home: Path) -> None:
    running = running_database(home)
    if running is not None:
        raise EmbeddedNeo4jError(
            f"the database in {home} is already served by a background Neo4j "
            f"(pid {running.pid}) at {running.bolt_uri}: connect to it, or stop it with "
            "`orggraph db stop`"
        )


def _spawn(config: RuntimeConfig, *, background: bool) -> tuple[subprocess.Popen[bytes], int, Path]:
    lib = ensure_jars(config.cache_dir)
    if config.bolt_port:
        _check_port_free(config.bolt_port)
    port = config.bolt_port or free_port()
    logs = config.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / "runtime.log"
    log_file = log_path.open("wb")
    try:
        process = subprocess.Popen(
            _command(config, lib, port, watch_stdin=not background),
            stdin=subprocess.DEVNULL if background else subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=background,
        )
    finally:
        log_file.close()
    return process, port, log_path


class EmbeddedNeo4j:
    """A Neo4j child process for the lifetime of this Python process (or less)."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self._uri: str | None = None

    @property
    def bolt_uri(self) -> str | None:
        return self._uri

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> str:
        if self._uri is not None:
            return self._uri
        _refuse_if_in_use(self.config.home)
        started = time.monotonic()
        process, port, log_path = _spawn(self.config, background=False)
        self._process = process
        atexit.register(self.stop)
        try:
            _wait_ready(process, log_path, port, self.config.start_timeout_s)
        except BaseException:
            self.stop()
            raise
        self._uri = f"bolt://127.0.0.1:{port}"
        log.info("embedded Neo4j ready at %s in %.1fs", self._uri, time.monotonic() - started)
        return self._uri

    def stop(self, timeout: float = 60) -> None:
        process, self._process, self._uri = self._process, None, None
        if process is None or process.poll() is not None:
            return
        stdin: IO[bytes] | None = process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> EmbeddedNeo4j:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- background mode ------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_database(home: Path) -> DatabaseState | None:
    """The background database serving ``home``, if it is alive and answering."""
    path = home / STATE_FILE
    try:
        state = DatabaseState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    port = int(state.bolt_uri.rsplit(":", 1)[1])
    if _pid_alive(state.pid) and port_accepts(port):
        return state
    if not _pid_alive(state.pid):
        path.unlink(missing_ok=True)
    return None


def start_background(config: RuntimeConfig) -> DatabaseState:
    _refuse_if_in_use(config.home)
    process, port, log_path = _spawn(config, background=True)
    try:
        _wait_ready(process, log_path, port, config.start_timeout_s)
    except BaseException:
        process.terminate()
        raise
    state = DatabaseState(
        pid=process.pid,
        bolt_uri=f"bolt://127.0.0.1:{port}",
        started_at=datetime.now(timezone.utc).isoformat(),
    )
    (config.home / STATE_FILE).write_text(json.dumps(asdict(state)))
    return state


def stop_background(home: Path, timeout: float = 60) -> bool:
    path = home / STATE_FILE
    try:
        state = DatabaseState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return False
    if _pid_alive(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(state.pid) and time.monotonic() < deadline:
            _reap(state.pid)
            time.sleep(0.2)
        if _pid_alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
