"""A client for a sandbox running in another process: find it, check it, advance its clock, reset it.

Everything goes through the state directory (``sandbox.json``) and the loopback admin
endpoints (``/_sandbox/*``); nothing here starts servers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

STATE_FILE = "sandbox.json"
# What a sandbox persists beyond its seeded world: client writes, events, clock advances.
PERSISTED_LOGS = "*.jsonl"


class SandboxUnavailable(RuntimeError):
    pass


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def healthy(state: dict[str, Any]) -> bool:
    """Every server of the sandbox answers its health check."""
    try:
        return all(
            requests.get(f"{url}/_sandbox/health", verify=state["ca_bundle"], timeout=2).status_code == 200
            for url in state["urls"].values())
    except (requests.RequestException, KeyError, TypeError):
        return False


def running_state(state_dir: Path) -> dict[str, Any] | None:
    """The state of the sandbox serving from ``state_dir``, or None if none is up."""
    state = read_state(state_dir)
    return state if state is not None and healthy(state) else None


def _admin(state: dict[str, Any], method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    url = next(iter(state["urls"].values()))
    resp = requests.request(method, f"{url}/_sandbox/{path}", verify=state["ca_bundle"], timeout=600, **kwargs)
    if resp.status_code >= 400:
        raise SandboxUnavailable(f"sandbox {method} /_sandbox/{path} answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def live_status(state: dict[str, Any]) -> dict[str, Any]:
    return _admin(state, "GET", "status")


def advance(state: dict[str, Any], days: int) -> dict[str, Any]:
    """Move the running sandbox's clock forward ``days`` days; returns what the sandbox reports."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    return _admin(state, "POST", "advance", json={"days": days})


def reset(state_dir: Path) -> list[Path]:
    """Forget everything the sandbox accumulated (writes, events, advances): back to its seeded world.

    Refuses while a sandbox serves from ``state_dir``. Certificates are kept.
    """
    if running_state(state_dir) is not None:
        raise SandboxUnavailable(f"a sandbox is serving from {state_dir}: stop it before resetting")
    removed = sorted(state_dir.glob(PERSISTED_LOGS))
    for path in removed:
        path.unlink()
    return removed
