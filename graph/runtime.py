"""The embedded Neo4j runtime: Neo4j 5.26 Community in a JVM child process.

Jars come from Maven Central through ``neo4j_runtime/pom.xml`` and are cached
per user (outside the work tree) in a lib dir keyed by the pom's content, so
only the first start needs the network. The JVM runs
``neo4j_runtime/Launcher.java`` in source-file mode (no build step) with Bolt
on 127.0.0.1, hardened (docs/database-hardening.md): user ``neo4j`` has the
random password kept in ``<home>/bolt-password`` (0600), and the JVM gets a
scrubbed environment, never the service's secrets.

Two ways to run it:

* ``EmbeddedNeo4j``: a child of this process. It watches its stdin and exits
  at EOF, so it never outlives its parent, even one killed by SIGKILL.
* ``start_background`` / ``stop_background`` / ``running_database``: a
  detached database for ``orggraph db start|stop|status``, recorded in
  ``<home>/runtime.json`` so that other commands find and reuse it.

A child started by a long-running command (``orggraph serve``) is recorded in the
same file with its owner's pid (``record_child`` / ``forget_child``): analysts'
commands then use it too, and ``orggraph db stop`` leaves it to its owner.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

RUNTIME_DIR = Path(__file__).parent / "neo4j_runtime"
POM = RUNTIME_DIR / "pom.xml"
LAUNCHER = RUNTIME_DIR / "Launcher.java"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MAVEN_TIMEOUT_S = 1800.0
MIN_JAVA = 17

READY_MARKER = "ORGGRAPH-NEO4J-READY"
FAILED_MARKER = "ORGGRAPH-NEO4J-FAILED"
EXIT_PORT_TAKEN = 21  # Launcher's exit codes: the Bolt port cannot be bound,
EXIT_STORE_LOCKED = 23  # another process holds the store's lock
EXIT_OUT_OF_MEMORY = 3  # the JVM's, with -XX:+ExitOnOutOfMemoryError
STATE_FILE = "runtime.json"
LOG_FILE = "runtime.log"
LOG_TAIL_LINES = 40
LOG_ROTATE_BYTES = 5 * 1024 * 1024
MANIFEST = ".complete"
PLUGINS = "plugins"
PASSWORD_FILE = "bolt-password"
BOLT_USER = "neo4j"  # Community has no roles: this user is the database's administrator
# What the JVM may inherit from this process's environment: nothing else (the
# service's secrets, NEO4J_PASSWORD, ORGGRAPH_*) reaches /proc/<jvm>/environ.
JVM_ENVIRONMENT = ("PATH", "JAVA_HOME", "HOME", "LANG", "TZ", "TMPDIR")
JVM_ENVIRONMENT_PREFIXES = ("LC_",)
_SIZE = re.compile(r"^\d+[kmgKMG]?$")
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

Progress = Callable[[str], None]


class EmbeddedNeo4jError(Exception):
    """The embedded database cannot be prepared or started; the message says why and what to do."""


@dataclass(frozen=True)
class RuntimeConfig:
    home: Path  # neo4j store, logs and runtime state (ORGGRAPH_HOME)
    cache_dir: Path  # resolved jars, outside the work tree
    bolt_port: int = 0  # 0 = any free loopback port
    heap: str = "1g"  # JVM -Xmx
    pagecache: str = "512m"
    start_timeout_s: float = 180.0
    transaction_timeout_s: float = 0.0  # 0 = no limit
    # Heap one transaction may use (db.memory.transaction.max) and all of them together
    # (dbms.memory.transaction.total.max); None: a quarter and a half of the heap.
    transaction_memory: str | None = None
    transaction_memory_total: str | None = None

    def transaction_memory_bytes(self) -> tuple[int, int]:
        """(per transaction, all transactions) in bytes."""
        heap = size_bytes(self.heap)
        one, total = self.transaction_memory, self.transaction_memory_total
        return (
            size_bytes(one) if one else heap // 4,
            size_bytes(total) if total else heap // 2,
        )


@dataclass(frozen=True)
class DatabaseState:
    pid: int
    bolt_uri: str
    started_at: str
    stopping: bool = False  # set by stop_background before it signals the process
    owner_pid: int | None = None  # a child of this process (serve), not a background database
    owner: str = ""  # what that process is, for people (`orggraph serve`)


def size_bytes(size: str) -> int:
    """1048576 from '1m', 2147483648 from '2g', 512 from '512'."""
    if not _SIZE.match(size):
        raise EmbeddedNeo4jError(f"{size!r} is not a size like '512m' or '2g'")
    unit = _UNITS.get(size[-1].lower(), 1)
    return int(size.rstrip("kmgKMG")) * unit


def _say(progress: Progress | None, message: str) -> None:
    log.info("%s", message)
    if progress is not None:
        progress(message)


# --- prerequisites ------------------------------------------------------------------


def _java_executable() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


def _java_major(version_output: str) -> int | None:
    """17 from 'openjdk version "17.0.15"', 8 from 'java version "1.8.0_292"'."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def check_java() -> str:
    """The java executable to use (JAVA_HOME first, then PATH), checked to be a JDK 17+."""
    fix = (
        f"Install a JDK {MIN_JAVA} or newer (e.g. `apt-get install openjdk-17-jdk-headless`, "
        "or `brew install openjdk@17`) and put its `java` on PATH or set JAVA_HOME; "
        "or set NEO4J_URI to use an external Neo4j instead of the embedded one."
    )
    java = _java_executable()
    if java is None:
        raise EmbeddedNeo4jError(f"The embedded Neo4j needs Java, and `java` is not on PATH. {fix}")
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EmbeddedNeo4jError(f"`{java} -version` failed ({error}). {fix}") from error
    major = _java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        found = f"Java {major}" if major else "an unknown Java version"
        raise EmbeddedNeo4jError(
            f"The embedded Neo4j 5.26 needs Java {MIN_JAVA}+, and `{java}` is {found}. {fix}"
        )
    if not (Path(java).resolve().parent / "javac").exists():
        raise EmbeddedNeo4jError(
            f"`{java}` is a Java runtime without the compiler; the embedded Neo4j's launcher "
            f"runs in source-file mode, which needs a full JDK. {fix}"
        )
    return java


# --- jars -------------------------------------------------------------------------------


def _lib_dir(cache_dir: Path) -> Path:
    return cache_dir / f"neo4j-lib-{hashlib.sha256(POM.read_bytes()).hexdigest()[:16]}"


def _is_complete(lib: Path) -> bool:
    """The manifest is written last, before the atomic rename; every jar it lists must exist."""
    try:
        manifest = json.loads((lib / MANIFEST).read_text())
        names = [str(name) for name in manifest["jars"] + manifest["plugins"]]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(manifest["jars"]) and all((lib / name).is_file() for name in names)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _find_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EmbeddedNeo4jError(
            "The embedded Neo4j's jars are fetched once from Maven Central with Maven, and `mvn` "
            "is not on PATH. Install Maven 3.8+ (e.g. `apt-get install maven` or "
            "`brew install maven`), or set NEO4J_URI to use an external Neo4j."
        )
    return mvn


def _run_maven(mvn: str, staging: Path) -> None:
    command = [
        mvn, "-B", "-q", "-f", str(POM),
        f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=MAVEN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as error:
        raise EmbeddedNeo4jError(
            f"Maven did not finish resolving Neo4j's jars within {MAVEN_TIMEOUT_S:.0f}s; "
            "check the network access to Maven Central (or your Maven mirror settings)."
        ) from error
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise EmbeddedNeo4jError(
            f"Maven could not resolve Neo4j's jars (exit code {result.returncode}); "
            f"Maven Central must be reachable on first start. Maven said:\n{tail}"
        )


def _stage_jars(mvn: str, staging: Path) -> None:
    """Resolve into ``staging`` and add the plugins dir and the manifest.

    APOC must be both on the classpath (its extension factories, found by
    ServiceLoader, provide the components its procedures inject) and in the
    plugin dir (from where Neo4j registers procedures and functions).
    """
    _run_maven(mvn, staging)
    jars = sorted(path.name for path in staging.glob("*.jar"))
    if not any(name.startswith("neo4j-bolt-") for name in jars):
        raise EmbeddedNeo4jError(f"Maven resolved no Neo4j jars into {staging}")
    plugins = staging / PLUGINS
    plugins.mkdir()
    for name in jars:
        if name.startswith("apoc-"):
            shutil.copy2(staging / name, plugins / name)
    manifest = {
        "pom_sha256": hashlib.sha256(POM.read_bytes()).hexdigest(),
        "jars": jars,
        "plugins": [f"{PLUGINS}/{path.name}" for path in sorted(plugins.iterdir())],
        "resolved_at": datetime.now(UTC).isoformat(),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))


def ensure_jars(cache_dir: Path, progress: Progress | None = None) -> Path:
    """The lib dir holding Neo4j's jars (its ``plugins/`` holds APOC), resolved on first use.

    Resolution goes to a temporary dir that is renamed into place only when
    complete, so an interrupted download never leaves a half lib dir; a lock
    file keeps concurrent first starts from downloading twice.
    """
    lib = _lib_dir(cache_dir.expanduser().resolve())  # Maven resolves relative paths from the pom
    if _is_complete(lib):
        return lib
    cache_dir = lib.parent
    mvn = _find_maven()
    with _file_lock(cache_dir / f".{lib.name}.lock"):
        if _is_complete(lib):
            return lib
        _say(progress, "resolving the Neo4j 5.26 jars with Maven (first start only, ~130 MB)...")
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".{lib.name}-", dir=cache_dir))
        try:
            _stage_jars(mvn, staging)
            staging.chmod(0o755)  # mkdtemp made it private; the rest of the cache is not
            if lib.exists():  # left incomplete by an older layout or a manual edit
                shutil.rmtree(lib)
            staging.rename(lib)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _say(progress, f"Neo4j jars cached in {lib} ({time.monotonic() - started:.0f}s)")
    return lib


# --- ports ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the JVM's server sockets do: a port with only TIME_WAIT leftovers is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise EmbeddedNeo4jError(_port_taken_message(port)) from error


def _port_taken_message(port: int) -> str:
    return (
        f"Bolt port {port} on 127.0.0.1 is already taken by another process; set "
        "ORGGRAPH_BOLT_PORT to a free port, or to 0 to pick any free port."
    )


def _port_of(bolt_uri: str) -> int:
    return int(bolt_uri.rsplit(":", 1)[1])


# --- the Bolt password ------------------------------------------------------------------


def ensure_home(home: Path) -> None:
    """Create ``home`` private to this user (0700) if missing; an existing one is left alone."""
    if not home.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            home.mkdir(mode=0o700)


def read_bolt_password(home: Path) -> str | None:
    """The embedded database's password (user ``neo4j``), or None before its first start."""
    try:
        return (home / PASSWORD_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def bolt_password(home: Path) -> str:
    """The password of ``home``'s database, generated (0600) on first use.

    Only this user can read it; it is handed to the JVM as a file path (never in
    argv, visible in ``ps``, nor in an environment).
    """
    ensure_home(home)
    path = home / PASSWORD_FILE
    existing = read_bolt_password(home)
    if existing is not None:
        if path.stat().st_mode & 0o077:
            log.warning("%s was readable by others; making it private (0600)", path)
            path.chmod(0o600)
        return existing
    staging = home / f".{PASSWORD_FILE}.{os.getpid()}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(staging, path)  # atomic, and never replaces a password another process wrote
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    password = read_bolt_password(home)
    if password is None:
        raise EmbeddedNeo4jError(f"{path} is empty: delete it to have a new password generated")
    return password


def bolt_auth(home: Path) -> tuple[str, str]:
    """(user, password) for the embedded database of ``home``."""
    return BOLT_USER, bolt_password(home)


# --- processes --------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone (and is reaped if it is our child)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_launcher(pid: int) -> bool:
    """Guards against a recycled pid: the process must be our Launcher (when /proc can tell)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return LAUNCHER.name.encode() in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _validate(config: RuntimeConfig) -> None:
    for name in ("heap", "pagecache", "transaction_memory", "transaction_memory_total"):
        value = getattr(config, name)
        if value is not None and not _SIZE.match(value):
            raise EmbeddedNeo4jError(f"{name} {value!r} is not a size like '512m' or '2g'")
    if not 0 <= config.bolt_port <= 65535:
        raise EmbeddedNeo4jError(f"bolt_port {config.bolt_port} is not a port number (0-65535)")
    one, total = config.transaction_memory_bytes()
    if not 0 < one <= total <= size_bytes(config.heap):
        raise EmbeddedNeo4jError(
            f"transaction memory: one transaction ({one} bytes) must be more than 0 and at most "
            f"all transactions together ({total} bytes), which must fit in the heap "
            f"({config.heap})"
        )


def _jvm_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name in JVM_ENVIRONMENT or name.startswith(JVM_ENVIRONMENT_PREFIXES)
    }


def _command(java: str, lib: Path, config: RuntimeConfig, port: int, *, watch: bool) -> list[str]:
    one, total = config.transaction_memory_bytes()
    command = [
        java,
        f"-Xmx{config.heap}",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",  # a dead process beats a wedged database
        "-Dfile.encoding=UTF-8",
        "-cp", str(lib / "*"),
        str(LAUNCHER),
        "--home", str(config.home.resolve()),
        "--port", str(port),
        "--pagecache", config.pagecache,
        "--plugins", str(lib / PLUGINS),
        "--tx-timeout-s", str(config.transaction_timeout_s),
        "--tx-memory-max", str(one),
        "--tx-memory-total", str(total),
        "--password-file", str((config.home / PASSWORD_FILE).resolve()),
    ]  # fmt: skip
    if watch:
        command.append("--exit-on-stdin-eof")
    return command


def _open_log(home: Path) -> tuple[Path, int]:
    """The runtime log (appended to, so two processes never clobber it) and its current size."""
    path = home / "logs" / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_ROTATE_BYTES:
            path.replace(path.with_suffix(".log.1"))
    with path.open("ab") as handle:
        handle.write(f"--- {datetime.now(UTC).isoformat()} starting\n".encode())
        return path, handle.tell()


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, offset: int) -> str:
    lines = _read_from(path, offset).splitlines()[-LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(the log is empty)"


def _spawn(command: list[str], log_path: Path, *, background: bool) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL if background else subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=background,
            env=_jvm_environment(),
        )


def _failure(process: subprocess.Popen[bytes], log_path: Path, offset: int, port: int) -> str:
    if process.returncode == EXIT_PORT_TAKEN:
        return _port_taken_message(port)
    if process.returncode == EXIT_STORE_LOCKED:
        return (
            f"The Neo4j store in {log_path.parent.parent} is in use by another Neo4j process "
            "(its store_lock is held): stop that process, or use another ORGGRAPH_HOME."
        )
    reason = next(
        (line.split(" ", 1)[-1] for line in _read_from(log_path, offset).splitlines()
         if line.startswith(FAILED_MARKER)),
        None,
    )  # fmt: skip
    return (
        f"The embedded Neo4j exited with code {process.returncode} during start-up"
        f"{': ' + reason if reason else ''}. Last lines of {log_path}:\n"
        f"{_tail(log_path, offset)}"
    )


def _wait_ready(
    process: subprocess.Popen[bytes], log_path: Path, offset: int, port: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ready = READY_MARKER in _read_from(log_path, offset)
        if ready and port_accepts(port):
            return
        if process.poll() is not None:
            raise EmbeddedNeo4jError(_failure(process, log_path, offset, port))
        if time.monotonic() >= deadline:
            raise EmbeddedNeo4jError(
                f"The embedded Neo4j did not become ready within {timeout:.0f}s (raise "
                f"ORGGRAPH_NEO4J_START_TIMEOUT_S on a slow machine). "
                f"Last lines of {log_path}:\n{_tail(log_path, offset)}"
            )
        time.sleep(0.2)


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (the JVM's shutdown hook stops Neo4j cleanly), then SIGKILL as a last resort."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("the embedded Neo4j (pid %s) ignored SIGTERM; killing it", process.pid)
        process.kill()
        process.wait()


def _port_is_free(port: int) -> bool:
    try:
        _check_port_free(port)
    except EmbeddedNeo4jError:
        return False
    return True


def _start_child(
    config: RuntimeConfig,
    *,
    background: bool,
    progress: Progress | None,
    prefer_port: int | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the JVM and wait until it serves Bolt; retry if a picked free port got taken.

    With ``bolt_port`` 0, ``prefer_port`` (a restart's previous port) is tried first
    when free, so that clients keep their address."""
    _validate(config)
    _refuse_if_in_use(config.home)
    if config.bolt_port:
        _check_port_free(config.bolt_port)
    bolt_password(config.home)
    java = check_java()
    lib = ensure_jars(config.cache_dir, progress)
    attempts = 1 if config.bolt_port else 3
    for attempt in range(1, attempts + 1):
        if config.bolt_port:
            port = config.bolt_port
        elif attempt == 1 and prefer_port and _port_is_free(prefer_port):
            port = prefer_port
        else:
            port = free_port()
        log_path, offset = _open_log(config.home)
        command = _command(java, lib, config, port, watch=not background)
        _say(progress, f"starting the embedded Neo4j on 127.0.0.1:{port} (home {config.home})")
        process = _spawn(command, log_path, background=background)
        try:
            _wait_ready(process, log_path, offset, port, config.start_timeout_s)
        except BaseException:
            _close_stdin(process)
            _terminate(process, timeout=30)
            if process.returncode == EXIT_PORT_TAKEN and attempt < attempts:
                continue
            raise
        return process, f"bolt://127.0.0.1:{port}"
    raise AssertionError("unreachable")


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()


def _refuse_if_in_use(home: Path) -> None:
    running = running_database(home)
    if running is not None:
        raise EmbeddedNeo4jError(
            f"The database in {home} is already served by {describe(running)} at "
            f"{running.bolt_uri}: connect to that (NEO4J_URI={running.bolt_uri}), or stop it "
            + (
                "with `orggraph db stop`."
                if running.owner_pid is None
                else "by stopping its owner."
            )
        )


def describe(state: DatabaseState) -> str:
    """Who runs the database: the background one, or the child of which process."""
    if state.owner_pid is None:
        return f"a background Neo4j (pid {state.pid})"
    return f"the Neo4j (pid {state.pid}) of process {state.owner_pid} ({state.owner})"


# --- foreground child ---------------------------------------------------------------------


class EmbeddedNeo4j:
    """A Neo4j child process that lives no longer than this Python process."""

    def __init__(self, config: RuntimeConfig, *, progress: Progress | None = None) -> None:
        self.config = config
        self._progress = progress
        self._process: subprocess.Popen[bytes] | None = None
        self._uri: str | None = None
        self._last_port: int | None = None

    @property
    def bolt_uri(self) -> str | None:
        return self._uri

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def auth(self) -> tuple[str, str]:
        """(user, password) of the database's Bolt (the password is made on first use)."""
        return bolt_auth(self.config.home)

    def exit_code(self) -> int | None:
        """The JVM's exit code once it has exited by itself (None while it runs or if stopped)."""
        return self._process.poll() if self._process is not None else None

    def start(self) -> str:
        """Start the database (if not running) and return its Bolt URI once it serves queries.

        After the JVM died (see ``exit_code``), or was stopped, it is started again on
        its previous port when that is free."""
        if self._process is not None and self._uri is not None and self._process.poll() is None:
            return self._uri
        self.stop()
        started = time.monotonic()
        self._process, self._uri = _start_child(
            self.config, background=False, progress=self._progress, prefer_port=self._last_port
        )
        self._last_port = _port_of(self._uri)
        atexit.register(self.stop)
        _say(
            self._progress,
            f"embedded Neo4j ready at {self._uri} in {time.monotonic() - started:.1f}s",
        )
        return self._uri

    def stop(self, timeout: float = 60) -> None:
        """Shut the database down cleanly (stdin EOF and SIGTERM), SIGKILL after ``timeout``."""
        process, self._process, self._uri = self._process, None, None
        atexit.unregister(self.stop)
        if process is None:
            return
        _close_stdin(process)
        _terminate(process, timeout)
        log.info("embedded Neo4j (pid %s) stopped", process.pid)

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


# --- background mode ------------------------------------------------------------------------


def _read_state(path: Path) -> DatabaseState | None:
    """The recorded state; an unreadable file is removed (state files are written atomically)."""
    try:
        data = json.loads(path.read_text())
        owner = data.get("owner_pid")
        return DatabaseState(pid=int(data["pid"]), bolt_uri=str(data["bolt_uri"]),
                             started_at=str(data["started_at"]),
                             stopping=bool(data.get("stopping", False)),
                             owner_pid=None if owner is None else int(owner),
                             owner=str(data.get("owner", "")))  # fmt: skip
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None


def _write_state(path: Path, state: DatabaseState) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(asdict(state), indent=1) + "\n")
    staging.replace(path)


def running_database(home: Path) -> DatabaseState | None:
    """The background database serving ``home`` if it is alive and accepts Bolt connections.

    A state file whose process is gone (or whose pid now belongs to something
    else) is stale and removed. A database being stopped is not running.
    """
    path = home / STATE_FILE
    state = _read_state(path)
    if state is None or state.stopping:
        return None
    if not (pid_alive(state.pid) and _is_launcher(state.pid)):
        log.info("removing the stale %s (pid %s is gone)", path, state.pid)
        path.unlink(missing_ok=True)
        return None
    return state if port_accepts(_port_of(state.bolt_uri)) else None


def background_crashed(home: Path) -> bool:
    """True when ``<home>/runtime.json`` names a background database whose process is gone:
    it died (killed, out of memory) rather than being stopped by ``stop_background``, which
    removes the file (and marks it ``stopping`` first). Call it before ``running_database``,
    which removes a stale file."""
    state = _read_state(home / STATE_FILE)
    if state is None or state.stopping or state.owner_pid is not None:
        return False  # a child dies with (or is restarted by) its owner, not by its users
    return not (pid_alive(state.pid) and _is_launcher(state.pid))


def record_child(home: Path, pid: int, bolt_uri: str, owner: str) -> DatabaseState:
    """Record ``pid`` (a child JVM of this process) as the database serving ``home``, so that
    ``running_database`` finds it; the record dies with the JVM (a dead pid is stale)."""
    state = DatabaseState(
        pid=pid,
        bolt_uri=bolt_uri,
        started_at=datetime.now(UTC).isoformat(),
        owner_pid=os.getpid(),
        owner=owner,
    )
    _write_state(home / STATE_FILE, state)
    return state


def forget_child(home: Path, pid: int | None) -> None:
    """Remove the record of ``pid`` if it is still the one recorded (never someone else's)."""
    path = home / STATE_FILE
    state = _read_state(path)
    if state is not None and pid is not None and state.pid == pid:
        path.unlink(missing_ok=True)


def start_background(config: RuntimeConfig, progress: Progress | None = None) -> DatabaseState:
    """Start a detached database that outlives this process; ``stop_background`` ends it."""
    ensure_home(config.home)
    with _file_lock(config.home / ".runtime.lock"):
        process, uri = _start_child(config, background=True, progress=progress)
        state = DatabaseState(
            pid=process.pid, bolt_uri=uri, started_at=datetime.now(UTC).isoformat()
        )
        _write_state(config.home / STATE_FILE, state)
    # The child is detached on purpose: don't let Popen's finaliser warn about it.
    process.returncode = 0
    _say(progress, f"background Neo4j (pid {state.pid}) serving {uri}")
    return state


def stop_background(home: Path, timeout: float = 60) -> bool:
    """Stop the background database of ``home``; False if none was running."""
    path = home / STATE_FILE
    state = _read_state(path)
    if state is None:
        return False
    running = pid_alive(state.pid) and _is_launcher(state.pid)
    if running and state.owner_pid is not None:
        raise EmbeddedNeo4jError(
            f"The database in {home} belongs to process {state.owner_pid} ({state.owner}), "
            "not to `orggraph db start`: stop that process to stop it."
        )
    if running:
        # Whoever watches the file (a service following it) must not take the process's
        # exit for a crash and start it again.
        _write_state(path, dataclasses.replace(state, stopping=True))
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)
        if not _wait_gone(state.pid, timeout):
            log.warning("the background Neo4j (pid %s) ignored SIGTERM; killing it", state.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
            _wait_gone(state.pid, 10)
    path.unlink(missing_ok=True)
    return running
