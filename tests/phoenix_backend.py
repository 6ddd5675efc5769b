"""Run a real Arize Phoenix server as an OTLP backend for end-to-end tests.

This is a plain helper module (not a test file).  It only uses the standard
library, so it can be imported from the test virtualenv, while Phoenix itself
lives in its OWN virtualenv (its dependency tree conflicts with the app's):

    uv venv --python 3.12 /work/venvs/phoenix
    VIRTUAL_ENV=/work/venvs/phoenix uv pip install -r tests/requirements-phoenix.txt
    export PHOENIX_BIN=/work/venvs/phoenix/bin/phoenix

Usage::

    from phoenix_backend import PhoenixServer

    with PhoenixServer() as phoenix:
        exporter = OTLPSpanExporter(endpoint=phoenix.grpc_endpoint, insecure=True)   # gRPC
        # or: opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter(
        #         endpoint=phoenix.traces_endpoint)   # == http_endpoint + "/v1/traces"
        resource = Resource.create({"openinference.project.name": "my-test"})
        ...
        spans = phoenix.spans("my-test", min_count=2)

How Phoenix assigns spans to a project (checked in the 20.x source,
phoenix/utilities/project.py and server/api/routers/v1/traces.py):

* the ``openinference.project.name`` *resource* attribute of each
  ResourceSpans (string), else
* for OTLP/HTTP only: an ``x-project-name`` request header overrides the
  resource attribute (e.g. ``OTEL_EXPORTER_OTLP_HEADERS=x-project-name=foo``);
  gRPC metadata is ignored, else
* the project ``"default"`` (always exists).  A project is created by its
  first span; reading an unknown project returns ``[]`` here (REST gives 404).
* ``service.name`` is NOT used.  Resource attributes are not stored at all
  (they cannot be read back); only the project name is derived from them.

What :meth:`PhoenixServer.spans` returns (one dict per span, oldest first)::

    {
      "name": str,
      "span_id": str,          # 16 lowercase hex chars
      "parent_id": str|None,   # 16 lowercase hex chars, None for a root span
      "trace_id": str,         # 32 lowercase hex chars
      "attributes": {dotted.key: value},   # flat, see below
      "status": "OK"|"ERROR"|"UNSET",       # == status_code
      "status_code": same as status,
      "status_message": str,
      "span_kind": str,        # OpenInference kind (LLM, CHAIN, ..., UNKNOWN)
      "start_time": str, "end_time": str,  # ISO-8601, microsecond precision
      "events": [{"name", "timestamp", "attributes"}],
      "id": str,               # Phoenix's own GlobalID (not an OTel id)
    }

Attribute mapping (Phoenix stores attributes as a nested JSON document and the
REST API flattens it again):

* keys come back flat with dotted names exactly as sent
  (``"a.b.c": 1``); lists of primitives stay lists; ``a.0.b``-style keys
  written by OpenInference come back the same way;
* ``openinference.span.kind`` is removed from ``attributes`` and reported in
  ``span_kind`` (``"UNKNOWN"`` if not sent);
* Phoenix ADDS OpenInference attributes synthesized from ``gen_ai.*``
  semantic-convention attributes (e.g. ``llm.model_name``,
  ``llm.token_count.*``, ``openinference.span.kind`` -> ``span_kind``) when the
  span does not already carry them, so assert on "contains", not equality;
* values of ``metadata``, ``tool.parameters``,
  ``llm.prompt_template.variables`` and ``document.metadata`` that are JSON
  strings are parsed and come back flattened (``metadata.foo``);
* a key that is also a prefix of another key (``"a"`` and ``"a.b"``) survives
  (verified with 20.26.1); empty lists come back as ``[]``;
* the OTel SpanKind (CLIENT/SERVER/...), links, resource and instrumentation
  scope are dropped; events keep name/timestamp/attributes (``exception``
  events keep their ``exception.*`` attributes);
* timestamps are stored with microsecond precision.

Ingestion is asynchronous: the exporter's call returns before the span is in
the database, so always read back with :meth:`PhoenixServer.spans` (polls).
OTLP/HTTP accepts protobuf only (``application/x-protobuf``; JSON gets 415),
optionally gzip/deflate; OTLP/gRPC is plaintext (exporter ``insecure=True``).

The server process: ``phoenix serve`` run by Phoenix's own interpreter through
a small bootstrap (see ``_BOOTSTRAP``) with a scrubbed environment (inherited
``PHOENIX_*``, ``OTEL_*``, ``PYTHON*``, ``GRPC_*``, ``VIRTUAL_ENV`` removed) plus
``PHOENIX_HOST=127.0.0.1``, ``PHOENIX_PORT``/``PHOENIX_GRPC_PORT`` (free
ports), ``PHOENIX_WORKING_DIR`` and ``PHOENIX_SQL_DATABASE_URL`` (SQLite in a
fresh temp dir, deleted on stop), ``TMPDIR`` (Phoenix writes pid files to
``$TMPDIR/.arize-phoenix/pids``), ``PHOENIX_TELEMETRY_ENABLED=false``,
``PHOENIX_ALLOW_EXTERNAL_RESOURCES=false`` (no telemetry pixels, no web
fonts, no download of the WASM sandbox binary at start-up, no docs MCP),
``PHOENIX_ALLOWED_SANDBOX_PROVIDERS=NONE``,
``PHOENIX_DISABLE_AGENT_ASSISTANT=true``, ``PHOENIX_ENABLE_MCP_SERVER=false``,
``PHOENIX_ENABLE_AUTH=false``, ``PHOENIX_ENABLE_PROMETHEUS=false``,
``PHOENIX_LOG_MIGRATIONS=false``.  Stop = SIGTERM to the process group
(Phoenix exits in well under a second), SIGKILL after 15 s; a watchdog thread
in the bootstrap terminates Phoenix if the test process dies without stopping
it, an ``atexit`` hook stops servers that were never stopped, and temp dirs
of killed runs are swept at the next start.

Environment variables read by this module:

* ``PHOENIX_BIN``: path of the ``phoenix`` console script (default: ``phoenix``
  on PATH).
* ``PHOENIX_STARTUP_TIMEOUT``: seconds to wait for readiness (default 90).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["DEFAULT_PROJECT", "PhoenixError", "PhoenixServer", "find_phoenix_bin"]

DEFAULT_PROJECT = "default"
PROJECT_RESOURCE_ATTRIBUTE = "openinference.project.name"

# Inherited variables that would change what the Phoenix process does or
# imports; they are removed from its environment.
_SCRUB_PREFIXES = ("PHOENIX_", "OTEL_", "PYTHON", "GRPC_")
_SCRUB_NAMES = ("VIRTUAL_ENV", "CONDA_PREFIX", "DATABASE_URL")

# Runs inside Phoenix's own interpreter (started with -I, so neither the
# current directory nor PYTHON* variables leak in).  It
#  1. rewrites gRPC's "[::]:PORT" (Phoenix hard-codes it) to "<host>:PORT" so
#     OTLP/gRPC listens on loopback only, like the HTTP server;
#  2. watches the parent: if the test process dies without stopping us, we
#     SIGTERM ourselves (then hard-exit) so no server is left behind;
#  3. runs the phoenix console script as if it had been executed directly.
_BOOTSTRAP = r"""
import os, runpy, signal, sys, threading, time
_bin, _host, _ppid = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.argv = [_bin] + sys.argv[4:]

def _patch_grpc():
    import grpc.aio._server as _s
    def _wrap(orig):
        def add_port(self, address, *args, **kwargs):
            if isinstance(address, str) and address.startswith("[::]:"):
                address = _host + address[len("[::]"):]
            return orig(self, address, *args, **kwargs)
        return add_port
    _s.Server.add_insecure_port = _wrap(_s.Server.add_insecure_port)
    _s.Server.add_secure_port = _wrap(_s.Server.add_secure_port)

if _host:
    try:
        _patch_grpc()
    except Exception as exc:  # grpc internals moved: run unpatched, say so
        print(f"phoenix_backend: gRPC loopback patch not applied: {exc!r}", file=sys.stderr)

def _watch_parent():
    while True:
        if os.getppid() != _ppid:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
            os._exit(1)
        time.sleep(0.5)

threading.Thread(target=_watch_parent, name="parent-watchdog", daemon=True).start()
runpy.run_path(_bin, run_name="__main__")
"""


class PhoenixError(RuntimeError):
    """Phoenix could not be found, started, or queried."""


def find_phoenix_bin(phoenix_bin: str | None = None) -> str:
    """Absolute path of the phoenix executable (argument, $PHOENIX_BIN, PATH)."""
    candidate = phoenix_bin or os.environ.get("PHOENIX_BIN") or "phoenix"
    if os.sep in candidate:
        path = os.path.abspath(os.path.expanduser(candidate))
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise PhoenixError(f"phoenix executable not found or not executable: {path}")
    found = shutil.which(candidate)
    if not found:
        raise PhoenixError(
            f"{candidate!r} not found on PATH; install arize-phoenix in its own venv "
            "(see tests/requirements-phoenix.txt) and set PHOENIX_BIN to its bin/phoenix"
        )
    return os.path.abspath(found)


def _script_interpreter(script: str) -> str | None:
    """The Python interpreter a console script runs with, if it can be told."""
    try:
        with open(script, "rb") as fh:
            head = fh.read(1024).decode("utf-8", "replace")
    except OSError:
        return None
    lines = head.splitlines()
    if not lines or not lines[0].startswith("#!"):
        return None
    shebang = lines[0][2:].strip()
    if shebang.startswith("/bin/sh") and len(lines) > 1:
        # pip's trick for long paths:  '''exec' "/path/to/python" "$0" "$@"
        parts = lines[1].split('"')
        if len(parts) >= 2 and lines[1].startswith("'''exec'"):
            shebang = parts[1]
        else:
            return None
    interp = shebang.split()[0] if shebang else ""
    if os.path.basename(interp) == "env" and len(shebang.split()) > 1:
        interp = shutil.which(shebang.split()[1]) or ""
    if "python" in os.path.basename(interp) and os.access(interp, os.X_OK):
        return interp
    return None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple]:
    """Flatten nested dicts into dotted keys (REST already does; defensive)."""
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _flatten(sub, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


_DIR_PREFIX = "phoenix-e2e-"
_OWNER_FILE = "harness-owner"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale_dirs() -> None:
    """Remove working dirs left behind by test processes that were SIGKILLed."""
    root = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(_DIR_PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(root, name)
        try:
            with open(os.path.join(path, _OWNER_FILE)) as fh:
                pids = [int(p) for p in fh.read().split()]
        except (OSError, ValueError):
            continue  # not ours, or still being set up: leave it
        if pids and not any(_pid_alive(p) for p in pids):
            shutil.rmtree(path, ignore_errors=True)


# Strong references: a started server stays reachable (and is stopped at exit)
# even if the caller drops it without calling stop().
_live_servers: set[PhoenixServer] = set()


@atexit.register
def _stop_all() -> None:  # pragma: no cover - safety net
    for server in list(_live_servers):
        try:
            server.stop()
        except Exception:
            pass


class PhoenixServer:
    """A throw-away ``phoenix serve`` on free loopback ports with a temp dir.

    Parameters:
        phoenix_bin: path of the phoenix executable (default: $PHOENIX_BIN,
            then ``phoenix`` on PATH).
        startup_timeout: seconds to wait for readiness (default
            $PHOENIX_STARTUP_TIMEOUT or 90).
        host: loopback address to bind (HTTP and, through a bootstrap shim,
            gRPC too).
        loopback_grpc: patch Phoenix's gRPC listener (hard-coded to ``[::]``)
            so it binds ``host`` only.  Needs the script's interpreter to be
            discoverable from its shebang; otherwise falls back to running the
            script directly (gRPC then listens on all interfaces).
        extra_env: extra environment variables for the Phoenix process.
        keep_dir: keep the working directory (db + log) after stop, for
            debugging; its path is ``working_dir``.
    """

    def __init__(
        self,
        phoenix_bin: str | None = None,
        *,
        startup_timeout: float | None = None,
        host: str = "127.0.0.1",
        loopback_grpc: bool = True,
        extra_env: Mapping[str, str] | None = None,
        keep_dir: bool = False,
    ) -> None:
        self.phoenix_bin = find_phoenix_bin(phoenix_bin)
        if startup_timeout is None:
            startup_timeout = float(os.environ.get("PHOENIX_STARTUP_TIMEOUT", "90"))
        self.startup_timeout = startup_timeout
        self.host = host
        self.loopback_grpc = loopback_grpc
        self.extra_env = dict(extra_env or {})
        self.keep_dir = keep_dir
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.working_dir: str | None = None
        self.log_path: str | None = None
        self.startup_seconds: float | None = None
        self.last_log: str = ""
        self._proc: subprocess.Popen | None = None
        self._log_file: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ endpoints
    @property
    def base_url(self) -> str:
        self._require_started()
        return f"http://{self.host}:{self.http_port}"

    @property
    def http_endpoint(self) -> str:
        """OTLP/HTTP base: use as OTEL_EXPORTER_OTLP_ENDPOINT (``/v1/traces`` appended)."""
        return self.base_url

    @property
    def traces_endpoint(self) -> str:
        """Full OTLP/HTTP traces URL, for ``OTLPSpanExporter(endpoint=...)``."""
        return self.base_url + "/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        """OTLP/gRPC endpoint (plaintext; pass ``insecure=True`` to the exporter)."""
        self._require_started()
        return f"http://{self.host}:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> PhoenixServer:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        assert self.working_dir is not None
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES
        }
        tmp = os.path.join(self.working_dir, "tmp")
        os.makedirs(tmp, exist_ok=True)
        env.update(
            {
                "PHOENIX_HOST": self.host,
                "PHOENIX_PORT": str(self.http_port),
                "PHOENIX_GRPC_PORT": str(self.grpc_port),
                "PHOENIX_WORKING_DIR": self.working_dir,
                "PHOENIX_SQL_DATABASE_URL": f"sqlite:///{self.working_dir}/phoenix.db",
                # offline: no telemetry pixels, no WASM download, no docs MCP
                "PHOENIX_TELEMETRY_ENABLED": "false",
                "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
                "PHOENIX_ALLOWED_SANDBOX_PROVIDERS": "NONE",
                "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
                "PHOENIX_ENABLE_MCP_SERVER": "false",
                "PHOENIX_ENABLE_AUTH": "false",
                "PHOENIX_ENABLE_PROMETHEUS": "false",
                "PHOENIX_LOG_MIGRATIONS": "false",
                # pid files go to $TMPDIR/.arize-phoenix/pids; keep them in our dir
                "TMPDIR": tmp,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _command(self) -> list[str]:
        interp = _script_interpreter(self.phoenix_bin)
        if interp is None:
            return [self.phoenix_bin, "serve"]
        host = self.host if self.loopback_grpc else ""
        return [
            interp,
            "-I",
            "-u",
            "-c",
            _BOOTSTRAP,
            self.phoenix_bin,
            host,
            str(os.getpid()),
            "serve",
        ]

    def start(self) -> PhoenixServer:
        with self._lock:
            if self._proc is not None:
                raise PhoenixError("already started")
            last_error: BaseException | None = None
            for _attempt in range(3):  # ports are picked then bound: retry on a race
                try:
                    self._start_once()
                    return self
                except _PortRace as exc:
                    last_error = exc
            raise PhoenixError(f"could not start phoenix: {last_error}")

    def _start_once(self) -> None:
        _sweep_stale_dirs()
        self.working_dir = tempfile.mkdtemp(prefix=_DIR_PREFIX)
        self.http_port = _free_port(self.host)
        self.grpc_port = _free_port(self.host)
        while self.grpc_port == self.http_port:
            self.grpc_port = _free_port(self.host)
        self.log_path = os.path.join(self.working_dir, "phoenix.log")
        self._log_file = open(self.log_path, "wb")
        t0 = time.monotonic()
        self._proc = subprocess.Popen(
            self._command(),
            env=self._env(),
            cwd=self.working_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches any children
        )
        _live_servers.add(self)
        with open(os.path.join(self.working_dir, _OWNER_FILE), "w") as fh:
            fh.write(f"{os.getpid()} {self._proc.pid}\n")
        try:
            self._wait_ready(t0)
        except BaseException as exc:
            log = self._read_log_tail()
            self.stop()
            if isinstance(exc, PhoenixError) and "address already in use" in log.lower():
                raise _PortRace(str(exc)) from None
            if isinstance(exc, PhoenixError):
                raise PhoenixError(f"{exc}\n--- phoenix log (tail) ---\n{log}") from None
            raise
        self.startup_seconds = time.monotonic() - t0

    def _wait_ready(self, t0: float) -> None:
        deadline = t0 + self.startup_timeout
        url = f"http://{self.host}:{self.http_port}/readyz"
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise PhoenixError(f"phoenix exited during start-up (exit code {code})")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200 and _port_open(self.host, int(self.grpc_port or 0)):
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PhoenixError(f"phoenix not ready after {self.startup_timeout:.0f}s")
            time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``; remove the temp dir."""
        proc, self._proc = self._proc, None
        _live_servers.discard(self)
        if proc is not None:
            if proc.poll() is None:
                self._signal_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc, signal.SIGKILL)
                    proc.wait(10)
            # anything else still in the group (there should be nothing)
            self._signal_group(proc, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.log_path and os.path.exists(self.log_path):
            self.last_log = self._read_log_tail(200_000)
        if self.working_dir and not self.keep_dir:
            shutil.rmtree(self.working_dir, ignore_errors=True)

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # pgid == pid thanks to start_new_session
        except (ProcessLookupError, PermissionError):
            pass

    def _read_log_tail(self, limit: int = 6000) -> str:
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - limit))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return self.last_log

    def log_text(self) -> str:
        """Phoenix's stdout/stderr so far (or the last run's after stop)."""
        if self.is_running():
            return self._read_log_tail(200_000)
        return self.last_log

    def rss_bytes(self) -> int:
        """Resident memory of the Phoenix process (and its children), in bytes."""
        if not self.is_running():
            return 0
        assert self._proc is not None
        total, pids = 0, [self._proc.pid]
        pgid = self._proc.pid
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != pgid:
                try:
                    if os.getpgid(int(entry)) == pgid:
                        pids.append(int(entry))
                except OSError:
                    pass
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    # ------------------------------------------------------------------ REST API
    def _require_started(self) -> None:
        if self.http_port is None:
            raise PhoenixError("phoenix server not started")

    def _get(self, path: str, params: Sequence[tuple] = ()) -> Any:
        query = urllib.parse.urlencode([(k, v) for k, v in params if v is not None])
        url = self.base_url + path + (f"?{query}" if query else "")
        req = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def projects(self) -> list[str]:
        """Names of all projects (``default`` always exists)."""
        names: list[str] = []
        cursor = None
        while True:
            body = self._get("/v1/projects", [("limit", 100), ("cursor", cursor)])
            names.extend(p["name"] for p in body.get("data", []))
            cursor = body.get("next_cursor")
            if not cursor:
                return names

    def spans_now(
        self,
        project_name: str = DEFAULT_PROJECT,
        *,
        trace_id: str | None = None,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """All spans of a project stored so far (no waiting); [] if no such project."""
        if any(c in project_name for c in "/?#"):
            raise ValueError("Phoenix cannot look up project names containing / ? or #")
        path = "/v1/projects/" + urllib.parse.quote(project_name, safe="") + "/spans"
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = [
                ("limit", 1000),
                ("sort", "id"),
                ("order", "asc"),
                ("cursor", cursor),
                ("trace_id", trace_id),
                ("name", name),
            ]
            try:
                body = self._get(path, params)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # project is created by its first span
                    return []
                raise PhoenixError(f"GET {path} failed: {exc.code} {exc.read()[:500]!r}") from exc
            out.extend(self._convert(s) for s in body.get("data", []))
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    def spans(
        self,
        project_name: str = DEFAULT_PROJECT,
        timeout: float = 30.0,
        *,
        min_count: int = 1,
        trace_id: str | None = None,
        name: str | None = None,
        settle: float = 0.5,
        poll_interval: float = 0.2,
    ) -> list[dict[str, Any]]:
        """Poll until at least ``min_count`` spans are stored, then return all.

        Ingestion is asynchronous (queued, bulk-inserted every ~0.1 s), so after
        reaching ``min_count`` it waits until the count has not changed for
        ``settle`` seconds.  Raises ``TimeoutError`` (listing what it found) if
        ``min_count`` is not reached within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        stable_since: float | None = None
        while True:
            current = self.spans_now(project_name, trace_id=trace_id, name=name)
            now = time.monotonic()
            if len(current) != len(last) or stable_since is None:
                stable_since = now
            last = current
            if len(current) >= min_count and (now - stable_since >= settle or now > deadline):
                return current
            if now > deadline:
                raise TimeoutError(
                    f"{len(current)} span(s) in project {project_name!r} after {timeout}s, "
                    f"wanted >= {min_count}: {[s['name'] for s in current]}; "
                    f"projects: {self.projects()}"
                )
            if not self.is_running():
                raise PhoenixError("phoenix is not running")
            time.sleep(poll_interval)

    @staticmethod
    def _convert(span: Mapping[str, Any]) -> dict[str, Any]:
        context = span.get("context") or {}
        attributes = dict(_flatten(span.get("attributes") or {}))
        return {
            "name": span.get("name"),
            "span_id": context.get("span_id"),
            "parent_id": span.get("parent_id"),
            "trace_id": context.get("trace_id"),
            "attributes": attributes,
            "status": span.get("status_code"),
            "status_code": span.get("status_code"),
            "status_message": span.get("status_message", ""),
            "span_kind": span.get("span_kind"),
            "start_time": span.get("start_time"),
            "end_time": span.get("end_time"),
            "events": span.get("events") or [],
            "id": span.get("id"),
        }


class _PortRace(PhoenixError):
    pass
