"""The dbt project handle and its manifest preparation, importable before any manifest exists.

dbt builds where the raw layer is loaded: the ``duckdb`` target (the warehouse file) or the
``postgres`` target (the ingestion's PostgreSQL database, whose ``raw_<system>`` schemas are
dlt's datasets). ``Q2C_DBT_TARGET`` overrides the choice, which otherwise follows
``Q2C_DESTINATION``. ``dbt_project/profiles.yml`` reads its connection from environment
variables that :func:`configure_profile` sets from the same configuration the ingestion uses.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration import settings

DBT_TARGETS = ("duckdb", "postgres")
DBT_TARGET_ENV = "Q2C_DBT_TARGET"
# The profile's postgres output reads these; the password's name has dbt's DBT_ENV_SECRET_
# prefix, so dbt scrubs its value from every log line and error it writes.
PG_PASSWORD_ENV = "DBT_ENV_SECRET_Q2C_PG_PASSWORD"


def ensure_dbt_on_path() -> None:
    """Put this interpreter's bin directory on PATH, so dbt is found in an unactivated virtualenv."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def dbt_target() -> str:
    """``Q2C_DBT_TARGET``, else the raw layer's destination (``Q2C_DESTINATION``): ``duckdb`` or ``postgres``."""
    raw = os.environ.get(DBT_TARGET_ENV, "").strip().lower()
    target = raw or settings.destination()
    if target not in DBT_TARGETS:
        raise ValueError(f"{DBT_TARGET_ENV} must be one of {', '.join(DBT_TARGETS)}, got {raw!r}")
    return target


def profile_environment(target: str | None = None) -> dict[str, str]:
    """The environment ``profiles.yml`` reads for ``target`` (holds the Postgres password: never log it).

    duckdb: ``Q2C_WAREHOUSE_PATH`` (absolute). postgres: ``Q2C_PG_HOST/PORT/USER/DBNAME/SSLMODE``
    and ``DBT_ENV_SECRET_Q2C_PG_PASSWORD`` from ``Q2C_POSTGRES_DSN`` (else dlt's
    ``destination.postgres.credentials``), the ingestion's own credentials; and ``PGTZ=UTC``,
    the session time zone libpq sets at connect (naive timestamps are UTC in this project).
    """
    target = target or dbt_target()
    if target == "postgres":
        from ingestion.destinations import postgres_credentials

        creds = postgres_credentials()
        env = {
            "Q2C_PG_HOST": str(creds.host),
            "Q2C_PG_PORT": str(creds.port),
            "Q2C_PG_USER": str(creds.username),
            "Q2C_PG_DBNAME": str(creds.database),
            PG_PASSWORD_ENV: str(creds.password or ""),
            "PGTZ": "UTC",
        }
        sslmode = (creds.query or {}).get("sslmode")
        if sslmode:
            env["Q2C_PG_SSLMODE"] = str(sslmode)
        return env | _target_environment(target)
    return {"Q2C_WAREHOUSE_PATH": str(settings.warehouse_path())} | _target_environment(target)


def _target_environment(target: str) -> dict[str, str]:
    """dbt's target directory, where ``q2c prepare`` leaves the manifest and ``partial_parse.msgpack``.

    dagster-dbt gives each build a directory of its own under ``DBT_TARGET_PATH`` and copies the
    prepared ``partial_parse.msgpack`` into it: with the variable unset it looks under the project
    (``dbt_project/target``), where the prepared file is not, and every build parsed the whole
    project (about 5 s of each scheduled build).
    """
    return {"DBT_TARGET_PATH": str(dbt_target_path(target))}


def configure_profile(target: str | None = None) -> None:
    """Set the profile's environment for ``target`` (the configured one by default) before dbt runs."""
    os.environ.update(profile_environment(target))


def dbt_target_path(target: str | None = None) -> Path:
    """dbt's target directory: ``settings.dbt_target_path()`` for DuckDB, a sibling per other target."""
    target = target or dbt_target()
    path = settings.dbt_target_path()
    return path if target == "duckdb" else path.with_name(f"{path.name}_{target}")


class ManifestMissingError(FileNotFoundError):
    """The dbt manifest the definitions load from has not been prepared."""


@cache
def _project(target: str, target_path: str) -> DbtProject:
    # No ``prepare_if_dev()``: under ``dagster dev`` it would run ``dbt parse`` at every load of
    # the code location (11 s instead of 3.3 s: docs/performance.md). ``q2c prepare``, ``q2c ui``
    # and ``q2c demo`` prepare the manifest before anything loads the definitions.
    return DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR,
                      target=target, target_path=target_path)


def dbt_project() -> DbtProject:
    """The project for the current settings (one per dbt target and target directory)."""
    target = dbt_target()
    return _project(target, str(dbt_target_path(target)))


def prepared_manifest_path() -> Path:
    """The manifest the definitions load from; :class:`ManifestMissingError` if it was never prepared."""
    path = Path(dbt_project().manifest_path)
    if not path.exists():
        raise ManifestMissingError(
            f"dbt manifest not found at {path}: run `q2c prepare` (or `make prepare`) first; "
            "`q2c ui` and `q2c demo` prepare it themselves. Nothing parses the dbt project when "
            "the definitions load.")
    return path


def prepare_manifest() -> None:
    """Parse the dbt project into the manifest the definitions load (``q2c prepare``)."""
    configure_profile()  # the profile reads it
    ensure_dbt_on_path()
    project = dbt_project()
    project.preparer.prepare(project)
