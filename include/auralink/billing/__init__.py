"""Billing: idempotent usage ingestion and monthly invoices under the price list in ``billing_plans``.

Prices, allowances and overage rates live only in the ``billing_plans`` table; the amounts come from
the SQL functions ``billing_plan_segments`` and ``calculate_monthly_costs_as_of`` (migration 0500), so
``calculate_monthly_costs()`` and the invoices agree by construction.
"""
