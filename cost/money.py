"""Money as exact integers: amounts are ``int`` nano-USD (nUSD). Decimal is used only to read configured USD values.

One token priced at ``P`` USD per million tokens costs ``P * 1000`` nUSD, so a price with at most three decimals is a
whole number of nUSD per token and every cost is an exact integer sum.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

NUSD_PER_USD: Final = 10**9
NUSD_PER_TOKEN_PER_USD_PER_MTOK: Final = 1000
"""nUSD per token for a price of 1 USD per million tokens."""


class MoneyError(ValueError):
    """A configured amount is not an exact, non-negative number of the allowed precision."""


def exact_decimal(value: object, *, max_decimals: int) -> Decimal:
    """A JSON number (read as int or Decimal, never float) with at most ``max_decimals`` decimals, >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise MoneyError("must be a JSON number (not a string, boolean or float)")
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise MoneyError("must be a finite number >= 0")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -max_decimals:
        raise MoneyError(f"must have at most {max_decimals} decimals")
    return amount


def usd_to_nusd(value: object) -> int:
    """A configured USD amount (at most 9 decimals) as exact nUSD."""
    return int(exact_decimal(value, max_decimals=9) * NUSD_PER_USD)


def price_to_nusd_per_token(value: object) -> int:
    """A price in USD per million tokens (at most 3 decimals) as exact nUSD per token."""
    return int(exact_decimal(value, max_decimals=3) * NUSD_PER_TOKEN_PER_USD_PER_MTOK)


def format_usd(nusd: int) -> str:
    """``5615000`` -> ``"0.005615"``: exact, for people; trailing zeros trimmed to at least two decimals."""
    sign = "-" if nusd < 0 else ""
    whole, fraction = divmod(abs(nusd), NUSD_PER_USD)
    digits = f"{fraction:09d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"
