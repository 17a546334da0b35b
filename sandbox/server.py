"""The sandbox: the world served by Salesforce-, Stripe- and NetSuite-faithful HTTPS simulators.

    with Sandbox(tmp_path) as sb:
        token = requests.post(sb.urls["salesforce"] + "/services/oauth2/token", data={
            "grant_type": "client_credentials", **sb.credentials["salesforce"]}, verify=sb.ca_bundle)

Each system gets its own server on ``host`` (127.0.0.1 by default), HTTPS with a certificate
from the sandbox CA (see ``sandbox.tls``). Accepted writes are appended to
``state_dir/writes.jsonl`` and replayed on start; ``state_dir/sandbox.json`` describes the running
sandbox (urls, ports, pid, world, CA bundle; never credentials) and is kept, marked
``"running": false``, after stop. One state dir serves one running sandbox at a time.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import logging
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from sandbox.netsuite import NetSuiteApi
from sandbox.salesforce import SalesforceApi
from sandbox.store import KEY_FIELD, Store
from sandbox.stripe import StripeApi
from sandbox.tls import TlsMaterial, ensure_tls
from sandbox.web import App, Request, Response, SandboxServer, json_response
from sandbox.world import DEFAULT_CLOCK, DEFAULT_SEED, World, build_world

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SYSTEMS = ("salesforce", "stripe", "netsuite")
SALESFORCE_CLIENT_ID = "q2c-sandbox"
SALESFORCE_CLIENT_SECRET = "sandbox-sf-secret"
STRIPE_API_KEY = "sk_test_q2c_sandbox"
NETSUITE_CLIENT_ID = "q2c-sandbox"
NETSUITE_CLIENT_SECRET = "sandbox-ns-secret"
DEFAULT_CREDENTIALS: dict[str, dict[str, str]] = {
    "salesforce": {"client_id": SALESFORCE_CLIENT_ID, "client_secret": SALESFORCE_CLIENT_SECRET},
    "stripe": {"api_key": STRIPE_API_KEY},
    "netsuite": {"client_id": NETSUITE_CLIENT_ID, "client_secret": NETSUITE_CLIENT_SECRET},
}
STATE_FILE = "sandbox.json"
WRITES_FILE = "writes.jsonl"
LOCK_FILE = ".sandbox.lock"


class Sandbox:
    """Three vendor simulators over one seeded world. Use as a context manager or start()/stop()."""

    def __init__(self, state_dir: Path, seed: int = DEFAULT_SEED, scale: float = 1.0, host: str = "127.0.0.1",
                 ports: dict[str, int] | None = None, tls: bool = True, credentials: dict | None = None,
                 clock: date | None = None) -> None:
        unknown = set(ports or {}) - set(SYSTEMS)
        if unknown:
            raise ValueError(f"unknown system(s) in ports: {sorted(unknown)}; expected {SYSTEMS}")
        self.state_dir = Path(state_dir)
        self.seed = seed
        self.scale = scale
        self.host = host
        self.tls = tls
        self._requested_ports = {s: int((ports or {}).get(s) or 0) for s in SYSTEMS}
        self.credentials: dict[str, dict[str, str]] = _merge_credentials(credentials)
        self._clock = clock or DEFAULT_CLOCK
        self.urls: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.ca_bundle: Path | None = self.state_dir / "ca-bundle.pem" if tls else None
        self._world: World | None = None
        self._store: Store | None = None
        self._servers: dict[str, SandboxServer] = {}
        self._lock_fh: TextIO | None = None
        self._started_at: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        """Build the world, replay persisted writes, start the servers, write ``sandbox.json``."""
        if self._servers:
            raise RuntimeError("sandbox already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_state_dir()
        try:
            material: TlsMaterial | None = ensure_tls(self.state_dir) if self.tls else None
            world = build_world(self.seed, self.scale, self._clock)
            store = Store(world, self.state_dir / WRITES_FILE)
            apps: dict[str, App] = {
                "salesforce": SalesforceApi(store, **self.credentials["salesforce"]),
                "stripe": StripeApi(store, **self.credentials["stripe"]),
                "netsuite": NetSuiteApi(store, **self.credentials["netsuite"]),
            }
            replayed = store.replay()
            context = material.server_context() if material is not None else None
            for system in SYSTEMS:
                self._servers[system] = SandboxServer(
                    (self.host, self._requested_ports[system]), apps[system],
                    admin=lambda req, system=system: self._admin(system, req), ssl_context=context)
            scheme = "https" if self.tls else "http"
            url_host = _url_host(self.host)
            for system, server in self._servers.items():
                self.ports[system] = server.port
                self.urls[system] = f"{scheme}://{url_host}:{server.port}"
                apps[system].base_url = self.urls[system]
            self._world, self._store = world, store
            for server in self._servers.values():
                server.start()
            self._started_at = datetime.now(UTC).isoformat()
            self._write_state()
        except BaseException:
            self._shutdown_servers()
            self._release_state_dir()
            raise
        log.info("sandbox started (seed=%s scale=%s, %d writes replayed): %s", self.seed, self.scale, replayed,
                 self.urls)
        return self

    def stop(self) -> None:
        """Stop the servers and release the state dir (idempotent)."""
        if not self._servers and self._lock_fh is None:
            return
        was_running = bool(self._servers)
        try:
            self._shutdown_servers()
            if was_running:
                self._write_state()  # kept for `status` tools, marked stopped
        finally:
            self._release_state_dir()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._servers)

    # ------------------------------------------------------------------ state
    @property
    def world(self) -> World:
        if self._world is None:
            raise RuntimeError("sandbox not started: call start() first")
        return self._world

    @property
    def clock(self) -> date:
        """The world's "today" (known before start)."""
        return self._world.clock if self._world is not None else self._clock

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("sandbox not started: call start() first")
        return self._store

    def records(self, system: str, obj: str) -> list[dict[str, Any]]:
        """The object's current records, including those written by clients (copies)."""
        _check_system(system)
        try:
            rows = self.store.rows(system, obj)
        except KeyError:
            raise KeyError(f"unknown object {obj!r} for {system}; known: {self.store.objects(system)}") from None
        return copy.deepcopy(rows)

    def writes(self, system: str | None = None) -> list[dict[str, Any]]:
        """Every accepted write request, in order (optionally of one system)."""
        if system is not None:
            _check_system(system)
        return self.store.writes(system)

    def ledger(self) -> list[dict[str, Any]]:
        """The anomalies injected into the world (ground truth)."""
        return copy.deepcopy(self.world.ledger)

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running, "pid": os.getpid(), "urls": dict(self.urls), "ports": dict(self.ports),
            "seed": self.seed, "scale": self.scale, "clock": self.clock.isoformat(), "tls": self.tls,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None, "state_dir": str(self.state_dir),
            "started_at": self._started_at, "counts": self.store.counts(), "writes": self.store.write_count(),
        }

    def patch_record(self, system: str, obj: str, key: str, **fields: Any) -> dict[str, Any]:
        """Test hook: change a stored record in place of the vendor (e.g. ``IsDeleted=True``).

        The change is server-side: it is not a client write, is not logged and does not persist.
        """
        _check_system(system)
        with self.store.lock:
            current = self.store.get(system, obj, key)
            if current is None:
                raise KeyError(f"no {system} {obj} with {KEY_FIELD[system]} {key!r}")
            record = {**current, **fields}
            self.store.put(system, obj, record)
        return copy.deepcopy(record)

    # ------------------------------------------------------------------ internals
    def _admin(self, system: str, req: Request) -> Response:
        if not _is_loopback(req.client_ip):
            return json_response(403, {"ok": False, "error": "the /_sandbox/ endpoints are loopback-only"})
        if req.method != "GET":
            return json_response(405, {"ok": False, "error": "use GET"})
        route = req.path.rstrip("/")
        if route == "/_sandbox/health":
            return json_response(200, {"ok": True, "system": system})
        if route == "/_sandbox/status":
            return json_response(200, {**self.status(), "system": system})
        if route == "/_sandbox/ledger":
            return json_response(200, self.ledger())
        if route == "/_sandbox/writes":
            which = req.arg("system") or system
            if which not in (*SYSTEMS, "all"):
                return json_response(400, {"ok": False, "error": f"unknown system {which!r}"})
            return json_response(200, self.writes(None if which == "all" else which))
        return json_response(404, {"ok": False, "error": f"no admin route {req.path}"})

    def _write_state(self) -> None:
        state = {
            "running": self.running, "stopped_at": None if self.running else datetime.now(UTC).isoformat(),
            "pid": os.getpid(), "urls": self.urls, "ports": self.ports, "seed": self.seed, "scale": self.scale,
            "clock": self.clock.isoformat(), "tls": self.tls,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None, "state_dir": str(self.state_dir),
            "started_at": self._started_at,
        }
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".sandbox.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, self.state_dir / STATE_FILE)

    def _shutdown_servers(self) -> None:
        servers, self._servers = self._servers, {}
        for server in servers.values():
            try:
                server.close()
            except Exception:  # pragma: no cover - best effort on the way down
                log.exception("sandbox: error stopping %s", server.app.system)

    def _acquire_state_dir(self) -> None:
        fh = (self.state_dir / LOCK_FILE).open("a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                fh.close()
                raise RuntimeError(f"state dir {self.state_dir} is in use by another running sandbox "
                                   f"(pid {holder}); stop it or use another state dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_fh = fh

    def _release_state_dir(self) -> None:
        fh, self._lock_fh = self._lock_fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()
        finally:
            fh.close()  # closing the file releases the flock


def _merge_credentials(overrides: dict | None) -> dict[str, dict[str, str]]:
    merged = copy.deepcopy(DEFAULT_CREDENTIALS)
    for system, values in (overrides or {}).items():
        if system not in merged:
            raise ValueError(f"unknown system in credentials: {system!r}; expected {SYSTEMS}")
        unknown = set(values) - set(merged[system])
        if unknown:
            raise ValueError(f"unknown credential field(s) for {system}: {sorted(unknown)}; "
                             f"expected {sorted(merged[system])}")
        merged[system].update({k: str(v) for k, v in values.items()})
    return merged


def _check_system(system: str) -> None:
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _is_loopback(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback
