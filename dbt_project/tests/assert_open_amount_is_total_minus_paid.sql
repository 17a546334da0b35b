-- Every invoice in the payment-status mart has open_amount = total_amount - credited_amount - paid_amount, and
-- no invoice is overpaid (open_amount never negative). Returns the offending invoices.

select
    invoice_id,
    total_amount,
    credited_amount,
    paid_amount,
    open_amount
from {{ ref('invoice_payment_status') }}
where open_amount <> total_amount - credited_amount - paid_amount
    or open_amount < 0
