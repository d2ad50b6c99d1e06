"""Keyed pseudonyms for player ids: stable for one key (so a player's journey can be followed) and not reversible."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "p_"


def pseudonymize(value: str, key: bytes) -> str:
    """``p_`` + the first 16 hex digits of HMAC-SHA256(key, value); already-pseudonymous values pass unchanged."""
    if value.startswith(PREFIX) and len(value) == len(PREFIX) + 16:
        return value
    return PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
