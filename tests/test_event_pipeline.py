"""The event pipeline's processors: validation (strict and lenient), enrichment, pseudonyms, normalisation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from game.events import MOVE_BLOCKED
from shared import correlation
from shared.telemetry import attributes as attr
from shared.telemetry import pipeline
from shared.telemetry.context import bound
from shared.telemetry.pseudonym import pseudonymize

KEY = b"test-pseudonym-key"


@pytest.fixture
def lenient() -> Iterator[list[tuple[str, str]]]:
    reported: list[tuple[str, str]] = []
    previous = pipeline.config()
    pipeline.set_config(pipeline.PipelineConfig(pseudonym_key=KEY, strict=False,
                                                on_violation=lambda e, k: reported.append((e, k))))
    yield reported
    pipeline.set_config(previous)


def test_strict_mode_refuses_an_undeclared_dimension() -> None:
    previous = pipeline.config()
    pipeline.set_config(pipeline.PipelineConfig(pseudonym_key=KEY, strict=True))
    try:
        _refuses()
    finally:
        pipeline.set_config(previous)


def _refuses() -> None:
    with pytest.raises(pipeline.TelemetrySchemaError, match="game.secret"):
        pipeline.run({"spec": MOVE_BLOCKED, "attributes": {"game.secret": "x"}})


def test_lenient_mode_drops_and_reports_an_undeclared_dimension(lenient: list[tuple[str, str]]) -> None:
    event = pipeline.run({"spec": MOVE_BLOCKED, "attributes": {"game.secret": "x", attr.MOVE_REASON: "no_exit"}})
    assert event is not None and "game.secret" not in event["attributes"]
    assert lenient == [("Navigation.Move.Blocked", "game.secret")]


def test_enrichment_pseudonyms_and_normalisation(lenient: list[tuple[str, str]]) -> None:
    player = "6f1c2d3e-0000-4000-8000-000000000001"
    with bound(correlation.new_id(), "Queue.PlayerMove"):
        cid = correlation.current()
        event = pipeline.run({"spec": MOVE_BLOCKED, "attributes": {
            attr.PLAYER_ID: player, attr.LOCATION_ID: "L" * 500, attr.EXIT_DIRECTION: "", attr.MOVE_REASON: None}})
    assert event is not None
    dims = event["attributes"]
    assert dims[attr.PLAYER_ID] == pseudonymize(player, KEY) != player
    assert dims[attr.CORRELATION_ID] == cid and dims[attr.OPERATION] == "Queue.PlayerMove"
    assert len(dims[attr.LOCATION_ID]) == 128
    assert attr.EXIT_DIRECTION not in dims and attr.MOVE_REASON not in dims
    assert dims["_MS.sampleRate"] == 100.0  # no trace: kept at full weight


def test_pseudonyms_are_stable_per_key_and_differ_across_keys() -> None:
    assert pseudonymize("player-1", KEY) == pseudonymize("player-1", KEY)
    assert pseudonymize("player-1", KEY) != pseudonymize("player-1", b"another-key")
    assert pseudonymize(pseudonymize("player-1", KEY), KEY) == pseudonymize("player-1", KEY)
