"""Shared machinery for the two query dialects the sandbox speaks (SOQL and SuiteQL).

Queries are never handed to a database: they are tokenized, parsed into a small AST of
``SELECT ... FROM one_table [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n]`` and evaluated in
Python over the in-memory store. Anything outside that shape is a syntax error, so a client can
never run anything but a read of one of the world's tables.

The dialect modules (``soql``, ``suiteql``) subclass ``Parser`` for their literal syntax, then
bind names against a table schema and compile the WHERE clause with their own null semantics.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


class QueryError(Exception):
    """A query the dialect rejects. ``code`` is the vendor's error code for it."""

    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------------------- tokens

@dataclass(frozen=True)
class Token:
    kind: str  # ident string number datetime date op lparen rparen comma star sign colon eof
    value: str
    pos: int


_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT:]))
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|<>|!=|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<star>\*)
  | (?P<sign>[+-])
  | (?P<colon>:)
""", re.VERBOSE)

_SOQL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def tokenize(text: str, *, backslash_escapes: bool) -> list[Token]:
    """Split ``text`` into tokens. Strings are single-quoted; escapes are ``\\'`` (SOQL) or ``''`` (SQL)."""
    tokens: list[Token] = []
    pos, n = 0, len(text)
    while pos < n:
        if text[pos] == "'":
            value, pos = _scan_string(text, pos, backslash_escapes)
            tokens.append(Token("string", value, pos))
            continue
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise QueryError(f"unexpected token: '{text[pos:pos + 20].split()[0]}' at position {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "", n))
    return tokens


def _scan_string(text: str, start: int, backslash_escapes: bool) -> tuple[str, int]:
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if backslash_escapes and ch == "\\":
            if i + 1 >= n:
                break
            nxt = text[i + 1]
            if nxt in "%_":  # LIKE escapes keep their backslash
                out.append("\\" + nxt)
            elif nxt in _SOQL_ESCAPES:
                out.append(_SOQL_ESCAPES[nxt])
            else:
                raise QueryError(f"Invalid string literal: unknown escape sequence '\\{nxt}'")
            i += 2
            continue
        if ch == "'":
            if not backslash_escapes and i + 1 < n and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QueryError("unterminated string literal")


# ------------------------------------------------------------------------------------------ AST

@dataclass(frozen=True)
class Literal:
    kind: str  # string number bool null date datetime
    value: Any
    text: str


@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # = != < <= > >=
    value: Literal


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    field: str
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    field: str
    negated: bool = False


@dataclass(frozen=True)
class Between:
    field: str
    low: Literal
    high: Literal
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class OrderItem:
    field: str
    descending: bool = False
    nulls_first: bool | None = None  # None: the dialect's default


@dataclass
class Select:
    fields: list[str] | None  # None means SELECT *
    table: str
    alias: str | None = None
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False


KEYWORDS = frozenset({
    "select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc",
    "nulls", "first", "last", "limit", "offset", "is", "null", "between", "true", "false",
})


# --------------------------------------------------------------------------------------- parser

class Parser:
    """Recursive-descent parser for the common SELECT subset; dialects override the hooks."""

    backslash_escapes = True
    allow_star = False
    allow_alias = False
    allow_is_null = False
    allow_between = False
    allow_count = False

    def __init__(self, text: str) -> None:
        if not text or not text.strip():
            raise QueryError("A query string has to be specified")
        self.text = text
        self.tokens = tokenize(text, backslash_escapes=self.backslash_escapes)
        self.i = 0

    # token helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def is_kw(self, tok: Token, *words: str) -> bool:
        return tok.kind == "ident" and tok.value.lower() in words

    def accept_kw(self, *words: str) -> Token | None:
        if self.is_kw(self.peek(), *words):
            return self.advance()
        return None

    def expect_kw(self, word: str) -> Token:
        tok = self.peek()
        if not self.is_kw(tok, word):
            self.fail(tok, f"expecting '{word.upper()}'")
        return self.advance()

    def expect(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            self.fail(tok, f"expecting {what}")
        return self.advance()

    def fail(self, tok: Token, expected: str = "") -> None:
        found = "end of query" if tok.kind == "eof" else f"'{tok.value}'"
        suffix = f", {expected}" if expected else ""
        raise QueryError(f"unexpected token: {found} at position {tok.pos}{suffix}")

    def identifier(self, what: str = "field name") -> str:
        tok = self.peek()
        if tok.kind != "ident" or tok.value.lower() in KEYWORDS:
            self.fail(tok, f"expecting a {what}")
        return self.advance().value

    # grammar
    def parse(self) -> Select:
        self.expect_kw("select")
        fields, count_only = self.select_list()
        self.expect_kw("from")
        table = self.identifier("table name")
        alias = None
        if self.allow_alias and self.peek().kind == "ident" and self.peek().value.lower() not in KEYWORDS:
            alias = self.advance().value
        query = Select(fields=fields, table=table, alias=alias, count_only=count_only)
        if self.accept_kw("where"):
            query.where = self.condition()
        if self.accept_kw("order"):
            self.expect_kw("by")
            query.order = self.order_list()
        while self.is_kw(self.peek(), "limit", "offset"):
            word = self.advance().value.lower()
            tok = self.expect("number", "an integer")
            if not tok.value.isdigit():
                self.fail(tok, "expecting an integer")
            value = int(tok.value)
            if word == "limit":
                if query.limit is not None:
                    self.fail(self.tokens[self.i - 2])
                query.limit = value
            else:
                if query.offset is not None:
                    self.fail(self.tokens[self.i - 2])
                query.offset = value
        if self.peek().kind != "eof":
            self.fail(self.peek())
        return query

    def select_list(self) -> tuple[list[str] | None, bool]:
        if self.allow_star and self.peek().kind == "star":
            self.advance()
            return None, False
        if (self.allow_count and self.is_kw(self.peek(), "count") and self.peek(1).kind == "lparen"
                and self.peek(2).kind == "rparen"):
            self.i += 3
            return [], True
        fields = [self.identifier()]
        while self.peek().kind == "comma":
            self.advance()
            fields.append(self.identifier())
        return fields, False

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            name = self.identifier()
            desc = False
            if self.accept_kw("asc"):
                desc = False
            elif self.accept_kw("desc"):
                desc = True
            nulls_first = None
            if self.accept_kw("nulls"):
                tok = self.accept_kw("first", "last")
                if tok is None:
                    self.fail(self.peek(), "expecting FIRST or LAST")
                nulls_first = tok.value.lower() == "first"
            items.append(OrderItem(name, desc, nulls_first))
            if self.peek().kind != "comma":
                return items
            self.advance()

    def condition(self) -> Any:
        items = [self.conjunction()]
        while self.accept_kw("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Any:
        items = [self.negation()]
        while self.accept_kw("and"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Any:
        if self.accept_kw("not"):
            return Not(self.negation())
        if self.peek().kind == "lparen":
            self.advance()
            inner = self.condition()
            self.expect("rparen", "')'")
            return inner
        return self.predicate()

    def predicate(self) -> Any:
        name = self.identifier()
        negated = bool(self.accept_kw("not"))
        tok = self.peek()
        if self.is_kw(tok, "in"):
            self.advance()
            self.expect("lparen", "'('")
            values = [self.literal()]
            while self.peek().kind == "comma":
                self.advance()
                values.append(self.literal())
            self.expect("rparen", "')'")
            return InList(name, tuple(values), negated)
        if self.is_kw(tok, "like"):
            self.advance()
            pattern = self.literal()
            if pattern.kind != "string":
                raise QueryError("LIKE operator only valid on a string literal")
            return Like(name, pattern.value, negated)
        if self.allow_between and self.is_kw(tok, "between"):
            self.advance()
            low = self.literal()
            self.expect_kw("and")
            return Between(name, low, self.literal(), negated)
        if negated:
            self.fail(tok, "expecting IN or LIKE")
        if self.allow_is_null and self.is_kw(tok, "is"):
            self.advance()
            neg = bool(self.accept_kw("not"))
            self.expect_kw("null")
            return IsNull(name, neg)
        if tok.kind != "op":
            self.fail(tok, "expecting a comparison operator")
        op = self.advance().value
        return Compare(name, "!=" if op == "<>" else op, self.literal())

    def literal(self) -> Literal:  # pragma: no cover - dialects override
        raise NotImplementedError

    # literal helpers for dialects
    def number_literal(self) -> Literal | None:
        sign = ""
        if self.peek().kind == "sign" and self.peek(1).kind == "number":
            sign = self.advance().value
        if self.peek().kind != "number":
            return None
        text = sign + self.advance().value
        value: float | int = float(text) if any(c in text for c in ".eE") else int(text)
        return Literal("number", value, text)


# ------------------------------------------------------------------------------------- values

@functools.lru_cache(maxsize=65536)
def parse_instant(text: str) -> datetime | None:
    """An ISO-8601 instant (``...Z``, ``...+0000``, ``...+00:00``, naive = UTC) or None."""
    try:
        dt = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


@functools.lru_cache(maxsize=65536)
def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10]) if len(text.strip()) == 10 else None
    except ValueError:
        return None


def as_instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def like_regex(pattern: str, *, case_insensitive: bool) -> re.Pattern[str]:
    """SQL LIKE to a regex: ``%`` any run, ``_`` one char, backslash escapes either."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if case_insensitive else 0))


def compare(a: Any, b: Any) -> int:
    """Three-way comparison of two non-null, mutually comparable values."""
    if isinstance(a, date) and isinstance(b, date) and isinstance(a, datetime) != isinstance(b, datetime):
        a, b = as_instant(a), as_instant(b)
    return (a > b) - (a < b)


OPS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0, "!=": lambda c: c != 0, "<": lambda c: c < 0,
    "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0,
}


def sort_rows(rows: list[dict[str, Any]], order: Sequence[OrderItem],
              key: Callable[[dict[str, Any], str], Any], nulls_first_default: Callable[[bool], bool]) -> None:
    """Stable in-place sort by ``order``; ``key(row, field)`` gives the comparable value or None."""

    def cmp(r1: dict[str, Any], r2: dict[str, Any]) -> int:
        for item in order:
            a, b = key(r1, item.field), key(r2, item.field)
            nulls_first = item.nulls_first if item.nulls_first is not None else nulls_first_default(
                item.descending)
            if a is None or b is None:
                if a is None and b is None:
                    continue
                c = -1 if a is None else 1
                c = c if nulls_first else -c
                return c
            c = compare(a, b)
            if c:
                return -c if item.descending else c
        return 0

    rows.sort(key=functools.cmp_to_key(cmp))
