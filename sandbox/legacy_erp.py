"""The on-premises legacy ERP: a SQLite file with its own, older schema.

It holds the receivables of the legal entities before their cut-over to NetSuite (LE-UK and
LE-DE; LE-US has always been on NetSuite): customers, invoice headers and lines, receipts.
The schema is what such systems look like: upper-case names, amounts in integer cents
(``*_CENTS``) or as text (``RCPT_AMT``, ``QTY``, ``UNIT_PRICE``), dates as ``YYYYMMDD`` text,
timestamps as ``YYYYMMDDHHMMSS`` text (``LAST_UPD_TS``), status codes (``O`` open, ``P`` paid).

    CUSTOMER_MASTER  (CUST_NO PK, CUST_NAME, ENTITY_CD, COUNTRY_CD, CURRENCY_CD, SF_ACCT_REF, CREATED_DT,
                      STATUS_CD, LAST_UPD_TS)
    AR_INVOICE_HDR   (INV_NO PK, ENTITY_CD, CUST_NO, INV_DT, DUE_DT, CURR_CD, NET_AMT_CENTS, TAX_AMT_CENTS,
                      GROSS_AMT_CENTS, OPEN_AMT_CENTS, STATUS, TAX_CD, PSA_BE_REF, SF_CONTRACT_REF,
                      PROJECT_REF, LAST_UPD_TS)
    AR_INVOICE_LINE  (INV_NO, LINE_NO, DESCR, QTY, UNIT_PRICE, LINE_AMT_CENTS, TAX_CD; PK INV_NO, LINE_NO)
    AR_RECEIPT       (RCPT_NO PK, ENTITY_CD, CUST_NO, RCPT_DT, CURR_CD, RCPT_AMT, APPLIED_INV_NO, BANK_REF,
                      LAST_UPD_TS)

``write(world, path)`` writes the world's legacy tables as of its clock (atomically replacing
the file); the sandbox keeps it at ``state_dir/legacy_erp.sqlite`` and rewrites it on every advance.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

FILE_NAME = "legacy_erp.sqlite"

DDL = {
    "CUSTOMER_MASTER": """CREATE TABLE CUSTOMER_MASTER (
        CUST_NO TEXT PRIMARY KEY, CUST_NAME TEXT NOT NULL, ENTITY_CD TEXT NOT NULL, COUNTRY_CD TEXT,
        CURRENCY_CD TEXT NOT NULL, SF_ACCT_REF TEXT, CREATED_DT TEXT NOT NULL, STATUS_CD TEXT NOT NULL,
        LAST_UPD_TS TEXT NOT NULL)""",
    "AR_INVOICE_HDR": """CREATE TABLE AR_INVOICE_HDR (
        INV_NO TEXT PRIMARY KEY, ENTITY_CD TEXT NOT NULL, CUST_NO TEXT NOT NULL REFERENCES CUSTOMER_MASTER(CUST_NO),
        INV_DT TEXT NOT NULL, DUE_DT TEXT NOT NULL, CURR_CD TEXT NOT NULL, NET_AMT_CENTS INTEGER NOT NULL,
        TAX_AMT_CENTS INTEGER NOT NULL, GROSS_AMT_CENTS INTEGER NOT NULL, OPEN_AMT_CENTS INTEGER NOT NULL,
        STATUS TEXT NOT NULL, TAX_CD TEXT, PSA_BE_REF TEXT, SF_CONTRACT_REF TEXT, PROJECT_REF TEXT,
        LAST_UPD_TS TEXT NOT NULL)""",
    "AR_INVOICE_LINE": """CREATE TABLE AR_INVOICE_LINE (
        INV_NO TEXT NOT NULL REFERENCES AR_INVOICE_HDR(INV_NO), LINE_NO INTEGER NOT NULL, DESCR TEXT,
        QTY TEXT, UNIT_PRICE TEXT, LINE_AMT_CENTS INTEGER NOT NULL, TAX_CD TEXT, PRIMARY KEY (INV_NO, LINE_NO))""",
    "AR_RECEIPT": """CREATE TABLE AR_RECEIPT (
        RCPT_NO TEXT PRIMARY KEY, ENTITY_CD TEXT NOT NULL, CUST_NO TEXT NOT NULL, RCPT_DT TEXT NOT NULL,
        CURR_CD TEXT NOT NULL, RCPT_AMT TEXT NOT NULL, APPLIED_INV_NO TEXT REFERENCES AR_INVOICE_HDR(INV_NO),
        BANK_REF TEXT, LAST_UPD_TS TEXT NOT NULL)""",
}


COLUMNS = {
    "CUSTOMER_MASTER": ("CUST_NO", "CUST_NAME", "ENTITY_CD", "COUNTRY_CD", "CURRENCY_CD", "SF_ACCT_REF", "CREATED_DT",
                        "STATUS_CD", "LAST_UPD_TS"),
    "AR_INVOICE_HDR": ("INV_NO", "ENTITY_CD", "CUST_NO", "INV_DT", "DUE_DT", "CURR_CD", "NET_AMT_CENTS",
                       "TAX_AMT_CENTS", "GROSS_AMT_CENTS", "OPEN_AMT_CENTS", "STATUS", "TAX_CD", "PSA_BE_REF",
                       "SF_CONTRACT_REF", "PROJECT_REF", "LAST_UPD_TS"),
    "AR_INVOICE_LINE": ("INV_NO", "LINE_NO", "DESCR", "QTY", "UNIT_PRICE", "LINE_AMT_CENTS", "TAX_CD"),
    "AR_RECEIPT": ("RCPT_NO", "ENTITY_CD", "CUST_NO", "RCPT_DT", "CURR_CD", "RCPT_AMT", "APPLIED_INV_NO", "BANK_REF",
                   "LAST_UPD_TS"),
}


def write(tables: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """Write the legacy tables (``World.legacy``) to a fresh SQLite file at ``path`` (atomic replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".legacy_erp.", suffix=".sqlite")
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            for table, ddl in DDL.items():
                con.execute(ddl)
                cols = COLUMNS[table]
                rows = [tuple(r.get(c) for c in cols) for r in tables.get(table, [])]
                con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                rows)
            con.commit()
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The file's tables as lists of dicts (for tests and tools)."""
    con = sqlite3.connect(str(path))
    con.row_factory = sqlite3.Row
    try:
        return {t: [dict(r) for r in con.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in DDL}
    finally:
        con.close()
