"""The composition root's product: the long-lived clients one worker process shares across invocations.

``function_app.py`` installs a factory; the first invocation that needs the data plane builds the services (the
Cosmos client contacts the account when it is created, so this must not happen at import). The function wrapper
hands the services to handlers; nothing reaches for them from elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from azure.core.exceptions import AzureError

from shared.cosmos import CosmosGateway
from shared.errors import AppError, ErrorCode
from shared.queues import QueueProducer
from shared.settings import AppSettings, SettingError

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: AppSettings
    cosmos: CosmosGateway
    producer: QueueProducer


def build_services(settings: AppSettings) -> Services:
    settings.require_data_plane()
    return Services(
        settings=settings,
        cosmos=CosmosGateway(settings.cosmos_endpoint, settings.cosmos_key, settings.cosmos_database),
        producer=QueueProducer(settings.storage_connection),
    )


_lock = threading.Lock()
_factory: Callable[[], Services] | None = None
_services: Services | None = None


def install(factory: Callable[[], Services]) -> None:
    global _factory, _services
    with _lock:
        _factory, _services = factory, None


def services() -> Services:
    """The process's services, built on first use; a failure to build is a transient ``dependency_unavailable``."""
    global _services
    with _lock:
        if _services is None:
            if _factory is None:
                raise RuntimeError("no services installed: function_app.py installs them at import")
            try:
                _services = _factory()
            except SettingError as exc:
                _log.error("cannot start: %s", exc)
                raise AppError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the app is not configured") from exc
            except AzureError as exc:
                _log.error("cannot reach a dependency at start: %s", type(exc).__name__)
                raise AppError(ErrorCode.DEPENDENCY_UNAVAILABLE, "a dependency is unreachable") from exc
        return _services
