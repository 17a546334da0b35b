"""Fault injection: throttling, server errors, latency, dropped connections, schema drift, duplicates.

Each system's app is served through a ``FaultInjector`` that applies that system's knobs
(all off by default):

========================== ============================================================================
knob                       effect
========================== ============================================================================
``rate_limit``             fraction of requests answered 429 with ``Retry-After: <retry_after>``, in the
                           vendor's error shape
``retry_after``            seconds announced in ``Retry-After`` (default 1)
``request_limit_exceeded`` Salesforce only: fraction answered 403 ``REQUEST_LIMIT_EXCEEDED``
                           ("TotalRequests Limit exceeded."), the org's daily API limit
``error_rate``             fraction answered with a server error (one of ``error_statuses``, default
                           ``[500, 502, 503]``) in the vendor's error shape
``latency_ms``             delay added to every request: milliseconds, or ``[min, max]`` drawn per request
``drop_rate``              fraction of requests whose connection is closed without any response
``drop_after_rate``        fraction of requests that are served (a write takes effect) and whose
                           connection is then closed before the response: the client cannot know
``malformed_rate``         fraction of requests that are served and answered 200 with the JSON body
                           cut off half-way (a truncated response)
``schema_drift``           ``{"new_field": true | "<name>" | {"name", "value"}, "objects": [...],
                           "changed_type": {"object", "field", "to"} | [...]}`` (see below)
``duplicate_events``       Stripe only: fraction of listed events delivered twice (same event, same id,
                           right after the first copy; a page may then hold more than ``limit`` items)
``include_auth``           also inject into the token endpoints (default false)
``seed``                   the fault sequence's seed (default: the sandbox's seed)
========================== ============================================================================

At most one of drop / drop after / malformed / rate limit / request limit / error hits a request:
one draw from the
system's seeded RNG picks it, so the fractions must add up to at most 1. The RNG restarts from
the seed whenever the knobs are set, so a given sequence of requests meets the same faults
every time. ``duplicate_events`` is spread evenly instead (error diffusion with a seeded
phase): of N events listed, ``round(N * rate)`` give or take one come twice.

Schema drift changes what clients see from then on, never the stored records:

- ``new_field`` adds a field (default ``Q2C_Drift__c`` / ``q2c_drift`` / ``custbody_q2c_drift``,
  value ``"drift"``) to every record of ``objects`` (all objects if omitted). On Salesforce it
  joins the object's describe and can be queried, and appears wherever the fields served are
  the object's full list (describe-driven SOQL, retrieve); on NetSuite it joins the table's
  columns (``SELECT *``); on Stripe it is on every object of those types.
- ``changed_type`` serves one field as ``"string"`` (default), ``"number"``, ``"integer"`` or
  ``"boolean"``; Salesforce's describe reports the new type.

Admin calls (``/_sandbox/*``) never see faults; token endpoints only with ``include_auth``.
Every injected fault is counted (``counts()``, shown in the sandbox's status).
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.netsuite import SUITEQL_PATH, TOKEN_PATH, ns_string
from sandbox.sqlcore import QueryError
from sandbox.stripe import RESOURCES
from sandbox.suiteql import compile_suiteql
from sandbox.web import App, Request, Response, json_response

SYSTEMS = ("salesforce", "stripe", "netsuite")
AUTH_PATHS = {"salesforce": ("/services/oauth2/token",), "stripe": (), "netsuite": (TOKEN_PATH,)}
SYSTEM_KNOBS = {"salesforce": {"request_limit_exceeded"}, "stripe": {"duplicate_events"}, "netsuite": set()}
FRACTIONS = ("drop_rate", "rate_limit", "request_limit_exceeded", "error_rate",  # draw order
             "drop_after_rate", "malformed_rate")
DRIFT_FIELD = {"salesforce": "Q2C_Drift__c", "stripe": "q2c_drift", "netsuite": "custbody_q2c_drift"}
DRIFT_VALUE = "drift"
TYPES = ("string", "number", "integer", "boolean")
_SF_TYPES = {"string": "string", "number": "double", "integer": "int", "boolean": "boolean"}
_STRIPE_OBJECTS = {r.name: r.obj for r in RESOURCES.values()} | {"events": "event"}


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class Retype:
    object: str
    field: str
    to: str = "string"


@dataclass(frozen=True)
class SchemaDrift:
    new_field: str | None = None
    value: Any = DRIFT_VALUE
    objects: tuple[str, ...] | None = None  # None: every object
    changed_types: tuple[Retype, ...] = ()

    def knobs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.new_field is not None:
            out["new_field"] = {"name": self.new_field, "value": self.value}
            out["objects"] = list(self.objects) if self.objects is not None else None
        if self.changed_types:
            out["changed_type"] = [{"object": r.object, "field": r.field, "to": r.to} for r in self.changed_types]
        return out


@dataclass(frozen=True)
class FaultConfig:
    """One system's knobs (see the module docstring); ``parse`` validates JSON-shaped input."""

    rate_limit: float = 0.0
    retry_after: int = 1
    request_limit_exceeded: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    latency_ms: tuple[int, int] = (0, 0)
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    malformed_rate: float = 0.0
    schema_drift: SchemaDrift | None = None
    duplicate_events: float = 0.0
    include_auth: bool = False
    seed: int | None = None

    @property
    def active(self) -> bool:
        return (any(getattr(self, f) > 0 for f in FRACTIONS) or self.latency_ms[1] > 0
                or self.schema_drift is not None or self.duplicate_events > 0)

    @classmethod
    def parse(cls, system: str, knobs: Mapping[str, Any], base: FaultConfig | None = None) -> FaultConfig:
        """``base`` with ``knobs`` applied (a knob set to None goes back to its default)."""
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")
        if not isinstance(knobs, Mapping):
            raise ValueError(f"{system} faults must be an object of knobs, got {type(knobs).__name__}")
        defaults, config = cls(), base or cls()
        allowed = {f for f in cls.__dataclass_fields__} - set().union(*SYSTEM_KNOBS.values()) | SYSTEM_KNOBS[system]
        changes: dict[str, Any] = {}
        for name, value in knobs.items():
            if name not in allowed:
                other = [s for s, names in SYSTEM_KNOBS.items() if name in names]
                raise ValueError(f"unknown fault knob {name!r} for {system}"
                                 + (f" (only for {other[0]})" if other else f"; known: {sorted(allowed)}"))
            changes[name] = getattr(defaults, name) if value is None else _parse_knob(system, name, value)
        config = replace(config, **changes)
        total = sum(getattr(config, f) for f in FRACTIONS)
        if total > 1 + 1e-9:
            raise ValueError(f"{system}: {' + '.join(FRACTIONS)} must be "
                             f"at most 1, got {total:g}")
        return config

    def knobs(self, system: str) -> dict[str, Any]:
        """The knobs as JSON (what ``GET /_sandbox/faults`` shows), the system's own ones included."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if any(name in names for s, names in SYSTEM_KNOBS.items() if s != system):
                continue
            value = getattr(self, name)
            if name == "latency_ms":
                value = value[0] if value[0] == value[1] else list(value)
            elif name == "error_statuses":
                value = list(value)
            elif name == "schema_drift":
                value = value.knobs() if value is not None else None
            out[name] = value
        return out


def _parse_knob(system: str, name: str, value: Any) -> Any:
    if name in (*FRACTIONS, "duplicate_events"):
        return _fraction(name, value)
    if name == "retry_after":
        return _int(name, value, 0, 86400)
    if name == "seed":
        return _int(name, value, -(2 ** 63), 2 ** 63)
    if name == "include_auth":
        if not isinstance(value, bool):
            raise ValueError(f"include_auth must be true or false, got {value!r}")
        return value
    if name == "error_statuses":
        statuses = value if isinstance(value, list | tuple) else [value]
        parsed = tuple(_int(name, s, 500, 599) for s in statuses)
        if not parsed:
            raise ValueError("error_statuses must name at least one 5xx status")
        return parsed
    if name == "latency_ms":
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError(f"latency_ms must be milliseconds or [min, max], got {value!r}")
            lo, hi = (_int(name, v, 0, 600_000) for v in value)
            if hi < lo:
                raise ValueError(f"latency_ms: max {hi} is below min {lo}")
            return lo, hi
        ms = _int(name, value, 0, 600_000)
        return ms, ms
    if name == "schema_drift":
        return _parse_drift(system, value)
    raise ValueError(f"unknown fault knob {name!r}")  # pragma: no cover - guarded by the caller


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number between {lo} and {hi}, got {value!r}")
    return int(value)


def _parse_drift(system: str, value: Any) -> SchemaDrift | None:
    if value is False or value == {}:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"schema_drift must be an object like {{\"new_field\": true, \"objects\": [...]}}, "
                         f"got {value!r}")
    unknown = set(value) - {"new_field", "objects", "value", "changed_type"}
    if unknown:
        raise ValueError(f"unknown schema_drift key(s) {sorted(unknown)}; expected new_field, objects, value, "
                         "changed_type")
    new_field, drift_value, objects = None, value.get("value", DRIFT_VALUE), value.get("objects")
    spec = value.get("new_field")
    if isinstance(spec, Mapping):
        new_field = spec.get("name") or DRIFT_FIELD[system]
        drift_value = spec.get("value", drift_value)
        objects = spec.get("objects", objects)
    elif spec is True:
        new_field = DRIFT_FIELD[system]
    elif isinstance(spec, str) and spec:
        new_field = spec
    elif spec not in (None, False):
        raise ValueError(f"schema_drift.new_field must be true, a field name or {{\"name\", \"value\"}}, got {spec!r}")
    if objects is not None and (not isinstance(objects, list | tuple) or not all(isinstance(o, str) for o in objects)):
        raise ValueError(f"schema_drift.objects must be a list of object names, got {objects!r}")
    changed = value.get("changed_type") or []
    retypes = []
    for item in changed if isinstance(changed, list | tuple) else [changed]:
        if not isinstance(item, Mapping) or not isinstance(item.get("object"), str) \
                or not isinstance(item.get("field"), str):
            raise ValueError(f"schema_drift.changed_type needs {{\"object\", \"field\"[, \"to\"]}}, got {item!r}")
        to = item.get("to", "string")
        if to not in TYPES:
            raise ValueError(f"schema_drift.changed_type.to must be one of {TYPES}, got {to!r}")
        retypes.append(Retype(item["object"], item["field"], to))
    if new_field is None and not retypes:
        return None
    return SchemaDrift(new_field, drift_value, tuple(objects) if objects is not None else None, tuple(retypes))


def convert(value: Any, to: str) -> Any:
    """``value`` as the drifted type (left alone when it cannot be read as one)."""
    if value is None:
        return None
    try:
        if to == "string":
            return value if isinstance(value, str) else json.dumps(value)
        if to == "boolean":
            return value.strip().lower() in ("true", "t", "1", "yes") if isinstance(value, str) else bool(value)
        number = float(value)
        return int(number) if to == "integer" else number
    except (TypeError, ValueError):
        return value


# ---------------------------------------------------------------------------------------------- drift
class _Drift:
    """Schema drift as one vendor shows it: registration in the app's schema, rewriting of responses."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.drift: SchemaDrift | None = None
        self.targets: set[str] | None = None  # canonical object names with the new field (None: all)
        self.retypes: dict[str, dict[str, str]] = {}  # object -> field -> type

    def canonical(self, name: str) -> str:
        return name

    def install(self, drift: SchemaDrift | None) -> None:
        """Serve ``drift`` from now on (None: no drift); unknown names raise before anything changes."""
        if drift is None:
            self.uninstall()
            return
        drift = self.normalize(drift)
        targets = {self.canonical(o) for o in drift.objects} if drift.objects is not None else None
        retypes: dict[str, dict[str, str]] = {}
        for r in drift.changed_types:
            obj = self.canonical(r.object)
            retypes.setdefault(obj, {})[self.field_name(obj, r.field)] = r.to
        self.uninstall()
        self.drift, self.targets, self.retypes = drift, targets, retypes
        self.register()

    def normalize(self, drift: SchemaDrift) -> SchemaDrift:
        return drift

    def uninstall(self) -> None:
        if self.drift is not None:
            self.unregister()
        self.drift, self.targets, self.retypes = None, None, {}

    def field_name(self, obj: str, name: str) -> str:
        return name

    def register(self) -> None:
        pass

    def unregister(self) -> None:
        pass

    def has_new_field(self, obj: str) -> bool:
        return self.drift is not None and self.drift.new_field is not None and (
            self.targets is None or obj in self.targets)

    def apply(self, obj: str, record: dict[str, Any], *, selected: Callable[[str], bool] | None = None,
              render: Callable[[Any], Any] = lambda v: v) -> bool:
        """Drift one record of ``obj`` in place; ``selected`` says which fields the response carries."""
        assert self.drift is not None
        changed = False
        name = self.drift.new_field
        if name is not None and self.has_new_field(obj) and (selected is None or selected(name)):
            record[name] = render(self.drift.value)
            changed = True
        for fname, to in self.retypes.get(obj, {}).items():
            if fname in record and record[fname] is not None:
                record[fname] = convert(record[fname], to)
                changed = True
        return changed

    def transform(self, req: Request, payload: Any) -> int:  # pragma: no cover - per vendor
        raise NotImplementedError


class _SalesforceDrift(_Drift):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._added: list[tuple[str, str]] = []
        self._original: list[tuple[str, str, str]] = []

    def canonical(self, name: str) -> str:
        found = next((o for o in self.app.schemas if o.lower() == name.lower()), None)
        if found is None:
            raise ValueError(f"schema_drift: unknown Salesforce object {name!r}")
        return found

    def field_name(self, obj: str, name: str) -> str:
        found = next((f for f in self.app.schemas[obj].fields if f.lower() == name.lower()), None)
        if found is None:
            raise ValueError(f"schema_drift: {obj} has no field {name!r}")
        return found

    def register(self) -> None:
        assert self.drift is not None
        name = self.drift.new_field
        for obj, schema in self.app.schemas.items():
            if name is not None and self.has_new_field(obj) and name not in schema.fields:
                schema.fields[name] = "string"  # the same dict SOQL binds against: describe and queries see it
                self._added.append((obj, name))
            for fname, to in self.retypes.get(obj, {}).items():
                self._original.append((obj, fname, schema.fields[fname]))
                schema.fields[fname] = _SF_TYPES[to]

    def unregister(self) -> None:
        for obj, fname, ftype in reversed(self._original):
            self.app.schemas[obj].fields[fname] = ftype
        for obj, name in self._added:
            self.app.schemas[obj].fields.pop(name, None)
        self._added, self._original = [], []

    def transform(self, req: Request, payload: Any) -> int:
        if isinstance(payload, dict) and isinstance(payload.get("records"), list):
            records = payload["records"]
        elif isinstance(payload, dict) and isinstance(payload.get("attributes"), dict):
            records = [payload]
        else:
            return 0
        n = 0
        for rec in records:
            if isinstance(rec, dict) and isinstance(rec.get("attributes"), dict):
                obj = rec["attributes"].get("type")
                if isinstance(obj, str) and obj in self.app.schemas:
                    n += self.apply(obj, rec, selected=lambda f, rec=rec: f in rec)
        return n


class _StripeDrift(_Drift):
    def canonical(self, name: str) -> str:
        obj = _STRIPE_OBJECTS.get(name, name)
        if obj not in _STRIPE_OBJECTS.values():
            raise ValueError(f"schema_drift: unknown Stripe object {name!r}; known: {sorted(_STRIPE_OBJECTS)}")
        return obj

    def transform(self, req: Request, payload: Any) -> int:
        if not isinstance(payload, dict):
            return 0
        items = payload.get("data") if payload.get("object") == "list" else [payload]
        n = 0
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            n += self._one(item)
            if item.get("object") == "event" and isinstance(item.get("data"), dict) \
                    and isinstance(item["data"].get("object"), dict):
                n += self._one(item["data"]["object"])
        return n

    def _one(self, obj: dict[str, Any]) -> bool:
        kind = obj.get("object")
        return isinstance(kind, str) and kind in _STRIPE_OBJECTS.values() and self.apply(kind, obj)


class _NetSuiteDrift(_Drift):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._added: list[tuple[str, str]] = []

    def canonical(self, name: str) -> str:
        found = next((t for t in self.app.schemas if t.lower() == name.lower()), None)
        if found is None:
            raise ValueError(f"schema_drift: unknown NetSuite table {name!r}")
        return found

    def field_name(self, obj: str, name: str) -> str:
        if name.lower() not in self.app.schemas[obj]:
            raise ValueError(f"schema_drift: {obj} has no column {name!r}")
        return name.lower()

    def normalize(self, drift: SchemaDrift) -> SchemaDrift:
        # SuiteQL columns are lower-case.
        return replace(drift, new_field=drift.new_field.lower()) if drift.new_field else drift

    def register(self) -> None:
        assert self.drift is not None
        name = (self.drift.new_field or "").lower()
        for table, columns in self.app.schemas.items():
            if name and self.has_new_field(table) and name not in columns:
                columns[name] = "string"  # SELECT * now includes it
                self._added.append((table, name))

    def unregister(self) -> None:
        for table, name in self._added:
            self.app.schemas[table].pop(name, None)
        self._added = []

    def transform(self, req: Request, payload: Any) -> int:
        if req.path.rstrip("/") != SUITEQL_PATH or not isinstance(payload, dict) \
                or not isinstance(payload.get("items"), list):
            return 0
        try:
            query = compile_suiteql(req.json()["q"], self.app.schemas)
        except (QueryError, ValueError, KeyError, TypeError):
            return 0
        columns = set(query.columns)
        n = 0
        for item in payload["items"]:
            if isinstance(item, dict):
                n += self.apply(query.table, item, selected=lambda c: c in columns, render=ns_string)
        return n


_DRIFTS: dict[str, type[_Drift]] = {"salesforce": _SalesforceDrift, "stripe": _StripeDrift,
                                    "netsuite": _NetSuiteDrift}


# ---------------------------------------------------------------------------------------------- responses
def rate_limited(system: str, retry_after: int) -> Response:
    headers = {"Retry-After": str(retry_after)}
    if system == "salesforce":
        return json_response(429, [{"message": f"Too many requests. Retry after {retry_after} seconds.",
                                    "errorCode": "REQUEST_LIMIT_EXCEEDED"}], headers)
    if system == "stripe":
        return json_response(429, {"error": {
            "code": "rate_limit", "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
            "message": "Request rate limit exceeded. Learn more about rate limits here "
                       "https://stripe.com/docs/rate-limits.", "type": "invalid_request_error"}}, headers)
    return _ns_error(429, "Too Many Requests", "Concurrent request limit exceeded. Request blocked.",
                     "CONCURRENCY_LIMIT_EXCEEDED", headers)


def request_limit_exceeded() -> Response:
    """Salesforce's answer once the org's 24-hour API request allocation is spent."""
    return json_response(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])


def server_error(system: str, status: int) -> Response:
    if system == "salesforce":
        if status == 503:
            return json_response(503, [{"message": "Server is temporarily unavailable. Please try again later.",
                                        "errorCode": "SERVER_UNAVAILABLE"}])
        return json_response(status, [{"message": "An unexpected error occurred. Please include this ErrorId if "
                                       "you contact support: sandbox-fault", "errorCode": "UNKNOWN_EXCEPTION"}])
    if system == "stripe":
        return json_response(status, {"error": {"type": "api_error", "message": "An unknown error occurred"}})
    title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
             504: "Gateway Timeout"}.get(status, "Server Error")
    return _ns_error(status, title, "An unexpected error occurred.", "UNEXPECTED_ERROR")


def _ns_error(status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"type": "about:blank", "title": title, "status": status,
                                  "o:errorDetails": [{"detail": detail, "o:errorCode": code}]}, headers)


# ---------------------------------------------------------------------------------------------- injector
@dataclass
class _State:
    config: FaultConfig
    rng: random.Random
    dup_phase: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)


class FaultInjector:
    """Serves ``app`` (one system) with that system's faults; an ``App`` itself."""

    def __init__(self, system: str, app: App, *, seed: int, sleep: Callable[[float], None] = time.sleep) -> None:
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")
        self.system = system
        self.app = app
        self._default_seed = seed
        self._sleep = sleep
        self._lock = threading.Lock()
        self._drift = _DRIFTS[system](app)
        self._state = _State(FaultConfig(), self._rng(FaultConfig()))
        self._counts: Counter[str] = Counter()

    # The App protocol, delegated.
    @property
    def base_url(self) -> str:
        return self.app.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self.app.base_url = value

    def internal_error(self) -> Response:
        return self.app.internal_error()

    # ------------------------------------------------------------------ knobs
    def configure(self, knobs: Mapping[str, Any], *, replace_all: bool = False) -> dict[str, Any]:
        """Apply ``knobs`` (on top of the current ones, or of the defaults with ``replace_all``)."""
        with self._lock:
            config = FaultConfig.parse(self.system, knobs, None if replace_all else self._state.config)
            if config.schema_drift != self._state.config.schema_drift:
                self._drift.install(config.schema_drift)  # validates names; raises before anything changes
            rng = self._rng(config)
            self._state = _State(config, rng, dup_phase=rng.random())
            return config.knobs(self.system)

    def knobs(self) -> dict[str, Any]:
        with self._lock:
            return self._state.config.knobs(self.system)

    def counts(self) -> dict[str, int]:
        """Requests subject to faults and, per knob, how many times it struck."""
        with self._lock:
            return dict(self._counts)

    def _rng(self, config: FaultConfig) -> random.Random:
        seed = self._default_seed if config.seed is None else config.seed
        return random.Random(f"q2c-sandbox-faults:{seed}:{self.system}")

    # ------------------------------------------------------------------ serving
    def handle(self, req: Request) -> Response:
        state = self._state
        config = state.config
        if not config.active or (not config.include_auth and req.path.rstrip("/") in AUTH_PATHS[self.system]):
            return self.app.handle(req)
        fault, delay_ms, status = self._draw(state)
        if delay_ms:
            self._sleep(delay_ms / 1000)
        if fault == "drop_rate":
            return Response(0, drop=True)
        if fault == "rate_limit":
            return self._stamp(rate_limited(self.system, config.retry_after))
        if fault == "request_limit_exceeded":
            return request_limit_exceeded()
        if fault == "error_rate":
            return self._stamp(server_error(self.system, status))
        response = self.app.handle(req)
        if fault == "drop_after_rate":
            return Response(0, drop=True)
        if fault == "malformed_rate" and response.body:
            cut = response.body[: max(1, len(response.body) // 2)]
            return Response(200, cut, dict(response.headers), response.content_type)
        if (config.schema_drift is not None or config.duplicate_events > 0) and response.status == 200 \
                and response.body and "json" in response.content_type:
            response = self._rewrite(req, response, state)
        return response

    def _draw(self, state: _State) -> tuple[str | None, int, int]:
        config = state.config
        with self._lock:
            self._counts["requests"] += 1
            u = state.rng.random()
            lo, hi = config.latency_ms
            delay = state.rng.randint(lo, hi) if hi > lo else lo
            fault, edge = None, 0.0
            for name in FRACTIONS:
                edge += getattr(config, name)
                if u < edge:
                    fault = name
                    break
            status = state.rng.choice(config.error_statuses) if fault == "error_rate" else 0
            if delay:
                self._counts["latency_ms"] += 1
            if fault is not None:
                self._counts[fault] += 1
                if fault == "error_rate":
                    self._counts[f"error_{status}"] += 1
            return fault, delay, status

    def _stamp(self, response: Response) -> Response:
        if self.system == "stripe":  # every Stripe response carries a request id
            response.headers.setdefault("Request-Id", "req_fault" + f"{self._counts['requests']:011d}")
        return response

    def _rewrite(self, req: Request, response: Response, state: _State) -> Response:
        try:
            payload = json.loads(response.body)
        except ValueError:
            return response
        drifted = duplicated = 0
        if state.config.schema_drift is not None:
            drifted = self._drift.transform(req, payload)
        if (state.config.duplicate_events > 0 and req.method == "GET" and req.path.rstrip("/") == "/v1/events"
                and isinstance(payload, dict) and isinstance(payload.get("data"), list)):
            payload["data"], duplicated = self._duplicate(payload["data"], state)
        if not (drifted or duplicated):
            return response
        with self._lock:
            if drifted:
                self._counts["schema_drift"] += drifted
            if duplicated:
                self._counts["duplicate_events"] += duplicated
        return Response(response.status, json.dumps(payload, separators=(",", ":")).encode("utf-8"),
                        dict(response.headers), response.content_type)

    def _duplicate(self, events: list[Any], state: _State) -> tuple[list[Any], int]:
        out, n = [], 0
        with self._lock:
            for event in events:
                out.append(event)
                state.dup_phase += state.config.duplicate_events
                if state.dup_phase >= 1:
                    state.dup_phase -= 1
                    out.append(copy.deepcopy(event))
                    n += 1
        return out, n


def parse_faults(faults: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{system: knobs}`` checked for system names (the knobs are checked when applied)."""
    if faults is None:
        return {}
    if not isinstance(faults, Mapping):
        raise ValueError(f"faults must map systems to knobs, got {type(faults).__name__}")
    unknown = set(faults) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown system(s) in faults: {sorted(unknown)}; expected {SYSTEMS}")
    for system, knobs in faults.items():
        FaultConfig.parse(system, knobs or {})
    return {system: dict(knobs or {}) for system, knobs in faults.items()}
