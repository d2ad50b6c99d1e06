"""Every telemetry attribute key the app writes, declared once.

Keys follow OpenTelemetry's conventions where one exists (``gen_ai.*``, ``db.*``, ``messaging.*``) and ``game.*``
otherwise. :data:`SPECS` gives each key its value type and length bound; the event registry and the enrichment
pipeline use it, and ``docs/telemetry-catalog.md`` is generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# --- game.* ---------------------------------------------------------------------------------------------------
CORRELATION_ID: Final = "game.correlation_id"
"""Correlation id of the request that started the work; the same across HTTP, every queue hop and Cosmos call."""
CORRELATION_ID_REJECTED: Final = "game.correlation_id.rejected"
"""A client-sent correlation id that failed validation: escaped and truncated, never propagated."""
OPERATION: Final = "game.operation"
"""The game operation a span or event belongs to (an :class:`~shared.operations.Operation` value)."""
OUTCOME: Final = "game.outcome"
"""How an operation ended: an :class:`~shared.telemetry.timing.Outcome` value."""
ERROR_CODE: Final = "game.error.code"
"""Stable error code (:class:`~shared.errors.ErrorCode`) of a failed operation."""
ERROR_KIND: Final = "game.error.kind"
"""Kind of a failure: validation, permanent, transient or internal."""
PLAYER_ID: Final = "game.player.id"
"""Pseudonymous player id (keyed hash); the raw id never leaves the app."""
LOCATION_ID: Final = "game.location.id"
"""Id of a world location (world data, not personal)."""
TARGET_LOCATION_ID: Final = "game.location.target_id"
"""Id of the location an exit leads to."""
EXIT_DIRECTION: Final = "game.exit.direction"
"""A normalised exit direction (``north`` … ``out``) or ``other`` for anything a player typed that is not one."""
MOVE_REASON: Final = "game.move.reason"
"""Why a move was blocked: ``no_exit`` or ``unknown_direction``."""
EVENT_TYPE: Final = "game.event.type"
"""Type of a queued game event (``player.move`` …)."""
EVENT_ID: Final = "game.event.id"
"""Id of a queued game event, unique per event and kept across redeliveries."""
ACTOR_KIND: Final = "game.actor.kind"
"""Who acted: ``player``, ``system`` or ``operator``."""
DUPLICATE: Final = "game.event.duplicate"
"""True when a redelivered event was recognised and changed nothing."""
QUEUE_WAIT_MS: Final = "game.queue.wait_ms"
"""Milliseconds a message waited between enqueue and the start of its handler."""
DEQUEUE_COUNT: Final = "game.queue.dequeue_count"
"""How many times the queue has delivered this message (1 on the first try)."""
QUEUE_ENCODING: Final = "game.queue.encoding"
"""How a poison message was encoded (``base64-json``, ``plain-json``, ``unreadable``): why the host failed on it."""
DEAD_LETTER_REASON: Final = "game.queue.dead_letter_reason"
"""Why a message was dead-lettered: an error code, never message content."""
SETTING_NAME: Final = "game.setting.name"
"""Name of an app setting (never its value)."""
TELEMETRY_NAME: Final = "game.telemetry.name"
"""An event or attribute name involved in a telemetry schema violation."""
FEATURE: Final = "game.ai.feature"
"""Game feature an AI call served (a prompt template id such as ``location-generator``)."""
SCHEDULED_FOR: Final = "game.timer.scheduled_for"
"""ISO 8601 time of the timer occurrence a run belongs to."""
ITEM_COUNT: Final = "game.item.count"
"""Number of items an operation handled."""

# --- OpenTelemetry semantic conventions -------------------------------------------------------------------------
DB_SYSTEM: Final = "db.system"
"""Database product; ``cosmosdb``. Becomes the dependency ``type`` in Application Insights."""
DB_OPERATION: Final = "db.operation.name"
"""Cosmos operation (``read_item``, ``query_items`` …)."""
DB_COLLECTION: Final = "db.collection.name"
"""Cosmos container name."""
DB_NAMESPACE: Final = "db.namespace"
"""Cosmos database name."""
# Cosmos measures use OpenTelemetry's ``azure.cosmosdb.*`` namespace, not ``db.*``: the Azure Monitor exporter
# treats every ``db.*`` key as standard and leaves it out of customDimensions, where the dashboards need these.
DB_STATUS_CODE: Final = "azure.cosmosdb.response.status_code"
"""HTTP status code Cosmos answered."""
COSMOS_SUB_STATUS: Final = "azure.cosmosdb.response.sub_status_code"
"""Cosmos sub-status code (e.g. 3200 for a throttled request)."""
COSMOS_REQUEST_CHARGE: Final = "azure.cosmosdb.operation.request_charge"
"""Request units the call consumed, from ``x-ms-request-charge``."""
COSMOS_THROTTLE_RETRIES: Final = "azure.cosmosdb.throttle_retry_count"
"""429 retries the Cosmos SDK absorbed inside this call."""
COSMOS_PARTITION_KEY: Final = "azure.cosmosdb.partition_key"
"""Partition key value of the call (pseudonymised when it is a player id)."""
COSMOS_CONTAINER: Final = "azure.cosmosdb.container"
"""Container name again, outside ``db.*`` so that it reaches customDimensions."""
MESSAGING_SYSTEM: Final = "messaging.system"
"""Messaging product; ``azure_queue``."""
MESSAGING_DESTINATION: Final = "messaging.destination.name"
"""Queue name."""
MESSAGING_OPERATION: Final = "messaging.operation.type"
"""``send`` or ``process``."""
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
"""Id the queue service gave the message."""
GEN_AI_MODEL: Final = "gen_ai.request.model"
"""Model id the AI call asked for."""
GEN_AI_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
"""Input tokens, cached ones included (OpenTelemetry GenAI convention)."""
GEN_AI_CACHED_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
"""Input tokens served from the provider's cache: a subset of the input tokens."""
GEN_AI_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
"""Output tokens (reasoning tokens included)."""
HTTP_ROUTE: Final = "http.route"
"""Route template of an HTTP function."""
HTTP_STATUS_CODE: Final = "http.response.status_code"
"""Status code of an HTTP response."""
HTTP_METHOD: Final = "http.request.method"
"""Method of an HTTP request. On a SERVER span it (with the status code) is what makes the exporter fill the
``requests`` row's ``resultCode`` and ``success`` (a 4xx is a failed request in Application Insights)."""


@dataclass(frozen=True)
class AttributeSpec:
    key: str
    type: type
    max_length: int = 128
    pseudonymous: bool = False


def _specs(*specs: AttributeSpec) -> dict[str, AttributeSpec]:
    return {spec.key: spec for spec in specs}


def declare(*specs: AttributeSpec) -> None:
    """Add a domain package's own attribute keys (``cost/attributes.py`` …); a key is declared once."""
    for spec in specs:
        if spec.key in SPECS and SPECS[spec.key] != spec:
            raise ValueError(f"attribute {spec.key} is declared twice with different specs")
        SPECS[spec.key] = spec


SPECS: Final[dict[str, AttributeSpec]] = _specs(
    *(AttributeSpec(key, str) for key in (
        CORRELATION_ID, OPERATION, OUTCOME, ERROR_CODE, ERROR_KIND, LOCATION_ID, TARGET_LOCATION_ID,
        EXIT_DIRECTION, MOVE_REASON, EVENT_TYPE, EVENT_ID, ACTOR_KIND, DEAD_LETTER_REASON, SETTING_NAME, QUEUE_ENCODING,
        TELEMETRY_NAME, FEATURE, SCHEDULED_FOR, COSMOS_CONTAINER, DB_SYSTEM, DB_OPERATION, DB_COLLECTION, DB_NAMESPACE,
        MESSAGING_SYSTEM, MESSAGING_DESTINATION, MESSAGING_OPERATION, MESSAGING_MESSAGE_ID, GEN_AI_MODEL,
        HTTP_ROUTE, HTTP_METHOD,
    )),
    AttributeSpec(CORRELATION_ID_REJECTED, str, max_length=80),
    AttributeSpec(PLAYER_ID, str, pseudonymous=True),
    AttributeSpec(COSMOS_PARTITION_KEY, str),
    *(AttributeSpec(key, int) for key in (
        QUEUE_WAIT_MS, DEQUEUE_COUNT, DB_STATUS_CODE, COSMOS_SUB_STATUS, COSMOS_THROTTLE_RETRIES,
        GEN_AI_INPUT_TOKENS, GEN_AI_CACHED_INPUT_TOKENS, GEN_AI_OUTPUT_TOKENS, HTTP_STATUS_CODE, ITEM_COUNT,
    )),
    AttributeSpec(COSMOS_REQUEST_CHARGE, float),
    AttributeSpec(DUPLICATE, bool),
)
