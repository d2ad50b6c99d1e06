"""Request bodies and queue payloads of the AI cost functions. Errors name the field, never echo the value: prompt
text can appear in no error body."""

from __future__ import annotations

from typing import Any, Final

from cost.budget_config import FEATURE_PATTERN
from cost.tokens import ChatMessage
from shared.errors import AppError, ErrorCode
from shared.schema import Field, Schema

UUID_PATTERN: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
MODEL_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool"})
MAX_MESSAGES: Final = 64
MAX_CONTENT_CHARS: Final = 30_000
"""Per message; the HTTP body is limited to 32 KiB anyway. The longest real template is about 14,000 characters."""
MAX_OUTPUT_TOKENS: Final = 200_000
MAX_TOKENS: Final = 10_000_000

MESSAGE: Final = Schema(
    "chat_message",
    Field("role", str, max_length=16, choices=ROLES),
    Field("content", str, max_length=MAX_CONTENT_CHARS),
    Field("name", str, required=False, max_length=64, pattern=r"[A-Za-z0-9_-]{1,64}"),
)

ESTIMATE_REQUEST: Final = Schema(
    "ai_estimate",
    Field("feature", str, max_length=64, pattern=FEATURE_PATTERN),
    Field("model", str, max_length=64, pattern=MODEL_PATTERN),
    Field("messages", list, max_length=MAX_MESSAGES),
    Field("max_output_tokens", int, minimum=1, maximum=MAX_OUTPUT_TOKENS),
)

USAGE: Final = Schema(
    "usage",
    Field("prompt_tokens", int, minimum=0, maximum=MAX_TOKENS),
    Field("completion_tokens", int, minimum=0, maximum=MAX_TOKENS),
    Field("cached_tokens", int, required=False, minimum=0, maximum=MAX_TOKENS),
    Field("reasoning_tokens", int, required=False, minimum=0, maximum=MAX_TOKENS),
)

COMPLETION: Final = Schema(
    "ai_completion",
    Field("generation_id", str, max_length=36, pattern=UUID_PATTERN),
    Field("feature", str, max_length=64, pattern=FEATURE_PATTERN),
    Field("model", str, max_length=64, pattern=MODEL_PATTERN),
    Field("usage", USAGE),
    Field("estimated_input_tokens", int, minimum=0, maximum=MAX_TOKENS),
)
"""Body of ``POST /api/ai/completions`` and payload of the ``ai.generation.completed`` queue event."""


def chat_messages(items: list[Any]) -> list[ChatMessage]:
    """Validate each message of an estimate request (``messages.3.role`` names the one at fault)."""
    if not items:
        raise AppError(ErrorCode.VALIDATION_FAILED, "field 'messages' must have at least one message",
                       field="messages")
    parsed = [MESSAGE.parse(item, prefix=f"messages.{index}.") for index, item in enumerate(items)]
    return [ChatMessage(m["role"], m["content"], m.get("name")) for m in parsed]
