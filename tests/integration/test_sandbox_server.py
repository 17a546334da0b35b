"""Sandbox lifecycle: TLS material, state files, admin routes, persistence, determinism."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import certifi
import pytest
import requests

from sandbox.server import SYSTEMS, Sandbox
from sandbox.testing import SandboxClient

STATUS = "Q2C_Invoice_Status__c"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tls_bundle_state_file_and_admin_routes(tmp_path: Path):
    ports = {"salesforce": _free_port(), "stripe": 0}
    with Sandbox(tmp_path, ports=ports) as sb:
        assert sb.urls["salesforce"] == f"https://127.0.0.1:{ports['salesforce']}"
        assert set(sb.urls) == set(SYSTEMS) and all(u.startswith("https://127.0.0.1:") for u in sb.urls.values())

        bundle = sb.ca_bundle.read_text()
        assert (tmp_path / "ca.pem").read_text().strip() in bundle
        assert bundle.count("BEGIN CERTIFICATE") > 10  # the system roots are in there too

        for system in SYSTEMS:
            r = requests.get(sb.urls[system] + "/_sandbox/health", verify=str(sb.ca_bundle), timeout=5)
            assert r.json() == {"ok": True, "system": system}
            # The name the certificate carries for loopback works too.
            host_url = sb.urls[system].replace("127.0.0.1", "localhost")
            assert requests.get(host_url + "/_sandbox/health", verify=str(sb.ca_bundle), timeout=5).ok
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sb.urls["stripe"] + "/_sandbox/health", verify=certifi.where(), timeout=5)

        state = json.loads((tmp_path / "sandbox.json").read_text())
        assert state["urls"] == sb.urls and state["seed"] == 42 and state["ca_bundle"] == str(sb.ca_bundle)
        assert state["clock"] == sb.clock.isoformat() and isinstance(state["pid"], int)
        text = (tmp_path / "sandbox.json").read_text()
        assert "secret" not in text and "sk_test" not in text

        status = requests.get(sb.urls["netsuite"] + "/_sandbox/status", verify=str(sb.ca_bundle), timeout=5).json()
        assert status["counts"]["netsuite"]["transaction"] == len(sb.world.netsuite["transaction"])
        ledger = requests.get(sb.urls["salesforce"] + "/_sandbox/ledger", verify=str(sb.ca_bundle), timeout=5)
        assert ledger.json() == sb.ledger() and ledger.json()
        writes = requests.get(sb.urls["stripe"] + "/_sandbox/writes", verify=str(sb.ca_bundle), timeout=5)
        assert writes.json() == []
        assert state["running"] is True
    stopped = json.loads((tmp_path / "sandbox.json").read_text())
    assert stopped["running"] is False and stopped["stopped_at"] and stopped["urls"] == state["urls"]


def test_certificates_are_reused_across_restarts(tmp_path: Path):
    with Sandbox(tmp_path):
        ca = (tmp_path / "ca.pem").read_bytes()
        cert = (tmp_path / "server.pem").read_bytes()
    with Sandbox(tmp_path) as sb:
        assert (tmp_path / "ca.pem").read_bytes() == ca and (tmp_path / "server.pem").read_bytes() == cert
        assert sb.ca_bundle.read_text().count((tmp_path / "ca.pem").read_text().strip()) == 1


def test_writes_persist_across_restart(tmp_path: Path):
    key = str(uuid.uuid4())
    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        account = sb.world.salesforce["Account"][1]["Id"]
        sf = c.salesforce("PATCH", f"/services/data/v59.0/sobjects/{STATUS}/Q2C_Invoice_Id__c/stripe:in_1",
                          json={"Account__c": account, "Total_Amount__c": 10})
        customer = sb.world.stripe["customers"][0]["id"]
        item = c.stripe("POST", "/v1/invoiceitems", data={"customer": customer, "amount": 700},
                        headers={"Idempotency-Key": key}).json()
        before_writes = sb.writes()
        c.close()
    assert sf.status_code == 201 and len(before_writes) == 2
    assert (tmp_path / "writes.jsonl").read_text().count("\n") == 2

    with Sandbox(tmp_path) as sb:
        c = SandboxClient(sb)
        rows = c.soql(f"SELECT Id, Account__c, Total_Amount__c FROM {STATUS}")
        assert [(r["Id"], r["Account__c"], r["Total_Amount__c"]) for r in rows] == [(sf.json()["id"], account, 10.0)]
        assert c.stripe("GET", f"/v1/invoiceitems/{item['id']}").json() == item
        assert sb.writes() == before_writes
        # The idempotency key survived the restart too.
        replay = c.stripe("POST", "/v1/invoiceitems", data={"customer": customer, "amount": 700},
                          headers={"Idempotency-Key": key})
        assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == item["id"]
        assert len(sb.records("stripe", "invoiceitems")) == 1
        # Ids keep counting from the replayed records.
        nxt = c.salesforce("PATCH", f"/services/data/v59.0/sobjects/{STATUS}/Q2C_Invoice_Id__c/stripe:in_2",
                           json={}).json()
        assert nxt["created"] is True and nxt["id"] != sf.json()["id"]
        c.close()

    # A different world does not inherit these writes.
    with Sandbox(tmp_path, seed=7) as sb:
        assert sb.records("salesforce", STATUS) == [] and sb.writes() == []


def test_same_seed_serves_the_same_data(tmp_path: Path):
    def snapshot(seed: int, state_dir: Path) -> dict[str, object]:
        with Sandbox(state_dir, seed=seed) as sb:
            c = SandboxClient(sb)
            out = {
                "accounts": c.soql("SELECT Id, Name, CreatedDate, SystemModstamp FROM Account ORDER BY Id"),
                "invoices": c.stripe_list("invoices"),
                "transactions": c.suiteql("SELECT * FROM transaction ORDER BY id"),
            }
            c.close()
            return out

    first = snapshot(42, tmp_path / "a")
    assert first == snapshot(42, tmp_path / "b")
    assert first != snapshot(43, tmp_path / "c")


def test_one_running_sandbox_per_state_dir(tmp_path: Path):
    with Sandbox(tmp_path), pytest.raises(RuntimeError, match="in use"):
        Sandbox(tmp_path).start()
    Sandbox(tmp_path).start().stop()  # free again once stopped


def test_plain_http_and_custom_credentials(tmp_path: Path):
    creds = {"stripe": {"api_key": "sk_test_custom"}, "salesforce": {"client_secret": "s3"}}
    with Sandbox(tmp_path, tls=False, credentials=creds, scale=0.5) as sb:
        assert sb.urls["stripe"].startswith("http://") and sb.ca_bundle is None
        assert sb.credentials["salesforce"] == {"client_id": "q2c-sandbox", "client_secret": "s3"}
        c = SandboxClient(sb)
        assert c.stripe("GET", "/v1/customers").status_code == 200
        assert c.request("stripe", "GET", "/v1/customers",
                         headers={"Authorization": "Bearer sk_test_q2c_sandbox"}).status_code == 401
        assert len(c.soql("SELECT Id FROM Account")) == len(sb.world.salesforce["Account"])
        c.close()
    with pytest.raises(ValueError):
        Sandbox(tmp_path, credentials={"stripe": {"token": "x"}})
    with pytest.raises(ValueError):
        Sandbox(tmp_path, ports={"hubspot": 1})


def test_stop_closes_the_ports(tmp_path: Path):
    sb = Sandbox(tmp_path).start()
    c = SandboxClient(sb)
    assert c.stripe("GET", "/v1/customers").ok  # opens a keep-alive connection
    port = sb.ports["stripe"]
    sb.stop()
    sb.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        c.stripe("GET", "/v1/customers")
    c.close()
    with Sandbox(tmp_path, ports={"stripe": port}) as again:  # the same port can be served again at once
        c = SandboxClient(again)
        assert again.urls["stripe"].endswith(f":{port}") and c.stripe("GET", "/v1/customers").ok
        c.close()


def test_a_busy_port_fails_start_cleanly(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sb = Sandbox(tmp_path, ports={"netsuite": port})
        with pytest.raises(OSError):
            sb.start()
        assert not sb.running
    with Sandbox(tmp_path) as again:  # nothing leaked: the state dir is free
        assert again.running
