"""JSON text from outside (request bodies, queue messages): one reader whose only failure is :class:`UnreadableJson`.

``json.loads`` has more ways to fail than ``JSONDecodeError``: ``RecursionError`` on deeply nested arrays (a few
thousand ``[``), ``ValueError`` on an integer longer than Python's digit limit, ``UnicodeDecodeError`` on bytes that
are not UTF-8. Each of those reached callers as a 500 or stopped a timer, so every reader of untrusted JSON goes
through here.
"""

from __future__ import annotations

import json
from typing import Any


class UnreadableJson(ValueError):
    """The text is not JSON this app can read; the message says why without quoting the text."""


def loads(text: bytes | str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise UnreadableJson("is nested too deeply") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError and the integer digit limit are all ValueErrors
        raise UnreadableJson("is not valid UTF-8 JSON") from None
