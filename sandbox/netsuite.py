"""NetSuite REST simulator: OAuth 2.0 client credentials, the SuiteQL query service, record upserts.

Routes:

- ``POST /services/rest/auth/oauth2/v1/token``
- ``POST /services/rest/query/v1/suiteql?limit=N&offset=M`` (``Prefer: transient``, body ``{"q": ...}``)
- ``GET|PUT|PATCH /services/rest/record/v1/{type}/{id | eid:externalId}`` (``sandbox.ns_records``)

As in NetSuite, every value in a SuiteQL result item is a string (numbers rendered the Oracle
way, e.g. ``.5``), columns are lower-case, and columns whose value is NULL are left out of the item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sandbox.auth import TokenIssuer, basic_credentials, bearer_token, secrets_equal
from sandbox.ns_records import RECORD_PREFIX, RecordError, RecordService
from sandbox.sqlcore import QueryError, parse_date, parse_instant
from sandbox.store import Store
from sandbox.suiteql import compile_suiteql
from sandbox.web import Request, Response, json_response
from sandbox.world_model import NS_FIELDS

SYSTEM = "netsuite"
TOKEN_TTL = 3600
DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
_RFC = "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5."
_TITLES = {400: ("1", "Bad Request"), 401: ("2", "Unauthorized"), 404: ("5", "Not Found"),
           405: ("6", "Method Not Allowed"), 500: ("", "Internal Server Error")}

# Column types of the tables the sandbox serves; columns not listed are inferred from the data.
COLUMN_TYPES: dict[str, dict[str, str]] = {
    "subsidiary": {"id": "integer", "currency": "integer", "lastmodifieddate": "timestamp"},
    "currency": {"id": "integer", "lastmodifieddate": "timestamp"},
    "customer": {"id": "integer", "subsidiary": "integer", "currency": "integer", "externalid": "string",
                 "datecreated": "timestamp", "lastmodifieddate": "timestamp"},
    "transaction": {"id": "integer", "trandate": "date", "duedate": "date", "entity": "integer",
                    "subsidiary": "integer", "currency": "integer", "foreigntotal": "float",
                    "foreignamountpaid": "float", "foreignamountunpaid": "float",
                    "custbody_q2c_applied_to": "integer", "createddate": "timestamp",
                    "lastmodifieddate": "timestamp"},
}
# The world's other columns and tables (sandbox.world_model.NS_FIELDS): declared, so a table that is
# still empty at the world's clock is queryable with its real column types.
_INT, _FLOAT, _DATE, _TS = "integer", "float", "date", "timestamp"
COLUMN_TYPES["subsidiary"]["parent"] = _INT
COLUMN_TYPES["customer"].update({"parent": _INT, "terms": _INT, "taxitem": _INT})
COLUMN_TYPES["transaction"].update({
    "exchangerate": _FLOAT, "postingperiod": _INT, "terms": _INT, "taxtotal": _FLOAT, "closedate": _DATE,
    "foreignpaymentamountused": _FLOAT, "foreignpaymentamountunused": _FLOAT})
COLUMN_TYPES.update({
    "currencyrate": {"id": _INT, "basecurrency": _INT, "transactioncurrency": _INT, "exchangerate": _FLOAT,
                     "effectivedate": _DATE},
    "accountingperiod": {"id": _INT, "startdate": _DATE, "enddate": _DATE, "closedondate": _DATE},
    "account": {"id": _INT},
    "term": {"id": _INT, "daysuntilnetdue": _INT},
    "salestaxitem": {"id": _INT, "rate": _FLOAT, "subsidiary": _INT},
    "nexus": {"id": _INT, "subsidiary": _INT},
    "job": {"id": _INT, "customer": _INT, "subsidiary": _INT, "currency": _INT, "startdate": _DATE,
            "projectedenddate": _DATE, "datecreated": _TS, "lastmodifieddate": _TS},
    "transactionline": {"id": _INT, "transaction": _INT, "linesequencenumber": _INT, "quantity": _FLOAT,
                        "rate": _FLOAT, "foreignamount": _FLOAT, "taxcode": _INT, "account": _INT, "subsidiary": _INT,
                        "linelastmodifieddate": _TS},
})


def build_schemas(tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, dict[str, str]]:
    """Column types per table: declared ones, the rest inferred from the rows (in first-seen order)."""
    schemas: dict[str, dict[str, str]] = {}
    for table, rows in tables.items():
        values: dict[str, list[Any]] = {}
        for row in rows:
            for key, value in row.items():
                values.setdefault(key.lower(), []).append(value)
        declared = COLUMN_TYPES.get(table, {})
        for c in NS_FIELDS.get(table, ()):  # every column, even when no row has a value yet
            values.setdefault(c, [])
        columns = {c: declared.get(c) or _infer(v) for c, v in values.items()}
        for c, t in declared.items():
            columns.setdefault(c, t)
        schemas[table] = columns
    return schemas


def _infer(values: list[Any]) -> str:
    seen = [v for v in values if v is not None]
    if seen and all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
        return "integer"
    if seen and all(isinstance(v, int | float) and not isinstance(v, bool) for v in seen):
        return "float"
    if seen and all(isinstance(v, str) and parse_date(v) is not None for v in seen):
        return "date"
    if seen and all(isinstance(v, str) and "T" in v and parse_instant(v) is not None for v in seen):
        return "timestamp"
    return "string"


def ns_string(value: Any) -> str:
    """A value as SuiteQL REST renders it: text; numbers Oracle-style (``.5``, ``-.25``, ``15000``)."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        if "e" in text or "E" in text:
            text = f"{value:f}".rstrip("0")
        if text.startswith("0."):
            return text[1:]
        if text.startswith("-0."):
            return "-" + text[2:]
        return text
    return str(value)


def ns_error(status: int, detail: str, code: str) -> Response:
    section, title = _TITLES.get(status, ("", "Error"))
    return json_response(status, {"type": _RFC + section if section else "about:blank", "title": title,
                                  "status": status, "o:errorDetails": [{"detail": detail, "o:errorCode": code}]})


class NetSuiteApi:
    """The NetSuite app. ``base_url`` must be set (by the server) before it serves requests."""

    system = SYSTEM

    def __init__(self, store: Store, client_id: str, client_secret: str, *, base_url: str = "",
                 now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.base_url = base_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = TokenIssuer(SYSTEM, client_id, client_secret, TOKEN_TTL, now=now)
        self.schemas = build_schemas({t: store.rows(SYSTEM, t) for t in store.objects(SYSTEM)})
        self.records = RecordService(store, self.schemas, lambda: self.base_url, now=now)

    def internal_error(self) -> Response:
        return ns_error(500, "An unexpected error occurred.", "UNEXPECTED_ERROR")

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path == TOKEN_PATH:
            if req.method != "POST":
                return ns_error(405, f"Method {req.method} is not allowed.", "METHOD_NOT_ALLOWED")
            return self._token(req)
        if path == SUITEQL_PATH:
            if not self.tokens.verify(bearer_token(req.header("Authorization"))):
                return ns_error(401, "Invalid login attempt. For more details, see the Login Audit Trail in the "
                                "NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
                                "INVALID_LOGIN")
            if req.method != "POST":
                return ns_error(405, f"Method {req.method} is not allowed for SuiteQL; use POST.",
                                "METHOD_NOT_ALLOWED")
            return self._suiteql(req)
        if path.startswith(RECORD_PREFIX + "/"):
            if not self.tokens.verify(bearer_token(req.header("Authorization"))):
                return ns_error(401, "Invalid login attempt. For more details, see the Login Audit Trail in the "
                                "NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
                                "INVALID_LOGIN")
            try:
                return self.records.handle(req)
            except RecordError as exc:
                return ns_error(exc.status, exc.detail, exc.code)
        return ns_error(404, f"Invalid request URL: {req.path}", "NONEXISTENT_ID")

    def _token(self, req: Request) -> Response:
        form = dict(req.form())
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = basic_credentials(req.header("Authorization"))
        if client_id is None and basic is not None:
            client_id, client_secret = basic
        if not (secrets_equal(client_id, self.client_id) and secrets_equal(client_secret, self._client_secret)):
            return json_response(401, {"error": "invalid_client"})
        token, _ = self.tokens.issue()
        return json_response(200, {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL})

    def _suiteql(self, req: Request) -> Response:
        if "transient" not in (req.header("Prefer") or "").lower():
            return ns_error(400, "Invalid request: SuiteQL queries require the header 'Prefer: transient'.",
                            "INVALID_PARAMETER")
        try:
            limit = _int_arg(req, "limit", DEFAULT_LIMIT)
            offset = _int_arg(req, "offset", 0)
        except ValueError as exc:
            return ns_error(400, str(exc), "INVALID_PARAMETER")
        if not 1 <= limit <= MAX_LIMIT:
            return ns_error(400, f"Invalid 'limit' parameter value: {limit}. The limit must be between 1 and "
                            f"{MAX_LIMIT}.", "INVALID_PARAMETER")
        if offset < 0 or offset % limit:
            return ns_error(400, f"Invalid 'offset' parameter value: {offset}. The offset must be a non-negative "
                            "multiple of the limit.", "INVALID_PARAMETER")
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("q"), str):
            return ns_error(400, "Invalid search query. The request body must be a JSON object with the query in "
                            "'q'.", "INVALID_PARAMETER")
        try:
            query = compile_suiteql(body["q"], self.schemas)
        except QueryError as exc:
            return ns_error(400, "Invalid search query. Detailed unprocessed description follows. Search error "
                            f"occurred: {exc.message}", "INVALID_PARAMETER")
        rows = query.run(self.store.rows(SYSTEM, query.table))
        total = len(rows)
        page = rows[offset:offset + limit]
        has_more = offset + limit < total
        items = [{"links": [], **{c: ns_string(r.get(c)) for c in query.columns if r.get(c) is not None}}
                 for r in page]
        return json_response(200, {"links": self._links(limit, offset, total, has_more), "count": len(items),
                                   "hasMore": has_more, "items": items, "offset": offset, "totalResults": total})

    def _links(self, limit: int, offset: int, total: int, has_more: bool) -> list[dict[str, str]]:
        def href(at: int) -> str:
            return f"{self.base_url}{SUITEQL_PATH}?limit={limit}&offset={at}"

        last = max(0, (total - 1) // limit * limit)
        links = []
        if offset > 0:
            links.append({"rel": "previous", "href": href(max(0, offset - limit))})
        links.append({"rel": "first", "href": href(0)})
        if has_more:
            links.append({"rel": "next", "href": href(offset + limit)})
        links.append({"rel": "last", "href": href(last)})
        links.append({"rel": "self", "href": href(offset)})
        return links


def _int_arg(req: Request, name: str, default: int) -> int:
    value = req.arg(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"Invalid '{name}' parameter value: {value}. It must be an integer.") from None
