"""Destination configuration: DuckDB by default, PostgreSQL by configuration, errors that name the setting."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.providers import EnvironProvider, SecretsTomlProvider
from dlt.common.configuration.specs.config_providers_context import ConfigProvidersContainer
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from ingestion import destinations, pipelines
from ingestion.destinations import DestinationConfigError

SECRET = "s3cr3t-Pa55w0rd"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No destination settings from the environment, and dlt reads only the environment (no .dlt/*.toml)."""
    for var in ("Q2C_DESTINATION", "Q2C_POSTGRES_DSN", "DESTINATION__POSTGRES__CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    for field in ("HOST", "PORT", "DATABASE", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(f"DESTINATION__POSTGRES__CREDENTIALS__{field}", raising=False)
    monkeypatch.setattr(Container()[PluggableRunContext], "providers", ConfigProvidersContainer([EnvironProvider()]))
    yield


def _text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_duckdb_is_the_default(monkeypatch):
    assert destinations.destination_type() == "duckdb"
    monkeypatch.setenv("Q2C_DESTINATION", "")
    assert destinations.destination_type() == "duckdb"
    monkeypatch.setenv("Q2C_DESTINATION", " PostgreSQL ")
    assert destinations.destination_type() == "postgres"


def test_unknown_destination_names_the_setting(monkeypatch):
    monkeypatch.setenv("Q2C_DESTINATION", "snowflake")
    with pytest.raises(DestinationConfigError, match=r"Q2C_DESTINATION must be one of 'duckdb', 'postgres', got 'snowflake'"):
        destinations.destination_type()
    with pytest.raises(DestinationConfigError, match="Q2C_DESTINATION"):
        pipelines.make_pipeline("stripe", "/tmp/never.duckdb")
    from orchestration import settings

    with pytest.raises(DestinationConfigError, match="Q2C_DESTINATION"):
        settings.destination()


def test_loader_file_format_per_destination(monkeypatch):
    assert destinations.loader_file_format("duckdb") == pipelines.LOADER_FILE_FORMAT == "parquet"
    assert destinations.loader_file_format("postgres") == "insert_values"
    assert pipelines.loader_file_format() == "parquet"
    monkeypatch.setenv("Q2C_DESTINATION", "postgres")
    assert pipelines.loader_file_format() == "insert_values"


def test_postgres_without_credentials_names_every_way_to_set_them(monkeypatch):
    monkeypatch.setenv("Q2C_DESTINATION", "postgres")
    with pytest.raises(DestinationConfigError) as err:
        destinations.make_destination()
    message = str(err.value)
    assert "Q2C_POSTGRES_DSN" in message and "DESTINATION__POSTGRES__CREDENTIALS" in message
    assert ".dlt/secrets.toml" in message and "found only some" not in message
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS__HOST", "db.internal")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", SECRET)
    with pytest.raises(DestinationConfigError, match="found only some of its fields; missing: database, username"
                       ) as err:
        destinations.postgres_credentials()
    assert SECRET not in _text(err.value)


def test_duckdb_needs_the_warehouse_path():
    with pytest.raises(DestinationConfigError, match="Q2C_WAREHOUSE_PATH"):
        destinations.make_destination()


@pytest.mark.parametrize("dsn", [
    f"postgresql://loader:{SECRET}@db.internal:6543/q2c",
    f"postgres://loader:{SECRET}@db.internal:6543/q2c",
    f"host=db.internal port=6543 dbname=q2c user=loader password={SECRET}",
])
def test_dsn_forms_parse_and_never_show_the_password(monkeypatch, dsn):
    monkeypatch.setenv("Q2C_POSTGRES_DSN", dsn)
    creds = destinations.postgres_credentials()
    assert (creds.host, creds.port, creds.database, creds.username) == ("db.internal", 6543, "q2c", "loader")
    assert creds.password == SECRET  # kept for the connection...
    shown = [str(creds), repr(creds), destinations.describe(kind="postgres")]
    assert all(SECRET not in text for text in shown)  # ...never shown
    assert destinations.describe(kind="postgres") == "postgres postgresql://loader:***@db.internal:6543/q2c"


def test_dsn_extra_parameters_pass_through(monkeypatch):
    monkeypatch.setenv("Q2C_POSTGRES_DSN", f"postgresql://loader:{SECRET}@db/q2c?sslmode=require&connect_timeout=5")
    creds = destinations.postgres_credentials()
    assert creds.port == 5432 and creds.connect_timeout == 5
    assert creds.get_query()["sslmode"] == "require"


@pytest.mark.parametrize("dsn", [
    f"postgresql://loader:{SECRET}@db.internal:notaport/q2c",
    f"{SECRET} is not a dsn",
    f"host=db password={SECRET} dbname",
])
def test_malformed_dsn_error_names_the_setting_not_the_value(monkeypatch, dsn):
    monkeypatch.setenv("Q2C_POSTGRES_DSN", dsn)
    with pytest.raises(DestinationConfigError, match="Q2C_POSTGRES_DSN is not a valid PostgreSQL connection") as err:
        destinations.postgres_credentials()
    assert SECRET not in _text(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_incomplete_dsn_says_what_is_missing_without_the_password(monkeypatch):
    monkeypatch.setenv("Q2C_POSTGRES_DSN", f"postgresql://:{SECRET}@db.internal/q2c")
    with pytest.raises(DestinationConfigError, match="Q2C_POSTGRES_DSN lacks user") as err:
        destinations.postgres_credentials()
    assert SECRET not in _text(err.value)
    monkeypatch.setenv("Q2C_POSTGRES_DSN", "postgresql://loader@db.internal/q2c")
    with pytest.raises(DestinationConfigError, match="lacks password"):
        destinations.postgres_credentials()


def test_q2c_dsn_wins_over_dlt_config(monkeypatch):
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://dlt_user:{SECRET}@dlt-host:5432/dltdb")
    assert destinations.postgres_credentials().host == "dlt-host"  # dlt's own setting works alone
    monkeypatch.setenv("Q2C_POSTGRES_DSN", f"postgresql://q2c_user:{SECRET}@q2c-host:5432/q2cdb")
    assert destinations.postgres_credentials().host == "q2c-host"


@pytest.mark.parametrize("toml", [
    f'[destination.postgres]\ncredentials = "postgresql://toml_user:{SECRET}@toml-host:5433/tomldb"\n',
    f'[destination.postgres.credentials]\nhost = "toml-host"\nport = 5433\ndatabase = "tomldb"\n'
    f'username = "toml_user"\npassword = "{SECRET}"\n',
])
def test_credentials_from_dlt_secrets_toml(monkeypatch, tmp_path: Path, toml):
    (tmp_path / "secrets.toml").write_text(toml)
    providers = ConfigProvidersContainer([EnvironProvider(), SecretsTomlProvider(settings_dir=str(tmp_path))])
    monkeypatch.setattr(Container()[PluggableRunContext], "providers", providers)
    monkeypatch.setenv("Q2C_DESTINATION", "postgres")
    creds = destinations.postgres_credentials()
    assert (creds.host, creds.port, creds.database, creds.username, creds.password) == (
        "toml-host", 5433, "tomldb", "toml_user", SECRET)
    assert destinations.describe() == "postgres postgresql://toml_user:***@toml-host:5433/tomldb"


def test_make_pipeline_follows_the_setting(monkeypatch, tmp_path: Path):
    duck = pipelines.make_pipeline("stripe", tmp_path / "w.duckdb", tmp_path / "dlt")
    assert duck.destination.destination_type == "dlt.destinations.duckdb"
    assert duck.pipeline_name == "q2c_stripe" and duck.dataset_name == "raw_stripe"

    monkeypatch.setenv("Q2C_DESTINATION", "postgres")
    monkeypatch.setenv("Q2C_POSTGRES_DSN", f"postgresql://loader:{SECRET}@db.internal:6543/q2c")
    pg = pipelines.make_pipeline("stripe", tmp_path / "ignored.duckdb", tmp_path / "dlt")
    assert pg.destination.destination_type == "dlt.destinations.postgres"
    # its own name: no incremental state shared with the DuckDB pipeline of the same system
    assert pg.pipeline_name == "q2c_stripe_postgres" and pg.dataset_name == "raw_stripe"
    assert SECRET not in repr(pg.destination) and SECRET not in str(pg.destination)
    # an explicit destination overrides the setting
    assert pipelines.make_pipeline("stripe", tmp_path / "w.duckdb", tmp_path / "dlt",
                                   destination="duckdb").pipeline_name == "q2c_stripe"
