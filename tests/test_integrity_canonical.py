"""The canonical form, the signing key, baseline signatures and verdicts: pure functions, no servers.

Why: a hash that changes when nothing meaningful changed (key order, Cosmos system properties, exit order) floods
operators with false drift (field case 12); one that forgives too much hides real edits. Every hash here is checked
against one computed independently with hashlib and rfc8785 on the real world file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrity import signing
from integrity.baseline_doc import (
    BaselineProblem,
    BaselineRejected,
    BaselineSource,
    baseline_id,
    signed_document,
    verify_document,
)
from integrity.canonical import UnhashableLocation, canonical_bytes, content_of, is_hash, location_hash
from integrity.compare import Verdict, compare, counts, drifted
from shared.errors import AppError, ErrorCode
from shared.settings import INTEGRITY_SIGNING_KEY

WORLD_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "world" / "villageLocations.json"
WORLD: list[dict[str, Any]] = json.loads(WORLD_FILE.read_text(encoding="utf-8"))
SYSTEM = {"_rid": "Aa8AAJ1dW0ABAAAAAAAAAA==", "_self": "dbs/Aa8AAA==/colls/Aa8AAJ1dW0A=/docs/Aa8AAJ1dW0ABAAAAAAAAAA==/",
          "_etag": "\"0000d41c-0000-0700-0000-66a0f0c30000\"", "_attachments": "attachments/", "_ts": 1721823427}
KEY = b"unit-test-signing-key-0123456789"


def independent_hash(location: dict[str, Any]) -> str:
    """The documented rule, written out again: no "_" keys, exits sorted by direction, RFC 8785, SHA-256."""
    content = {k: v for k, v in location.items() if not k.startswith("_")}
    content["exits"] = sorted(content["exits"], key=lambda e: e["direction"])
    return hashlib.sha256(rfc8785.dumps(content)).hexdigest()


def reordered(value: Any, rng: random.Random) -> Any:
    """The same JSON with every object's keys in a shuffled order (arrays untouched)."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: reordered(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [reordered(v, rng) for v in value]
    return value


def test_the_world_file_is_the_real_one() -> None:
    assert len(WORLD) == 35
    assert sum(len(location["exits"]) for location in WORLD) == 86


@pytest.mark.parametrize("location", WORLD, ids=[location["name"] for location in WORLD])
def test_hash_equals_an_independently_computed_one(location: dict[str, Any]) -> None:
    assert location_hash(location) == independent_hash(location)
    assert is_hash(location_hash(location))


def test_all_35_hashes_are_distinct() -> None:
    assert len({location_hash(location) for location in WORLD}) == 35


def test_case_12_other_key_order_and_system_properties_give_the_identical_hash() -> None:
    rng = random.Random(12)
    for location in WORLD:
        read_back = reordered({**location, **SYSTEM}, rng)
        assert list(read_back) != list(location) or len(location) == 1
        assert location_hash(read_back) == location_hash(location)
        assert canonical_bytes(read_back) == canonical_bytes(location)


def test_any_underscore_key_is_a_system_property_but_only_at_the_top_level() -> None:
    location = copy.deepcopy(WORLD[0])
    assert location_hash({**location, "_lsn": 7, "_future": {"x": 1}}) == location_hash(location)
    location["exits"][0]["_note"] = "nested underscore keys are content"
    assert location_hash(location) != location_hash(WORLD[0])


def test_reordered_exits_are_not_drift_but_a_changed_exit_is() -> None:
    location = copy.deepcopy(WORLD[0])
    location["exits"].reverse()
    assert location_hash(location) == location_hash(WORLD[0])
    location["exits"][0]["to"] = WORLD[1]["id"]
    assert location_hash(location) != location_hash(WORLD[0])
    fewer = copy.deepcopy(WORLD[0])
    fewer["exits"].pop()
    assert location_hash(fewer) != location_hash(WORLD[0])


def test_duplicate_directions_still_hash_independently_of_order() -> None:
    location = copy.deepcopy(WORLD[0])
    twin = {**location["exits"][0], "description": "a second way north"}
    location["exits"].append(twin)
    swapped = copy.deepcopy(location)
    swapped["exits"].insert(0, swapped["exits"].pop())
    assert location_hash(location) == location_hash(swapped)


@pytest.mark.parametrize("change", [
    lambda loc: loc.update(description=loc["description"] + " "),
    lambda loc: loc.update(name=loc["name"].upper()),
    lambda loc: loc.update(version=loc["version"] + 1),
    lambda loc: loc["tags"].reverse(),
    lambda loc: loc["exits"][0].update(travelDurationMs=loc["exits"][0]["travelDurationMs"] + 1),
    lambda loc: loc.update(extra=None),
], ids=["description", "name", "version", "tag-order", "travel-time", "new-field"])
def test_content_changes_change_the_hash(change: Any) -> None:
    location = copy.deepcopy(WORLD[0])
    change(location)
    assert location_hash(location) != location_hash(WORLD[0])


def test_content_of_is_what_is_hashed_and_leaves_the_input_alone() -> None:
    stored = {**copy.deepcopy(WORLD[0]), **SYSTEM}
    before = copy.deepcopy(stored)
    content = content_of(stored)
    assert stored == before
    assert not any(key.startswith("_") for key in content)
    assert hashlib.sha256(rfc8785.dumps(content)).hexdigest() == location_hash(stored)


def test_a_value_json_cannot_canonicalise_is_refused_clearly() -> None:
    with pytest.raises(UnhashableLocation, match=WORLD[0]["id"]):
        location_hash({**WORLD[0], "version": 2**60})


_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=20),
                          st.floats(allow_nan=False, allow_infinity=False))
_system_keys = st.dictionaries(st.text(min_size=0, max_size=10).map(lambda s: "_" + s), _json_scalars, max_size=6)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(WORLD) - 1), seed=st.integers(0, 2**32 - 1), system=_system_keys)
def test_property_key_order_exit_order_and_system_keys_never_change_the_hash(
        index: int, seed: int, system: dict[str, Any]) -> None:
    location = WORLD[index]
    rng = random.Random(seed)
    variant = reordered(copy.deepcopy(location), rng)
    rng.shuffle(variant["exits"])
    items = list({**variant, **system}.items())
    rng.shuffle(items)
    assert location_hash(dict(items)) == independent_hash(location)


@settings(max_examples=200)
@given(index=st.integers(0, len(WORLD) - 1), text=st.text(min_size=1, max_size=30))
def test_property_any_description_edit_changes_the_hash(index: int, text: str) -> None:
    edited = {**WORLD[index], "description": WORLD[index]["description"] + text}
    assert location_hash(edited) != location_hash(WORLD[index])


# --- the signing key -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, "", "   ", "short-key"])
def test_an_unusable_signing_key_is_an_error_naming_the_setting_never_the_value(value: str | None) -> None:
    environ = {} if value is None else {INTEGRITY_SIGNING_KEY: value}
    with pytest.raises(AppError) as raised:
        signing.signing_key(environ)
    assert raised.value.error is ErrorCode.DEPENDENCY_UNAVAILABLE
    assert INTEGRITY_SIGNING_KEY in raised.value.message
    assert value is None or not value.strip() or value not in raised.value.message


def test_the_signing_key_is_read_when_asked_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTEGRITY_SIGNING_KEY, "first-key-0123456789")
    first = signing.signing_key()
    monkeypatch.setenv(INTEGRITY_SIGNING_KEY, "second-key-0123456789")
    assert signing.signing_key() != first
    assert signing.key_id(first) != signing.key_id(signing.signing_key())


# --- the signed baseline document ---------------------------------------------------------------------------------

def _document(version: int = 3) -> dict[str, Any]:
    hashes = {location["id"]: location_hash(location) for location in WORLD}
    return signed_document(KEY, version, BaselineSource.SEED, None, hashes)


def test_a_signed_baseline_verifies_also_with_cosmos_system_properties_added() -> None:
    document = {**_document(), **SYSTEM}
    baseline = verify_document(document, KEY)
    assert baseline.version == 3 and baseline.source is BaselineSource.SEED
    assert baseline.hashes == {location["id"]: independent_hash(location) for location in WORLD}
    assert document["id"] == baseline_id(3) == "baseline:000000003"


@pytest.mark.parametrize("tamper, problem", [
    (lambda d: d["hashes"].update({WORLD[0]["id"]: "0" * 64}), BaselineProblem.BAD_SIGNATURE),
    (lambda d: d["hashes"].pop(WORLD[0]["id"]), BaselineProblem.BAD_SIGNATURE),
    (lambda d: d.update(created_at="2020-01-01T00:00:00.000Z"), BaselineProblem.BAD_SIGNATURE),
    (lambda d: d.update(signature="f" * 64), BaselineProblem.BAD_SIGNATURE),
    (lambda d: d.update(comment="added"), BaselineProblem.BAD_SIGNATURE),
    (lambda d: d.update(key_id="0" * 16), BaselineProblem.OTHER_KEY),
    (lambda d: d.update(version=4), BaselineProblem.MALFORMED),
    (lambda d: d.update(id="baseline:000000004", version=4), BaselineProblem.BAD_SIGNATURE),
    (lambda d: d["hashes"].update({WORLD[0]["id"]: "not-a-hash"}), BaselineProblem.MALFORMED),
    (lambda d: d.pop("signature"), BaselineProblem.MALFORMED),
    (lambda d: d.update(source="operator"), BaselineProblem.MALFORMED),
], ids=["hash-changed", "hash-removed", "date", "signature", "field-added", "key-id", "version-vs-id",
        "version-and-id", "bad-hash", "no-signature", "source"])
def test_any_tampering_is_rejected_with_its_reason(tamper: Any, problem: BaselineProblem) -> None:
    document = _document()
    tamper(document)
    with pytest.raises(BaselineRejected) as raised:
        verify_document(document, KEY)
    assert raised.value.problem is problem


def test_a_baseline_signed_with_another_key_says_so() -> None:
    with pytest.raises(BaselineRejected) as raised:
        verify_document(_document(), b"another-key-0123456789abcdef")
    assert raised.value.problem is BaselineProblem.OTHER_KEY and raised.value.version == 3


# --- verdicts ---------------------------------------------------------------------------------------------------

def test_verdicts_cover_match_mismatch_new_missing_and_unhashable() -> None:
    expected = {"a": "1" * 64, "b": "2" * 64, "c": "3" * 64, "e": "5" * 64}
    actual = {"a": "1" * 64, "b": "f" * 64, "d": "4" * 64, "e": None}
    result = {c.location_id: c.verdict for c in compare(expected, actual)}
    assert result == {"a": Verdict.MATCH, "b": Verdict.MISMATCH, "c": Verdict.MISSING, "d": Verdict.NEW,
                      "e": Verdict.MISMATCH}
    assert counts(compare(expected, actual)) == {"match": 1, "mismatch": 2, "new": 1, "missing": 1}
    assert [c.location_id for c in drifted(compare(expected, actual))] == ["b", "c", "d", "e"]
