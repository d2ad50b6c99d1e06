"""The baseline signing key and HMAC-SHA256 signatures.

The key is the app setting ``INTEGRITY_SIGNING_KEY``, read from the environment each time it is needed (never at
import, so listing the functions works without it, and a rotated key is picked up without a restart). It is never
logged or put into telemetry. A missing or too-short key is a configuration error naming the setting.

Baselines also carry a *key id*: an HMAC of a fixed label under the key. It reveals nothing usable about the key but
tells "signed with another key" (rotation, wrong environment) apart from "signed with this key and then altered".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping

from shared.errors import AppError, ErrorCode
from shared.settings import INTEGRITY_SIGNING_KEY, SettingError

MIN_KEY_LENGTH = 16
"""Characters. HMAC-SHA256 is only as strong as its key; 32 random bytes (base64) is the recommendation."""
_KEY_ID_LABEL = b"integrity-baseline-key-id:v1"

_log = logging.getLogger(__name__)


def signing_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The key from ``INTEGRITY_SIGNING_KEY``; ``AppError(dependency_unavailable)`` naming the setting if unusable."""
    raw = (os.environ if environ is None else environ).get(INTEGRITY_SIGNING_KEY, "").strip()
    problem = None if raw else "is missing or empty"
    if raw and len(raw) < MIN_KEY_LENGTH:
        problem = f"is shorter than {MIN_KEY_LENGTH} characters"
    if problem is not None:
        cause = SettingError(f"app setting {INTEGRITY_SIGNING_KEY} {problem}")
        _log.error("%s: integrity baselines cannot be signed or verified", cause)
        raise AppError(ErrorCode.DEPENDENCY_UNAVAILABLE, str(cause)) from cause
    return raw.encode("utf-8")


def sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def verify(key: bytes, payload: bytes, signature: object) -> bool:
    """Constant-time comparison of ``signature`` with the payload's HMAC."""
    return isinstance(signature, str) and hmac.compare_digest(sign(key, payload), signature)


def key_id(key: bytes) -> str:
    """A short, non-secret identifier of the key (16 hex digits)."""
    return sign(key, _KEY_ID_LABEL)[:16]
