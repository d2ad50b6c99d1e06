"""Every reader of outside JSON (request bodies, queue messages, poison evidence) fails one way only.

Each input here once got past ``json.loads``'s own error (a 500, five retries, a crashed poison scan) or was
accepted and broke things far from the request (a lone surrogate stored in Cosmos: bare 500s on reading it, an
integrity check failing on every run). A string given as bytes and as text must be judged alike.
"""

from __future__ import annotations

import json

import pytest

from shared import envelope, jsontext
from shared.envelope import EventType
from shared.errors import AppError

UNREADABLE = [
    ("[" * 5000 + "]" * 5000, "is nested too deeply"),
    ('{"n": ' + "7" * 5000 + "}", "is not valid UTF-8 JSON"),
    ('{"name": "\\ud800x"}', "lone UTF-16 surrogate"),
    ('{"\\udfff": 1}', "lone UTF-16 surrogate"),
    ('["\\ude00\\ud83d"]', "lone UTF-16 surrogate"),  # the pair in the wrong order is two lone halves
    ("{'single': 'quotes'}", "is not valid UTF-8 JSON"),
]


@pytest.mark.parametrize(("text", "why"), UNREADABLE)
def test_unreadable_json_is_one_error_that_says_why(text: str, why: str) -> None:
    for given in (text, text.encode("utf-8")):
        with pytest.raises(jsontext.UnreadableJson, match=why):
            jsontext.loads(given)


def test_invalid_utf8_bytes_are_unreadable() -> None:
    with pytest.raises(jsontext.UnreadableJson, match="UTF-8"):
        jsontext.loads(b'{"name": "\xff"}')


def test_a_surrogate_pair_is_one_character_and_reads() -> None:
    assert jsontext.loads(b'{"name": "\\ud83d\\ude00 \\u00e9"}') == {"name": "\U0001F600 \u00e9"}


def _message(**changes: str) -> str:
    built = envelope.build(EventType.PLAYER_MOVE, {"player_id": "p", "direction": "north"},
                           correlation_id="test-correlation-1", traceparent=None, tracestate=None)
    return json.dumps({**json.loads(built.to_json()), **changes})


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "yesterday", ""])
def test_an_envelope_time_that_cannot_be_used_in_utc_is_an_invalid_message(moment: str) -> None:
    for name in ("occurred_at", "enqueued_at"):
        with pytest.raises(AppError) as raised:
            envelope.parse(_message(**{name: moment}))
        assert (raised.value.error.code, raised.value.field) == ("invalid_message", name)


def test_an_unreadable_body_is_an_invalid_message_naming_the_body() -> None:
    with pytest.raises(AppError) as raised:
        envelope.parse(b"[" * 5000 + b"]" * 5000)
    assert (raised.value.error.code, raised.value.field) == ("invalid_message", "body")
    assert envelope.salvage_correlation_id(b"[" * 5000) is None
