"""NetSuite's REST record service, for the record types the sandbox lets clients write.

Routes (under ``/services/rest/record/v1``):

- ``GET   /{type}/{id}`` and ``/{type}/eid:{externalId}``: the record in REST-record form
  (camelCase fields, references as ``{"id", "refName", "links"}``, null fields left out);
- ``PUT   /{type}/eid:{externalId}``: upsert. Creates the record if none of that type carries the
  external id, else updates the fields given. ``204 No Content`` with ``Location`` naming the record;
- ``PATCH /{type}/{id}`` and ``/{type}/eid:{externalId}``: update of an existing record (204).

Writable types and fields:

- ``customer`` (SuiteQL table ``customer``): ``companyName`` and ``subsidiary`` required on create;
  ``entityId`` (default ``CUST-nnnnn``), ``currency`` (default: the subsidiary's), ``email``,
  ``phone``, ``parent``, ``isInactive``, and ``custentity_*`` columns the table has.
- ``invoice`` (table ``transaction``, ``type = 'CustInvc'``): ``entity`` and ``item`` required on
  create; ``item`` is ``{"items": [{"amount"} | {"quantity", "rate"}, ...]}`` and sets the total
  (the sandbox keeps the header only, not the lines); ``tranId`` (default ``INVnnnnn``),
  ``tranDate`` (default today), ``dueDate`` (default ``tranDate`` + 30 days), ``subsidiary`` and
  ``currency`` (default: the customer's), ``memo``, and ``custbody_*`` columns the table has.
  ``total``, ``amountPaid``, ``amountRemaining`` and ``status`` are read-only, as in NetSuite.

References are written as ``{"id": "..."}`` or ``{"externalId": "..."}``. Every accepted write
is logged like the other systems' writes (and replayed on start). Records written here are what
SuiteQL then serves.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sandbox.sqlcore import parse_date
from sandbox.store import Store
from sandbox.web import Request, Response, json_response

SYSTEM = "netsuite"
RECORD_PREFIX = "/services/rest/record/v1"
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.\-:]{1,255}$")


class RecordError(Exception):
    """A NetSuite error answer: HTTP status, detail and ``o:errorCode``."""

    def __init__(self, status: int, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code = status, detail, code


@dataclass(frozen=True)
class Field:
    column: str
    kind: str = "string"  # string | date | number | bool | ref | status
    ref: str | None = None  # the record type a reference points at
    writable: bool = True


@dataclass(frozen=True)
class RecordType:
    name: str
    table: str
    fields: dict[str, Field]
    required: tuple[str, ...]
    custom_prefix: str
    created_column: str
    where: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # field -> label in "Please enter value(s) for"


RECORD_TYPES: dict[str, RecordType] = {
    "customer": RecordType(
        "customer", "customer", {
            "entityId": Field("entityid"), "companyName": Field("companyname"), "email": Field("email"),
            "phone": Field("phone"), "subsidiary": Field("subsidiary", "ref", "subsidiary"),
            "currency": Field("currency", "ref", "currency"), "parent": Field("parent", "ref", "customer"),
            "isInactive": Field("isinactive", "bool"),
            "dateCreated": Field("datecreated", writable=False),
            "lastModifiedDate": Field("lastmodifieddate", writable=False),
        }, required=("companyName", "subsidiary"), custom_prefix="custentity_", created_column="datecreated",
        labels={"companyName": "Company Name", "subsidiary": "Primary Subsidiary"}),
    "invoice": RecordType(
        "invoice", "transaction", {
            "tranId": Field("tranid"), "tranDate": Field("trandate", "date"), "dueDate": Field("duedate", "date"),
            "entity": Field("entity", "ref", "customer"), "subsidiary": Field("subsidiary", "ref", "subsidiary"),
            "currency": Field("currency", "ref", "currency"), "memo": Field("memo"),
            "total": Field("foreigntotal", "number", writable=False),
            "amountPaid": Field("foreignamountpaid", "number", writable=False),
            "amountRemaining": Field("foreignamountunpaid", "number", writable=False),
            "status": Field("status", "status", writable=False),
            "createdDate": Field("createddate", writable=False),
            "lastModifiedDate": Field("lastmodifieddate", writable=False),
        }, required=("entity", "item"), custom_prefix="custbody_", created_column="createddate",
        where={"type": "CustInvc"}, labels={"entity": "Customer", "item": "Items"}),
}
# Where references point: record type -> (table, where, what its refName shows).
REF_TABLES: dict[str, tuple[str, dict[str, Any], Callable[[Mapping[str, Any]], str]]] = {
    "customer": ("customer", {}, lambda r: " ".join(str(r[c]) for c in ("entityid", "companyname") if r.get(c))),
    "subsidiary": ("subsidiary", {}, lambda r: str(r.get("name") or r["id"])),
    "currency": ("currency", {}, lambda r: str(r.get("name") or r.get("symbol") or r["id"])),
}
# SuiteQL columns the writable fields add to the tables' schemas (only non-null values show).
EXTRA_COLUMNS = {"customer": {"email": "string", "phone": "string", "parent": "integer", "isinactive": "string"},
                 "transaction": {"externalid": "string", "memo": "string"}}
DEFAULT_TERMS_DAYS = 30
# Records clients create are numbered in their own band, above anything the world numbers (its ids and
# document numbers grow as the clock creates records, and must never meet a client's).
CLIENT_ID_BAND = 900_000_000
CLIENT_NUMBER_BAND = 900_000


class RecordService:
    """The record routes of one NetSuite app; ``schemas`` are the app's SuiteQL column types."""

    def __init__(self, store: Store, schemas: dict[str, dict[str, str]], base_url: Callable[[], str],
                 now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.schemas = schemas
        self._base_url = base_url
        self._now = now
        for table, columns in EXTRA_COLUMNS.items():
            if table in schemas:
                for column, ctype in columns.items():
                    schemas[table].setdefault(column, ctype)

    def handle(self, req: Request) -> Response:
        seg = req.path[len(RECORD_PREFIX):].strip("/").split("/")
        if len(seg) != 2 or not seg[0] or not seg[1]:
            raise RecordError(404, f"Invalid request URL: {req.path}", "NONEXISTENT_ID")
        rtype = RECORD_TYPES.get(seg[0].lower())
        if rtype is None:
            raise RecordError(404, f"Record type '{seg[0]}' does not exist or is not available in this sandbox "
                              f"(available: {', '.join(RECORD_TYPES)}).", "INVALID_RCRD_TYPE")
        key = unquote(seg[1])
        external_id = key[4:] if key.lower().startswith("eid:") else None
        if external_id is not None and not _EXTERNAL_ID.match(external_id):
            raise RecordError(400, f"Invalid external ID: '{external_id}'.", "INVALID_ID")
        if req.method == "GET":
            row = self._find(rtype, key, external_id)
            if row is None:
                raise _not_found()
            return json_response(200, self.render(rtype, row))
        if req.method == "PUT":
            if external_id is None:
                raise RecordError(405, "PUT is an upsert and needs an external ID: use /{type}/eid:{externalId} "
                                  "(or PATCH /{type}/{id} to update).", "METHOD_NOT_ALLOWED")
            return self._write(req, rtype, key, external_id, upsert=True)
        if req.method == "PATCH":
            return self._write(req, rtype, key, external_id, upsert=False)
        raise RecordError(405, f"Method {req.method} is not allowed for this resource.", "METHOD_NOT_ALLOWED")

    # ------------------------------------------------------------------ reads
    def _rows(self, rtype: RecordType) -> list[dict[str, Any]]:
        return [r for r in self.store.rows(SYSTEM, rtype.table) if all(r.get(k) == v for k, v in rtype.where.items())]

    def _find(self, rtype: RecordType, key: str, external_id: str | None) -> dict[str, Any] | None:
        if external_id is not None:
            return next((r for r in self._rows(rtype) if r.get("externalid") == external_id), None)
        row = self.store.get(SYSTEM, rtype.table, key)
        return row if row is not None and all(row.get(k) == v for k, v in rtype.where.items()) else None

    def location(self, rtype: str, record_id: str) -> str:
        return f"{self._base_url()}{RECORD_PREFIX}/{rtype}/{record_id}"

    def render(self, rtype: RecordType, row: Mapping[str, Any]) -> dict[str, Any]:
        """A stored row as the record API shows it."""
        out: dict[str, Any] = {"links": [{"rel": "self", "href": self.location(rtype.name, row["id"])}],
                               "id": str(row["id"])}
        if row.get("externalid") is not None:
            out["externalId"] = row["externalid"]
        for name, spec in rtype.fields.items():
            value = row.get(spec.column)
            if value is None:
                continue
            if spec.kind == "ref":
                out[name] = self._ref(spec.ref or "", str(value))
            elif spec.kind == "status":
                out[name] = {"id": str(value), "refName": str(value)}
            elif spec.kind == "number":
                out[name] = float(value)
            elif spec.kind == "bool":
                out[name] = value in (True, "T")
            else:
                out[name] = value
        for column in sorted(row):
            if column.startswith(rtype.custom_prefix) and row[column] is not None:
                out[column] = row[column]
        return out

    def _ref(self, rtype: str, record_id: str) -> dict[str, Any]:
        table, _, label = REF_TABLES[rtype]
        ref: dict[str, Any] = {"links": [{"rel": "self", "href": self.location(rtype, record_id)}], "id": record_id}
        target = self.store.get(SYSTEM, table, record_id)
        if target is not None:
            ref["refName"] = label(target)
        return ref

    # ------------------------------------------------------------------ writes
    def _write(self, req: Request, rtype: RecordType, key: str, external_id: str | None, *, upsert: bool) -> Response:
        body = _json_body(req)
        with self.store.lock:
            existing = self._find(rtype, key, external_id)
            if existing is None and not upsert:
                raise _not_found()
            values = self._values(rtype, body, existing)
            now = datetime.fromtimestamp(self._now(), UTC)
            stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            if existing is None:
                missing = [f for f in rtype.required if body.get(f) in (None, "", [], {})]
                if missing:
                    raise RecordError(400, "Please enter value(s) for: "
                                      + ", ".join(rtype.labels.get(f, f) for f in missing) + ".", "USER_ERROR")
                record = self._new(rtype, values, external_id, now)
                record.update({rtype.created_column: stamp, "lastmodifieddate": stamp})
            else:
                record = {**existing, **values, "lastmodifieddate": stamp}
                if rtype.name == "invoice" and "foreigntotal" in values:
                    paid = float(existing.get("foreignamountpaid") or 0)
                    record["foreignamountunpaid"] = round(record["foreigntotal"] - paid, 2)
                    record["status"] = "Paid In Full" if record["foreignamountunpaid"] <= 0 else "Open"
            created = existing is None
            location = self.location(rtype.name, record["id"])
            self.store.commit({"system": SYSTEM, "method": req.method, "path": req.path, "object": rtype.table,
                               "key": external_id or record["id"], "idempotency_key": None, "replayed": False,
                               "status": 204, "body": body,
                               "response": {"id": record["id"], "created": created, "location": location},
                               "at": datetime.now(UTC).isoformat()}, [(rtype.table, record)])
        return Response(204, b"", {"Location": location})

    def _values(self, rtype: RecordType, body: dict[str, Any], existing: Mapping[str, Any] | None) -> dict[str, Any]:
        """Body fields as table columns, validated; raises ``RecordError``."""
        columns = self.schemas.get(rtype.table, {})
        out: dict[str, Any] = {}
        for name, value in body.items():
            if name in ("links", "id", "externalId"):
                if name == "externalId" and existing is not None and value != existing.get("externalid"):
                    raise RecordError(400, "The external ID in the body does not match the one in the URL.",
                                      "INVALID_CONTENT")
                continue
            if name == "item" and rtype.name == "invoice":
                out["foreigntotal"] = _lines_total(value)
                continue
            spec = rtype.fields.get(name)
            if spec is None:
                if name.startswith(rtype.custom_prefix) and name.lower() in columns:
                    out[name.lower()] = _scalar(name, value)
                    continue
                raise RecordError(400, f"Error while accessing a resource. You have entered an invalid field name: "
                                  f"'{name}' is not a field of record type '{rtype.name}'.", "INVALID_CONTENT")
            if not spec.writable:
                raise RecordError(400, f"Error while accessing a resource. Field '{name}' is read-only.",
                                  "INVALID_CONTENT")
            out[spec.column] = self._coerce(name, spec, value)
        return out

    def _coerce(self, name: str, spec: Field, value: Any) -> Any:
        if value is None:
            return None
        if spec.kind == "ref":
            return self._resolve(name, spec.ref or "", value)
        if spec.kind == "date":
            if not isinstance(value, str) or parse_date(value) is None:
                raise RecordError(400, f"Invalid date value for field '{name}': {value!r}. Use YYYY-MM-DD.",
                                  "INVALID_CONTENT")
            return value
        if spec.kind == "bool":
            if not isinstance(value, bool):
                raise RecordError(400, f"Invalid boolean value for field '{name}': {value!r}.", "INVALID_CONTENT")
            return "T" if value else "F"
        if not isinstance(value, str):
            raise RecordError(400, f"Invalid value for field '{name}': expected a string, got {value!r}.",
                              "INVALID_CONTENT")
        return value

    def _resolve(self, name: str, rtype: str, value: Any) -> str:
        table, where, _ = REF_TABLES[rtype]
        rows = [r for r in self.store.rows(SYSTEM, table) if all(r.get(k) == v for k, v in where.items())]
        if isinstance(value, Mapping) and value.get("id") is not None:
            wanted = str(value["id"])
            found = next((r for r in rows if str(r["id"]) == wanted), None)
        elif isinstance(value, Mapping) and value.get("externalId") is not None:
            wanted = str(value["externalId"])
            found = next((r for r in rows if r.get("externalid") == wanted), None)
        else:
            raise RecordError(400, f"Invalid value for field '{name}': a reference is written as {{\"id\": ...}} "
                              "or {\"externalId\": ...}.", "INVALID_CONTENT")
        if found is None:
            raise RecordError(400, f"Invalid {name} reference key {wanted}.", "INVALID_KEY_OR_REF")
        return str(found["id"])

    def _new(self, rtype: RecordType, values: dict[str, Any], external_id: str | None,
             now: datetime) -> dict[str, Any]:
        rows = self.store.rows(SYSTEM, rtype.table)
        ids = (int(r["id"]) for r in rows if str(r["id"]).isdigit())
        record: dict[str, Any] = {"id": str(max((i for i in ids if i > CLIENT_ID_BAND), default=CLIENT_ID_BAND) + 1),
                                  "externalid": external_id}
        if rtype.name == "customer":
            subsidiary = self.store.get(SYSTEM, "subsidiary", values["subsidiary"]) or {}
            record.update({"entityid": _next_number(rows, "entityid", "CUST-", 5, CLIENT_NUMBER_BAND), "currency": subsidiary.get("currency")})
        else:
            customer = self.store.get(SYSTEM, "customer", values["entity"]) or {}
            tran_date = values.get("trandate") or now.date().isoformat()
            due = (datetime.fromisoformat(tran_date) + timedelta(days=DEFAULT_TERMS_DAYS)).date().isoformat()
            invoices = [r for r in rows if r.get("type") == "CustInvc"]
            record.update({"tranid": _next_number(invoices, "tranid", "INV", 0, CLIENT_NUMBER_BAND), "type": "CustInvc",
                           "trandate": tran_date, "duedate": due, "subsidiary": customer.get("subsidiary"),
                           "currency": customer.get("currency"), "foreignamountpaid": 0.0, "status": "Open",
                           "custbody_q2c_applied_to": None})
        record.update({k: v for k, v in values.items() if v is not None or k not in record})
        if rtype.name == "invoice":
            record["foreignamountunpaid"] = record["foreigntotal"]
        return record


def _lines_total(value: Any) -> float:
    items = value.get("items") if isinstance(value, Mapping) else None
    if not isinstance(items, list) or not items:
        raise RecordError(400, "Invalid value for field 'item': expected {\"items\": [{\"amount\": ...}, ...]} with at "
                          "least one line.", "INVALID_CONTENT")
    total = 0.0
    for i, line in enumerate(items):
        if not isinstance(line, Mapping):
            raise RecordError(400, f"Invalid item line {i}: expected an object.", "INVALID_CONTENT")
        amount = line.get("amount")
        if amount is None and line.get("rate") is not None:
            amount = _number(f"item.items[{i}].rate", line["rate"]) * _number(
                f"item.items[{i}].quantity", line.get("quantity", 1))
        if amount is None:
            raise RecordError(400, f"Please enter value(s) for: Amount (item line {i}).", "USER_ERROR")
        total += _number(f"item.items[{i}].amount", amount)
    return round(total, 2)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(400, f"Invalid number value for field '{name}': {value!r}.", "INVALID_CONTENT")
    return float(value)


def _scalar(name: str, value: Any) -> Any:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise RecordError(400, f"Invalid value for field '{name}': {value!r}.", "INVALID_CONTENT")
    return value


def _next_number(rows: Iterable[dict[str, Any]], column: str, prefix: str, width: int, band: int) -> str:
    """The next document number of the client band (above ``band``), clear of the world's own numbers."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)$")
    numbers = [n for r in rows if (m := pattern.match(str(r.get(column) or ""))) and (n := int(m.group(1))) > band]
    return f"{prefix}{max(numbers, default=band) + 1:0{width}d}"


def _json_body(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except (ValueError, UnicodeDecodeError):
        raise RecordError(400, "Invalid content in the request body: it must be a JSON object.",
                          "INVALID_CONTENT") from None
    if not isinstance(body, dict):
        raise RecordError(400, "Invalid content in the request body: it must be a JSON object.", "INVALID_CONTENT")
    return body


def _not_found() -> RecordError:
    return RecordError(404, "The record instance does not exist. Provide a valid record instance ID.",
                       "NONEXISTENT_ID")
