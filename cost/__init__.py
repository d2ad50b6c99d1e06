"""AI cost: exact token counts, a dated price table, hourly budgets with atomic guardrails, usage records and
exactly-once hourly/daily rollups (plan items #302-#305).

Money is always an ``int`` of nano-USD (nUSD, 10^-9 USD): no float ever holds an amount.
"""
