"""The price table and the cost calculator (plan #303, field cases 4, 5 and 8).

Prices live in ``cost/prices.json`` in USD per million tokens with at most three decimals, so each is a whole number
of nano-USD per token and every cost is an exact integer. The file is validated when loaded (a bad value is a loud
error naming the model, the entry and the field) and loaded once per process.

Billing rules (OpenAI-style usage):
- cached tokens are a subset of the prompt tokens: ``(prompt - cached) * input + cached * cached_input`` — never
  billed twice (case 4: 2006/1920/300 at 2.50/1.25/10.00 is 5,615,000 nUSD);
- reasoning tokens are inside the completion tokens: billed as output, or at the entry's own ``reasoning`` price
  where the provider bills them separately (then the rest of the output at the output price);
- a model the table does not know, or a usage time before its first entry, is priced at the ``*ceiling*`` entry
  (never zero) and flagged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from cost.events import PRICE_CEILING_APPLIED
from cost.money import MoneyError, price_to_nusd_per_token
from cost.once import Once
from cost.periods import utc
from shared.telemetry import attributes as attr
from shared.telemetry import emit

_log = logging.getLogger(__name__)

PRICES_FILE: Final = Path(__file__).resolve().parent / "prices.json"
CEILING: Final = "*ceiling*"
REQUIRED: Final = ("input", "cached_input", "output")
OPTIONAL: Final = ("reasoning",)
_ENTRY_FIELDS: Final = frozenset({"effective_from", *REQUIRED, *OPTIONAL})
_SNAPSHOT = re.compile(r"^(?P<family>.+)-\d{4}-\d{2}-\d{2}$")


class PriceTableError(ValueError):
    """The price file is unusable; the message names the file, the model, the entry and the field."""


class NoPriceInForce(PriceTableError):
    """Not even the ceiling has a price in force on that day: the usage is older than the table (or the table is
    missing its history). Permanent for that usage; retrying it changes nothing."""


class UsageError(ValueError):
    """Reported usage is inconsistent; ``field`` names the offending count."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Price:
    """One dated entry of the table, in nano-USD per token."""

    model: str
    """The table entry that priced the call: the model's own key, or ``*ceiling*``."""
    effective_from: date
    input_nusd: int
    cached_input_nusd: int
    output_nusd: int
    reasoning_nusd: int | None = None

    @property
    def ceiling(self) -> bool:
        return self.model == CEILING


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reports them (OpenAI style)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    """Subset of ``prompt_tokens``."""
    reasoning_tokens: int = 0
    """Subset of ``completion_tokens``."""

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(name, f"{name} must be an integer >= 0")
        if self.cached_tokens > self.prompt_tokens:
            raise UsageError("cached_tokens", "cached_tokens must not exceed prompt_tokens (they are a subset)")
        if self.reasoning_tokens > self.completion_tokens:
            raise UsageError("reasoning_tokens",
                             "reasoning_tokens must not exceed completion_tokens (they are a subset)")


@dataclass(frozen=True)
class Cost:
    nusd: int
    price: Price

    @property
    def ceiling(self) -> bool:
        return self.price.ceiling


def cost_nusd(usage: Usage, price: Price) -> int:
    """Exact cost in nano-USD of one usage at one price."""
    uncached = usage.prompt_tokens - usage.cached_tokens
    total = uncached * price.input_nusd + usage.cached_tokens * price.cached_input_nusd
    if price.reasoning_nusd is None:
        return total + usage.completion_tokens * price.output_nusd
    visible = usage.completion_tokens - usage.reasoning_tokens
    return total + visible * price.output_nusd + usage.reasoning_tokens * price.reasoning_nusd


class PriceTable:
    def __init__(self, entries: Mapping[str, tuple[Price, ...]]) -> None:
        self._entries = dict(entries)
        self._ceiling_reported = Once()

    @classmethod
    def from_file(cls, path: Path = PRICES_FILE) -> PriceTable:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceTableError(f"{path}: cannot be read ({exc.strerror})") from exc
        return cls.from_json(text, source=str(path))

    @classmethod
    def from_json(cls, text: str, source: str = "prices.json") -> PriceTable:
        return cls(_validated(_parse(text, source), source))

    @property
    def models(self) -> list[str]:
        return sorted(key for key in self._entries if key != CEILING)

    def price(self, model: str, at: datetime) -> Price:
        """The entry in force for ``model`` at ``at``; the ceiling (flagged, reported once) when there is none."""
        day = utc(at).date()
        found = _in_force(self._entries.get(self._key(model), ()), day)
        if found is not None:
            return found
        if self._ceiling_reported.first(model):
            _log.warning("no price in force for model %s; priced at the ceiling", model)
            emit(PRICE_CEILING_APPLIED, {attr.GEN_AI_MODEL: model})
        ceiling = _in_force(self._entries[CEILING], day)
        if ceiling is None:
            raise NoPriceInForce(f"no {CEILING} price is in force on {day.isoformat()}")
        return ceiling

    def cost(self, usage: Usage, model: str, at: datetime) -> Cost:
        price = self.price(model, at)
        return Cost(cost_nusd(usage, price), price)

    def estimate(self, input_tokens: int, max_output_tokens: int, model: str, at: datetime) -> Cost:
        """Worst case before the call: no cache hit assumed, the whole output budget used."""
        return self.cost(Usage(prompt_tokens=input_tokens, completion_tokens=max_output_tokens), model, at)

    def _key(self, model: str) -> str:
        key = model.strip().lower()
        if key in self._entries or key == CEILING:
            return key
        snapshot = _SNAPSHOT.match(key)  # gpt-4o-2024-08-06 is priced as gpt-4o
        return snapshot.group("family") if snapshot else key


def _in_force(entries: tuple[Price, ...], day: date) -> Price | None:
    current = None
    for entry in entries:  # ascending by effective_from (validated)
        if entry.effective_from <= day:
            current = entry
    return current


@lru_cache(maxsize=1)
def load_prices() -> PriceTable:
    """The app's price table, loaded and validated once per process."""
    return PriceTable.from_file(PRICES_FILE)


# --- validation ---------------------------------------------------------------------------------------------------


def _parse(text: str, source: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)  # never float: 0.075 stays exactly 0.075
    except json.JSONDecodeError as exc:
        raise PriceTableError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None


def _validated(data: Any, source: str) -> dict[str, tuple[Price, ...]]:
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not models:
        raise PriceTableError(f"{source}: must be an object with a non-empty 'models' object")
    if CEILING not in models:
        raise PriceTableError(f"{source}: models.{CEILING} is required (the price of unknown models)")
    table = {model: _model_entries(source, model, entries) for model, entries in models.items()}
    _check_ceiling(source, table)
    return table


def _model_entries(source: str, model: Any, entries: Any) -> tuple[Price, ...]:
    if not isinstance(model, str) or not model.strip() or model != model.strip().lower():
        raise PriceTableError(f"{source}: model key {model!r} must be a non-empty lower-case id")
    if not isinstance(entries, list) or not entries:
        raise PriceTableError(f"{source}: models.{model} must be a non-empty list of dated entries")
    prices = tuple(_entry(source, model, index, entry) for index, entry in enumerate(entries))
    for earlier, later in zip(prices, prices[1:], strict=False):
        if later.effective_from <= earlier.effective_from:
            raise PriceTableError(f"{source}: models.{model}: effective_from dates must be strictly ascending "
                                  f"({later.effective_from.isoformat()} after {earlier.effective_from.isoformat()})")
    return prices


def _entry(source: str, model: str, index: int, entry: Any) -> Price:
    where = f"{source}: models.{model}[{index}]"
    if not isinstance(entry, dict):
        raise PriceTableError(f"{where}: must be an object")
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        raise PriceTableError(f"{where}.{unknown[0]}: is not a known field ({', '.join(sorted(_ENTRY_FIELDS))})")
    effective = _date(where, entry.get("effective_from"))
    values = {name: _required_price(where, name, entry.get(name)) for name in REQUIRED}
    reasoning = None if entry.get("reasoning") is None else _required_price(where, "reasoning", entry["reasoning"])
    for name in ("input", "output") if model != CEILING else REQUIRED:
        if values[name] == 0:
            raise PriceTableError(f"{where}.{name}: must be > 0 (a zero price would make the work free)")
    if values["cached_input"] > values["input"]:
        raise PriceTableError(f"{where}.cached_input: must not exceed input")
    return Price(model, effective, values["input"], values["cached_input"], values["output"], reasoning)


def _date(where: str, value: Any) -> date:
    try:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError:
        raise PriceTableError(f"{where}.effective_from: must be a YYYY-MM-DD date (UTC)") from None


def _required_price(where: str, name: str, value: Any) -> int:
    if value is None:
        raise PriceTableError(f"{where}.{name}: is required (USD per million tokens)")
    try:
        return price_to_nusd_per_token(value)
    except MoneyError as exc:
        raise PriceTableError(f"{where}.{name}: {exc} (USD per million tokens)") from None


def _check_ceiling(source: str, table: Mapping[str, tuple[Price, ...]]) -> None:
    ceilings = table[CEILING]
    for name in ("input_nusd", "cached_input_nusd", "output_nusd"):
        lowest = min(getattr(price, name) for price in ceilings)
        for model, prices in table.items():
            for price in prices:
                if getattr(price, name) > lowest:
                    field = name.removesuffix("_nusd")
                    raise PriceTableError(f"{source}: models.{model} {field} ({getattr(price, name)} nUSD/token) "
                                          f"is above the {CEILING} price ({lowest}): raise the ceiling")
