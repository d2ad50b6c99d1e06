"""Hourly budget caps per game feature, from ``cost/budgets.json``: validated on load, loaded once.

Caps are read as exact decimals and held as integer nano-USD; a bad file is a loud error naming the field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from cost.money import MoneyError, usd_to_nusd
from shared.settings import AI_BUDGETS_FILE

BUDGETS_FILE: Final = Path(__file__).resolve().parent / "budgets.json"
FEATURE_PATTERN: Final = r"[a-z0-9][a-z0-9-]{0,63}"
"""A game feature id (a prompt template id such as ``location-generator``)."""
_FEATURE = re.compile(FEATURE_PATTERN)


class BudgetConfigError(ValueError):
    """The budget file is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class BudgetConfig:
    default_cap_nusd: int
    soft_percent: int
    caps_nusd: Mapping[str, int] = field(default_factory=dict)

    def cap_for(self, feature: str) -> int:
        return self.caps_nusd.get(feature, self.default_cap_nusd)

    def soft_for(self, feature: str) -> int:
        """The soft threshold in nUSD (rounded up, so it is never below the configured percentage)."""
        return -(-self.cap_for(feature) * self.soft_percent // 100)

    @classmethod
    def from_file(cls, path: Path = BUDGETS_FILE) -> BudgetConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BudgetConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
        return cls.from_json(text, source=str(path))

    @classmethod
    def from_json(cls, text: str, source: str = "budgets.json") -> BudgetConfig:
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise BudgetConfigError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(data, dict):
            raise BudgetConfigError(f"{source}: must be a JSON object")
        features = data.get("features", {})
        if not isinstance(features, dict):
            raise BudgetConfigError(f"{source}: features must be an object of feature id -> hourly cap in USD")
        return cls(
            default_cap_nusd=_cap(source, "default_hourly_cap_usd", data.get("default_hourly_cap_usd")),
            soft_percent=_percent(source, data.get("soft_threshold_percent")),
            caps_nusd={_feature(source, name): _cap(source, f"features.{name}", cap) for name, cap in features.items()},
        )


def _cap(source: str, where: str, value: Any) -> int:
    if value is None:
        raise BudgetConfigError(f"{source}: {where} is required (USD per hour)")
    try:
        nusd = usd_to_nusd(value)
    except MoneyError as exc:
        raise BudgetConfigError(f"{source}: {where}: {exc} (USD per hour)") from None
    if nusd <= 0:
        raise BudgetConfigError(f"{source}: {where}: must be > 0 (USD per hour)")
    return nusd


def _percent(source: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise BudgetConfigError(f"{source}: soft_threshold_percent must be an integer from 1 to 100")
    return value


def _feature(source: str, name: str) -> str:
    if not _FEATURE.fullmatch(name):
        raise BudgetConfigError(f"{source}: features.{name[:64]}: is not a feature id ({FEATURE_PATTERN})")
    return name


@lru_cache(maxsize=1)
def load_budgets() -> BudgetConfig:
    """The app's budget configuration, loaded and validated once per process: the file named by the app setting
    ``AI_BUDGETS_FILE`` (an environment's own caps), else the ``budgets.json`` shipped with the app."""
    configured = os.environ.get(AI_BUDGETS_FILE, "").strip()
    return BudgetConfig.from_file(Path(configured) if configured else BUDGETS_FILE)
