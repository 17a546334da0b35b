"""SOQL, the subset the sandbox serves.

``SELECT f1, f2 | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]`` where ``cond`` combines, with AND / OR / NOT and parentheses,
``f op literal`` (``= != <> < <= > >=``), ``f [NOT] IN (literals)`` and ``f LIKE 'pattern'``.

Literals are typed as in Salesforce: quoted strings, numbers, ``true``/``false``/``null``,
unquoted dates (``2026-01-01``) and datetimes (``2026-01-01T00:00:00Z``,
``2026-01-01T00:00:00.000+0000``). A literal of the wrong type for its field is rejected the way
Salesforce rejects it, datetimes compare as instants, text compares case-insensitively, and
``!=`` / ``NOT IN`` match nulls. Names of objects and fields are case-insensitive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.sqlcore import (
    OPS,
    And,
    Compare,
    InList,
    IsNull,
    Like,
    Literal,
    Not,
    Or,
    OrderItem,
    Parser,
    QueryError,
    as_instant,
    compare,
    like_regex,
    parse_date,
    parse_instant,
    sort_rows,
)

# Salesforce field types, grouped by the literal they take in a filter.
ID_TYPES = frozenset({"id", "reference"})
TEXT_TYPES = frozenset({"string", "picklist", "multipicklist", "textarea", "email", "phone", "url",
                        "combobox"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})
SOAP_TYPE = {"boolean": "boolean", "date": "date", "datetime": "dateTime", "int": "int", "long": "long"}
MAX_OFFSET = 2000

Schemas = Mapping[str, Mapping[str, str]]  # object name -> field name -> Salesforce field type


class SoqlParser(Parser):
    backslash_escapes = True
    allow_count = True

    def literal(self) -> Literal:
        number = self.number_literal()
        if number is not None:
            return number
        tok = self.peek()
        if tok.kind == "string":
            self.advance()
            return Literal("string", tok.value, tok.value)
        if tok.kind == "datetime":
            self.advance()
            value = parse_instant(tok.value)
            if value is None:
                raise QueryError(f"line 1:{tok.pos} no viable alternative at character '{tok.value}'")
            return Literal("datetime", value, tok.value)
        if tok.kind == "date":
            self.advance()
            value = parse_date(tok.value)
            if value is None:
                raise QueryError(f"line 1:{tok.pos} no viable alternative at character '{tok.value}'")
            return Literal("date", value, tok.value)
        if self.is_kw(tok, "true", "false"):
            self.advance()
            return Literal("bool", tok.value.lower() == "true", tok.value)
        if self.is_kw(tok, "null"):
            self.advance()
            return Literal("null", None, tok.value)
        self.fail(tok, "expecting a literal value")
        raise AssertionError  # unreachable


@dataclass
class SoqlQuery:
    """A parsed, bound SOQL query, ready to run over an object's records."""

    object: str
    fields: list[str]
    count_only: bool
    predicate: Callable[[dict[str, Any]], bool]
    order: list[OrderItem]
    types: Mapping[str, str]
    limit: int | None
    offset: int | None
    # The top-level AND's SystemModstamp comparisons: (op, unix seconds); and whether other conditions remain.
    modstamp_conditions: tuple[tuple[str, float], ...] = ()
    residual: bool = True

    def run(self, rows: Iterable[dict[str, Any]], *, include_deleted: bool) -> list[dict[str, Any]]:
        """The matching rows (raw records), filtered, sorted and sliced; input order is the tie-break."""
        return self.finish([r for r in rows if (include_deleted or not r.get("IsDeleted")) and self.predicate(r)])

    def finish(self, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sort and slice the matching records ``out`` (in input order)."""
        if self.order:
            sort_rows(out, self.order, lambda r, f: _norm(self.types[f], r.get(f)),
                      nulls_first_default=lambda desc: not desc)
        start = self.offset or 0
        end = None if self.limit is None else start + self.limit
        return out[start:end]

    def modstamp_bounds(self) -> tuple[float | None, bool, float | None, bool]:
        """(low, low inclusive, high, high inclusive) of SystemModstamp implied by the conditions."""
        lo: float | None = None
        hi: float | None = None
        lo_incl = hi_incl = True
        for op, t in self.modstamp_conditions:
            if op in (">", ">=", "=") and (lo is None or t > lo or (t == lo and op == ">")):
                lo, lo_incl = t, op != ">"
            if op in ("<", "<=", "=") and (hi is None or t < hi or (t == hi and op == "<")):
                hi, hi_incl = t, op != "<"
        return lo, lo_incl, hi, hi_incl

    def order_fields(self) -> tuple[str, ...] | None:
        """The ORDER BY as field names when it is ascending on SystemModstamp and/or Id; else None."""
        names = tuple(o.field for o in self.order)
        if any(o.descending for o in self.order) or names not in ((), ("SystemModstamp",), ("Id",),
                                                                   ("SystemModstamp", "Id")):
            return None
        return names


def compile_soql(text: str, schemas: Schemas) -> SoqlQuery:
    """Parse and bind ``text`` against ``schemas``; raises ``QueryError`` with the Salesforce code."""
    ast = SoqlParser(text).parse()
    obj = _resolve_object(ast.table, schemas)
    types = schemas[obj]
    lookup = {name.lower(): name for name in types}

    def field(name: str) -> str:
        canonical = lookup.get(name.lower())
        if canonical is None:
            if "." in name:
                raise QueryError(
                    f"Didn't understand relationship '{name.split('.')[0]}' in field path. This sandbox "
                    "does not serve relationship queries; select the reference field instead.",
                    "INVALID_FIELD")
            raise QueryError(
                f"No such column '{name}' on entity '{obj}'. If you are attempting to use a custom field, "
                "be sure to append the '__c' after the custom field name. Please reference your WSDL or "
                "the describe call for the appropriate names.", "INVALID_FIELD")
        return canonical

    fields: list[str] = []
    for name in ast.fields or []:
        canonical = field(name)
        if canonical in fields:
            raise QueryError(f"duplicate field selected: {canonical}")
        fields.append(canonical)
    order = [OrderItem(field(o.field), o.descending, o.nulls_first) for o in ast.order]
    if ast.count_only and order:
        raise QueryError("ORDER BY is not allowed with COUNT()")
    if ast.offset is not None and ast.offset > MAX_OFFSET:
        raise QueryError(f"Maximum SOQL offset allowed is {MAX_OFFSET}", "NUMBER_OUTSIDE_VALID_RANGE")
    predicate = _compile(ast.where, field, types) if ast.where is not None else (lambda _r: True)
    conditions, residual = _modstamp_conditions(ast.where, field)
    return SoqlQuery(obj, fields, ast.count_only, predicate, order, types, ast.limit, ast.offset,
                     conditions, residual)


def _modstamp_conditions(where: Any, field: Callable[[str], str]) -> tuple[tuple[tuple[str, float], ...], bool]:
    """The top-level ``SystemModstamp <op> datetime`` conjuncts, and whether anything else is left.

    ``IsDeleted = false`` is not counted as left over: records served from columns are never
    deleted (see ``sandbox.lazy``), and overlay records are tested with the full predicate.
    """
    if where is None:
        return (), False
    items = where.items if isinstance(where, And) else (where,)
    out: list[tuple[str, float]] = []
    residual = False
    for node in items:
        if isinstance(node, Compare) and field(node.field) == "SystemModstamp" and node.value.kind == "datetime" \
                and node.op in ("<", "<=", ">", ">=", "="):
            out.append((node.op, as_instant(node.value.value).timestamp()))
        elif isinstance(node, Compare) and field(node.field) == "IsDeleted" and node.op == "=" \
                and node.value.kind == "bool" and node.value.value is False:
            continue
        else:
            residual = True
    return tuple(out), residual


def _resolve_object(name: str, schemas: Schemas) -> str:
    for candidate in schemas:
        if candidate.lower() == name.lower():
            return candidate
    raise QueryError(
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure "
        "to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
        "the appropriate names.", "INVALID_TYPE")


def _norm(ftype: str, value: Any) -> Any:
    """A stored value as a comparable Python value (None stays None)."""
    if value is None:
        return None
    if ftype in ID_TYPES:
        text = str(value)
        return text[:15] if len(text) == 18 else text
    if ftype in NUMBER_TYPES:
        return float(value)
    if ftype == "boolean":
        return bool(value)
    if ftype == "date":
        return parse_date(str(value))
    if ftype == "datetime":
        return parse_instant(str(value))
    return str(value).casefold()


def _literal_value(name: str, ftype: str, lit: Literal) -> Any:
    """Check ``lit`` fits field ``name`` of type ``ftype`` and return it normalised like ``_norm``."""
    if lit.kind == "null":
        return None
    if ftype in ID_TYPES or ftype in TEXT_TYPES:
        expected = "string"
    elif ftype in NUMBER_TYPES:
        expected = "number"
    elif ftype == "boolean":
        expected = "bool"
    elif ftype in ("date", "datetime"):
        expected = ftype
    else:
        expected = "string"
    if lit.kind != expected:
        soap = SOAP_TYPE.get(ftype, "double" if expected == "number" else "string")
        quoting = "be enclosed in quotes" if expected == "string" else "not be enclosed in quotes"
        raise QueryError(f"value of filter criterion for field '{name}' must be of type {soap} and "
                         f"should {quoting}", "INVALID_FIELD")
    if expected == "string":
        return _norm(ftype, lit.value)
    if expected == "number":
        return float(lit.value)
    return lit.value


def _compile(node: Any, field: Callable[[str], str], types: Mapping[str, str]) -> Callable[[dict[str, Any]], bool]:
    if isinstance(node, And):
        parts = [_compile(n, field, types) for n in node.items]
        return lambda r: all(p(r) for p in parts)
    if isinstance(node, Or):
        parts = [_compile(n, field, types) for n in node.items]
        return lambda r: any(p(r) for p in parts)
    if isinstance(node, Not):
        inner = _compile(node.item, field, types)
        return lambda r: not inner(r)
    if isinstance(node, IsNull):  # not produced by the SOQL parser; kept for completeness
        raise QueryError("unexpected token: 'IS'")
    name = field(node.field)
    ftype = types[name]
    if isinstance(node, Compare):
        value = _literal_value(name, ftype, node.value)
        op = node.op
        if value is None:
            if op not in ("=", "!="):
                raise QueryError(f"invalid operator on null value: {op}")
            return (lambda r: r.get(name) is None) if op == "=" else (lambda r: r.get(name) is not None)
        test = OPS[op]

        def cmp_pred(r: dict[str, Any]) -> bool:
            v = _norm(ftype, r.get(name))
            if v is None:
                return op == "!="
            return test(compare(v, value))
        return cmp_pred
    if isinstance(node, InList):
        values = [_literal_value(name, ftype, lit) for lit in node.values]
        want_null = any(v is None for v in values)
        concrete = [v for v in values if v is not None]

        def in_pred(r: dict[str, Any]) -> bool:
            v = _norm(ftype, r.get(name))
            hit = want_null if v is None else any(compare(v, c) == 0 for c in concrete)
            return hit != node.negated
        return in_pred
    if isinstance(node, Like):
        if ftype not in TEXT_TYPES and ftype not in ID_TYPES:
            raise QueryError(f"invalid operator on field '{name}': LIKE is only valid on text fields",
                             "INVALID_FIELD")
        regex = like_regex(node.pattern, case_insensitive=True)

        def like_pred(r: dict[str, Any]) -> bool:
            v = r.get(name)
            return v is not None and (regex.fullmatch(str(v)) is not None) != node.negated
        return like_pred
    raise QueryError("unsupported condition")  # pragma: no cover
