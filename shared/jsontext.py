"""JSON text from outside (request bodies, queue messages): one reader whose only failure is :class:`UnreadableJson`.

``json.loads`` has more ways to fail than ``JSONDecodeError``: ``RecursionError`` on deeply nested arrays (a few
thousand ``[``), ``ValueError`` on an integer longer than Python's digit limit, ``UnicodeDecodeError`` on bytes that
are not UTF-8. And it accepts what is not text at all: an escaped lone UTF-16 surrogate (``"\\ud800"``) becomes a
Python string that no UTF-8 encoder, Cosmos write or canonical hash will take later, far from the request. Each of
those reached callers as a 500 or stopped a timer, so every reader of untrusted JSON goes through here.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE_ESCAPE = r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
"""A ``\\uD800``..``\\uDFFF`` escape: a pair of them is one valid character, a lone one is not text. The escape is
ASCII, so bodies given as bytes are searched as they are (no second decode of every body on the hot path)."""
_ESCAPE_IN_TEXT = re.compile(_SURROGATE_ESCAPE)
_ESCAPE_IN_BYTES = re.compile(_SURROGATE_ESCAPE.encode("ascii"))


class UnreadableJson(ValueError):
    """The text is not JSON this app can read; the message says why without quoting the text."""


def loads(text: bytes | str) -> Any:
    try:
        data = json.loads(text)
    except RecursionError:
        raise UnreadableJson("is nested too deeply") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError and the integer digit limit are all ValueErrors
        raise UnreadableJson("is not valid UTF-8 JSON") from None
    found = _ESCAPE_IN_TEXT.search(text) if isinstance(text, str) else _ESCAPE_IN_BYTES.search(text)
    if found:
        _require_text(data)  # the full check only when an escape could have left a lone surrogate behind
    return data


def _require_text(data: Any) -> None:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadableJson("has a lone UTF-16 surrogate escape (not text)") from None
