"""Deletes found by key reconciliation, for sources that cannot list what they deleted.

NetSuite SuiteQL and a legacy ERP database simply stop returning deleted rows. A source reads the
keys the source still has, compares them with the keys already loaded (``warehouse_keys``) and,
for the keys that are gone, yields tombstones that dlt's ``hard_delete`` merge turns into deletes,
plus rows for the ``q2c_deletions`` audit table (``deletes``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ingestion.contract import ARROW

log = logging.getLogger(__name__)

DELETED_COLUMN = "_q2c_deleted"
# A tombstone row (key + _q2c_deleted = true) makes the merge delete the key's row (dlt's hard_delete);
# dedup_sort lets a tombstone win over a data row of the same key in one load.
DELETE_HINTS = {DELETED_COLUMN: {"data_type": "bool", "nullable": True, "hard_delete": True, "dedup_sort": "desc"}}
DELETIONS_TABLE = "q2c_deletions"
DELETIONS_COLUMNS = {
    "system": {"data_type": "text", "nullable": False},
    "object": {"data_type": "text", "nullable": False},
    "record_id": {"data_type": "text", "nullable": False},
    "detected_at": {"data_type": "timestamp", "nullable": False},
}


def warehouse_keys(table: str, key: Sequence[str]) -> set[tuple[Any, ...]] | None:
    """The keys of ``table`` already loaded in the current pipeline's dataset.

    An empty set when the table does not exist yet; None when there is no destination to ask
    (e.g. the source is iterated outside a pipeline run) or the read failed (logged): then no
    reconciliation happens this run.
    """
    import dlt
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    try:
        pipeline = dlt.current.pipeline()
        naming = dlt.current.source_schema().naming
    except Exception:  # noqa: BLE001 - not inside a pipeline run
        return None
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(naming.normalize_table_identifier(table))
            cols = ", ".join(client.escape_column_name(naming.normalize_identifier(k)) for k in key)
            rows = client.execute_sql(f"SELECT {cols} FROM {qualified}") or []
    except DatabaseUndefinedRelation:
        return set()
    except Exception as exc:  # noqa: BLE001 - never fail a load over the reconciliation read
        log.warning("key reconciliation of %s skipped: cannot read the loaded keys (%s)", table, exc)
        return None
    return {tuple(r) for r in rows}


def tombstones(table: str, keys: Iterable[tuple[Any, ...]], key: Sequence[str], kinds: Mapping[str, str]) -> Any:
    """Rows that delete ``keys`` from ``table`` in the merge: the key columns (typed as loaded) and
    ``_q2c_deleted = true``, hinted as a variant of the resource's own table so the ``hard_delete``
    column stays out of the quarantine and metrics tables the resource also writes."""
    import dlt

    rows = sorted(keys)
    cols: dict[str, pa.Array] = {k: pa.array([r[i] for r in rows], ARROW[kinds[k]]) for i, k in enumerate(key)}
    cols[DELETED_COLUMN] = pa.array([True] * len(rows), pa.bool_())
    return dlt.mark.with_hints(pa.table(cols), dlt.mark.make_hints(
        table_name=table, write_disposition="merge", primary_key=list(key), columns=DELETE_HINTS),
        create_table_variant=True)


def deletion_log(system: str, obj: str, keys: Iterable[tuple[Any, ...]]) -> Any:
    """Rows for ``q2c_deletions`` (appended): which keys a reconciliation found gone, and when."""
    import dlt

    at = datetime.now(UTC)
    rows = [{"system": system, "object": obj, "record_id": "/".join(str(v) for v in k), "detected_at": at}
            for k in sorted(keys)]
    return dlt.mark.with_hints(rows, dlt.mark.make_hints(
        table_name=DELETIONS_TABLE, write_disposition="append", primary_key=[], merge_key=[],
        columns=DELETIONS_COLUMNS), create_table_variant=True)


def deletes(system: str, obj: str, gone: set[tuple[Any, ...]], key: Sequence[str],
            kinds: Mapping[str, str]) -> Iterator[Any]:
    """Tombstones for ``gone`` (``obj`` is the resource's table) and their ``q2c_deletions`` rows."""
    if gone:
        log.info("%s %s: %d key(s) no longer in the source, deleting them", system, obj, len(gone))
        yield tombstones(obj, gone, key, kinds)
        yield deletion_log(system, obj, gone)
