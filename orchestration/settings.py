"""Where things live, from the environment, with the sandbox as the default.

| variable | default | meaning |
| --- | --- | --- |
| ``Q2C_WAREHOUSE_PATH`` | ``warehouse/q2c.duckdb`` | the DuckDB warehouse file |
| ``Q2C_SERVING_PATH`` | ``serving.duckdb`` beside the warehouse | the read-only copy BI tools read (``docs/bi.md``) |
| ``Q2C_SERVING_STORAGE_VERSION`` | ``v1.0.0`` | DuckDB storage format of that copy (older readers can open it) |
| ``Q2C_DESTINATION`` | ``duckdb`` | where dlt loads the raw layer: ``duckdb`` (that file) or ``postgres`` |
| ``Q2C_POSTGRES_DSN`` | dlt's ``destination.postgres.credentials`` | the PostgreSQL connection (never logged) |
| ``Q2C_DBT_TARGET`` | ``Q2C_DESTINATION`` | the dbt target: ``duckdb`` or ``postgres`` (``orchestration.dbt_project``) |
| ``Q2C_SANDBOX_DIR`` | ``warehouse/sandbox`` | the sandbox's state (URLs, CA bundle, what was written to it) |
| ``Q2C_TARGET`` | ``sandbox`` | ``sandbox``: connect to the running sandbox; ``live``: use dlt config/secrets only |
| ``Q2C_AS_OF_DATE`` | the sandbox clock, else today | the reporting date of date-relative models |
| ``Q2C_CA_BUNDLE`` | the sandbox's bundle when on the sandbox | CA bundle for every HTTPS call |
| ``Q2C_ALERT_LOG`` | ``alerts.jsonl`` beside the warehouse | the alert log, one JSON line per alert (``docs/alerts.md``) |
| ``Q2C_ALERT_WEBHOOK_URL`` | unset: log only | Slack-compatible webhook the alerts are posted to (a secret: never logged) |

Relative paths are taken from the repository root, so every process agrees on them.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DUCKDB_POOL = "duckdb_writer"


def _path(var: str, default: str) -> Path:
    raw = Path(os.environ.get(var) or default)
    return raw if raw.is_absolute() else (REPO_ROOT / raw)


def warehouse_path() -> Path:
    return _path("Q2C_WAREHOUSE_PATH", "warehouse/q2c.duckdb")


def serving_path() -> Path:
    """The BI serving file (``orchestration.serving``): beside the warehouse unless ``Q2C_SERVING_PATH``."""
    if os.environ.get("Q2C_SERVING_PATH"):
        return _path("Q2C_SERVING_PATH", "")
    return warehouse_path().parent / "serving.duckdb"


def serving_storage_version() -> str:
    return os.environ.get("Q2C_SERVING_STORAGE_VERSION") or "v1.0.0"


def destination() -> str:
    """``Q2C_DESTINATION``, validated: ``duckdb`` (default) or ``postgres`` (see ``ingestion.destinations``)."""
    from ingestion.destinations import destination_type

    return destination_type()


def sandbox_dir() -> Path:
    return _path("Q2C_SANDBOX_DIR", "warehouse/sandbox")


def pipelines_dir() -> Path:
    """dlt's working directory, beside the warehouse (state is restored from the warehouse anyway)."""
    return warehouse_path().parent / "dlt_pipelines"


def target() -> str:
    value = os.environ.get("Q2C_TARGET", "sandbox").strip().lower()
    if value not in ("sandbox", "live"):
        raise ValueError(f"Q2C_TARGET must be 'sandbox' or 'live', got {value!r}")
    return value


def alert_log_path() -> Path:
    """The JSONL alert log (``orchestration.alerts``): beside the warehouse unless ``Q2C_ALERT_LOG``."""
    if os.environ.get("Q2C_ALERT_LOG"):
        return _path("Q2C_ALERT_LOG", "")
    return warehouse_path().parent / "alerts.jsonl"


def alert_state_path() -> Path:
    """The alerts' dedup state (which conditions are raised), beside the alert log."""
    log = alert_log_path()
    return log.with_name(log.stem + ".state.json")


def alert_webhook_url() -> str | None:
    """``Q2C_ALERT_WEBHOOK_URL``: a secret, to pass to the poster only, never to print or record."""
    return os.environ.get("Q2C_ALERT_WEBHOOK_URL", "").strip() or None


def dbt_target_path() -> Path:
    """dbt's target directory (manifest, run artifacts), beside the warehouse it builds."""
    return warehouse_path().parent / "dbt_target"
