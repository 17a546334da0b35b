"""NetSuite REST client (OAuth2 client credentials, SuiteQL paging), the tables' column contract, and
key reconciliation (deletes) shared with ``ingestion.legacy_erp``."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingestion.http import ApiSession, check

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000
# SuiteQL answers at most 100,000 rows per query (offset + limit); longer reads continue by key.
MAX_QUERY_ROWS = 100_000
IN_LIST_CHUNK = 500


class NetSuiteClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str, ca_bundle: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.session = ApiSession(ca_bundle, system="netsuite")
        self._logged_in = False

    def _login(self) -> None:
        resp = self.session.post(
            f"{self.base_url}/services/rest/auth/oauth2/v1/token",
            data={"grant_type": "client_credentials"}, auth=(self.client_id, self._client_secret))
        body = check("netsuite", "OAuth2 token request", resp).json()
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"
        self._logged_in = True

    def _post(self, url: str, params: dict[str, Any] | None, query: str, what: str) -> dict[str, Any]:
        if not self._logged_in:
            self._login()
        resp = self.session.post(url, params=params, json={"q": query}, headers={"Prefer": "transient"})
        if resp.status_code == 401:  # token expired
            self._login()
            resp = self.session.post(url, params=params, json={"q": query}, headers={"Prefer": "transient"})
        return check("netsuite", what, resp).json()

    def suiteql_pages(self, query: str, what: str, max_rows: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Run a SuiteQL query and yield one list of rows per page, following the ``next`` link.

        With ``max_rows``, stop once that many rows were yielded (SuiteQL's per-query ceiling).
        """
        url: str | None = f"{self.base_url}/services/rest/query/v1/suiteql"
        params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "offset": 0}
        rows = 0
        while url:
            body = self._post(url, params, query, what)
            items = body.get("items", [])
            for item in items:
                item.pop("links", None)
            if items:
                yield items
            rows += len(items)
            if not body.get("hasMore") or (max_rows is not None and rows >= max_rows):
                return
            url = next((link["href"] for link in body.get("links", []) if link.get("rel") == "next"), None)
            params = None  # the next link carries limit and offset

    def suiteql_total(self, query: str, what: str) -> int | None:
        """How many rows ``query`` matches (``totalResults`` of a one-row page), None if not reported."""
        body = self._post(f"{self.base_url}/services/rest/query/v1/suiteql", {"limit": 1, "offset": 0}, query, what)
        total = body.get("totalResults")
        return int(total) if isinstance(total, int | str) and str(total).isdigit() else None

    def keyset_pages(self, table: str, key: Sequence[str], where: str | None = None, columns: str = "*",
                     max_rows: int = MAX_QUERY_ROWS) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``SELECT columns FROM table [WHERE where] ORDER BY key``, however many rows match.

        One query answers at most ``max_rows`` rows; when it is used up, the read continues with a
        new query for the keys after the last row read (the integer key columns of NetSuite tables).
        """
        after: tuple[int, ...] | None = None
        while True:
            conds = [c for c in (where, None if after is None else key_after(key, after)) if c]
            query = (f"SELECT {columns} FROM {table}" + (" WHERE " + " AND ".join(f"({c})" for c in conds)
                                                         if conds else "") + f" ORDER BY {', '.join(key)}")
            rows, last = 0, None
            for page in self.suiteql_pages(query, what=f"SuiteQL {table}", max_rows=max_rows):
                rows += len(page)
                last = page[-1]
                yield page
            if rows < max_rows or last is None:
                return
            after = tuple(int(last[k]) for k in key)


def key_after(key: Sequence[str], after: Sequence[int]) -> str:
    """SQL for "the key sorts after ``after``" (row-value comparison spelled out for SuiteQL)."""
    values = [int(v) for v in after]  # integers only: nothing else reaches the query text
    ors = []
    for i, col in enumerate(key):
        eqs = [f"{key[j]} = {values[j]}" for j in range(i)]
        ors.append(" AND ".join([*eqs, f"{col} > {values[i]}"]))
    return " OR ".join(f"({o})" for o in ors) if len(ors) > 1 else ors[0]


def suiteql_timestamp(value: datetime | str) -> str:
    """A ``TO_TIMESTAMP`` literal (UTC) for a cursor value, parsed strictly and re-rendered."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    text = parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"TO_TIMESTAMP('{text}', 'YYYY-MM-DD HH24:MI:SS')"


# ------------------------------------------------------------------------------------------ tables

@dataclass(frozen=True)
class NsTable:
    """A SuiteQL table: its key, its increment column (None: re-read whole) and its column kinds."""

    name: str
    kinds: Mapping[str, str]
    cursor: str | None = None
    key: tuple[str, ...] = ("id",)

    def key_of(self, record: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(int(record[k]) for k in self.key)


def _kinds(columns: str, ints: str = "", floats: str = "", dates: str = "", timestamps: str = "",
           bools: str = "") -> dict[str, str]:
    """Kinds of ``columns`` (in NetSuite's order): those named by kind, the rest text."""
    kinds: dict[str, str] = {}
    for kind, names in (("int", ints), ("float", floats), ("date", dates), ("timestamp", timestamps),
                        ("bool", bools)):
        kinds.update(dict.fromkeys(names.split(), kind))
    out = {c: kinds.pop(c, "string") for c in columns.split()}
    if kinds:
        raise ValueError(f"kinds given for undeclared columns {sorted(kinds)}")
    return out


# Every column the sandbox serves (sandbox.world_model.NS_FIELDS), in NetSuite's order, with its kind:
# internal ids and references int, amounts and rates float, T/F flags bool. Columns NetSuite adds
# later join as text.
TABLES: dict[str, NsTable] = {t.name: t for t in (
    NsTable("subsidiary", _kinds("id name currency country iselimination lastmodifieddate parent fullname",
                                 ints="id currency parent", timestamps="lastmodifieddate", bools="iselimination")),
    NsTable("currency", _kinds("id symbol name isbasecurrency lastmodifieddate currencyprecision",
                               ints="id currencyprecision", timestamps="lastmodifieddate", bools="isbasecurrency")),
    NsTable("term", _kinds("id name daysuntilnetdue", ints="id daysuntilnetdue")),
    NsTable("account", _kinds("id acctnumber acctname accttype generalrate isinactive", ints="id",
                              bools="isinactive")),
    NsTable("salestaxitem", _kinds("id itemid description rate country state subsidiary taxtype isinactive",
                                   ints="id subsidiary", floats="rate", bools="isinactive")),
    NsTable("nexus", _kinds("id country state description subsidiary", ints="id subsidiary")),
    NsTable("accountingperiod", _kinds(
        "id periodname startdate enddate isposting isquarter isyear isadjust closed closedondate",
        ints="id", dates="startdate enddate closedondate", bools="isposting isquarter isyear isadjust closed")),
    NsTable("currencyrate", _kinds("id basecurrency transactioncurrency exchangerate effectivedate",
                                   ints="id basecurrency transactioncurrency", floats="exchangerate",
                                   dates="effectivedate")),
    NsTable("customer", _kinds(
        "id entityid companyname subsidiary currency externalid datecreated lastmodifieddate parent terms taxitem "
        "isperson custentity_q2c_legacy_id",
        ints="id subsidiary currency parent terms taxitem", timestamps="datecreated lastmodifieddate",
        bools="isperson"), cursor="lastmodifieddate"),
    NsTable("job", _kinds(
        "id entityid companyname customer subsidiary currency externalid startdate projectedenddate jobbillingtype "
        "entitystatus datecreated lastmodifieddate",
        ints="id customer subsidiary currency", dates="startdate projectedenddate",
        timestamps="datecreated lastmodifieddate"), cursor="lastmodifieddate"),
    NsTable("transaction", _kinds(
        "id tranid type trandate duedate entity subsidiary currency foreigntotal foreignamountpaid "
        "foreignamountunpaid status custbody_q2c_sf_contract_id custbody_q2c_sf_project_id custbody_q2c_applied_to "
        "createddate lastmodifieddate exchangerate postingperiod terms taxtotal memo closedate "
        "foreignpaymentamountused foreignpaymentamountunused custbody_q2c_billing_event_id otherrefnum",
        ints="id entity subsidiary currency custbody_q2c_applied_to postingperiod terms",
        floats="foreigntotal foreignamountpaid foreignamountunpaid exchangerate taxtotal foreignpaymentamountused "
               "foreignpaymentamountunused",
        dates="trandate duedate closedate", timestamps="createddate lastmodifieddate"), cursor="lastmodifieddate"),
    # Line ids are unique only within their transaction in NetSuite (the sandbox numbers them globally).
    NsTable("transactionline", _kinds(
        "id transaction linesequencenumber mainline taxline memo quantity rate foreignamount taxcode account "
        "subsidiary linelastmodifieddate",
        ints="id transaction linesequencenumber taxcode account subsidiary", floats="quantity rate foreignamount",
        bools="mainline taxline", timestamps="linelastmodifieddate"),
        cursor="linelastmodifieddate", key=("transaction", "id")),
)}
REFERENCE_TABLES = tuple(n for n, t in TABLES.items() if t.cursor is None)
INCREMENTAL_TABLES = tuple(n for n, t in TABLES.items() if t.cursor is not None)

_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$")


def _us_to_iso(text: str, with_time: bool) -> str | None:
    m = _US_DATE.match(text.strip())
    if m is None:
        return None
    month, day, year, hour, minute, second, ampm = m.groups()
    h = int(hour or 0)
    if ampm:
        h = h % 12 + (12 if ampm.lower() == "pm" else 0)
    try:
        value = datetime(int(year), int(month), int(day), h, int(minute or 0), int(second or 0), tzinfo=UTC)
    except ValueError:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if with_time else value.date().isoformat()


def normalize_dates(records: Iterable[dict[str, Any]], kinds: Mapping[str, str]) -> None:
    """Rewrite NetSuite's ``M/D/YYYY[ h:mm[:ss] am]`` dates (the user-preference format; the sandbox
    serves ISO) as ISO text, in place, so the contract reads them; anything else is left as is."""
    cols = [(c, k == "timestamp") for c, k in kinds.items() if k in ("date", "timestamp")]
    for rec in records:
        for col, with_time in cols:
            v = rec.get(col)
            if isinstance(v, str) and "/" in v:
                iso = _us_to_iso(v, with_time)
                if iso is not None:
                    rec[col] = iso
