"""Every app setting the function app reads, declared once with its type, default and validation.

Settings are read once, in ``function_app.py``, into an immutable :class:`AppSettings` that is passed to the parts
that need it. A few are read when used instead: timer schedules (:func:`schedule`, resolved like the host's
``%NAME%``), secrets that may rotate (the integrity signing key, in ``integrity/signing.py``), and files and folders
libraries read themselves (``TIKTOKEN_CACHE_DIR``, ``AI_BUDGETS_FILE``, read by ``cost/``).

A malformed optional value falls back to its default and is
reported (see :attr:`AppSettings.rejected`), never silently; a missing required value is a clear start-up error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

STORAGE_CONNECTION: Final = "AzureWebJobsStorage"
"""Storage account for queues (Azurite locally). Also the name queue triggers use as ``connection``."""

COSMOS_ENDPOINT: Final = "COSMOS_ENDPOINT"
"""Cosmos DB account endpoint. A plain ``http://`` loopback endpoint means the local Cosmos server."""

COSMOS_KEY: Final = "COSMOS_KEY"
"""Cosmos DB account key. Never logged."""

COSMOS_DATABASE: Final = "COSMOS_DATABASE"
"""Cosmos DB database holding every container of the game."""

APPINSIGHTS_CONNECTION: Final = "APPLICATIONINSIGHTS_CONNECTION_STRING"
"""Application Insights connection string. Empty: telemetry stays in-process (no exporter)."""

SAMPLING_PERCENTAGE: Final = "TELEMETRY_SAMPLING_PERCENTAGE"
"""Percentage (0 < p <= 100) of routine traces kept. Errors and always-kept events ignore it."""

PSEUDONYM_KEY: Final = "TELEMETRY_PSEUDONYM_KEY"
"""Secret key (16 characters or more) for the keyed hash that turns player ids into pseudonyms in telemetry."""

AZURE_INSTANCE: Final = "WEBSITE_INSTANCE_ID"
"""Set by the platform on every Azure instance: there, a missing secret is a deployment mistake worth reporting."""

ROLE_NAME: Final = "WEBSITE_SITE_NAME"
"""Name of the function app; becomes ``cloud_RoleName``."""

TELEMETRY_STORAGE_DIRECTORY: Final = "TELEMETRY_STORAGE_DIRECTORY"
"""Folder where the exporter keeps telemetry it could not send yet and retries later; empty means the exporter's
default (a folder under the temp dir named after the instrumentation key)."""

TELEMETRY_STRICT: Final = "TELEMETRY_STRICT"
"""``true`` in tests: emitting an undeclared event or dimension raises instead of being reported."""

INTEGRITY_SCHEDULE: Final = "INTEGRITY_SCHEDULE"
"""Six-field NCRONTAB schedule of the integrity recompute timer."""

COST_ROLLUP_SCHEDULE: Final = "COST_ROLLUP_SCHEDULE"
"""Six-field NCRONTAB schedule of the AI cost rollup timer."""

POISON_SCAN_SCHEDULE: Final = "POISON_SCAN_SCHEDULE"
"""Six-field NCRONTAB schedule of the poison queue scan."""

TIKTOKEN_CACHE_DIR: Final = "TIKTOKEN_CACHE_DIR"
"""Folder tiktoken reads its encoding files from; seeded from the files the app ships (no download ever)."""

AI_BUDGETS_FILE: Final = "AI_BUDGETS_FILE"
"""Path of an environment's own hourly AI budget file; empty means ``cost/budgets.json``."""

INTEGRITY_SIGNING_KEY: Final = "INTEGRITY_SIGNING_KEY"
"""Secret key that signs the integrity baseline (HMAC-SHA256)."""


class SettingError(ValueError):
    """A required setting is missing or unusable; the message names the setting, never its value."""


def _percentage(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None  # float()'s own message would quote the value
    if not 0 < value <= 100:
        raise ValueError("must be > 0 and <= 100")
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError("must be true or false")
    return lowered in ("true", "1")


MIN_SECRET_LENGTH: Final = 16


def _secret(raw: str) -> str:
    if len(raw.strip()) < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
    return raw.strip()


def _non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


@dataclass(frozen=True)
class AppSettings:
    """The validated settings of one process."""

    storage_connection: str = ""
    cosmos_endpoint: str = ""
    cosmos_key: str = ""
    cosmos_database: str = "game"
    appinsights_connection: str = ""
    sampling_percentage: float = 100.0
    pseudonym_key: str = "local-development-pseudonym-key"
    role_name: str = "game-observability"
    telemetry_strict: bool = False
    telemetry_storage_directory: str = ""
    rejected: Mapping[str, str] = field(default_factory=dict)
    """Optional settings whose value was unusable: name -> reason (the default was used instead)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        env = os.environ if environ is None else environ
        rejected: dict[str, str] = {}
        return cls(
            storage_connection=env.get(STORAGE_CONNECTION, "").strip(),
            cosmos_endpoint=env.get(COSMOS_ENDPOINT, "").strip(),
            cosmos_key=env.get(COSMOS_KEY, "").strip(),
            cosmos_database=_optional(env, COSMOS_DATABASE, _non_empty, "game", rejected),
            appinsights_connection=env.get(APPINSIGHTS_CONNECTION, "").strip(),
            sampling_percentage=_optional(env, SAMPLING_PERCENTAGE, _percentage, 100.0, rejected),
            pseudonym_key=_optional(env, PSEUDONYM_KEY, _secret, cls.pseudonym_key, rejected),
            role_name=_optional(env, ROLE_NAME, _non_empty, cls.role_name, rejected),
            telemetry_strict=_optional(env, TELEMETRY_STRICT, _boolean, False, rejected),
            telemetry_storage_directory=env.get(TELEMETRY_STORAGE_DIRECTORY, "").strip(),
            rejected=_missing_in_azure(env, rejected),
        )


    def require_data_plane(self) -> None:
        """Raise :class:`SettingError` naming the first missing storage or Cosmos setting.

        Checked when the first invocation needs them, not at import, so that listing the functions (tests, the
        local host's inventory) and telemetry set-up work without a data plane.
        """
        for name, value in ((STORAGE_CONNECTION, self.storage_connection), (COSMOS_ENDPOINT, self.cosmos_endpoint),
                            (COSMOS_KEY, self.cosmos_key)):
            if not value:
                raise SettingError(f"app setting {name} is missing or empty")


def _missing_in_azure(env: Mapping[str, str], rejected: dict[str, str]) -> dict[str, str]:
    """In Azure, pseudonyms under the public development key could be reversed by anyone: report it."""
    if env.get(AZURE_INSTANCE) and not env.get(PSEUDONYM_KEY, "").strip():
        rejected.setdefault(PSEUDONYM_KEY, "is missing in Azure: pseudonyms use the public development key")
    return rejected


def _optional(
    env: Mapping[str, str],
    name: str,
    parse: Callable[[str], Any],
    default: Any,
    rejected: dict[str, str],
) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        rejected[name] = str(exc)
        return default


def schedule(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The NCRONTAB expression a timer's ``%NAME%`` schedule resolves to, read when the timer runs."""
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if not value:
        raise SettingError(f"app setting {name} (a timer schedule) is missing or empty")
    return value
