"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, started on loopback, removed after.

``running_postgres()`` is a context manager yielding a :class:`PostgresServer` (its ``dsn`` holds the
password of a non-superuser login role, checked with scram-sha-256 over TCP on 127.0.0.1); the
``postgres_server`` fixture gives one per test session. The server's unix socket lives inside the
temp dir, so nothing collides with a system cluster.

PostgreSQL refuses to run as root: when the tests run as root (CI does), initdb and pg_ctl run as
the ``postgres`` OS user through ``runuser``, with the temp dir owned by that user. Missing
binaries FAIL the tests with how to install them: CI must never skip the Postgres tests silently.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
OS_USER = "postgres"  # who runs the server when the tests run as root
SUPERUSER = "postgres"
DATABASE = "q2c"
LOGIN_ROLE = "q2c_loader"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under "
    f"{PG_BIN_GLOB}. Install them: `apt-get update && apt-get install -y postgresql` "
    "(Debian/Ubuntu; `.ci/run` does this), `brew install postgresql` (macOS), "
    "or put a PostgreSQL bin directory on PATH."
)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (binaries or the ``postgres`` OS user missing)."""


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit()) or (0,)


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: PATH first, then the newest Debian install."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    for candidate in sorted(glob.glob(PG_BIN_GLOB), key=_version_key, reverse=True):
        if all(os.access(Path(candidate) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    raise PostgresUnavailable(INSTALL_HINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """One cluster under ``base``. ``dsn`` is a libpq URI for the login role; never print it."""

    base: Path
    bin_dir: Path
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    run_as: str | None = None  # OS user for initdb/pg_ctl (None: the current user)
    host: str = "127.0.0.1"
    database: str = DATABASE
    user: str = LOGIN_ROLE

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    @property
    def log_file(self) -> Path:
        return self.base / "postgres.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def dsn_with_password(self, password: str) -> str:
        """The same DSN with another password (to test a failing login)."""
        return f"postgresql://{self.user}:{password}@{self.host}:{self.port}/{self.database}"

    def __repr__(self) -> str:  # no password, no DSN
        return f"PostgresServer(host={self.host!r}, port={self.port}, database={self.database!r}, user={self.user!r})"

    # ------------------------------------------------------------------ lifecycle
    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        proc = subprocess.run(cmd, cwd=self.base, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"})
        if check and proc.returncode != 0:
            raise RuntimeError(f"{Path(cmd[cmd.index('--') + 1] if self.run_as else cmd[0]).name} failed "
                               f"(exit {proc.returncode}):\n{self._mask(proc.stdout + proc.stderr)}"
                               f"{self._log_tail()}")
        return proc

    def _mask(self, text: str) -> str:
        return text.replace(self.password, "***")

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            return ""
        return "\nserver log (tail):\n" + self._mask("\n".join(lines))

    def start(self) -> PostgresServer:
        self.socket_dir.mkdir()
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.base, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(self.bin_dir / "initdb", "-D", self.data_dir, "-U", SUPERUSER, "-E", "UTF8",
                  "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        for attempt in range(3):  # the port is free when picked; another process may take it first
            self.port = self.port if attempt == 0 and self.port else free_port()
            options = (f"-c listen_addresses={self.host} -p {self.port} -k {self.socket_dir} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                       "-c max_connections=50 -c shared_buffers=64MB")
            proc = self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-l", self.log_file,
                             "-w", "-t", "60", "-o", options, "start", check=False)
            if proc.returncode == 0:
                break
            if attempt == 2 or "already in use" not in self._log_tail():
                raise RuntimeError(f"pg_ctl start failed (exit {proc.returncode}):\n"
                                   f"{self._mask(proc.stdout + proc.stderr)}{self._log_tail()}")
        self._create_login()
        return self

    def _create_login(self) -> None:
        import psycopg2
        from psycopg2 import sql

        # The superuser connects over the unix socket (trust); the login role only over TCP with its password.
        admin = psycopg2.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname="postgres")
        try:
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(self.user)),
                            (self.password,))
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(self.database), sql.Identifier(self.user)))
        finally:
            admin.close()

    def stop(self) -> None:
        if self.data_dir.joinpath("postmaster.pid").exists():
            self._run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop", check=False)


def _server_user() -> str | None:
    """``postgres`` when running as root (initdb refuses root), else None (the current user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and there is no {OS_USER!r} OS user to run PostgreSQL as "
            "(PostgreSQL refuses to run as root). Installing the `postgresql` package creates it: "
            "`apt-get install -y postgresql`.") from None
    if not shutil.which("runuser"):
        raise PostgresUnavailable("running as root, and `runuser` (util-linux) is missing to run PostgreSQL "
                                  f"as {OS_USER!r}")
    return OS_USER


@contextlib.contextmanager
def running_postgres(parent: str | Path | None = None) -> Iterator[PostgresServer]:
    """Start a throwaway cluster; stop it and remove its directory on exit."""
    bin_dir = find_bin_dir()
    run_as = _server_user()
    if parent is None and run_as:  # the server's OS user must reach its dir: not a root-only TMPDIR
        parent = "/tmp"
    base = Path(tempfile.mkdtemp(prefix="q2c-pg-", dir=parent))
    server = PostgresServer(base=base, bin_dir=bin_dir, run_as=run_as)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole test session. Fails (never skips) when PostgreSQL is missing."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_postgres())
        except PostgresUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server
