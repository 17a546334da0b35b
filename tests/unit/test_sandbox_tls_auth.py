"""Sandbox TLS material and bearer tokens, without a server."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from sandbox import tls
from sandbox.auth import TokenIssuer, basic_credentials, bearer_token


def test_ensure_tls_creates_a_verifiable_chain(tmp_path: Path):
    material = tls.ensure_tls(tmp_path)
    cert = x509.load_pem_x509_certificate(material.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(material.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert oct(material.server_key.stat().st_mode & 0o777) == "0o600"
    assert oct(material.ca_key.stat().st_mode & 0o777) == "0o600"
    # A strict client context accepts the bundle and the server side loads the pair.
    ssl.create_default_context(cafile=str(material.ca_bundle))
    material.server_context()


def test_bundle_is_system_roots_plus_sandbox_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    roots = tmp_path / "roots.pem"
    other = tls.ensure_tls(tmp_path / "other")  # any valid PEM stands in for the system roots
    roots.write_text(other.ca_cert.read_text())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(roots))
    material = tls.ensure_tls(tmp_path / "state")
    bundle = material.ca_bundle.read_text()
    assert bundle.startswith(roots.read_text().strip())
    assert bundle.rstrip().endswith(material.ca_cert.read_text().strip())
    # Pointing REQUESTS_CA_BUNDLE at the sandbox bundle itself does not make it grow.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(material.ca_bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(roots))
    again = tls.ensure_tls(tmp_path / "state")
    assert again.ca_bundle.read_text() == bundle


def test_expiring_or_foreign_server_cert_is_reissued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    first = tls.ensure_tls(tmp_path)
    ca_before = first.ca_cert.read_bytes()
    cert_before = first.server_cert.read_bytes()
    assert tls.ensure_tls(tmp_path).server_cert.read_bytes() == cert_before  # reused while valid

    monkeypatch.setattr(tls, "SERVER_VALIDITY", timedelta(days=1))  # shorter than RENEW_BEFORE
    tls.ensure_tls(tmp_path / "short")
    monkeypatch.undo()
    short = x509.load_pem_x509_certificate((tmp_path / "short" / tls.SERVER_FILE).read_bytes())
    assert short.not_valid_after_utc - datetime.now(UTC) < tls.RENEW_BEFORE
    renewed = tls.ensure_tls(tmp_path / "short")
    assert x509.load_pem_x509_certificate(renewed.server_cert.read_bytes()).not_valid_after_utc > \
        short.not_valid_after_utc

    (tmp_path / tls.SERVER_FILE).write_bytes((tmp_path / "short" / tls.SERVER_FILE).read_bytes())
    fixed = tls.ensure_tls(tmp_path)  # a certificate from another CA is replaced, the CA kept
    assert fixed.ca_cert.read_bytes() == ca_before
    x509.load_pem_x509_certificate(fixed.server_cert.read_bytes()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca_before))


def test_tokens_verify_expire_and_are_bound_to_the_secret():
    clock = [1_000_000.0]
    issuer = TokenIssuer("netsuite", "cid", "secret", ttl_seconds=3600, now=lambda: clock[0])
    token, iat = issuer.issue()
    assert iat == 1_000_000 and issuer.verify(token)
    assert not issuer.verify(token[:-2] + "xx")
    assert not TokenIssuer("netsuite", "cid", "other", 3600, now=lambda: clock[0]).verify(token)
    assert not TokenIssuer("salesforce", "cid", "secret", 3600, now=lambda: clock[0]).verify(token)
    clock[0] += 3601
    assert not issuer.verify(token)
    assert not issuer.verify(None) and not issuer.verify("a.b")


def test_authorization_header_parsing():
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("OAuth abc") is None and bearer_token("OAuth abc", ("oauth",)) == "abc"
    assert bearer_token(None) is None and bearer_token("Bearer ") is None
    assert basic_credentials("Basic dXNlcjpwYXNz") == ("user", "pass")
    assert basic_credentials("Basic c2tfdGVzdA==") == ("sk_test", "")
    assert basic_credentials("Basic !!!") is None and basic_credentials("Bearer x") is None
