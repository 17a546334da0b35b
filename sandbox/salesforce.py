"""Salesforce REST API simulator (OAuth client credentials, describe, SOQL query/queryAll, upsert, delete).

Routes (``vNN.0`` is any two-digit API version, e.g. ``v59.0``):

- ``POST /services/oauth2/token``
- ``GET  /services/data`` (versions; no auth)
- ``GET  /services/data/vNN.0/sobjects`` (describeGlobal)
- ``GET  /services/data/vNN.0/sobjects/{obj}/describe``
- ``GET  /services/data/vNN.0/sobjects/{obj}/{id}`` and ``.../{obj}/{extIdField}/{value}``
- ``PATCH /services/data/vNN.0/sobjects/{obj}/{extIdField}/{value}`` (upsert)
- ``PATCH /services/data/vNN.0/composite/sobjects/{obj}/{extIdField}`` (collection upsert)
- ``DELETE /services/data/vNN.0/composite/sobjects?ids=<id>,<id>&allOrNone=`` (collection delete: soft
  deletes, ``IsDeleted = true``, seen by ``queryAll`` only)
- ``GET  /services/data/vNN.0/query?q=``, ``/queryAll?q=`` and ``/query/{locator}``
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import string
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.auth import TokenIssuer, basic_credentials, bearer_token, secrets_equal
from sandbox.lazy import LazyView
from sandbox.sf_schema import (
    REFERENCE_TO,
    STATUS_OBJECT,
    SYSTEM_FIELDS,
    ObjectSchema,
    build_schemas,
    is_sf_id,
    string_length,
)
from sandbox.soql import compile_soql
from sandbox.sqlcore import QueryError, parse_date, parse_instant
from sandbox.store import Store
from sandbox.web import Request, Response, json_response
from sandbox.world import CURRENCIES

SYSTEM = "salesforce"
TOKEN_TTL = 2 * 3600
DEFAULT_BATCH = 2000
MIN_BATCH, MAX_BATCH = 200, 2000
MAX_COMPOSITE = 200
CURSOR_TTL = 15 * 60
MAX_CURSORS = 100
TYPING_SAMPLE = 5000  # records of a lazily served object that type its fields for describe
ORG_ID = "00DQ2C000000001AAA"
USER_ID = "005Q2C000000001AAA"
DEFAULT_CURRENCY = "USD"
_VERSION = re.compile(r"^v(\d{2})\.0$")
_LOCATOR = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")
_ALNUM = string.ascii_letters + string.digits
_DOUBLE_TYPES = frozenset({"double", "currency", "percent"})


@dataclass
class SfError(Exception):
    """One Salesforce error: ``errorCode``/``statusCode``, message and the fields it concerns."""

    code: str
    message: str
    fields: tuple[str, ...] = ()
    status: int = 400


def sf_timestamp(dt: datetime) -> str:
    """Salesforce REST datetime with milliseconds: 2026-05-01T10:00:00.123+0000."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def errors(status: int, code: str, message: str) -> Response:
    return json_response(status, [{"message": message, "errorCode": code}])


NOT_FOUND_MESSAGE = "The requested resource does not exist"


class _Cursors:
    """Query locators: snapshots of a result set, served page by page, expiring after 15 minutes."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, Sequence[dict[str, Any]], int, Callable]] = OrderedDict()

    def open(self, records: Sequence[dict[str, Any]], batch: int,
             render: Callable[[dict[str, Any]], dict[str, Any]]) -> str:
        """A locator over the matching raw ``records``; ``render`` makes a page's records for the wire."""
        cursor = "01g" + "".join(secrets.choice(_ALNUM) for _ in range(15))
        with self._lock:
            self._expire()
            self._items[cursor] = (self._now(), records, batch, render)
            while len(self._items) > MAX_CURSORS:
                self._items.popitem(last=False)
        return cursor

    def get(self, cursor: str) -> tuple[Sequence[dict[str, Any]], int, Callable] | None:
        with self._lock:
            self._expire()
            item = self._items.get(cursor)
            return None if item is None else item[1:]

    def _expire(self) -> None:
        limit = self._now() - CURSOR_TTL
        for key in [k for k, item in self._items.items() if item[0] < limit]:
            del self._items[key]


class SalesforceApi:
    """The Salesforce app. ``base_url`` must be set (by the server) before it serves requests."""

    system = SYSTEM

    def __init__(self, store: Store, client_id: str, client_secret: str, *,
                 base_url: str = "", now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.base_url = base_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._now = now
        self.tokens = TokenIssuer(SYSTEM, client_id, client_secret, TOKEN_TTL, prefix=ORG_ID[:15] + "!", now=now)
        self._cursors = _Cursors(now)
        self._api_calls = itertools.count(1)
        store.ensure_table(SYSTEM, STATUS_OBJECT)
        self.schemas: dict[str, ObjectSchema] = build_schemas(
            {obj: _typing_sample(store.rows(SYSTEM, obj)) for obj in store.objects(SYSTEM)})
        self._soql_schemas = {name: schema.fields for name, schema in self.schemas.items()}
        self._by_lower = {name.lower(): name for name in self.schemas}
        self._by_prefix = {s.key_prefix: s.name for s in self.schemas.values() if s.key_prefix}
        self._currencies = {c["symbol"] for c in CURRENCIES}

    # ------------------------------------------------------------------ dispatch
    def internal_error(self) -> Response:
        return errors(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId "
                      "if you contact support: sandbox")

    def handle(self, req: Request) -> Response:
        seg = req.segments
        if seg[:3] == ["services", "oauth2", "token"] and len(seg) == 3:
            if req.method != "POST":
                return self._method_not_allowed(req, "POST")
            return self._token(req)
        if seg[:2] != ["services", "data"]:
            return errors(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        if len(seg) == 2:
            return json_response(200, [{"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}])
        if not self.tokens.verify(bearer_token(req.header("Authorization"), ("bearer", "oauth"))):
            return errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not _VERSION.match(seg[2]):
            return errors(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        version, rest = seg[2], seg[3:]
        response = self._route(req, version, rest)
        response.headers.setdefault("Sforce-Limit-Info", f"api-usage={next(self._api_calls)}/15000")
        return response

    def _route(self, req: Request, version: str, rest: list[str]) -> Response:
        method = req.method
        try:
            if not rest:
                return self._only(req, "GET") or json_response(200, {
                    "sobjects": f"/services/data/{version}/sobjects",
                    "query": f"/services/data/{version}/query",
                    "queryAll": f"/services/data/{version}/queryAll",
                    "composite": f"/services/data/{version}/composite"})
            head = rest[0]
            if head in ("query", "queryAll"):
                if (bad := self._only(req, "GET")) is not None:
                    return bad
                if len(rest) == 1:
                    return self._query(req, version, include_deleted=head == "queryAll")
                if len(rest) == 2:
                    return self._query_more(req, version, rest[1])
            elif head == "sobjects":
                return self._sobjects(req, version, rest[1:])
            elif head == "composite" and len(rest) == 2 and rest[1] == "sobjects":
                if method != "DELETE":
                    return self._method_not_allowed(req, "DELETE")
                return self._composite_delete(req)
            elif head == "composite" and len(rest) == 4 and rest[1] == "sobjects":
                if method != "PATCH":
                    return self._method_not_allowed(req, "PATCH")
                return self._composite_upsert(req, rest[2], rest[3])
        except SfError as exc:
            return errors(exc.status, exc.code, exc.message)
        return errors(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

    def _only(self, req: Request, method: str) -> Response | None:
        return None if req.method == method else self._method_not_allowed(req, method)

    def _method_not_allowed(self, req: Request, allowed: str) -> Response:
        return errors(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are {allowed}")

    # ------------------------------------------------------------------ auth
    def _token(self, req: Request) -> Response:
        form = dict(req.form())
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = basic_credentials(req.header("Authorization"))
        if client_id is None and basic is not None:
            client_id, client_secret = basic
        if not (secrets_equal(client_id, self.client_id) and secrets_equal(client_secret, self._client_secret)):
            return json_response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        token, iat = self.tokens.issue()
        issued_at = str(iat * 1000)
        identity = f"{self.base_url}/id/{ORG_ID}/{USER_ID}"
        signature = base64.b64encode(hmac.new(self._client_secret.encode(), (identity + issued_at).encode(),
                                              hashlib.sha256).digest()).decode()
        return json_response(200, {"access_token": token, "signature": signature, "scope": "api",
                                   "instance_url": self.base_url, "id": identity, "token_type": "Bearer",
                                   "issued_at": issued_at})

    # ------------------------------------------------------------------ sobjects
    def _schema(self, name: str) -> ObjectSchema:
        canonical = self._by_lower.get(name.lower())
        if canonical is None:
            raise SfError("NOT_FOUND", NOT_FOUND_MESSAGE, status=404)
        return self.schemas[canonical]

    def _sobjects(self, req: Request, version: str, rest: list[str]) -> Response:
        if not rest:
            if (bad := self._only(req, "GET")) is not None:
                return bad
            return json_response(200, {"encoding": "UTF-8", "maxBatchSize": MAX_COMPOSITE, "sobjects": [
                {"name": s.name, "label": s.describe()["label"], "custom": s.custom, "keyPrefix": s.key_prefix,
                 "queryable": True, "createable": s.writable, "updateable": s.writable,
                 "urls": {"sobject": f"/services/data/{version}/sobjects/{s.name}",
                          "describe": f"/services/data/{version}/sobjects/{s.name}/describe"}}
                for s in self.schemas.values()]})
        schema = self._schema(rest[0])
        if len(rest) == 1:
            if (bad := self._only(req, "GET")) is not None:
                return bad
            return json_response(200, {"objectDescribe": {k: v for k, v in schema.describe().items()
                                                          if k != "fields"}, "recentItems": []})
        if len(rest) == 2 and rest[1] == "describe":
            if (bad := self._only(req, "GET")) is not None:
                return bad
            payload = schema.describe()
            payload["urls"] = {"sobject": f"/services/data/{version}/sobjects/{schema.name}",
                               "describe": f"/services/data/{version}/sobjects/{schema.name}/describe"}
            return json_response(200, payload)
        if len(rest) == 2:
            if (bad := self._only(req, "GET")) is not None:
                return bad
            record = self._by_id(schema, rest[1])
            if record is None:
                raise SfError("NOT_FOUND", NOT_FOUND_MESSAGE, status=404)
            return json_response(200, self._render(schema.name, record, self._fields_param(req, schema), version))
        if len(rest) == 3:
            ext_field = self._external_id_field(schema, rest[1])
            if req.method == "GET":
                record = self._by_external_id(schema.name, ext_field, rest[2])
                if record is None:
                    raise SfError("NOT_FOUND", NOT_FOUND_MESSAGE, status=404)
                return json_response(200, self._render(schema.name, record, self._fields_param(req, schema),
                                                       version))
            if req.method == "PATCH":
                return self._upsert(req, version, schema, ext_field, rest[2])
            return self._method_not_allowed(req, "GET,PATCH")
        raise SfError("NOT_FOUND", NOT_FOUND_MESSAGE, status=404)

    def _fields_param(self, req: Request, schema: ObjectSchema) -> list[str]:
        param = req.arg("fields")
        if not param:
            return list(schema.fields)
        lookup = {f.lower(): f for f in schema.fields}
        out = []
        for name in (p.strip() for p in param.split(",") if p.strip()):
            if name.lower() not in lookup:
                raise SfError("INVALID_FIELD", f"No such column '{name}' on sobject of type {schema.name}")
            out.append(lookup[name.lower()])
        return out

    def _by_id(self, schema: ObjectSchema, record_id: str) -> dict[str, Any] | None:
        record = self.store.get(SYSTEM, schema.name, record_id)
        if record is None and len(record_id) == 15:
            record = next((r for r in self.store.rows(SYSTEM, schema.name) if r["Id"][:15] == record_id), None)
        return None if record is None or record.get("IsDeleted") else record

    def _by_external_id(self, obj: str, ext_field: str, value: str) -> dict[str, Any] | None:
        try:
            return self.store.find(SYSTEM, obj, ext_field, value)
        except KeyError:  # no record of the object yet
            return None

    def _external_id_field(self, schema: ObjectSchema, name: str) -> str:
        for ext in schema.external_ids:
            if ext.lower() == name.lower():
                return ext
        raise SfError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}",
                      status=404)

    def _render(self, obj: str, record: dict[str, Any], fields: list[str], version: str) -> dict[str, Any]:
        """A record as the REST API returns it: attributes first, then the fields asked for, in order."""
        types = self.schemas[obj].fields
        out: dict[str, Any] = {"attributes": {"type": obj, "url": f"/services/data/{version}/sobjects/{obj}/{record['Id']}"}}
        for name in fields:
            value = record.get(name)
            if value is not None and types.get(name) in _DOUBLE_TYPES and not isinstance(value, bool):
                value = float(value)  # Salesforce renders double/currency/percent as JSON doubles
            out[name] = value
        return out

    # ------------------------------------------------------------------ query
    def _batch_size(self, req: Request, default: int = DEFAULT_BATCH) -> int:
        options = req.header("Sforce-Query-Options") or ""
        m = re.search(r"batchSize\s*=\s*(\d+)", options, re.IGNORECASE)
        if not m:
            return default
        return max(MIN_BATCH, min(MAX_BATCH, int(m.group(1))))

    def _query(self, req: Request, version: str, *, include_deleted: bool) -> Response:
        text = req.arg("q")
        if text is None or not text.strip():
            return errors(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            query = compile_soql(text, self._soql_schemas)
        except QueryError as exc:
            return errors(400, exc.code, exc.message)
        source = self.store.rows(SYSTEM, query.object)
        if isinstance(source, LazyView):  # millions of rows: select row numbers, render page by page
            rows = source.select(query, include_deleted=include_deleted)
        else:
            rows = query.run(source, include_deleted=include_deleted)
        if query.count_only:
            return json_response(200, {"totalSize": len(rows), "done": True, "records": []})

        def render(record: dict[str, Any], obj: str = query.object, fields: list[str] = query.fields) -> dict[str, Any]:
            return self._render(obj, record, fields, version)
        batch = self._batch_size(req)
        if len(rows) <= batch:
            return json_response(200, {"totalSize": len(rows), "done": True, "records": [render(r) for r in rows]})
        cursor = self._cursors.open(rows, batch, render)
        return self._page(version, cursor, rows, 0, batch, render)

    def _query_more(self, req: Request, version: str, locator: str) -> Response:
        m = _LOCATOR.match(locator)
        found = self._cursors.get(m.group(1)) if m else None
        if m is None or found is None:
            return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        records, batch, render = found
        offset = int(m.group(2))
        if offset > len(records):
            return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, m.group(1), records, offset, self._batch_size(req, batch), render)

    @staticmethod
    def _page(version: str, cursor: str, records: Sequence[dict[str, Any]], offset: int, batch: int,
              render: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        end = offset + batch
        payload: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records),
                                   "records": [render(r) for r in records[offset:end]]}
        if end < len(records):
            payload["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}-{end}"
        return json_response(200, payload)

    # ------------------------------------------------------------------ writes
    def _upsert(self, req: Request, version: str, schema: ObjectSchema, ext_field: str, value: str) -> Response:
        if not schema.writable:
            raise SfError("INSUFFICIENT_ACCESS_OR_READONLY",
                          f"This sandbox accepts writes to {STATUS_OBJECT} only, not {schema.name}")
        body = _json_object(req)
        for key in body:
            if key.lower() in ("id", ext_field.lower()):
                raise SfError("INVALID_FIELD", f"No such column '{key}' on sobject of type {schema.name}", (key,))
        value = _ext_value(ext_field, value)
        with self.store.lock:
            fields = self._validate(schema, body)
            record, created = self._merge(schema, ext_field, value, fields)
            status = 201 if created else 200
            payload = {"id": record["Id"], "success": True, "errors": [], "created": created}
            self.store.commit(self._entry(req, schema.name, value, body, status, payload), [(schema.name, record)])
        location = f"/services/data/{version}/sobjects/{schema.name}/{record['Id']}"
        return json_response(status, payload, {"Location": location} if created else None)

    def _composite_upsert(self, req: Request, obj: str, ext_name: str) -> Response:
        schema = self._schema(obj)
        ext_field = self._external_id_field(schema, ext_name)
        if not schema.writable:
            raise SfError("INSUFFICIENT_ACCESS_OR_READONLY",
                          f"This sandbox accepts writes to {STATUS_OBJECT} only, not {schema.name}")
        body = _json_object(req)
        records = body.get("records")
        if not isinstance(records, list) or not records:
            raise SfError("JSON_PARSER_ERROR", "The request must contain a non-empty 'records' array")
        if len(records) > MAX_COMPOSITE:
            raise SfError("EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_COMPOSITE} "
                          "records into this call")
        all_or_none = bool(body.get("allOrNone", False))
        with self.store.lock:
            prepared: list[tuple[str, dict[str, Any]] | SfError] = []
            for rec in records:
                try:
                    prepared.append(self._prepare_composite(schema, ext_field, rec))
                except SfError as exc:
                    prepared.append(exc)
            counts = Counter(p[0] for p in prepared if not isinstance(p, SfError))
            dupes = {v for v, n in counts.items() if n > 1}
            prepared = [SfError("DUPLICATE_VALUE", f"Duplicate external id specified: {p[0]}", (ext_field,))
                        if not isinstance(p, SfError) and p[0] in dupes else p for p in prepared]
            failed = any(isinstance(p, SfError) for p in prepared)
            results: list[dict[str, Any]] = []
            effects: list[tuple[str, dict[str, Any]]] = []
            n_new = 0
            for p in prepared:
                if isinstance(p, SfError):
                    results.append(_failure(p))
                elif all_or_none and failed:
                    results.append(_failure(SfError(
                        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "Record rolled back because not all records were valid and the request was using "
                        "AllOrNone header")))
                else:
                    record, created = self._merge(schema, ext_field, p[0], p[1], new_before=n_new)
                    n_new += created
                    effects.append((schema.name, record))
                    results.append({"id": record["Id"], "success": True, "errors": [], "created": created})
            self.store.commit(self._entry(req, schema.name, None, body, 200, results), effects)
        return json_response(200, results)

    def _composite_delete(self, req: Request) -> Response:
        """``DELETE /composite/sobjects?ids=``: up to 200 records by Id, one DeleteResult per id, in order.

        A delete is soft, as in Salesforce: the record gets ``IsDeleted = true`` and new
        ``LastModifiedDate`` / ``SystemModstamp``, leaves ``query`` and stays in ``queryAll``. Per id:
        ``MALFORMED_ID`` (not a 15/18-character id; the result has no ``id``, as Salesforce's),
        ``INVALID_CROSS_REFERENCE_KEY`` (no such record), ``ENTITY_IS_DELETED`` (deleted already),
        ``INSUFFICIENT_ACCESS_OR_READONLY`` (an object this sandbox does not let clients write).
        """
        ids = [part.strip() for part in (req.arg("ids") or "").split(",") if part.strip()]
        if not ids:
            raise SfError("MISSING_ARGUMENT", "ids: required parameter is missing or empty")
        if len(ids) > MAX_COMPOSITE:
            raise SfError("EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_COMPOSITE} "
                          "records into this call")
        all_or_none = (req.arg("allOrNone") or "false").strip().lower() == "true"
        now = sf_timestamp(datetime.fromtimestamp(self._now(), UTC))
        with self.store.lock:
            found: list[tuple[str, dict[str, Any] | SfError]] = []  # (id as given, record or error)
            objects: dict[str, str] = {}  # Id -> object of the records this call deletes
            for record_id in ids:
                try:
                    obj, record = self._deletable(record_id, objects)
                except SfError as exc:
                    found.append((record_id, exc))
                    continue
                objects[record["Id"]] = obj
                found.append((record_id, record))
            failed = any(isinstance(item, SfError) for _, item in found)
            results: list[dict[str, Any]] = []
            effects: list[tuple[str, dict[str, Any]]] = []
            for record_id, item in found:
                if isinstance(item, SfError):  # Salesforce names no id for a malformed one
                    results.append(_delete_failure(item, None if item.code == "MALFORMED_ID" else record_id))
                elif all_or_none and failed:
                    results.append(_delete_failure(SfError(
                        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "Record rolled back because not all records were valid and the request was using "
                        "AllOrNone header"), item["Id"]))
                else:
                    deleted = {**item, "IsDeleted": True, "LastModifiedDate": now, "SystemModstamp": now}
                    effects.append((objects[item["Id"]], deleted))
                    results.append({"id": item["Id"], "success": True, "errors": []})
            names = ",".join(sorted(set(objects.values()))) or None
            self.store.commit(self._entry(req, names, None, {"ids": ids, "allOrNone": all_or_none}, 200, results),
                              effects)
        return json_response(200, results)

    def _deletable(self, record_id: str, deleting: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """The object and record ``record_id`` names, if a client may delete it; raises ``SfError``."""
        if not is_sf_id(record_id):
            raise SfError("MALFORMED_ID", f"malformed id {record_id}")
        obj = self._by_prefix.get(record_id[:3])
        record = None
        if obj is not None:
            record = self.store.get(SYSTEM, obj, record_id)
            if record is None and len(record_id) == 15 and self.store.lazy_table(SYSTEM, obj) is None:
                record = next((r for r in self.store.rows(SYSTEM, obj) if r["Id"][:15] == record_id), None)
        if obj is None or record is None:
            raise SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record.get("IsDeleted") or record["Id"] in deleting:
            raise SfError("ENTITY_IS_DELETED", "entity is deleted")
        if not self.schemas[obj].writable:
            raise SfError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
        return obj, record

    def _prepare_composite(self, schema: ObjectSchema, ext_field: str, rec: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(rec, dict):
            raise SfError("JSON_PARSER_ERROR", "Each record must be a JSON object")
        attrs = rec.get("attributes")
        if not isinstance(attrs, dict) or not isinstance(attrs.get("type"), str):
            raise SfError("INVALID_TYPE", "Must send a concrete entity type.")
        if attrs["type"].lower() != schema.name.lower():
            raise SfError("INVALID_TYPE", f"Record type {attrs['type']} does not match {schema.name}")
        value = next((v for k, v in rec.items() if k.lower() == ext_field.lower()), None)
        if value is None or value == "" or isinstance(value, bool | dict | list):
            raise SfError("MISSING_ARGUMENT", f"{ext_field} not specified", (ext_field,))
        body = {k: v for k, v in rec.items() if k.lower() != ext_field.lower()}
        for key in body:
            if key.lower() == "id":
                raise SfError("INVALID_FIELD", f"No such column '{key}' on sobject of type {schema.name}", (key,))
        return _ext_value(ext_field, value), self._validate(schema, body)

    def _validate(self, schema: ObjectSchema, body: dict[str, Any]) -> dict[str, Any]:
        """Body fields by canonical name with values coerced to their type; raises ``SfError``."""
        lookup = {f.lower(): f for f in schema.fields}
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key == "attributes":
                continue
            name = lookup.get(key.lower())
            if name is None:
                raise SfError("INVALID_FIELD", f"No such column '{key}' on sobject of type {schema.name}", (key,))
            if name in SYSTEM_FIELDS:
                raise SfError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. Please "
                              "check the security settings of this field and verify that it is read/write for your "
                              "profile or permission set.", (name,))
            out[name] = self._coerce(name, schema.fields[name], value)
        return out

    def _coerce(self, name: str, ftype: str, value: Any) -> Any:
        if value is None:
            return None

        def parser_error(kind: str) -> SfError:
            return SfError("JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind} from VALUE_STRING value "
                           f"{value} or request may be missing a required field", (name,))

        if ftype in ("double", "currency", "percent", "int"):
            if isinstance(value, bool):
                raise parser_error("double")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise parser_error("double") from None
            return int(number) if ftype == "int" else number
        if ftype == "boolean":
            if not isinstance(value, bool):
                raise parser_error("boolean")
            return value
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise parser_error("string")
        text = str(value)
        if ftype == "date":
            if parse_date(text) is None:
                raise parser_error("date")
            return text
        if ftype == "datetime":
            instant = parse_instant(text)
            if instant is None or "T" not in text:
                raise parser_error("datetime")
            return sf_timestamp(instant)
        if ftype == "reference":
            return self._reference(name, text)
        if name == "CurrencyIsoCode" and text not in self._currencies:
            raise SfError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                          f"Currency ISO Code: bad value for restricted picklist field: {text}", (name,))
        limit = string_length(name)
        if len(text) > limit:
            raise SfError("STRING_TOO_LONG", f"{name}: data value too large: {text[:40]} (max length={limit})",
                          (name,))
        return text

    def _reference(self, name: str, value: str) -> str:
        if not is_sf_id(value):
            raise SfError("MALFORMED_ID", f"{name}: id value of incorrect type: {value}", (name,))
        target = REFERENCE_TO.get(name)
        if target is None:
            return value
        schema = self.schemas[target]
        if schema.key_prefix and value[:3] != schema.key_prefix:
            raise SfError("FIELD_INTEGRITY_EXCEPTION", f"{name}: id value of incorrect type: {value}", (name,))
        record = self._by_id(schema, value)
        if record is None:
            raise SfError("INVALID_CROSS_REFERENCE_KEY", f"{name}: invalid cross reference id", (name,))
        return record["Id"]

    def _merge(self, schema: ObjectSchema, ext_field: str, value: str, fields: dict[str, Any],
               new_before: int = 0) -> tuple[dict[str, Any], bool]:
        """The record after upserting ``fields`` at external id ``value``, and whether it is new.

        ``new_before`` counts records this same request creates ahead of this one (not stored yet).
        """
        now = sf_timestamp(datetime.fromtimestamp(self._now(), UTC))
        existing = self._by_external_id(schema.name, ext_field, value)
        if existing is not None:
            record = {**existing, **fields, "LastModifiedDate": now, "SystemModstamp": now}
            if not record.get("Name"):
                record["Name"] = record["Id"]
            return record, False
        record_id = self._next_id(schema, new_before)
        record = {name: None for name in schema.fields}
        record.update({"Id": record_id, "IsDeleted": False, ext_field: value,
                       "CurrencyIsoCode": DEFAULT_CURRENCY, **fields,
                       "CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now})
        if not record.get("Name"):
            record["Name"] = record_id
        return record, True

    def _next_id(self, schema: ObjectSchema, new_before: int = 0) -> str:
        prefix = schema.key_prefix or "a00"
        try:
            largest = self.store.max_key_number(SYSTEM, schema.name, 3, 15)
        except KeyError:  # no record of the object yet
            largest = 0
        return f"{prefix}{largest + 1 + new_before:012d}AAA"

    def _entry(self, req: Request, obj: str | None, key: str | None, body: Any, status: int, response: Any) -> dict[str, Any]:
        return {"system": SYSTEM, "method": req.method, "path": req.path, "object": obj, "key": key,
                "idempotency_key": None, "replayed": False, "status": status, "body": body,
                "response": response, "at": datetime.now(UTC).isoformat()}


def _typing_sample(rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """The records to type an object's fields from: all of them, or a spread sample of a lazy object."""
    return rows.sample(TYPING_SAMPLE) if isinstance(rows, LazyView) else rows


def _json_object(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except (ValueError, UnicodeDecodeError):
        raise SfError("JSON_PARSER_ERROR", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise SfError("JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from a non-object value")
    return body


def _ext_value(ext_field: str, value: Any) -> str:
    text = value if isinstance(value, str) else format(value, "g") if isinstance(value, float) else str(value)
    if len(text) > string_length(ext_field):
        raise SfError("STRING_TOO_LONG", f"{ext_field}: data value too large: {text[:40]} (max length=255)",
                      (ext_field,))
    return text


def _failure(exc: SfError) -> dict[str, Any]:
    return {"id": None, "success": False, "created": False,
            "errors": [{"statusCode": exc.code, "message": exc.message, "fields": list(exc.fields)}]}


def _delete_failure(exc: SfError, record_id: str | None) -> dict[str, Any]:
    """A failed DeleteResult (without ``id`` when ``record_id`` is None, as Salesforce's for a malformed id)."""
    result = {"success": False,
              "errors": [{"statusCode": exc.code, "message": exc.message, "fields": list(exc.fields)}]}
    return result if record_id is None else {"id": record_id, **result}
