"""Stripe API simulator (``/v1``): customers, invoices and invoice items, with idempotent POSTs.

Routes:

- ``GET  /v1/customers``, ``/v1/invoices``, ``/v1/invoiceitems`` (cursor-paginated lists), and the world's
  read-only ``/v1/subscriptions``, ``/v1/subscription_schedules``, ``/v1/invoice_payments``,
  ``/v1/credit_notes``, ``/v1/tax_rates``
- ``GET  /v1/{resource}/{id}``; ``GET /v1/credit_notes/{id}/lines`` (a credit note's line items, paged)
- ``POST /v1/invoiceitems`` (create) and ``POST /v1/invoiceitems/{id}`` (update)
- ``DELETE /v1/invoiceitems/{id}`` (a pending item, or one on a draft invoice; emits ``invoiceitem.deleted``)
- ``GET  /v1/events`` and ``/v1/events/{id}`` (the store's event log, see ``sandbox.events``)

Lists are newest first (``created`` desc, then ``id`` desc) and take ``limit``,
``starting_after``, ``ending_before``, ``created`` / ``created[gt|gte|lt|lte]`` and per-resource
filters; lists and retrieves take ``expand[]`` (``sandbox.stripe_expand``). POSTs honour ``Idempotency-Key`` (same key + same request replays the stored response
with ``Idempotent-Replayed: true``; same key + different request is an ``idempotency_error``). As in
Stripe, a DELETE ignores ``Idempotency-Key`` (deleting twice is a 404 the second time).

A deleted invoice item stays in the store as its last snapshot with ``"deleted": true`` (the write log
replays it so); the API treats it as gone: retrieve, update, delete and list cursors answer 404
``resource_missing`` and lists leave it out.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.auth import basic_credentials, bearer_token, secrets_equal
from sandbox.events import API_VERSION, MAX_TYPES, type_matcher
from sandbox.store import Store
from sandbox.stripe_expand import ExpandError, check_paths, expand, expand_params, is_expand_param
from sandbox.web import Request, Response, json_response

SYSTEM = "stripe"
DEFAULT_API_VERSION = API_VERSION  # the account's default; events are rendered in it
IDEMPOTENCY_TTL = 24 * 3600
MAX_IDEMPOTENCY_KEY = 255
# Currencies Stripe accepts (a practical subset of ISO 4217 codes it supports).
CURRENCIES = frozenset({
    "usd", "gbp", "eur", "cad", "aud", "nzd", "chf", "sek", "nok", "dkk", "jpy", "sgd", "hkd", "inr",
    "brl", "mxn", "pln", "czk", "huf", "ron", "bgn", "zar", "ils", "aed", "sar", "try", "cny", "krw",
    "thb", "myr", "php", "idr", "twd",
})
_ALNUM = string.digits + string.ascii_uppercase + string.ascii_lowercase  # ASCII order
_INT = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Resource:
    name: str  # path segment and list url
    obj: str  # the "object" value / singular noun in errors
    filters: frozenset[str]


RESOURCES = {
    "customers": Resource("customers", "customer", frozenset({"email"})),
    "invoices": Resource("invoices", "invoice", frozenset({"customer", "status", "collection_method"})),
    "invoiceitems": Resource("invoiceitems", "invoiceitem", frozenset({"customer", "invoice"})),
    # The world's recurring billing (sandbox.world): read-only lists. As Stripe does, subscriptions are
    # listed without the canceled ones unless ``status`` asks for them (``status=canceled`` or ``all``).
    "subscriptions": Resource("subscriptions", "subscription", frozenset({"customer", "status"})),
    "invoice_payments": Resource("invoice_payments", "invoice_payment", frozenset({"invoice", "status"})),
    "tax_rates": Resource("tax_rates", "tax_rate", frozenset()),
    "credit_notes": Resource("credit_notes", "credit_note", frozenset({"customer", "invoice"})),
    # Every schedule is listed; ``scheduled=true`` keeps those not started yet (``false`` the others), and
    # ``canceled_at`` / ``completed_at`` / ``released_at`` (exact or ``[gt|gte|lt|lte]``) those that ended so then.
    "subscription_schedules": Resource("subscription_schedules", "subscription_schedule", frozenset({
        "customer", "scheduled", *(f"{name}{op}" for name in ("canceled_at", "completed_at", "released_at")
                                   for op in ("", "[gt]", "[gte]", "[lt]", "[lte]"))})),
}
_SCHEDULE_TIMES = ("canceled_at", "completed_at", "released_at")
SUBSCRIPTION_STATUSES = ("active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "trialing",
                         "paused")
_LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "created[gt]", "created[gte]",
                          "created[lt]", "created[lte]"})
_CREATE_PARAMS = frozenset({"customer", "amount", "currency", "description", "period[start]", "period[end]"})
_UPDATE_PARAMS = frozenset({"amount", "description", "period[start]", "period[end]"})
_EVENT_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "created[gt]", "created[gte]",
                           "created[lt]", "created[lte]", "type", "delivery_success"})
_TYPES_KEY = re.compile(r"^types\[\d*\]$")


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
        if self.param:
            err["param"] = self.param
        return {"error": err}


def _missing(obj: str, key: str, param: str) -> StripeError:
    return StripeError(400 if param != "id" else 404, f"No such {obj}: '{key}'", param=param,
                       code="resource_missing")


class StripeApi:
    """The Stripe app: authenticates with one secret key."""

    system = SYSTEM

    def __init__(self, store: Store, api_key: str, *, base_url: str = "",
                 now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.base_url = base_url
        self._api_key = api_key
        self._now = now
        self._id_lock = threading.Lock()
        self._last_stamp = 0
        store.ensure_table(SYSTEM, "invoiceitems")
        store.ensure_table(SYSTEM, "customers")
        store.ensure_table(SYSTEM, "invoices")
        for name in ("subscriptions", "invoice_payments", "tax_rates", "credit_notes", "subscription_schedules"):
            store.ensure_table(SYSTEM, name)

    def internal_error(self) -> Response:
        return json_response(500, {"error": {"type": "api_error", "message": "An unknown error occurred"}})

    def handle(self, req: Request) -> Response:
        request_id = "req_" + "".join(secrets.choice(_ALNUM) for _ in range(14))
        headers = {"Request-Id": request_id, "Stripe-Version": req.header("Stripe-Version") or DEFAULT_API_VERSION}
        try:
            self._authenticate(req)
            response = self._route(req, request_id)
        except ExpandError as exc:
            response = json_response(400, StripeError(400, exc.message, param=exc.param).body())
        except StripeError as exc:
            response = json_response(exc.status, exc.body())
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    def _authenticate(self, req: Request) -> None:
        auth = req.header("Authorization")
        key = bearer_token(auth)
        if key is None and (basic := basic_credentials(auth)) is not None:
            key = basic[0]
        if not key:
            raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                              "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                              "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                              "or we can help at https://support.stripe.com/.")
        if not secrets_equal(key, self._api_key):
            raise StripeError(401, f"Invalid API Key provided: {mask_key(key)}")

    def _route(self, req: Request, request_id: str) -> Response:
        seg = req.segments
        if len(seg) in (2, 3) and seg[:2] == ["v1", "events"] and req.method == "GET":
            return self._events(req) if len(seg) == 2 else self._event(req, seg[2])
        if len(seg) == 4 and seg[:2] == ["v1", "credit_notes"] and seg[3] == "lines" and req.method == "GET":
            return self._credit_note_lines(req, seg[2])
        if len(seg) in (2, 3) and seg[0] == "v1" and seg[1] in RESOURCES:
            resource = RESOURCES[seg[1]]
            if req.method == "GET":
                return self._list(req, resource) if len(seg) == 2 else self._retrieve(req, resource, seg[2])
            if req.method == "POST" and resource.name == "invoiceitems":
                return self._idempotent(req, resource, seg[2] if len(seg) == 3 else None, request_id)
            if req.method == "DELETE" and resource.name == "invoiceitems" and len(seg) == 3:
                return self._delete_item(req, resource, seg[2], request_id)
        raise StripeError(404, f"Unrecognized request URL ({req.method}: {req.path}). Please see "
                          "https://stripe.com/docs or we can help at https://support.stripe.com/.")

    # ------------------------------------------------------------------ reads
    def _get(self, resource: str, object_id: str) -> dict[str, Any] | None:
        """The stored object, or None if there is none or it was deleted."""
        record = self.store.get(SYSTEM, resource, object_id)
        return None if record is None or record.get("deleted") else record

    def _retrieve(self, req: Request, resource: Resource, object_id: str) -> Response:
        record = self._get(resource.name, object_id)
        if record is None:
            raise _missing(resource.obj, object_id, "id")
        paths = check_paths(expand_params(req.query), resource.obj, in_list=False)
        return json_response(200, expand(record, paths, self._lookup) if paths else record)

    def _lookup(self, resource: str, object_id: str) -> dict[str, Any] | None:
        return self._get(resource, object_id)

    def _list(self, req: Request, resource: Resource) -> Response:
        params = {k: v[-1] for k, v in req.query.items()}
        for key in params:
            if key not in _LIST_PARAMS and key not in resource.filters and not is_expand_param(key):
                raise StripeError(400, f"Received unknown parameter: {key}", param=key)
        paths = check_paths(expand_params(req.query), resource.obj, in_list=True)
        limit, after, before = _page_params(params)
        rows = self.store.rows(SYSTEM, resource.name)
        bounds = _created_bounds(params)
        filters = {k: params[k] for k in resource.filters if k in params}
        hidden: set[str] = set()
        ended: dict[str, dict[str, int]] = {}  # subscription schedules: canceled_at / completed_at / released_at
        if resource.name == "subscription_schedules":
            ended = {name: b for name in _SCHEDULE_TIMES if (b := _time_bounds(params, name))}
            for name in list(filters):
                if name.split("[")[0] in _SCHEDULE_TIMES:
                    filters.pop(name)
            scheduled = filters.pop("scheduled", None)
            if scheduled not in (None, "true", "false"):
                raise StripeError(400, f"Invalid boolean: {scheduled}", param="scheduled")
            if scheduled is not None:
                others = {"active", "completed", "released", "canceled"}
                hidden = others if scheduled == "true" else {"not_started"}
        if resource.name == "subscriptions":
            status = filters.pop("status", None)
            if status is None:
                hidden = {"canceled", "incomplete_expired"}
            elif status == "ended":
                hidden = {s for s in SUBSCRIPTION_STATUSES if s not in ("canceled", "incomplete_expired")}
            elif status not in ("all", *SUBSCRIPTION_STATUSES):
                raise StripeError(400, f"Invalid status: must be one of {', '.join(('all', 'ended', *SUBSCRIPTION_STATUSES))}",
                                  param="status")
            elif status != "all":
                filters["status"] = status
        matching = [r for r in rows if not r.get("deleted") and _created_ok(r, bounds)
                    and all(r.get(k) == v for k, v in filters.items())
                    and r.get("status") not in hidden
                    and all(_time_ok(r.get(name), b) for name, b in ended.items())]
        matching.sort(key=_sort_key, reverse=True)  # newest first
        if after or before:
            cursor_id = after or before
            cursor = self._get(resource.name, cursor_id)
            if cursor is None:
                raise _missing(resource.obj, cursor_id, "starting_after" if after else "ending_before")
            pivot = _sort_key(cursor)
            if after:
                rest = [r for r in matching if _sort_key(r) < pivot]
                page, has_more = rest[:limit], len(rest) > limit
            else:
                rest = [r for r in matching if _sort_key(r) > pivot]
                page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = matching[:limit], len(matching) > limit
        if paths:
            page = [expand(r, paths, self._lookup) for r in page]
        return json_response(200, {"object": "list", "url": f"/v1/{resource.name}", "has_more": has_more,
                                   "data": page})

    def _credit_note_lines(self, req: Request, note_id: str) -> Response:
        """``GET /v1/credit_notes/{id}/lines``: the note's line items in their order, paged by id."""
        params = {k: v[-1] for k, v in req.query.items()}
        for key in params:
            if key not in ("limit", "starting_after", "ending_before") and not is_expand_param(key):
                raise StripeError(400, f"Received unknown parameter: {key}", param=key)
        check_paths(expand_params(req.query), "credit_note_line_item", in_list=True)
        note = self.store.get(SYSTEM, "credit_notes", note_id)
        if note is None:
            raise _missing("credit_note", note_id, "id")
        limit, after, before = _page_params(params)
        lines = list((note.get("lines") or {}).get("data") or [])
        ids = [line["id"] for line in lines]
        cursor = after or before
        if cursor and cursor not in ids:
            raise _missing("credit_note_line_item", cursor, "starting_after" if after else "ending_before")
        if after:
            rest = lines[ids.index(after) + 1:]
            page, has_more = rest[:limit], len(rest) > limit
        elif before:
            rest = lines[:ids.index(before)]
            page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = lines[:limit], len(lines) > limit
        return json_response(200, {"object": "list", "url": f"/v1/credit_notes/{note_id}/lines",
                                   "has_more": has_more, "data": page})

    # ------------------------------------------------------------------ events
    def _events(self, req: Request) -> Response:
        params = {k: v[-1] for k, v in req.query.items()}
        types = [v for k, values in req.query.items() if _TYPES_KEY.match(k) for v in values]
        for key in params:
            if key not in _EVENT_PARAMS and not _TYPES_KEY.match(key) and not is_expand_param(key):
                raise StripeError(400, f"Received unknown parameter: {key}", param=key)
        check_paths(expand_params(req.query), "event", in_list=True)
        limit, after, before = _page_params(params)
        if "type" in params and types:
            raise StripeError(400, "You may only specify one of these parameters: type, types.", param="type")
        if len(types) > MAX_TYPES:
            raise StripeError(400, f"You may pass at most {MAX_TYPES} types.", param="types")
        patterns = [params["type"]] if "type" in params else types
        matches = type_matcher(patterns) if patterns else None
        bounds = _created_bounds(params)
        delivered = params.get("delivery_success")
        if delivered not in (None, "true", "false"):
            raise StripeError(400, f"Invalid boolean: {delivered}", param="delivery_success")

        def where(event: dict[str, Any]) -> bool:
            # No webhook endpoints here: every event counts as delivered.
            return (delivered != "false" and (matches is None or matches(event["type"]))
                    and _created_ok(event, bounds))

        try:
            page, has_more = self.store.events.page(limit=limit, starting_after=after, ending_before=before,
                                                    where=where)
        except KeyError:
            raise _missing("event", after or before or "", "starting_after" if after else "ending_before") from None
        return json_response(200, {"object": "list", "url": "/v1/events", "has_more": has_more, "data": page})

    def _event(self, req: Request, event_id: str) -> Response:
        check_paths(expand_params(req.query), "event", in_list=False)
        event = self.store.events.get(event_id)  # None past retention, as in Stripe
        if event is None:
            raise _missing("event", event_id, "id")
        return json_response(200, event)

    # ------------------------------------------------------------------ writes
    def _idempotent(self, req: Request, resource: Resource, object_id: str | None, request_id: str) -> Response:
        pairs = req.form()
        params = _params_dict(pairs)
        key = req.header("Idempotency-Key")
        if key is not None and (len(key) > MAX_IDEMPOTENCY_KEY or not key.strip()):
            raise StripeError(400, "Invalid idempotency key: keys must be between 1 and "
                              f"{MAX_IDEMPOTENCY_KEY} characters long", type_="idempotency_error")
        with self.store.lock:
            if key:
                prior = self.store.idempotency(key)
                if prior is not None and _age(prior["at"], self._now()) < IDEMPOTENCY_TTL:
                    if (prior["method"], prior["path"], prior["body"]) != (req.method, req.path, params):
                        raise StripeError(400, "Keys for idempotent requests can only be used with the same "
                                          "parameters they were first used with. Try using a key other than "
                                          f"'{key}' if you meant to execute a different request.",
                                          type_="idempotency_error")
                    self.store.commit(self._entry(req, resource, prior["response"].get("id"), key, True,
                                                  prior["status"], params, prior["response"]), [])
                    return json_response(prior["status"], prior["response"], {"Idempotent-Replayed": "true"})
            existing = None if object_id is None else self._get(resource.name, object_id)
            if object_id is None:
                record = self._create_item(pairs, params)
            else:
                record = self._update_item(object_id, pairs, params)
            self.store.commit(self._entry(req, resource, record["id"], key, False, 200, params, record),
                              [(resource.name, record)])
            request = {"id": request_id, "idempotency_key": key}
            if existing is None:
                self.store.emit_event(f"{resource.obj}.created", record, int(record.get("created") or self._now()),
                                      request=request)
            else:
                changed = {k: existing.get(k) for k in record if record.get(k) != existing.get(k)}
                self.store.emit_event(f"{resource.obj}.updated", record, int(self._now()), changed, request)
        return json_response(200, record)

    def _delete_item(self, req: Request, resource: Resource, object_id: str, request_id: str) -> Response:
        """``DELETE /v1/invoiceitems/{id}``: ``{"id", "object": "invoiceitem", "deleted": true}``.

        404 ``resource_missing`` if there is no such item or it was deleted already; 400 if it is on an
        invoice that is no longer a draft (Stripe deletes pending items and items of draft invoices only).
        """
        pairs = [*((k, v) for k, values in req.query.items() for v in values), *req.form()]
        for key, _ in pairs:
            if not is_expand_param(key):
                raise StripeError(400, f"Received unknown parameter: {key}", param=key)
        with self.store.lock:
            item = self._get(resource.name, object_id)
            if item is None:
                raise _missing(resource.obj, object_id, "id")
            invoice_id = item.get("invoice")
            if invoice_id:
                invoice = self._get("invoices", invoice_id) or {}
                status = invoice.get("status") or "unknown"
                if status != "draft":
                    raise StripeError(400, f"You can't delete invoice item {object_id}: it is attached to invoice "
                                      f"{invoice_id}, which is {status}. Only pending invoice items and items on "
                                      "draft invoices can be deleted.")
            body = {"id": object_id, "object": resource.obj, "deleted": True}
            self.store.commit(self._entry(req, resource, object_id, None, False, 200, {}, body),
                              [(resource.name, {**item, "deleted": True})])
            self.store.emit_event(f"{resource.obj}.deleted", item, int(self._now()),
                                  request={"id": request_id, "idempotency_key": None})
        return json_response(200, body)

    def _create_item(self, pairs: list[tuple[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        _check_params(pairs, _CREATE_PARAMS)
        customer_id = params.get("customer")
        if not customer_id:
            raise StripeError(400, "Missing required param: customer.", param="customer")
        customer = self.store.get(SYSTEM, "customers", customer_id)
        if customer is None:
            raise _missing("customer", customer_id, "customer")
        if "amount" not in params:
            raise StripeError(400, "Missing required param: amount.", param="amount")
        amount = _integer(params, "amount", 0)
        currency = (params.get("currency") or customer.get("currency") or "").lower()
        if currency not in CURRENCIES:
            raise StripeError(400, f"Invalid currency: {currency}. Stripe currently supports these currencies: "
                              + ", ".join(sorted(CURRENCIES)), param="currency")
        if customer.get("currency") and currency != customer["currency"]:
            raise StripeError(400, "You cannot combine currencies on a single customer. This customer has had a "
                              f"subscription, coupon, or invoice item with currency {customer['currency']}",
                              param="currency")
        now = int(self._now())
        period = _period(params) or {"start": now, "end": now}
        metadata = {k: v for k, v in _metadata(pairs).items() if v != ""}
        return {"id": self._new_id("ii"), "object": "invoiceitem", "amount": amount, "currency": currency,
                "customer": customer_id, "date": now, "created": now,
                "description": params.get("description"), "discountable": True, "discounts": [],
                "invoice": None, "livemode": False, "metadata": metadata, "period": period,
                "proration": False, "quantity": 1, "unit_amount_decimal": str(amount)}

    def _update_item(self, object_id: str, pairs: list[tuple[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        _check_params(pairs, _UPDATE_PARAMS)
        existing = self._get("invoiceitems", object_id)
        if existing is None:
            raise _missing("invoiceitem", object_id, "id")
        record = dict(existing)
        if "amount" in params:
            record["amount"] = _integer(params, "amount", 0)
            record["unit_amount_decimal"] = str(record["amount"])
        if "description" in params:
            record["description"] = params["description"] or None
        period = _period(params)
        if period is not None:
            record["period"] = period
        if any(k == "metadata" or k.startswith("metadata[") for k, _ in pairs):
            metadata = {} if params.get("metadata") == "" else dict(existing.get("metadata") or {})
            for k, v in _metadata(pairs).items():
                if v == "":
                    metadata.pop(k, None)
                else:
                    metadata[k] = v
            record["metadata"] = metadata
        return record

    def _new_id(self, prefix: str) -> str:
        """Ids that sort by creation time, like Stripe's: prefix_1<time><random>."""
        with self._id_lock:
            stamp = max(int(self._now() * 1_000_000), self._last_stamp + 1)
            self._last_stamp = stamp
        digits = []
        for _ in range(9):
            stamp, r = divmod(stamp, 62)
            digits.append(_ALNUM[r])
        return f"{prefix}_1" + "".join(reversed(digits)) + "".join(secrets.choice(_ALNUM) for _ in range(14))

    @staticmethod
    def _entry(req: Request, resource: Resource, key: str | None, idempotency_key: str | None, replayed: bool,
               status: int, params: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
        return {"system": SYSTEM, "method": req.method, "path": req.path, "object": resource.name, "key": key,
                "idempotency_key": idempotency_key, "replayed": replayed, "status": status, "body": params,
                "response": response, "at": datetime.now(UTC).isoformat()}


def mask_key(key: str) -> str:
    """``sk_test_****abcd``: the key's type prefix and its last four characters."""
    m = re.match(r"^((?:sk|rk|pk)_(?:test|live)_)", key)
    return f"{m.group(1) if m else ''}****{key[-4:]}"


def _sort_key(record: dict[str, Any]) -> tuple[int, str]:
    return int(record.get("created") or 0), str(record.get("id"))


def _page_params(params: dict[str, Any]) -> tuple[int, str | None, str | None]:
    """``limit`` (1-100, default 10) and the one cursor of a list request."""
    limit = _integer(params, "limit", 10)
    if limit < 1:
        raise StripeError(400, "This value must be greater than or equal to 1.", param="limit")
    if limit > 100:
        raise StripeError(400, "This value must be less than or equal to 100.", param="limit")
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise StripeError(400, "You may only specify one of these parameters: ending_before, starting_after.",
                          param="starting_after")
    return limit, after, before


def _integer(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not _INT.match(value.strip()):
        raise StripeError(400, f"Invalid integer: {value}", param=name)
    return int(value)


def _created_bounds(params: dict[str, Any]) -> dict[str, int]:
    return _time_bounds(params, "created")


def _time_bounds(params: dict[str, Any], field: str) -> dict[str, int]:
    """A timestamp filter: ``field`` (exact) and ``field[gt|gte|lt|lte]``."""
    bounds = {}
    for op in ("gt", "gte", "lt", "lte"):
        name = f"{field}[{op}]"
        if name in params:
            bounds[op] = _integer(params, name, 0)
    if field in params:
        bounds["eq"] = _integer(params, field, 0)
    return bounds


def _time_ok(value: Any, bounds: dict[str, int]) -> bool:
    """Whether a timestamp field (None: never happened, so outside any range) is within ``bounds``."""
    if not bounds:
        return True
    return value is not None and _created_ok({"created": value}, bounds)


def _created_ok(record: dict[str, Any], bounds: dict[str, int]) -> bool:
    created = int(record.get("created") or 0)
    return (("gt" not in bounds or created > bounds["gt"]) and ("gte" not in bounds or created >= bounds["gte"])
            and ("lt" not in bounds or created < bounds["lt"]) and ("lte" not in bounds or created <= bounds["lte"])
            and ("eq" not in bounds or created == bounds["eq"]))


def _params_dict(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs as a dict (a repeated key becomes a list), the unit idempotency compares."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
        else:
            out[key] = value
    return out


def _check_params(pairs: list[tuple[str, str]], allowed: frozenset[str]) -> None:
    for key, _ in pairs:
        if key in allowed or key == "metadata" or key.startswith("metadata[") or key.startswith("expand["):
            continue
        raise StripeError(400, f"Received unknown parameter: {key}", param=key)


def _metadata(pairs: list[tuple[str, str]]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for key, value in pairs:
        m = re.fullmatch(r"metadata\[(.+)\]", key)
        if not m:
            continue
        name = m.group(1)
        if len(name) > 40:
            raise StripeError(400, f"Invalid metadata: keys can be at most 40 characters long ('{name}')", param=key)
        if len(value) > 500:
            raise StripeError(400, "Invalid metadata: values can be at most 500 characters long", param=key)
        metadata[name] = value
    if len(metadata) > 50:
        raise StripeError(400, "Invalid metadata: you can specify up to 50 keys", param="metadata")
    return metadata


def _period(params: dict[str, Any]) -> dict[str, int] | None:
    has_start, has_end = "period[start]" in params, "period[end]" in params
    if not (has_start or has_end):
        return None
    if not has_start:
        raise StripeError(400, "Missing required param: period[start].", param="period[start]")
    if not has_end:
        raise StripeError(400, "Missing required param: period[end].", param="period[end]")
    start, end = _integer(params, "period[start]", 0), _integer(params, "period[end]", 0)
    if end < start:
        raise StripeError(400, "The period end must be on or after the period start.", param="period[end]")
    return {"start": start, "end": end}


def _age(at: str | None, now: float) -> float:
    try:
        return now - datetime.fromisoformat(str(at)).timestamp()
    except ValueError:
        return 0.0
