"""Anomaly kinds, their rates and how the generator decides where to inject them.

Every kind is a case one control point must catch. Rates are probabilities per *host* object
(given in ``KINDS``): e.g. ``contract_activated_without_project`` at 0.12 means 12% of the won
deals that reach activation get no project. The decision for a host is a pure function of
(seed, kind, host id): it never draws from the generator's random streams, so changing one rate
changes that kind's cases and nothing else.

Kinds that remove records others could host (a deal with no contract or no project, a milestone
never billed) own a fixed *slot* of the decision number: ``u(host) < rate`` for the first kind of
a slot family, ``width <= u < width + rate`` for the next, and so on. Hosts whose number falls in
a slot are never offered to the kinds downstream of it *whatever the rates*, so a kind at rate 0
leaves exactly the world it would have left at any other rate, minus its own cases.

The ledger entry of a case: ``{"kind", "control_point", "key", "objects", "at"}`` where ``key``
is the id of the record the control flags (the exception's grain), ``objects`` the ids involved
and ``at`` the first clock date on which the case is an exception (its grace period elapsed and
every record involved visible).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.world_model import unit


@dataclass(frozen=True)
class Kind:
    name: str
    control_point: str
    host: str  # what the rate is a probability per
    default_rate: float
    max_rate: float
    rule: str


KINDS: dict[str, Kind] = {k.name: k for k in (
    # ---------------------------------------------------------------- contract activation
    Kind("won_opportunity_without_contract", "contract_activation", "won new-business opportunity", 0.06, 0.10,
         "Opportunity IsWon (Type <> 'Amendment') with no Activated Contract whose SBQQ__Opportunity__c is it, "
         "more than CONTRACT_GRACE_DAYS after CloseDate. key: opportunity Id."),
    Kind("contract_terms_differ_from_quote", "contract_activation", "activated contract", 0.08, 1.0,
         "Activated Contract whose Contract_Amount__c differs from its primary quote's SBQQ__NetAmount__c plus "
         "the accepted amendment quotes' (SBQQ__MasterContract__c), or whose Billing_Frequency__c / "
         "Payment_Terms__c differ from the primary quote's SBQQ__BillingFrequency__c / SBQQ__PaymentTerms__c. "
         "key: contract Id."),
    # ---------------------------------------------------------------- project provisioning
    Kind("contract_activated_without_project", "project_provisioning", "activated contract", 0.12, 0.25,
         "Activated Contract activated more than PROJECT_GRACE_DAYS days before the clock with no (not deleted) "
         "pse__Proj__c whose pse__Opportunity__c is the contract's opportunity (control PP-001). key: contract Id."),
    Kind("project_missing_legal_entity_or_nexus", "project_provisioning", "customer project", 0.06, 1.0,
         "Customer pse__Proj__c with Legal_Entity__c or Tax_Nexus__c empty. key: project Id."),
    Kind("project_billing_type_mismatch", "project_provisioning", "customer project", 0.08, 1.0,
         "Customer pse__Proj__c whose pse__Billing_Type__c is not the one its contract's Billing_Model__c "
         "implies (PSA_BILLING_TYPE). key: project Id."),
    # ---------------------------------------------------------------- billing eligibility
    Kind("approved_item_not_billed", "billing_eligibility", "approved billable timecard split or expense", 0.02,
         1.0, "Approved, billable pse__Timecard__c or pse__Expense__c with no pse__Billing_Event_Item__c more than "
         "BILLING_GRACE_DAYS days after Approved_Date__c. key: split or expense Id."),
    Kind("completed_milestone_not_billed", "billing_eligibility", "milestone", 0.15, 0.25,
         "pse__Milestone__c with pse__Status__c 'Complete' and no pse__Billing_Event_Item__c more than "
         "MILESTONE_GRACE_DAYS days after pse__Actual_Date__c. key: milestone Id."),
    Kind("time_on_inactive_or_temporary_project", "billing_eligibility", "customer project", 0.10, 1.0,
         "pse__Timecard__c booked to a project of pse__Project_Type__c 'Temporary', or to an inactive project "
         "(pse__Is_Active__c false) for dates after its pse__End_Date__c. key: split Id."),
    Kind("bill_rate_differs_from_rate_card", "billing_eligibility", "billable assignment", 0.08, 1.0,
         "Billable pse__Timecard__c whose pse__Bill_Rate__c differs from pse__Suggested_Bill_Rate__c of its "
         "assignment's pse__Rate_Card__c. key: split Id."),
    # ---------------------------------------------------------------- invoice release
    Kind("billing_event_invoiced_twice", "invoice_release", "ERP invoice of a billing event", 0.05, 1.0,
         "pse__Billing_Event__c referenced by more than one NetSuite CustInvc (custbody_q2c_billing_event_id). "
         "key: billing event Id."),
    Kind("invoice_currency_or_entity_mismatch", "invoice_release", "ERP invoice of a billing event", 0.04, 1.0,
         "NetSuite CustInvc whose currency or subsidiary differs from the contract's (through billing event -> "
         "project -> Contract__c) CurrencyIsoCode / Legal_Entity__c. key: transaction id."),
    Kind("invoice_missing_tax_code", "invoice_release", "ERP invoice of a billing event", 0.04, 1.0,
         "NetSuite CustInvc with an item line (transactionline not mainline, not taxline) without taxcode. "
         "key: transaction id."),
    Kind("invoice_total_differs_from_billing_event", "invoice_release", "ERP invoice of a billing event", 0.04,
         1.0, "NetSuite CustInvc whose item lines sum to another amount than its billing event's "
         "pse__Summary_Amount__c. key: transaction id."),
    # ---------------------------------------------------------------- cash application
    Kind("unapplied_payment", "cash_application", "paid ERP invoice", 0.05, 0.2,
         "NetSuite CustPymt applied to no invoice (custbody_q2c_applied_to empty) more than "
         "CASH_APPLICATION_GRACE_DAYS days after its trandate. key: payment id."),
    Kind("overpayment", "cash_application", "paid ERP invoice", 0.07, 0.2,
         "NetSuite CustPymt applied to an invoice with an unused amount (foreignpaymentamountunused > 0): "
         "it paid more than the invoice's open balance. key: payment id."),
    Kind("erp_paid_crm_open", "cash_application", "paid ERP invoice", 0.05, 0.2,
         "NetSuite CustInvc 'Paid In Full' whose CRM record (ERP_Invoice__c, ERP_Invoice_Id__c = "
         "'netsuite:<id>') is not 'Paid' more than CRM_SYNC_GRACE_DAYS days after its closedate. "
         "key: transaction id."),
    # ---------------------------------------------------------------- master data
    Kind("duplicate_customer", "master_data", "customer account", 0.08, 1.0,
         "The same customer twice: a NetSuite customer without externalid whose normalised companyname equals "
         "a CRM account's name, or a second CRM Account with an existing account's normalised Name. "
         "key: the duplicate's id."),
    Kind("inconsistent_contract_id", "master_data", "invoice", 0.03, 1.0,
         "An invoice whose contract reference (NetSuite custbody_q2c_sf_contract_id, Stripe "
         "metadata.salesforce_contract_id) is not the contract of its project (NetSuite: "
         "custbody_q2c_sf_project_id -> Contract__c) or subscription (Stripe: metadata.salesforce_contract_id "
         "of the invoice's parent subscription). key: 'netsuite:<id>' or 'stripe:<id>'."),
)}
CASH_APPLICATION_GRACE_DAYS = 5

DEFAULT_RATES: dict[str, float] = {name: k.default_rate for name, k in KINDS.items()}

# Slot families (fixed widths = the kinds' max rates): deal removal, milestone removal, cash.
DEAL_SLOTS = ("won_opportunity_without_contract", "contract_activated_without_project")
CASH_SLOTS = ("unapplied_payment", "overpayment", "erp_paid_crm_open")


def resolve_rates(rates: dict[str, float] | None) -> dict[str, float]:
    """Default rates updated with ``rates``; unknown kinds or out-of-range rates are errors."""
    out = dict(DEFAULT_RATES)
    for name, value in (rates or {}).items():
        if name not in KINDS:
            raise ValueError(f"unknown anomaly kind {name!r}; known: {sorted(KINDS)}")
        value = float(value)
        if not 0.0 <= value <= KINDS[name].max_rate:
            raise ValueError(f"rate of {name} must be within [0, {KINDS[name].max_rate}], got {value}")
        out[name] = value
    return out


class Decider:
    """Where each kind strikes, from (seed, kind, host id) only."""

    def __init__(self, seed: int, rates: dict[str, float]) -> None:
        self.seed = seed
        self.rates = rates

    def u(self, family: str, host: str) -> float:
        return unit(self.seed, "anomaly", family, host)

    def hit(self, kind: str, host: str) -> bool:
        rate = self.rates[kind]
        return rate > 0 and self.u(kind, host) < rate

    def pick(self, kind: str, host: str, n: int) -> int:
        """A variant index in [0, n) for a case (independent of whether it strikes)."""
        return int(unit(self.seed, "variant", kind, host) * n)

    def _slot(self, family: tuple[str, ...], u: float) -> str | None:
        lo = 0.0
        for kind in family:
            width = KINDS[kind].max_rate
            if lo <= u < lo + width:
                return kind if u - lo < self.rates[kind] else None
            lo += width
        return None

    def deal(self, deal_key: str) -> tuple[str | None, float]:
        """(removal kind striking this deal or None, the deal's slot number)."""
        u = self.u("deal", deal_key)
        return self._slot(DEAL_SLOTS, u), u

    @staticmethod
    def deal_reserved_for_contract(u: float) -> bool:
        """The deal may lose its contract activation: contract-level kinds keep off it."""
        return u < KINDS["won_opportunity_without_contract"].max_rate

    @staticmethod
    def deal_reserved_for_project(u: float) -> bool:
        """The deal may lose its project: project-level and downstream kinds keep off it."""
        return u < sum(KINDS[k].max_rate for k in DEAL_SLOTS)

    def milestone(self, milestone_id: str) -> tuple[bool, bool]:
        """(never billed, reserved: its invoice may not exist, so invoice-level kinds keep off)."""
        u = self.u("completed_milestone_not_billed", milestone_id)
        return u < self.rates["completed_milestone_not_billed"], u < KINDS["completed_milestone_not_billed"].max_rate

    def cash(self, invoice_key: str) -> str | None:
        return self._slot(CASH_SLOTS, self.u("cash", invoice_key))


def entry(kind: str, key: str, objects: dict[str, Any], at: str) -> dict[str, Any]:
    return {"kind": kind, "control_point": KINDS[kind].control_point, "key": key, "objects": objects, "at": at}
