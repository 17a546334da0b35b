"""Great Expectations suites (committed JSON under ``suites/``) and the runner the asset checks call.

This module only reads the suite files (no pandas, no GX): the Dagster definitions use it at
load to declare one asset check per suite. :mod:`expectations.runner` validates (and imports
GX, lazily). See docs/data_quality.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUITES_DIR = Path(__file__).parent / "suites"


def suite_names() -> list[str]:
    """Every committed suite, by name (the file's stem)."""
    return sorted(path.stem for path in SUITES_DIR.glob("*.json"))


def load_suite(name: str) -> dict[str, Any]:
    """A suite's JSON: ``name``, ``meta`` (``relation``, ``description``, ``blocking``, ``guards``), ``expectations``."""
    path = SUITES_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no expectation suite {name!r} at {path}")
    return json.loads(path.read_text())
