"""all-MiniLM-L6-v2 as normalized float32 vectors, through ONNX Runtime or sentence-transformers.

The default backend runs the model with ONNX Runtime and Hugging Face `tokenizers`: importing
torch and sentence-transformers takes ~10 s on a small machine, ONNX Runtime well under one.
The int8 graph (dynamic quantization: twice as fast as fp32 at a small cost in accuracy) ships
in the model bundle (`rag/models/`), so answering never needs torch; fp32, which gives the same
vectors as sentence-transformers (cosine ≥ 0.9999, tested), is exported from the installed model
once (`rag.embed.export`, which needs torch) and cached. The
`torch` backend is sentence-transformers itself, kept as the reference. Everything else sees
only `Embedder`.

    base.py       the `Embedder` protocol, the query cache and batching every backend shares
    onnx.py       `OnnxEmbedder`: ONNX Runtime + tokenizers, the query and build path
    reference.py  `SentenceTransformerEmbedder`: sentence-transformers itself (torch)
    export.py     the installed model exported to ONNX, fp32 and int8 (the bundle's is int8)

`embedder_for(settings, threads)` hands out one shared embedder per configuration: the model
is loaded once per process, whichever index it serves. Thread limits are part of that
configuration, never a change to a shared object: the chat page asks for one thread per
request while a `--watch` build in the same process embeds with every core.
"""

from __future__ import annotations

from functools import lru_cache

from rag.config import Settings
from rag.embed.base import MAX_WORD_PIECES, CachedEmbedder, Embedder, model_name, quiet_hub
from rag.embed.onnx import OnnxEmbedder
from rag.embed.reference import SentenceTransformerEmbedder


@lru_cache(maxsize=8)
def default_embedder(batch_size: int = 32, backend: str = "onnx", precision: str = "int8",
                     cache_dir: str = "", threads: int = 0, models: str = ""
                     ) -> OnnxEmbedder | SentenceTransformerEmbedder:
    """One shared embedder per configuration (the model is loaded on first use). `threads`
    caps the threads one encoding uses (0: one per core); the torch reference backend leaves
    threads to torch, whose setting is process-wide. `models` is the model bundle's folder
    ("": the shipped one)."""
    if backend == "torch":
        if precision != "fp32":
            raise ValueError("the torch backend embeds in fp32 only; use embed_backend = onnx")
        return SentenceTransformerEmbedder(batch_size=batch_size)
    return OnnxEmbedder(precision, batch_size, cache_dir, threads, models)


def embedder_for(settings: Settings, threads: int = 0
                 ) -> OnnxEmbedder | SentenceTransformerEmbedder:
    """The shared embedder `settings` ask for; `threads` as in `default_embedder` (a server
    answering requests side by side wants 1)."""
    s = settings
    return default_embedder(s.embed_batch_size, s.embed_backend, s.embed_precision,
                            s.model_cache, threads, s.models)


__all__ = ["MAX_WORD_PIECES", "CachedEmbedder", "Embedder", "OnnxEmbedder",
           "SentenceTransformerEmbedder", "default_embedder", "embedder_for", "model_name",
           "quiet_hub"]
