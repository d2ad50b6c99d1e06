"""The canonical form and hash of one location document.

What a location *is*, for integrity purposes, is decided here and nowhere else:

1. **Cosmos system properties are not content.** Every top-level key starting with ``_`` (``_rid``, ``_self``,
   ``_etag``, ``_attachments``, ``_ts`` and any future one) is dropped. Only top-level keys: Cosmos adds none below,
   so an underscore key inside the content is content.
2. **Exits are a set keyed by direction.** The game looks an exit up by its direction; their order in the array means
   nothing, so they are sorted (by direction, then by their own canonical bytes, which makes even a duplicated
   direction order-independent). Reordering exits is not drift; adding, removing or changing one is.
3. **Everything else is as stored.** Key order never matters (RFC 8785 sorts keys); array order elsewhere does
   (``tags`` are kept as authored: nothing in the game reorders them, and a hash that forgives too much hides
   edits). Numbers, strings and nesting are canonicalised by RFC 8785 (JSON Canonicalization Scheme) with the
   ``rfc8785`` library, then hashed with SHA-256 (lower-case hex).

Field case 12: the same location read back with keys in another order and with system properties hashes the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785

SYSTEM_PREFIX = "_"
EXITS = "exits"
DIRECTION = "direction"


class UnhashableLocation(ValueError):
    """The document holds a value JSON canonicalisation refuses (an integer beyond 2**53, a non-finite float)."""


def content_of(document: Mapping[str, Any]) -> dict[str, Any]:
    """The location's content: system properties dropped, exits in canonical order. This is what is hashed."""
    content = {key: value for key, value in document.items() if not key.startswith(SYSTEM_PREFIX)}
    exits = content.get(EXITS)
    if isinstance(exits, list):
        content[EXITS] = _sorted_exits(exits)
    return content


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of the location's content."""
    try:
        return rfc8785.dumps(content_of(document))
    except rfc8785.CanonicalizationError as exc:
        raise UnhashableLocation(f"location {document.get('id')!s:.64} cannot be canonicalised: {exc}") from exc


def location_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical form: the value baselines store and runs compare."""
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


def is_hash(value: object) -> bool:
    """A SHA-256 hex digest as :func:`location_hash` writes it (64 lower-case hex digits)."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _sorted_exits(exits: list[Any]) -> list[Any]:
    """By direction; only when directions are missing or repeated, also by each exit's canonical bytes (slower)."""
    directions = [e.get(DIRECTION) if isinstance(e, Mapping) else None for e in exits]
    if all(isinstance(d, str) for d in directions) and len(set(directions)) == len(directions):
        return sorted(exits, key=lambda e: e[DIRECTION])
    return sorted(exits, key=_exit_order)


def _exit_order(exit_: Any) -> tuple[str, bytes]:
    """Sort key of one exit: its direction first, then its whole canonical form (total, so order-independent)."""
    direction = exit_.get(DIRECTION) if isinstance(exit_, Mapping) else None
    try:
        whole = rfc8785.dumps(exit_)
    except rfc8785.CanonicalizationError:
        whole = repr(exit_).encode("utf-8")  # canonical_bytes() then refuses the document anyway
    return (direction if isinstance(direction, str) else "", whole)
