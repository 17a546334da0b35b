"""TLS material for the sandbox: a private CA and a loopback server certificate.

``ensure_tls(state_dir)`` creates (or reuses, when still valid) a self-signed CA and a server
certificate for ``IP:127.0.0.1`` and ``DNS:localhost`` signed by it, and writes a CA bundle that
trusts both the usual public roots and the sandbox CA. A client configured with
``verify=<ca-bundle.pem>`` therefore reaches the sandbox and the real vendors alike.

Files written to ``state_dir``:

- ``ca.pem`` / ``ca-key.pem``: the sandbox CA (key is 0600)
- ``server.pem`` / ``server-key.pem``: the server certificate and key (key is 0600)
- ``ca-bundle.pem``: system roots + sandbox CA, rebuilt on every call
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
BUNDLE_FILE = "ca-bundle.pem"

CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=397)
# Reissue anything that expires sooner than this.
RENEW_BEFORE = timedelta(days=30)
SERVER_SAN_IPS = ("127.0.0.1",)
SERVER_SAN_DNS = ("localhost",)


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the sandbox's TLS files."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    ca_bundle: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for a server presenting the sandbox certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.server_cert), str(self.server_key))
        return ctx


def ensure_tls(state_dir: Path) -> TlsMaterial:
    """Create or reuse the sandbox CA and server certificate in ``state_dir``; rebuild the bundle."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    paths = TlsMaterial(
        ca_cert=state_dir / CA_FILE, ca_key=state_dir / CA_KEY_FILE,
        server_cert=state_dir / SERVER_FILE, server_key=state_dir / SERVER_KEY_FILE,
        ca_bundle=state_dir / BUNDLE_FILE)
    now = datetime.now(UTC)

    loaded = _load_ca(paths, now)
    if loaded is None:
        log.info("sandbox TLS: creating CA in %s", state_dir)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _make_ca(ca_key, now)
        _write_key(paths.ca_key, ca_key)
        _atomic_write(paths.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
        server_ok = False
    else:
        ca_cert, ca_key = loaded
        server_ok = _server_cert_ok(paths, ca_cert, now)

    if not server_ok:
        log.info("sandbox TLS: issuing server certificate in %s", state_dir)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _make_server_cert(key, ca_cert, ca_key, now)
        _write_key(paths.server_key, key)
        _atomic_write(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM))

    _write_bundle(paths)
    return paths


def system_ca_file(exclude: Path | None = None) -> Path | None:
    """The CA bundle a client would use without the sandbox: REQUESTS_CA_BUNDLE, SSL_CERT_FILE, certifi.

    ``exclude`` (the sandbox's own bundle) is skipped, so exporting REQUESTS_CA_BUNDLE=<ca-bundle.pem>
    does not make the bundle include itself.
    """
    candidates: list[Path] = []
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value:
            candidates.append(Path(value))
    try:
        import certifi

        candidates.append(Path(certifi.where()))
    except ImportError:  # pragma: no cover - certifi ships with requests
        pass
    default = ssl.get_default_verify_paths().cafile
    if default:
        candidates.append(Path(default))
    for path in candidates:
        if not path.is_file():
            continue
        if exclude is not None and exclude.exists() and path.resolve() == exclude.resolve():
            continue
        return path
    return None


def _load_ca(paths: TlsMaterial, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not (paths.ca_cert.is_file() and paths.ca_key.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        log.warning("sandbox TLS: unreadable CA in %s (%s); recreating", paths.ca_cert.parent, exc)
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        return None
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return None
    return cert, key


def _server_cert_ok(paths: TlsMaterial, ca_cert: x509.Certificate, now: datetime) -> bool:
    if not (paths.server_cert.is_file() and paths.server_key.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        key = serialization.load_pem_private_key(paths.server_key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        return False
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    names = set(san.get_values_for_type(x509.DNSName))
    if not (set(SERVER_SAN_IPS) <= ips and set(SERVER_SAN_DNS) <= names):
        return False
    return cert.not_valid_after_utc - now >= RENEW_BEFORE


def _make_ca(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "q2c sandbox"),
        x509.NameAttribute(NameOID.COMMON_NAME, "q2c sandbox CA"),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_server_cert(key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
                      ca_key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_SAN_IPS]
        + [x509.DNSName(name) for name in SERVER_SAN_DNS])
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "q2c sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write_bundle(paths: TlsMaterial) -> None:
    ca_pem = paths.ca_cert.read_text(encoding="ascii").strip() + "\n"
    source = system_ca_file(exclude=paths.ca_bundle)
    if source is None:
        log.warning("sandbox TLS: no system CA bundle found; %s trusts the sandbox CA only",
                    paths.ca_bundle)
        system = ""
    else:
        system = source.read_text(encoding="utf-8", errors="replace")
        system = system.replace(ca_pem.strip(), "")  # never list the sandbox CA twice
        if system and not system.endswith("\n"):
            system += "\n"
    _atomic_write(paths.ca_bundle, (system + "# q2c sandbox CA\n" + ca_pem).encode("utf-8"))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _atomic_write(path, pem, mode=0o600)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
