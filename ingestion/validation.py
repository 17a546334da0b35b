"""Values that convert to their column's kind but cannot be right: the quarantine's second screen.

``ingestion.contract`` quarantines a record whose value does not convert (``"n/a"`` for a date).
This module catches what converts and is still wrong, on the typed Arrow batch, vectorized:

=====================  ======================================================================
rule                   a record goes to quarantine when
=====================  ======================================================================
required               a field the quote-to-cash chain cannot do without is empty
                       (``REQUIRED``; deleted records, which vendors strip, are exempt)
text                   a text value holds a NUL character (PostgreSQL cannot store it) or is
                       longer than ``MAX_TEXT`` characters (the largest text field any of the
                       sources allows: a Salesforce long text area)
date range             a date or timestamp falls outside ``DATE_RANGE`` (a year typed 2062 for
                       2026, or 0001-01-01 standing for "no date")
currency               a currency code is not an ISO 4217 code (``CURRENCY_FIELDS``; NetSuite's
                       ``currency`` is an internal id and is checked by the dbt relationships)
amounts                an amount is negative where the source never makes one negative, or its
                       magnitude is above ``ABSURD`` (``BOUNDS``)
=====================  ======================================================================

Text that is not valid Unicode (a lone surrogate from a ``\\ud800`` escape) cannot even be
converted; the contract quarantines it. Everything else unusual in text (emoji, right-to-left
marks, combining accents, zero-width characters) is data and loads unchanged.

Each problem is ``(field, reason)``; the reason names the value and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc

MAX_TEXT = 131_072
DATE_RANGE = (date(1970, 1, 1), date(2100, 12, 31))
ABSURD = 1e12  # in the field's own unit (cents or major units): above any professional-services amount

# ISO 4217 active codes (the list as of 2024), plus the funds and precious-metal codes vendors accept.
_ISO_4217_TEXT = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWL
"""
ISO_4217 = frozenset(_ISO_4217_TEXT.split())

# Per system, the fields that hold an ISO currency code (Stripe's are lower case).
CURRENCY_FIELDS = {
    "salesforce": ("CurrencyIsoCode",),
    "certinia": ("CurrencyIsoCode",),
    "stripe": ("currency",),
    "legacy_erp": ("CURR_CD", "CURRENCY_CD"),
    "netsuite": (),
}


@dataclass(frozen=True)
class Bounds:
    field: str
    low: float | None = None  # None: -ABSURD
    high: float | None = None  # None: ABSURD
    why: str = ""


_HOURS = tuple(Bounds(f"pse__{d}_Hours__c", 0, 24, "hours booked on one day")
               for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))
_TIMECARD = (Bounds("pse__Total_Hours__c", 0, 168, "hours of one week"), *_HOURS)

# (system, object as the loader names it: the legacy ERP's tables in lower case) -> bounds.
# Amount fields not listed still get the ABSURD magnitude check when
# their name says they are amounts (AMOUNT_WORDS).
BOUNDS: dict[tuple[str, str], tuple[Bounds, ...]] = {
    ("certinia", "pse__Timecard__c"): _TIMECARD,
    ("certinia", "pse__Timecard_Header__c"): _TIMECARD,
    ("stripe", "invoices"): (Bounds("amount_due", 0), Bounds("amount_paid", 0), Bounds("amount_remaining", 0)),
    ("stripe", "invoice_payments"): (Bounds("amount_paid", 0), Bounds("amount_requested", 0)),
    ("stripe", "credit_notes"): (Bounds("total", 0), Bounds("amount", 0)),
    ("netsuite", "transaction"): (Bounds("foreigntotal", 0, why="invoices, payments and credits are positive"),),
    ("legacy_erp", "ar_invoice_hdr"): (Bounds("GROSS_AMT_CENTS", 0), Bounds("NET_AMT_CENTS", 0),
                                       Bounds("OPEN_AMT_CENTS", 0)),
    ("legacy_erp", "ar_receipt"): (Bounds("RCPT_AMT", 0),),
}
# (system, object) -> fields every live record must carry (beyond its key, which the contract checks).
REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("certinia", "pse__Timecard__c"): ("pse__Project__c", "pse__Resource__c"),
    ("certinia", "pse__Timecard_Header__c"): ("pse__Project__c", "pse__Resource__c"),
    ("salesforce", "Opportunity"): ("AccountId",),
    ("stripe", "invoices"): ("customer", "currency"),
    ("netsuite", "transaction"): ("type", "currency", "trandate"),
    ("legacy_erp", "ar_invoice_hdr"): ("CUST_NO", "CURR_CD", "INV_DT"),
    ("legacy_erp", "ar_receipt"): ("CURR_CD", "RCPT_DT"),
}
DELETED_FLAGS = ("IsDeleted", "deleted")
AMOUNT_WORDS = ("amount", "total", "price", "_amt", "cents", "revenue", "cost", "fee")


def _is_amount(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in AMOUNT_WORDS)


def _flag(mask: pa.Array | pa.ChunkedArray, problems: dict[int, list[tuple[str, str]]], field: str,
          reason: object, column: pa.Array | pa.ChunkedArray) -> None:
    """Add ``(field, reason(value))`` for each row where ``mask`` is true."""
    hits = pc.indices_nonzero(pc.fill_null(mask, False))
    if not len(hits):
        return
    values = pc.take(column, hits).to_pylist()
    for i, value in zip(hits.to_pylist(), values, strict=True):
        problems.setdefault(i, []).append((field, reason(value) if callable(reason) else str(reason)))


def screen(table: pa.Table, system: str, obj: str) -> dict[int, list[tuple[str, str]]]:
    """Row index -> ``[(field, reason)]`` for the rows of ``table`` that must not load."""
    problems: dict[int, list[tuple[str, str]]] = {}
    if not table.num_rows:
        return problems
    lo_day, hi_day = DATE_RANGE
    lo_ts = datetime.combine(lo_day, datetime.min.time(), UTC)
    hi_ts = datetime.combine(hi_day, datetime.max.time(), UTC)
    currency = set(CURRENCY_FIELDS.get(system, ()))
    bounds = {b.field: b for b in BOUNDS.get((system, obj), ())}
    flags = [pc.fill_null(table.column(f), False) for f in DELETED_FLAGS
             if f in table.column_names and pa.types.is_boolean(table.column(f).type)]
    live = pc.invert(flags[0] if len(flags) == 1 else pc.or_(*flags)) if flags else None
    for name in REQUIRED.get((system, obj), ()):
        column = table.column(name) if name in table.column_names else pa.nulls(table.num_rows)
        missing = pc.is_null(column) if live is None else pc.and_(pc.is_null(column), live)
        if pa.types.is_string(column.type):
            empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), False)
            missing = pc.or_(missing, empty if live is None else pc.and_(empty, live))
        _flag(missing, problems, name, "a required field is empty", column)
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            _flag(pc.match_substring(column, "\x00"), problems, name,
                  "holds a NUL character (U+0000), which PostgreSQL cannot store", column)
            _flag(pc.greater(pc.utf8_length(column), MAX_TEXT), problems, name,
                  lambda v: f"is {len(v):,} characters long, above the {MAX_TEXT:,} a text field may hold", column)
            if name in currency:
                known = pa.array(sorted(ISO_4217 | {c.lower() for c in ISO_4217}))
                _flag(pc.and_(pc.is_valid(column), pc.invert(pc.is_in(column, value_set=known))), problems, name,
                      lambda v: f"currency {v!r} is not an ISO 4217 code", column)
        elif pa.types.is_date(kind):
            outside = pc.or_(pc.less(column, pa.scalar(lo_day, kind)), pc.greater(column, pa.scalar(hi_day, kind)))
            _flag(outside, problems, name, lambda v: f"date {v} is outside {lo_day} .. {hi_day}", column)
        elif pa.types.is_timestamp(kind):
            outside = pc.or_(pc.less(column, pa.scalar(lo_ts, kind)), pc.greater(column, pa.scalar(hi_ts, kind)))
            _flag(outside, problems, name, lambda v: f"time {v} is outside {lo_day} .. {hi_day}", column)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            bound = bounds.get(name)
            if bound is None and not _is_amount(name):
                continue
            low = -ABSURD if bound is None or bound.low is None else bound.low
            high = ABSURD if bound is None or bound.high is None else bound.high
            why = f" ({bound.why})" if bound is not None and bound.why else ""
            outside = pc.or_(pc.less(column, low), pc.greater(column, high))
            if pa.types.is_floating(kind):
                outside = pc.or_(outside, pc.invert(pc.is_finite(column)))
            _flag(outside, problems, name,
                  lambda v, lo=low, hi=high, why=why: f"{v} is outside {lo:g} .. {hi:g}{why}", column)
    return problems
