"""SuiteQL, the subset the sandbox serves (an Oracle-flavoured SQL over NetSuite's records).

``SELECT * | col, ... FROM table [alias] [WHERE cond] [ORDER BY col [ASC|DESC] [NULLS FIRST|LAST], ...]``
where ``cond`` combines, with AND / OR / NOT and parentheses, comparisons
(``= != <> < <= > >=``), ``[NOT] IN (...)``, ``[NOT] LIKE``, ``[NOT] BETWEEN .. AND ..`` and
``IS [NOT] NULL``. Literals are quoted strings (``''`` escapes a quote), numbers, ``NULL``,
``TO_DATE('2026-01-01', 'YYYY-MM-DD')`` and ``TO_TIMESTAMP('2026-01-01 00:00:00',
'YYYY-MM-DD HH24:MI:SS')`` (read as UTC). Columns may be qualified with the table name or alias.

Evaluation follows SQL: comparisons with NULL are unknown and filter the row out; dates and
timestamps compare as instants; integer ids compare numerically. Paging is done by the caller
(the REST endpoint's ``limit``/``offset``), so ``LIMIT``/``OFFSET`` clauses are rejected here
the way NetSuite rejects them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sandbox.sqlcore import (
    OPS,
    And,
    Between,
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
    Select,
    compare,
    like_regex,
    parse_date,
    parse_instant,
    sort_rows,
)

# Column types: integer, float, string, date, timestamp.
Schemas = Mapping[str, Mapping[str, str]]  # table -> column -> type
Tri = bool | None  # SQL three-valued logic: None is UNKNOWN

_FORMAT_TOKENS = re.compile(r'"[^"]*"|HH24|HH12|HH|YYYY|YY|MONTH|MON|MM|DD|MI|SS|FF[1-9]?|AM|PM|.', re.IGNORECASE)
_FORMAT_MAP = {"HH24": "%H", "HH12": "%I", "HH": "%I", "YYYY": "%Y", "YY": "%y", "MONTH": "%B", "MON": "%b",
               "MM": "%m", "DD": "%d", "MI": "%M", "SS": "%S", "AM": "%p", "PM": "%p"}
_TIME_TOKENS = {"HH24", "HH12", "HH", "MI", "SS", "AM", "PM"}


def oracle_format(mask: str) -> tuple[str, bool]:
    """An Oracle datetime format mask as a ``strptime`` format, and whether it has a time part."""
    out, has_time = [], False
    for tok in _FORMAT_TOKENS.findall(mask):
        upper = tok.upper()
        if tok.startswith('"'):
            out.append(tok[1:-1].replace("%", "%%"))
        elif upper.startswith("FF"):
            out.append("%f")
            has_time = True
        elif upper in _FORMAT_MAP:
            out.append(_FORMAT_MAP[upper])
            has_time = has_time or upper in _TIME_TOKENS
        elif tok.isalnum():
            raise QueryError(f"ORA-01821: date format not recognized: '{mask}'")
        else:
            out.append(tok.replace("%", "%%"))
    return "".join(out), has_time


class SuiteqlParser(Parser):
    backslash_escapes = False
    allow_star = True
    allow_alias = True
    allow_is_null = True
    allow_between = True

    def parse(self) -> Select:
        query = super().parse()
        if query.limit is not None or query.offset is not None:
            raise QueryError("LIMIT/OFFSET are not supported in SuiteQL; page with the limit and offset "
                             "query parameters (or ROWNUM)")
        return query

    def literal(self) -> Literal:
        number = self.number_literal()
        if number is not None:
            return number
        tok = self.peek()
        if tok.kind == "string":
            self.advance()
            return Literal("string", tok.value, tok.value)
        if self.is_kw(tok, "null"):
            self.advance()
            return Literal("null", None, "NULL")
        if self.is_kw(tok, "to_date", "to_timestamp") and self.peek(1).kind == "lparen":
            return self._conversion()
        self.fail(tok, "expecting a literal value")
        raise AssertionError  # unreachable

    def _conversion(self) -> Literal:
        func = self.advance().value.upper()
        self.advance()  # (
        args = [self.expect("string", "a string argument").value]
        if self.peek().kind == "comma":
            self.advance()
            args.append(self.expect("string", "a format string").value)
        self.expect("rparen", "')'")
        if len(args) != 2:
            raise QueryError(f"{func} needs a value and a format mask, e.g. "
                             f"{func}('2026-01-01', 'YYYY-MM-DD')")
        fmt, has_time = oracle_format(args[1])
        try:
            parsed = datetime.strptime(args[0], fmt)
        except ValueError:
            raise QueryError(f"ORA-01861: literal does not match format string: {func}('{args[0]}', "
                             f"'{args[1]}')") from None
        parsed = parsed.replace(tzinfo=UTC)
        if func == "TO_DATE" and not has_time:
            return Literal("date", parsed.date(), f"{func}('{args[0]}')")
        return Literal("timestamp", parsed, f"{func}('{args[0]}')")


@dataclass
class SuiteqlQuery:
    table: str
    columns: list[str]
    predicate: Callable[[dict[str, Any]], Tri]
    order: list[OrderItem]
    types: Mapping[str, str]

    def run(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Matching rows (raw records) in query order; input order is the tie-break."""
        out = [r for r in rows if self.predicate(r) is True]
        if self.order:
            # Oracle: NULLs sort as the largest value (last ascending, first descending).
            sort_rows(out, self.order, lambda r, c: _norm(self.types[c], r.get(c)),
                      nulls_first_default=lambda desc: desc)
        return out


def compile_suiteql(text: str, schemas: Schemas) -> SuiteqlQuery:
    """Parse and bind ``text``; raises ``QueryError`` whose message explains the problem."""
    ast = SuiteqlParser(text).parse()
    table = next((t for t in schemas if t.lower() == ast.table.lower()), None)
    if table is None:
        raise QueryError(f"Record '{ast.table}' was not found.")
    types = schemas[table]
    qualifiers = {table.lower()} | ({ast.alias.lower()} if ast.alias else set())

    def column(name: str) -> str:
        qualifier, _, bare = name.rpartition(".")
        if qualifier and qualifier.lower() not in qualifiers:
            raise QueryError(f"Unknown identifier '{name}'.")
        bare = bare.lower()
        if bare not in types:
            raise QueryError(f"Field '{bare}' for record '{table}' was not found. Reason: NOT_EXPOSED - "
                             "Not available for channel SEARCH")
        return bare

    columns = list(types) if ast.fields is None else [column(f) for f in ast.fields]
    order = [OrderItem(column(o.field), o.descending, o.nulls_first) for o in ast.order]
    predicate = _compile(ast.where, column, types) if ast.where is not None else (lambda _r: True)
    return SuiteqlQuery(table, columns, predicate, order, types)


def _norm(ctype: str, value: Any) -> Any:
    if value is None:
        return None
    if ctype == "integer":
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if ctype == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if ctype == "date":
        return parse_date(str(value))
    if ctype == "timestamp":
        return parse_instant(str(value))
    return str(value)


def _literal_value(name: str, ctype: str, lit: Literal) -> Any:
    if lit.kind == "null":
        return None
    if ctype in ("integer", "float"):
        if lit.kind == "number":
            return lit.value
        if lit.kind == "string":
            try:
                return float(lit.value) if ctype == "float" or "." in lit.value else int(lit.value)
            except ValueError:
                raise QueryError(f"ORA-01722: invalid number: '{lit.value}' compared with {name}") from None
        raise QueryError(f"inconsistent datatypes: {name} is a number, not a date")
    if ctype in ("date", "timestamp"):
        if lit.kind in ("date", "timestamp"):
            return lit.value
        raise QueryError(f"inconsistent datatypes: {name} is a {ctype}; compare it with "
                         "TO_DATE('2026-01-01', 'YYYY-MM-DD') or "
                         "TO_TIMESTAMP('2026-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')")
    if lit.kind in ("date", "timestamp"):
        raise QueryError(f"inconsistent datatypes: {name} is text, not a date")
    return lit.text if lit.kind == "number" else lit.value


def _cmp(a: Any, b: Any) -> int:
    if isinstance(a, date) or isinstance(b, date):
        return compare(a, b)
    if isinstance(a, str) != isinstance(b, str):
        a, b = str(a), str(b)
    return compare(a, b)


def _compile(node: Any, column: Callable[[str], str], types: Mapping[str, str]) -> Callable[[dict[str, Any]], Tri]:
    if isinstance(node, And):
        parts = [_compile(n, column, types) for n in node.items]

        def and_(r: dict[str, Any]) -> Tri:
            results = [p(r) for p in parts]
            return False if False in results else None if None in results else True
        return and_
    if isinstance(node, Or):
        parts = [_compile(n, column, types) for n in node.items]

        def or_(r: dict[str, Any]) -> Tri:
            results = [p(r) for p in parts]
            return True if True in results else None if None in results else False
        return or_
    if isinstance(node, Not):
        inner = _compile(node.item, column, types)

        def not_(r: dict[str, Any]) -> Tri:
            v = inner(r)
            return None if v is None else not v
        return not_
    name = column(node.field)
    ctype = types[name]
    if isinstance(node, IsNull):
        return lambda r: (r.get(name) is None) != node.negated
    if isinstance(node, Compare):
        value = _literal_value(name, ctype, node.value)
        test = OPS[node.op]

        def cmp_(r: dict[str, Any]) -> Tri:
            v = _norm(ctype, r.get(name))
            return None if v is None or value is None else test(_cmp(v, value))
        return cmp_
    if isinstance(node, Between):
        low, high = (_literal_value(name, ctype, lit) for lit in (node.low, node.high))

        def between_(r: dict[str, Any]) -> Tri:
            v = _norm(ctype, r.get(name))
            if v is None or low is None or high is None:
                return None
            return (_cmp(v, low) >= 0 and _cmp(v, high) <= 0) != node.negated
        return between_
    if isinstance(node, InList):
        values = [_literal_value(name, ctype, lit) for lit in node.values]
        has_null = any(v is None for v in values)
        concrete = [v for v in values if v is not None]

        def in_(r: dict[str, Any]) -> Tri:
            v = _norm(ctype, r.get(name))
            if v is None:
                return None
            if any(_cmp(v, c) == 0 for c in concrete):
                return not node.negated
            return None if has_null else node.negated
        return in_
    if isinstance(node, Like):
        regex = like_regex(node.pattern, case_insensitive=False)

        def like_(r: dict[str, Any]) -> Tri:
            v = r.get(name)
            return None if v is None else (regex.fullmatch(str(v)) is not None) != node.negated
        return like_
    raise QueryError("unsupported condition")  # pragma: no cover
