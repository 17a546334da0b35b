"""A small HTTP(S) layer over ``http.server``: request/response values and a threaded server.

Each simulated vendor is an ``App`` (``handle(Request) -> Response``); ``SandboxServer`` serves
one app on one port, HTTP/1.1 with keep-alive, optionally TLS. The TLS handshake runs in the
connection's own thread (never in the accept loop), and ``close()`` also drops idle keep-alive
connections so a stopped sandbox stops answering at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 20 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0


@dataclass
class Request:
    method: str
    target: str  # the raw request target (path + query)
    headers: Message
    body: bytes
    client_ip: str
    path: str = field(init=False)  # percent-encoded path, no query
    query: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path or "/"
        self.query = parse_qs(parts.query, keep_blank_values=True)

    @property
    def segments(self) -> list[str]:
        """Decoded path segments, without empty ones."""
        return [unquote(s) for s in self.path.split("/") if s]

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return default if value is None else value

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> list[tuple[str, str]]:
        """The body as ``application/x-www-form-urlencoded`` pairs, in order."""
        return parse_qsl(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` if it is not."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"
    drop: bool = False  # close the connection without answering (fault injection)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"), dict(headers or {}))


class App(Protocol):
    system: str
    base_url: str  # where the app is served; set once the port is bound

    def handle(self, request: Request) -> Response: ...

    def internal_error(self) -> Response: ...


AdminHandler = Callable[[Request], Response]


class SandboxServer(ThreadingHTTPServer):
    """Serves one ``App`` (and the ``/_sandbox/`` admin routes) on one address."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App, admin: AdminHandler,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.admin = admin
        self.ssl_context = ssl_context
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox-{self.app.system}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, drop open connections, release the port."""
        if self._thread is not None:  # shutdown() would wait forever for a loop that never ran
            self.shutdown()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn = request
        if self.ssl_context is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("sandbox %s: TLS handshake with %s failed: %s", self.app.system, client_address, exc)
                return
        with self._conns_lock:
            self._conns.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            if conn is not request:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("sandbox %s: connection error from %s", self.app.system, client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "q2c-sandbox/1.0"
    timeout = IDLE_TIMEOUT
    # One write per response (headers + body), no Nagle delay: keeps loopback round trips sub-ms.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: SandboxServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET  # noqa: N815

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        app = self.server.app
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(json_response(400, {"error": "malformed request body"}))
            return
        if body is None:
            self.close_connection = True
            self._send(json_response(413, {"error": "request body too large"}))
            return
        request = Request(self.command, self.path, self.headers, body, self.client_address[0])
        try:
            if request.path.startswith("/_sandbox/"):
                response = self.server.admin(request)
            else:
                response = app.handle(request)
        except Exception:
            log.exception("sandbox %s: error handling %s %s", app.system, self.command, request.path)
            response = app.internal_error()
        if response.drop:
            self.close_connection = True  # no response at all: the client sees the connection closed
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.status not in (204, 304):  # no content, so neither type nor length (RFC 9110)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.status not in (204, 304):
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server signature
        log.debug("sandbox %s: %s - %s", self.server.app.system, self.address_string(), format % args)
