"""Cosmos DB access through the real ``azure-cosmos`` SDK, every call recorded as a dependency.

Each call records operation, container, partition key (pseudonymised for player containers), status and
sub-status, the RU charge Cosmos reported (``x-ms-request-charge``) and the 429 retries the SDK absorbed (counted
from every HTTP response the call received, see ``_ChargeRecorder``). The SDK
already retries throttled requests (about 9 times, honouring ``x-ms-retry-after-ms``): there is deliberately no
second retry layer here (field case 9); a 429 the SDK gave up on surfaces as a transient ``throttled`` error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos import exceptions as cosmos_errors
from opentelemetry.trace import SpanKind

from shared.errors import AppError, ErrorCode
from shared.telemetry import Outcome, Timing, timed
from shared.telemetry import attributes as attr
from shared.telemetry.pipeline import config as pipeline_config
from shared.telemetry.pseudonym import pseudonymize

DB_SYSTEM = "cosmosdb"
THROTTLED = 429
_CHARGE = "x-ms-request-charge"
_SUBSTATUS = "x-ms-substatus"
_EXPECTED = (404, 409, 412)
"""Statuses the callers handle as answers (missing, exists, changed), not failures."""
_IF_MATCH = MatchConditions.IfNotModified


@dataclass(frozen=True)
class ContainerSpec:
    """A container the app uses, declared by the package that owns it (``game/containers.py`` …)."""

    name: str
    partition_key_path: str
    pseudonymous_keys: bool = False
    """The partition key is a player id: it is pseudonymised in telemetry."""


class CosmosGateway:
    """One client per process; containers are created on first use with their partition key path."""

    def __init__(self, endpoint: str, key: str, database: str) -> None:
        self._database_name = database
        local = urlparse(endpoint).scheme == "http"  # only the local Cosmos server speaks plain http
        self._client = CosmosClient(endpoint, credential=key, connection_verify=not local,
                                    enable_endpoint_discovery=not local)
        self._database = self._client.create_database_if_not_exists(database)
        self._containers: dict[str, InstrumentedContainer] = {}
        self._lock = threading.Lock()

    def container(self, spec: ContainerSpec) -> InstrumentedContainer:
        with self._lock:
            found = self._containers.get(spec.name)
            if found is None:
                proxy = self._database.create_container_if_not_exists(
                    spec.name, partition_key=PartitionKey(path=spec.partition_key_path)
                )
                found = InstrumentedContainer(proxy, self._database_name, spec.pseudonymous_keys)
                self._containers[spec.name] = found
            return found


class InstrumentedContainer:
    """The container operations the app uses. Missing items read as ``None``; other failures are ``AppError``."""

    def __init__(self, proxy: ContainerProxy, database: str, pseudonymous_keys: bool) -> None:
        self.proxy = proxy
        self.name = proxy.id
        self._database = database
        self._pseudonymous = pseudonymous_keys

    def read(self, item_id: str, partition_key: str) -> dict[str, Any] | None:
        try:
            with self._call("read_item", partition_key) as hook:
                return self.proxy.read_item(item_id, partition_key=partition_key, response_hook=hook,
                                            raw_response_hook=hook.on_http_response)
        except cosmos_errors.CosmosResourceNotFoundError:
            return None

    def create(self, item: dict[str, Any], partition_key: str) -> dict[str, Any] | None:
        """Create; ``None`` when an item with this id already exists (the caller decides what that means)."""
        try:
            with self._call("create_item", partition_key) as hook:
                return self.proxy.create_item(item, response_hook=hook, raw_response_hook=hook.on_http_response)
        except cosmos_errors.CosmosResourceExistsError:
            return None

    def upsert(self, item: dict[str, Any], partition_key: str) -> dict[str, Any]:
        with self._call("upsert_item", partition_key) as hook:
            return self.proxy.upsert_item(item, response_hook=hook, raw_response_hook=hook.on_http_response)

    def replace_if_match(self, item: dict[str, Any], partition_key: str, etag: str) -> dict[str, Any] | None:
        """Optimistic concurrency: ``None`` when the item changed since ``etag`` was read (412)."""
        try:
            with self._call("replace_item", partition_key) as hook:
                return self.proxy.replace_item(item["id"], item, etag=etag, match_condition=_IF_MATCH,
                                               response_hook=hook, raw_response_hook=hook.on_http_response)
        except cosmos_errors.CosmosAccessConditionFailedError:
            return None

    def delete(self, item_id: str, partition_key: str) -> bool:
        try:
            with self._call("delete_item", partition_key) as hook:
                self.proxy.delete_item(item_id, partition_key=partition_key, response_hook=hook,
                                      raw_response_hook=hook.on_http_response)
                return True
        except cosmos_errors.CosmosResourceNotFoundError:
            return False

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None,
              partition_key: str | None = None) -> list[dict[str, Any]]:
        """Run a query to the end. Filter on the partition key in the SQL too: the local server ignores the SDK's."""
        params = [{"name": k, "value": v} for k, v in (parameters or {}).items()]
        kwargs: dict[str, Any] = {"parameters": params}
        if partition_key is None:
            kwargs["enable_cross_partition_query"] = True
        else:
            kwargs["partition_key"] = partition_key
        with self._call("query_items", partition_key) as hook:
            return list(self.proxy.query_items(sql, response_hook=hook, raw_response_hook=hook.on_http_response,
                                               **kwargs))

    @contextmanager
    def _call(self, operation: str, partition_key: str | None) -> Iterator[_ChargeRecorder]:
        with timed(f"{self.name} {operation}", kind=SpanKind.CLIENT, attributes={
            attr.DB_SYSTEM: DB_SYSTEM, attr.DB_OPERATION: operation, attr.DB_COLLECTION: self.name,
            attr.DB_NAMESPACE: self._database, attr.COSMOS_CONTAINER: self.name,
            attr.COSMOS_PARTITION_KEY: self._key_for_telemetry(partition_key),
        }) as timing:
            recorder = _ChargeRecorder(timing)
            try:
                yield recorder
                recorder.finish(200)
            except cosmos_errors.CosmosHttpResponseError as exc:
                recorder.failed(exc)
                if exc.status_code in _EXPECTED:
                    raise
                raise _as_app_error(exc) from exc
            except (ServiceRequestError, ServiceResponseError) as exc:
                raise AppError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the database is unreachable") from exc

    def _key_for_telemetry(self, partition_key: str | None) -> str | None:
        if partition_key is None or not self._pseudonymous:
            return partition_key
        return pseudonymize(partition_key, pipeline_config().pseudonym_key)


class _ChargeRecorder:
    """The SDK's hooks: ``response_hook`` accumulates RU over every page; ``raw_response_hook`` sees every HTTP
    response, the 429s the SDK retried included, and counts them.

    Not ``x-ms-throttle-retry-count``: azure-cosmos (4.17) writes that header into
    ``client_connection.last_response_headers`` while it still holds the *previous* call's headers, and then
    replaces it with this call's, so a ``response_hook`` never sees it (and the client-wide attribute is shared
    across threads anyway).
    """

    def __init__(self, timing: Timing) -> None:
        self._timing = timing
        self._charge = 0.0
        self._throttled = 0
        self._status: int | None = None

    def __call__(self, headers: Mapping[str, Any], *_: Any) -> None:
        self._charge += float(headers.get(_CHARGE, 0) or 0)

    def on_http_response(self, response: Any) -> None:
        """azure-core's ``raw_response_hook``: called with the ``PipelineResponse`` of every attempt."""
        if response.http_response.status_code == THROTTLED:
            self._throttled += 1

    def finish(self, default_status: int) -> None:
        status = self._status or default_status
        self._timing.set(attr.DB_STATUS_CODE, status)
        self._timing.set(attr.COSMOS_REQUEST_CHARGE, round(self._charge, 2))
        # Retries absorbed: every 429 but the one the SDK gave up on (if it gave up).
        self._timing.set(attr.COSMOS_THROTTLE_RETRIES, self._throttled - (1 if status == THROTTLED else 0))

    def failed(self, exc: cosmos_errors.CosmosHttpResponseError) -> None:
        headers = exc.headers or {}
        self(headers)
        self._status = exc.status_code
        self._timing.set(attr.COSMOS_SUB_STATUS, int(headers.get(_SUBSTATUS, 0) or 0) or None)
        self.finish(exc.status_code or 0)
        self._timing.outcome = Outcome.SUCCEEDED if exc.status_code in _EXPECTED else Outcome.FAILED


def _as_app_error(exc: cosmos_errors.CosmosHttpResponseError) -> AppError:
    if exc.status_code == THROTTLED:
        return AppError(ErrorCode.THROTTLED, "the database is throttling requests; retry later")
    if exc.status_code is not None and exc.status_code >= 500:
        return AppError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the database failed to answer")
    return AppError(ErrorCode.INTERNAL, f"the database refused the request ({exc.status_code})")
