{#
    Billable events that are PSA work (timecard splits, expenses, milestones), billed through PSA
    billing events and ERP invoices; the others (Stripe retainer and subscription charges) are
    invoiced by Stripe itself. The readers that mean PSA work filter with this, so which event
    types are PSA work is decided here once.
#}
{% macro q2c_is_psa_item(event_type='event_type') -%}
    {{ event_type }} in ('time', 'expense', 'milestone')
{%- endmacro %}
