"""Stripe's ``expand[]``: serve the object an id field names in place of the id.

On a retrieve the path starts at the object (``expand[]=customer``); on a list it starts at the
list, so it begins with ``data.`` (``expand[]=data.customer``). Paths nest through expanded
objects (``expand[]=invoice.customer`` on an invoice item or a credit note, ``subscription.latest_invoice`` on
a subscription schedule) up to four levels, as in Stripe.
Anything else is refused with Stripe's messages (``This property cannot be expanded (x).``).
An id that names no stored object is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_DEPTH = 4
# Object type -> expandable field -> the store resource the id points into.
EXPANDABLE: dict[str, dict[str, str]] = {
    "invoice": {"customer": "customers"},
    "invoiceitem": {"customer": "customers", "invoice": "invoices"},
    "subscription": {"customer": "customers", "latest_invoice": "invoices", "schedule": "subscription_schedules"},
    "subscription_schedule": {"customer": "customers", "subscription": "subscriptions"},
    "credit_note": {"customer": "customers", "invoice": "invoices"},
    "invoice_payment": {"invoice": "invoices"},
}
RESOURCE_OBJECT = {"customers": "customer", "invoices": "invoice", "invoiceitems": "invoiceitem",
                   "subscriptions": "subscription", "subscription_schedules": "subscription_schedule",
                   "credit_notes": "credit_note"}
_EXPAND_KEY = re.compile(r"^expand(\[\d*\])?$")

Lookup = Callable[[str, str], Mapping[str, Any] | None]  # (resource, id) -> record


class ExpandError(Exception):
    """An expansion Stripe would refuse (HTTP 400, ``invalid_request_error``)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message, self.param = message, param


def is_expand_param(name: str) -> bool:
    return bool(_EXPAND_KEY.match(name))


def expand_params(query: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    """(parameter, path) of every expansion asked for: ``expand[]=``, ``expand[0]=`` (the SDKs), ``expand=``."""
    pairs = [(key, value) for key, values in query.items() if is_expand_param(key) for value in values]
    return sorted(pairs, key=lambda kv: int(kv[0][7:-1]) if kv[0][7:-1].isdigit() else -1)


def check_paths(pairs: list[tuple[str, str]], object_type: str, *, in_list: bool) -> list[list[str]]:
    """The paths as field lists (below ``data`` on lists), or ``ExpandError`` for one Stripe refuses."""
    paths = []
    for param, path in pairs:
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise ExpandError("You cannot expand more than 4 levels of a property.", param)
        if in_list:
            if parts[0] != "data":
                hint = f" You may want to try expanding 'data.{path}' instead." if _walk(parts, object_type) else ""
                raise ExpandError(f"This property cannot be expanded ({path}).{hint}", param)
            parts = parts[1:]
        if not parts or not _walk(parts, object_type):
            raise ExpandError(f"This property cannot be expanded ({path}).", param)
        paths.append(parts)
    return paths


def _walk(parts: list[str], object_type: str) -> bool:
    current = object_type
    for name in parts:
        resource = EXPANDABLE.get(current, {}).get(name)
        if resource is None:
            return False
        current = RESOURCE_OBJECT[resource]
    return True


def expand(record: Mapping[str, Any], paths: list[list[str]], lookup: Lookup) -> dict[str, Any]:
    """``record`` with every path expanded (a new dict; the stored record is left alone)."""
    out = dict(record)
    for parts in paths:
        out = _expand_one(out, parts, lookup)
    return out


def _expand_one(obj: dict[str, Any], parts: list[str], lookup: Lookup) -> dict[str, Any]:
    name, rest = parts[0], parts[1:]
    resource = EXPANDABLE.get(str(obj.get("object")), {}).get(name)
    value = obj.get(name)
    if resource is None or value is None:
        return obj
    if isinstance(value, str):
        found = lookup(resource, value)
        if found is None:
            return obj
        value = dict(found)
    if isinstance(value, dict) and rest:
        value = _expand_one(dict(value), rest, lookup)
    return {**obj, name: value}
