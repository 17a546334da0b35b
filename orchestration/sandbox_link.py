"""Point the connectors at the running sandbox: base URLs, credentials and CA bundle as configuration.

The connectors know nothing of the sandbox; they read dlt configuration. On the sandbox target
this module fills that configuration (environment variables, the top of dlt's provider order)
from the sandbox's state file, so the same code runs against the real systems with
``Q2C_TARGET=live`` and real settings.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from orchestration import settings


class SandboxNotRunning(RuntimeError):
    pass


def read_state(state_dir: Path | None = None) -> dict[str, Any]:
    state_dir = state_dir or settings.sandbox_dir()
    path = state_dir / "sandbox.json"
    if not path.exists():
        raise SandboxNotRunning(
            f"no sandbox state at {path}: start it with `q2c sandbox serve` "
            "(or set Q2C_TARGET=live to use the real systems)")
    state = json.loads(path.read_text())
    if state.get("running") is False:
        raise SandboxNotRunning(
            f"the sandbox of {path} was stopped at {state.get('stopped_at')}: start it with `q2c sandbox serve`")
    return state


def source_environment(state: dict[str, Any], credentials: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """dlt configuration (as environment variables) for every source and sink, on the sandbox."""
    from sandbox.server import DEFAULT_CREDENTIALS  # only on the sandbox target

    creds = credentials or DEFAULT_CREDENTIALS
    urls = state["urls"]
    env = {"Q2C_CA_BUNDLE": str(state["ca_bundle"])}
    for section in ("salesforce", "certinia"):
        env[f"SOURCES__{section.upper()}__BASE_URL"] = urls["salesforce"]
        env[f"SOURCES__{section.upper()}__CLIENT_ID"] = creds["salesforce"]["client_id"]
        env[f"SOURCES__{section.upper()}__CLIENT_SECRET"] = creds["salesforce"]["client_secret"]
    env["SOURCES__STRIPE__BASE_URL"] = urls["stripe"]
    env["SOURCES__STRIPE__API_KEY"] = creds["stripe"]["api_key"]
    env["SOURCES__NETSUITE__BASE_URL"] = urls["netsuite"]
    env["SOURCES__NETSUITE__CLIENT_ID"] = creds["netsuite"]["client_id"]
    env["SOURCES__NETSUITE__CLIENT_SECRET"] = creds["netsuite"]["client_secret"]
    env["SOURCES__LEGACY_ERP__DATABASE_PATH"] = state.get("legacy_erp") or str(Path(state["state_dir"], "legacy_erp.sqlite"))
    return env


def configure() -> None:
    """On the sandbox target, set the connectors' configuration from the sandbox state file."""
    if settings.target() != "sandbox":
        return
    os.environ.update(source_environment(read_state()))


def as_of_date() -> date:
    """The reporting date: ``Q2C_AS_OF_DATE``, else the sandbox's clock on the sandbox, else today."""
    raw = os.environ.get("Q2C_AS_OF_DATE")
    if raw:
        return date.fromisoformat(raw)
    if settings.target() == "sandbox":
        try:
            return date.fromisoformat(read_state()["clock"])
        except SandboxNotRunning:
            pass
    return date.today()
