"""Correlation ids from clients: valid ones kept, invalid ones replaced and kept only as a bounded, escaped copy."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import correlation


def test_valid_client_id_is_kept() -> None:
    assert correlation.accept("req-2026-12-03.abc:1") == correlation.Accepted("req-2026-12-03.abc:1")


@pytest.mark.parametrize("raw", ["short", "x" * 65, "has space in it", "naïve-unicode-id", "-leading-dash",
                                 "<script>alert(1)</script>", "a\nb\nc\nd\ne\nf"])
def test_invalid_client_id_is_replaced_and_escaped(raw: str) -> None:
    accepted = correlation.accept(raw)
    assert uuid.UUID(accepted.correlation_id).version == 4
    assert accepted.rejected is not None
    assert accepted.rejected.isascii() and "\n" not in accepted.rejected
    assert len(accepted.rejected) <= 67


def test_missing_id_gets_a_fresh_uuid() -> None:
    first, second = correlation.accept(None), correlation.accept("")
    assert first.rejected is None and second.rejected is None
    assert first.correlation_id != second.correlation_id


@given(st.text(max_size=300))
def test_any_client_string_yields_a_valid_id(raw: str) -> None:
    accepted = correlation.accept(raw)
    assert correlation.is_valid(accepted.correlation_id)
    assert (accepted.rejected is None) == (accepted.correlation_id == raw or raw == "")


def test_traceparent_parsing() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert correlation.parse_traceparent(tp) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
    assert correlation.parse_traceparent("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert correlation.parse_traceparent("garbage") is None
    assert correlation.parse_traceparent(None) is None
