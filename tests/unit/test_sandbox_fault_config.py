"""Fault knobs and the injector as pure logic: validation, determinism, rates, exemptions, rewriting."""

from __future__ import annotations

import json
from email.message import Message

import pytest

from sandbox.faults import FaultConfig, FaultInjector, convert, parse_faults
from sandbox.web import Request, Response, json_response


class FakeApp:
    """Answers every request 200 with ``payload`` and counts what reached it."""

    def __init__(self, system: str, payload: object = None) -> None:
        self.system = system
        self.base_url = ""
        self.payload = payload if payload is not None else {"ok": True}
        self.calls = 0

    def handle(self, req: Request) -> Response:
        self.calls += 1
        return json_response(200, self.payload)

    def internal_error(self) -> Response:
        return json_response(500, {})


def request(path: str = "/v1/customers", method: str = "GET", body: bytes = b"") -> Request:
    return Request(method, path, Message(), body, "127.0.0.1")


def statuses(injector: FaultInjector, n: int, path: str = "/v1/customers") -> list[int]:
    return [injector.handle(request(path)).status for _ in range(n)]


# ----------------------------------------------------------------------------- knobs

def test_defaults_are_off_and_knobs_round_trip():
    config = FaultConfig.parse("stripe", {})
    assert not config.active
    knobs = {"rate_limit": 0.2, "retry_after": 3, "error_rate": 0.1, "error_statuses": [503],
             "latency_ms": [5, 20], "drop_rate": 0.05, "duplicate_events": 0.5, "include_auth": True, "seed": 9,
             "schema_drift": {"new_field": True, "objects": ["invoices"],
                              "changed_type": {"object": "invoice", "field": "total"}}}
    config = FaultConfig.parse("stripe", knobs)
    shown = config.knobs("stripe")
    assert shown["schema_drift"] == {"new_field": {"name": "q2c_drift", "value": "drift"}, "objects": ["invoices"],
                                     "changed_type": [{"object": "invoice", "field": "total", "to": "string"}]}
    assert FaultConfig.parse("stripe", shown) == config  # what GET shows can be POSTed back
    assert "request_limit_exceeded" not in shown and "duplicate_events" not in config.knobs("netsuite")
    # None resets one knob, the others stay.
    assert FaultConfig.parse("stripe", {"rate_limit": None}, config).rate_limit == 0.0
    assert FaultConfig.parse("stripe", {"rate_limit": None}, config).error_rate == 0.1


@pytest.mark.parametrize(("system", "knobs", "message"), [
    ("stripe", {"rate_limit": 1.5}, "fraction between 0 and 1"),
    ("stripe", {"rate_limit": True}, "fraction between 0 and 1"),
    ("stripe", {"request_limit_exceeded": 0.1}, "only for salesforce"),
    ("netsuite", {"duplicate_events": 0.1}, "only for stripe"),
    ("salesforce", {"bogus": 1}, "unknown fault knob 'bogus'"),
    ("salesforce", {"rate_limit": 0.6, "error_rate": 0.5}, "must be at most 1"),
    ("stripe", {"error_statuses": [404]}, "between 500 and 599"),
    ("stripe", {"latency_ms": [50, 10]}, "below min"),
    ("stripe", {"schema_drift": {"changed_type": {"object": "invoice", "field": "total", "to": "date"}}}, "one of"),
    ("stripe", {"schema_drift": {"new_fields": True}}, "unknown schema_drift key"),
    ("stripe", {"include_auth": "yes"}, "true or false"),
])
def test_bad_knobs_are_refused_with_a_reason(system: str, knobs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        FaultConfig.parse(system, knobs)


def test_parse_faults_checks_system_names():
    assert parse_faults(None) == {}
    assert parse_faults({"stripe": {"rate_limit": 0.1}}) == {"stripe": {"rate_limit": 0.1}}
    with pytest.raises(ValueError, match="unknown system"):
        parse_faults({"hubspot": {}})


def test_convert():
    assert convert(1250.5, "string") == "1250.5" and convert(True, "string") == "true"
    assert convert("15000", "number") == 15000.0 and convert("15000.7", "integer") == 15000
    assert convert("T", "boolean") is True and convert("n/a", "number") == "n/a" and convert(None, "string") is None


# ----------------------------------------------------------------------------- injector

def test_off_by_default_and_every_request_passes():
    app = FakeApp("stripe")
    injector = FaultInjector("stripe", app, seed=42)
    assert statuses(injector, 50) == [200] * 50 and app.calls == 50 and injector.counts() == {}


def test_the_sequence_is_a_function_of_seed_and_knobs():
    injector = FaultInjector("stripe", FakeApp("stripe"), seed=42)
    injector.configure({"rate_limit": 0.3, "error_rate": 0.1})
    first = statuses(injector, 200)
    injector.configure({})  # re-setting the knobs restarts the sequence
    assert statuses(injector, 200) == first
    other_seed = FaultInjector("stripe", FakeApp("stripe"), seed=7)
    other_seed.configure({"rate_limit": 0.3, "error_rate": 0.1})
    assert statuses(other_seed, 200) != first
    injector.configure({"seed": 7})  # the seed knob wins over the sandbox's
    assert statuses(injector, 200) == statuses(_configured(7), 200)
    counts = FaultInjector("stripe", FakeApp("stripe"), seed=42)
    counts.configure({"rate_limit": 0.3, "error_rate": 0.1})
    seen = statuses(counts, 2000)
    c = counts.counts()
    assert c["requests"] == 2000 and c["rate_limit"] == seen.count(429)
    assert c["error_rate"] == sum(1 for s in seen if s >= 500)
    assert abs(c["rate_limit"] / 2000 - 0.3) < 0.04 and abs(c["error_rate"] / 2000 - 0.1) < 0.03
    assert {s for s in seen if s >= 500} == {500, 502, 503}


def _configured(seed: int) -> FaultInjector:
    other = FaultInjector("stripe", FakeApp("stripe"), seed=seed)
    other.configure({"rate_limit": 0.3, "error_rate": 0.1})
    return other


def test_token_endpoints_are_exempt_unless_asked():
    injector = FaultInjector("salesforce", FakeApp("salesforce"), seed=1)
    injector.configure({"rate_limit": 1.0})
    assert statuses(injector, 3, "/services/oauth2/token") == [200] * 3
    assert statuses(injector, 3, "/services/data/v59.0/query") == [429] * 3
    injector.configure({"include_auth": True})
    assert statuses(injector, 3, "/services/oauth2/token") == [429] * 3


def test_vendor_shapes_of_injected_errors():
    sf = FaultInjector("salesforce", FakeApp("salesforce"), seed=1)
    sf.configure({"request_limit_exceeded": 1.0})
    r = sf.handle(request("/services/data/v59.0/query"))
    assert r.status == 403 and json.loads(r.body) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    ns = FaultInjector("netsuite", FakeApp("netsuite"), seed=1)
    ns.configure({"rate_limit": 1.0, "retry_after": 7})
    r = ns.handle(request("/services/rest/query/v1/suiteql", "POST"))
    assert r.status == 429 and r.headers["Retry-After"] == "7"
    assert json.loads(r.body)["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    st = FaultInjector("stripe", FakeApp("stripe"), seed=1)
    st.configure({"error_rate": 1.0, "error_statuses": [502]})
    r = st.handle(request())
    assert r.status == 502 and json.loads(r.body)["error"]["type"] == "api_error" and r.headers["Request-Id"]
    st.configure({"error_rate": 0, "drop_rate": 1.0})
    assert st.handle(request()).drop is True
    assert st.counts() == {"requests": 2, "error_rate": 1, "error_502": 1, "drop_rate": 1}


def test_latency_is_added_and_counted():
    slept: list[float] = []
    injector = FaultInjector("netsuite", FakeApp("netsuite"), seed=3, sleep=slept.append)
    injector.configure({"latency_ms": [10, 30]})
    statuses(injector, 20, "/services/rest/query/v1/suiteql")
    assert len(slept) == 20 and all(0.010 <= s <= 0.030 for s in slept) and len(set(slept)) > 1
    assert injector.counts()["latency_ms"] == 20


def test_duplicate_events_come_at_the_configured_rate():
    events = [{"id": f"evt_{i}", "object": "event", "type": "invoice.paid"} for i in range(10)]
    app = FakeApp("stripe", {"object": "list", "url": "/v1/events", "has_more": False, "data": events})
    injector = FaultInjector("stripe", app, seed=5)
    injector.configure({"duplicate_events": 0.3})
    listed = []
    for _ in range(10):  # 100 events listed
        listed += json.loads(injector.handle(request("/v1/events")).body)["data"]
    duplicates = len(listed) - 100
    assert abs(duplicates - 30) <= 1 and injector.counts()["duplicate_events"] == duplicates
    # Each duplicate follows its original, identical.
    i = 0
    while i < len(listed):
        if i + 1 < len(listed) and listed[i + 1]["id"] == listed[i]["id"]:
            assert listed[i + 1] == listed[i]
            i += 2
        else:
            i += 1
    # Lists other than /v1/events are left alone.
    assert json.loads(injector.handle(request("/v1/invoices")).body)["data"] == events


def test_stripe_drift_rewrites_listed_objects_only():
    invoices = [{"id": "in_1", "object": "invoice", "total": 1200}, {"id": "in_2", "object": "invoice", "total": None}]
    app = FakeApp("stripe", {"object": "list", "url": "/v1/invoices", "has_more": False, "data": invoices})
    injector = FaultInjector("stripe", app, seed=5)
    injector.configure({"schema_drift": {"new_field": "tier", "value": 3, "objects": ["invoices"],
                                         "changed_type": {"object": "invoices", "field": "total"}}})
    data = json.loads(injector.handle(request("/v1/invoices")).body)["data"]
    assert data == [{"id": "in_1", "object": "invoice", "total": "1200", "tier": 3},
                    {"id": "in_2", "object": "invoice", "total": None, "tier": 3}]
    app.payload = {"id": "cus_1", "object": "customer"}
    assert json.loads(injector.handle(request("/v1/customers/cus_1")).body) == {"id": "cus_1", "object": "customer"}
    with pytest.raises(ValueError, match="unknown Stripe object"):
        injector.configure({"schema_drift": {"new_field": True, "objects": ["charges"]}})
    assert injector.knobs()["schema_drift"]["new_field"]["name"] == "tier"  # a refused change changes nothing
