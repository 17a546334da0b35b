"""The sandbox: the world served by Salesforce-, Stripe- and NetSuite-faithful HTTPS simulators.

    with Sandbox(tmp_path) as sb:
        token = requests.post(sb.urls["salesforce"] + "/services/oauth2/token", data={
            "grant_type": "client_credentials", **sb.credentials["salesforce"]}, verify=sb.ca_bundle)

Each system gets its own server on ``host`` (127.0.0.1 by default), HTTPS with a certificate
from the sandbox CA (see ``sandbox.tls``). Accepted writes are appended to
``state_dir/writes.jsonl`` and replayed on start; ``state_dir/sandbox.json`` describes the running
sandbox (urls, ports, pid, world, CA bundle; never credentials) and is kept, marked
``"running": false``, after stop. One state dir serves one running sandbox at a time.

Faults (``sandbox.faults``; all off by default) are set per system at construction
(``faults={"stripe": {"rate_limit": 0.2}}``), at runtime (``set_faults``) or over
``POST /_sandbox/faults``; they never touch the ``/_sandbox/`` routes.
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

from sandbox import legacy_erp
from sandbox.clock import ADVANCES_FILE, apply_changes, log_advance, read_advances
from sandbox.faults import FaultConfig, FaultInjector, parse_faults
from sandbox.lazy import lazy_rows_default
from sandbox.netsuite import NetSuiteApi
from sandbox.salesforce import SalesforceApi
from sandbox.store import KEY_FIELD, Store
from sandbox.stripe import StripeApi
from sandbox.tls import TlsMaterial, ensure_tls
from sandbox.web import App, Request, Response, SandboxServer, json_response
from sandbox.world import DEFAULT_CLOCK, DEFAULT_SEED, World, build_world
from sandbox.world_anomalies import resolve_rates

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
                 clock: date | None = None, faults: dict[str, dict[str, Any]] | None = None,
                 rates: dict[str, float] | None = None, lazy_rows: int | None = None) -> None:
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
        self.rates = resolve_rates(rates)  # anomaly rates (sandbox.world_anomalies); validated here
        # Columnar objects of at least this many rows are served without rendering them (sandbox.lazy).
        self.lazy_rows = lazy_rows_default() if lazy_rows is None else int(lazy_rows)
        self._fault_knobs = parse_faults(faults)  # applied at start; kept in step with set_faults
        self._injectors: dict[str, FaultInjector] = {}
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
            world = build_world(self.seed, self.scale, self._clock, self.rates, lazy_rows=self.lazy_rows)
            store = Store(world, self.state_dir / WRITES_FILE)
            # The clock's advances, replayed between the writes that came before and after each.
            advances = read_advances(self.state_dir / ADVANCES_FILE, store.world_id)
            apps: dict[str, App] = {
                "salesforce": SalesforceApi(store, **self.credentials["salesforce"]),
                "stripe": StripeApi(store, **self.credentials["stripe"]),
                "netsuite": NetSuiteApi(store, **self.credentials["netsuite"]),
            }
            replayed = store.replay(
                before_write=lambda n: self._replay_advances(world, store, advances, n))
            self._replay_advances(world, store, advances, None)
            legacy_erp.write(world.legacy, self.state_dir / legacy_erp.FILE_NAME)
            injectors = {system: FaultInjector(system, apps[system], seed=self.seed) for system in SYSTEMS}
            for system, knobs in self._fault_knobs.items():
                injectors[system].configure(knobs)
            context = material.server_context() if material is not None else None
            for system in SYSTEMS:
                self._servers[system] = SandboxServer(
                    (self.host, self._requested_ports[system]), injectors[system],
                    admin=lambda req, system=system: self._admin(system, req), ssl_context=context)
            scheme = "https" if self.tls else "http"
            url_host = _url_host(self.host)
            for system, server in self._servers.items():
                self.ports[system] = server.port
                self.urls[system] = f"{scheme}://{url_host}:{server.port}"
                apps[system].base_url = self.urls[system]
            store.warm()
            self._world, self._store, self._injectors = world, store, injectors
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

    # ------------------------------------------------------------------ clock
    def advance(self, days: int) -> dict[str, Any]:
        """Move the world's clock ``days`` forward and serve what changed (persisted; replayed on start).

        Returns the new clock and, per system and object, how many records were inserted, updated
        and deleted. The ground truth of the move is on the world: ``world.ledger``,
        ``world.deletions()``, ``world.late_changes(since=...)``.
        """
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ValueError(f"days must be a non-negative integer, got {days!r}")
        with self.store.lock:
            before = self.clock
            summary = apply_changes(self.store, self.world.advance(days))
            log_advance(self.state_dir / ADVANCES_FILE, self.store.world_id, days, self.store.write_count(),
                        self.clock.isoformat())
            self.store.warm()  # a vendor keeps its SystemModstamp index current: so does the sandbox
        legacy_erp.write(self.world.legacy, self.state_dir / legacy_erp.FILE_NAME)
        self._write_state()
        return {"clock": self.clock.isoformat(), "previous_clock": before.isoformat(), "days": days,
                "changes": summary, "ledger": len(self.world.ledger),
                "late_changes": len(self.world.late_changes(since=before))}

    def truth(self, since: date | None = None) -> dict[str, Any]:
        """What the clock did that a loader must cope with (tests only, never the pipeline): deletions,
        late-arriving changes (optionally only those that became visible after ``since``), cut-over dates."""
        return {"clock": self.clock.isoformat(), "deletions": self.world.deletions(),
                "late_changes": self.world.late_changes(since=since), "cutover": self.world.cutover_dates()}

    def _replay_advances(self, world: World, store: Store, advances: list[dict[str, Any]], writes: int | None) -> None:
        while advances and (writes is None or advances[0]["writes"] <= writes):
            apply_changes(store, world.advance(int(advances.pop(0)["days"])))

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running, "pid": os.getpid(), "urls": dict(self.urls), "ports": dict(self.ports),
            "seed": self.seed, "scale": self.scale, "clock": self.clock.isoformat(), "tls": self.tls,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None, "state_dir": str(self.state_dir),
            "started_at": self._started_at, "counts": self.store.counts(), "writes": self.store.write_count(),
            "events": len(self.store.events), "base_clock": self.world.base_clock.isoformat(),
            "advances": list(self.world.history), "ledger": len(self.world.ledger),
            "legacy_erp": str(self.state_dir / legacy_erp.FILE_NAME),
            "faults": {system: {"knobs": injector.knobs(), "counts": injector.counts()}
                       for system, injector in self._injectors.items()},
        }

    # ------------------------------------------------------------------ faults
    def set_faults(self, system: str, replace: bool = False, **knobs: Any) -> dict[str, Any]:
        """Set fault knobs of ``system`` (on top of the current ones; all others off with ``replace``).

        Knobs (see ``sandbox.faults``): rate_limit, retry_after, request_limit_exceeded (Salesforce),
        error_rate, error_statuses, latency_ms, drop_rate, schema_drift, duplicate_events (Stripe),
        include_auth, seed. A knob set to None returns to its default. Returns the knobs now in force.
        Before start they are kept and applied at start.
        """
        _check_system(system)
        if system in self._injectors:
            current = self._injectors[system].configure(knobs, replace_all=replace)
        else:
            base = {} if replace else self._fault_knobs.get(system, {})
            current = FaultConfig.parse(system, knobs, FaultConfig.parse(system, base)).knobs(system)
        self._fault_knobs[system] = current
        return copy.deepcopy(current)

    def clear_faults(self, system: str | None = None) -> None:
        """Turn every fault off (of one system, or of all)."""
        for name in [system] if system is not None else list(SYSTEMS):
            self.set_faults(name, replace=True)

    def faults(self) -> dict[str, dict[str, Any]]:
        """The knobs in force, per system."""
        if self._injectors:
            return {system: injector.knobs() for system, injector in self._injectors.items()}
        return {system: FaultConfig.parse(system, self._fault_knobs.get(system, {})).knobs(system)
                for system in SYSTEMS}

    def fault_counts(self) -> dict[str, dict[str, int]]:
        """Per system: requests subject to faults and how often each knob struck."""
        return {system: injector.counts() for system, injector in self._injectors.items()}

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
        route = req.path.rstrip("/")
        if route == "/_sandbox/faults":
            return self._admin_faults(system, req)
        if route == "/_sandbox/advance":
            return self._admin_advance(req)
        if req.method != "GET":
            return json_response(405, {"ok": False, "error": "use GET"})
        if route == "/_sandbox/health":
            return json_response(200, {"ok": True, "system": system})
        if route == "/_sandbox/status":
            return json_response(200, {**self.status(), "system": system})
        if route == "/_sandbox/ledger":
            return json_response(200, self.ledger())
        if route == "/_sandbox/truth":
            try:
                since = date.fromisoformat(req.arg("since")) if req.arg("since") else None
            except ValueError:
                return json_response(400, {"ok": False, "error": "since must be YYYY-MM-DD"})
            return json_response(200, self.truth(since))
        if route == "/_sandbox/writes":
            which = req.arg("system") or system
            if which not in (*SYSTEMS, "all"):
                return json_response(400, {"ok": False, "error": f"unknown system {which!r}"})
            return json_response(200, self.writes(None if which == "all" else which))
        return json_response(404, {"ok": False, "error": f"no admin route {req.path}"})

    def _admin_faults(self, system: str, req: Request) -> Response:
        """GET: the knobs per system. POST: ``{system: knobs, ...}``, or knobs for ``?system=`` (default:
        this server's system); ``"replace": true`` turns the knobs not given off."""
        if req.method == "GET":
            return json_response(200, self.faults())
        if req.method != "POST":
            return json_response(405, {"ok": False, "error": "use GET or POST"})
        try:
            body = req.json() if req.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return json_response(400, {"ok": False, "error": "the body must be JSON"})
        if not isinstance(body, dict):
            return json_response(400, {"ok": False, "error": "the body must be a JSON object"})
        replace = body.pop("replace", False)
        per_system = bool(body) and all(k in SYSTEMS for k in body)
        changes = body if per_system else {req.arg("system") or system: body}
        try:
            if not isinstance(replace, bool):
                raise ValueError("replace must be true or false")
            for name, knobs in changes.items():
                _check_system(name)
                if not isinstance(knobs, dict):
                    raise ValueError(f"{name} faults must be an object of knobs")
            for name, knobs in changes.items():
                self.set_faults(name, replace=replace, **knobs)
        except ValueError as exc:
            return json_response(400, {"ok": False, "error": str(exc)})
        return json_response(200, self.faults())

    def _admin_advance(self, req: Request) -> Response:
        """POST ``{"days": N}``: move the clock (see ``advance``)."""
        if req.method != "POST":
            return json_response(405, {"ok": False, "error": "use POST with {\"days\": N}"})
        try:
            body = req.json() if req.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return json_response(400, {"ok": False, "error": "the body must be JSON"})
        days = body.get("days") if isinstance(body, dict) else None
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            return json_response(400, {"ok": False, "error": "days must be a non-negative integer"})
        return json_response(200, {"ok": True, **self.advance(days)})

    def _write_state(self) -> None:
        state = {
            "running": self.running, "stopped_at": None if self.running else datetime.now(UTC).isoformat(),
            "pid": os.getpid(), "urls": self.urls, "ports": self.ports, "seed": self.seed, "scale": self.scale,
            "clock": self.clock.isoformat(), "tls": self.tls,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None, "state_dir": str(self.state_dir),
            "started_at": self._started_at, "legacy_erp": str(self.state_dir / legacy_erp.FILE_NAME),
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
