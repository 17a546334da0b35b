"""BI serving: the BI-facing schemas of the warehouse, published to a read-only DuckDB file.

DuckDB lets one process write a database file, and while it writes, no other process may
open it, not even read-only. The pipeline writes the warehouse, so a BI tool connected to it
would block the pipeline, and the pipeline would lock the tool out. Instead, after each
successful build, :func:`publish` copies the marts, the control queue, business health and
the writeback sync log into a fresh file next to the serving file, then renames it over the
serving file (``os.replace``: atomic on POSIX). A reader that opened the old file keeps
reading it (its inode lives until the reader closes it), and a new connection sees the new
data. Nothing in the serving file refers to the warehouse: views become tables.

The file is written in DuckDB's v1.0.0 storage format by default (``Q2C_SERVING_STORAGE_VERSION``),
so BI drivers that bundle an older DuckDB than the pipeline's can read it. See ``docs/bi.md``.
"""

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration import settings

# The schemas BI tools read (q2c_sync: the writeback sync state and log, once a writeback ran).
SERVED_SCHEMAS = ("marts", "controls", "observability", "q2c_sync")
# The dbt layers (asset groups) the serving asset waits for.
SERVED_GROUPS = ("marts", "controls", "observability")
META_TABLE = "serving_meta"
SERVING_KEY = AssetKey(["serving", "bi_marts"])
_TARGET = "q2c_serving_new"  # the new file's alias while it is written


@dataclass(frozen=True)
class Published:
    path: Path
    published_at: datetime
    run_id: str | None
    tables: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows
    bytes: int = 0


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def publish(warehouse_path: str | Path, serving_path: str | Path, run_id: str | None = None,
            schemas: Sequence[str] = SERVED_SCHEMAS, storage_version: str | None = None) -> Published:
    """Copy ``schemas`` of the warehouse into a new file, then swap it onto ``serving_path``.

    The warehouse is attached read-only. Every table and view of those schemas becomes a table
    (same column types, comments kept), and ``main.serving_meta`` records the publication: one
    row per table with ``published_at``, ``run_id``, its schema, name, source kind and row count.
    The new file is written as ``<serving_path>.tmp``, checkpointed, closed and fsynced before
    ``os.replace`` puts it in place; if anything fails the old serving file is left as it was.
    Raises if the warehouse holds no ``marts`` table (an empty file never replaces a good one).
    """
    warehouse_path, serving_path = Path(warehouse_path), Path(serving_path)
    if not warehouse_path.is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}")
    if warehouse_path.resolve() == serving_path.resolve():
        raise ValueError("the serving file must not be the warehouse")
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving_path.with_name(serving_path.name + ".tmp")
    _remove(tmp, _wal(tmp))  # left by a publish that died
    published_at = datetime.now(UTC)
    try:
        tables = _write(warehouse_path, tmp, run_id, published_at, tuple(schemas),
                        storage_version or settings.serving_storage_version())
        _fsync(tmp)
        _remove(_wal(serving_path))  # a stale log of the old file must not be replayed onto the new one
        os.replace(tmp, serving_path)
        _fsync(serving_path.parent, directory=True)
    except BaseException:
        _remove(tmp, _wal(tmp))
        raise
    return Published(path=serving_path, published_at=published_at, run_id=run_id, tables=tables,
                     bytes=serving_path.stat().st_size)


def _write(warehouse: Path, tmp: Path, run_id: str | None, published_at: datetime,
           schemas: tuple[str, ...], storage_version: str) -> dict[str, int]:
    con = duckdb.connect(":memory:")
    try:
        before = {name for (name,) in con.execute("select database_name from duckdb_databases()").fetchall()}
        # Attached under its own name (the file's stem), which is the catalog dbt's views refer to.
        con.execute(f"attach {_literal(str(warehouse))} (read_only)")
        (source,) = ({name for (name,) in con.execute("select database_name from duckdb_databases()").fetchall()}
                     - before)
        con.execute(f"attach {_literal(str(tmp))} as {_TARGET} (storage_version {_literal(storage_version)})")
        wanted = ", ".join(_literal(s) for s in schemas)
        relations = con.execute(f"""
            select schema_name, table_name, 'table', comment from duckdb_tables()
            where database_name = ? and schema_name in ({wanted})
            union all
            select schema_name, view_name, 'view', comment from duckdb_views()
            where database_name = ? and schema_name in ({wanted}) and not internal
            order by 1, 2""", [source, source]).fetchall()
        if not any(schema == "marts" for schema, *_ in relations):
            raise RuntimeError(f"nothing to publish: {warehouse} holds no marts (has the dbt build run?)")
        column_comments = con.execute("""
            select schema_name, table_name, column_name, comment from duckdb_columns()
            where database_name = ? and comment is not null and comment <> ''""", [source]).fetchall()
        rows: dict[str, int] = {}
        meta = []
        for schema in sorted({schema for schema, *_ in relations}):
            con.execute(f"create schema {_TARGET}.{_ident(schema)}")
        for schema, name, kind, comment in relations:
            target = f"{_TARGET}.{_ident(schema)}.{_ident(name)}"
            con.execute(f"create table {target} as select * from {_ident(source)}.{_ident(schema)}.{_ident(name)}")
            if comment:
                con.execute(f"comment on table {target} is {_literal(comment)}")
            (count,) = con.execute(f"select count(*) from {target}").fetchone()
            rows[f"{schema}.{name}"] = int(count)
            meta.append((published_at, run_id, schema, name, kind, int(count)))
        copied = {(schema, name) for schema, name, *_ in relations}
        for schema, name, column, comment in column_comments:
            if (schema, name) in copied:
                con.execute(f"comment on column {_TARGET}.{_ident(schema)}.{_ident(name)}.{_ident(column)} "
                            f"is {_literal(comment)}")
        con.execute(f"""create table {_TARGET}.main.{META_TABLE} (
            published_at timestamptz not null, run_id varchar, table_schema varchar not null,
            table_name varchar not null, source_kind varchar not null, row_count bigint not null)""")
        con.executemany(f"insert into {_TARGET}.main.{META_TABLE} values (?, ?, ?, ?, ?, ?)", meta)
        con.execute(f"comment on table {_TARGET}.main.{META_TABLE} is "
                    f"{_literal('When this file was published from the warehouse, by which run, and what it holds.')}")
        con.execute(f"checkpoint {_TARGET}")
        con.execute(f"detach {_TARGET}")
        return rows
    finally:
        con.close()


def served_keys(dbt_assets: AssetsDefinition, groups: Iterable[str] = SERVED_GROUPS) -> list[AssetKey]:
    """The dbt models of the served layers: the serving asset's upstream."""
    groups = set(groups)
    return sorted((spec.key for spec in dbt_assets.specs if spec.group_name in groups),
                  key=lambda key: key.to_user_string())


def serving_asset(dbt_assets: AssetsDefinition) -> AssetsDefinition:
    """``serving/bi_marts``: publishes the served layers after they were built and their blocking checks passed.

    In the writers' pool, since it reads the warehouse while dbt may write it. Its low priority
    puts it after the run's writebacks (when they run), so the sync log it copies is the run's.
    On a non-DuckDB dbt target (BI reads PostgreSQL directly) it materializes nothing.
    """

    @asset(key=SERVING_KEY, deps=served_keys(dbt_assets), group_name="serving",
           owners=["team:data-platform"], kinds={"duckdb"}, pool=settings.DUCKDB_POOL,
           automation_condition=AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed(),
           op_tags={"dagster/priority": "-10"}, output_required=False,
           description="Marts, the control queue, business health and the writeback sync log, published "
                       "to a read-only DuckDB file for BI tools by atomic swap (docs/bi.md).")
    def bi_marts(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        from orchestration.dbt_project import dbt_target

        if dbt_target() != "duckdb":
            context.log.info(f"dbt target {dbt_target()}: the marts are in that database; nothing to publish")
            return
        published = publish(settings.warehouse_path(), settings.serving_path(), run_id=context.run_id)
        context.log.info(f"published {len(published.tables)} tables ({sum(published.tables.values())} rows) "
                         f"to {published.path}")
        yield MaterializeResult(metadata={
            "path": MetadataValue.path(str(published.path)),
            "tables": len(published.tables),
            "rows": sum(published.tables.values()),
            "row_counts": MetadataValue.json(published.tables),
            "bytes": published.bytes,
            "published_at": MetadataValue.timestamp(published.published_at),
        })

    return bi_marts
