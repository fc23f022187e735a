"""Where the index lives: a versioned local folder (`local`: FAISS + BM25 files) or a Milvus
collection (`milvus`), behind one protocol. The retriever asks a store for fused candidates;
the generators for term weights and sentence vectors; the page for the document table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rag.chunk import Chunker
from rag.config import Settings
from rag.embed import Embedder
from rag.store.local import Index, SyncReport, index_exists, read_manifest, sync
from rag.types import Chunk, Document


class Store(Protocol):
    """An opened index, whichever store holds it."""

    manifest: dict[str, Any]  # built_at, counts, documents, embedding, ...
    version: str  # what was loaded; `live()` says what a reader would load now
    path: Any  # where it is, for people

    @property
    def documents(self) -> dict[str, dict[str, Any]]: ...

    def live(self) -> str | None: ...

    def reopen(self, embedder: Embedder, chunker: Chunker) -> Store: ...

    def idf(self, term: str) -> float: ...

    def sentences_of(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray] | None: ...

    def candidates(self, searches: Sequence[tuple[np.ndarray, Sequence[str]]], size: int,
                   filters: Any, settings: Settings) -> tuple[list[Chunk], np.ndarray]: ...


def open_index(s: Settings, embedder: Embedder, chunker: Chunker) -> Store:
    """The index `s` names: the folder `index_dir`, or the Milvus collection."""
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(s).open(embedder, chunker)
    return Index.load(s.index_dir, embedder, chunker)


def has_index(s: Settings) -> bool:
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(s).exists()
    return index_exists(s.index_dir)


def indexed_documents(s: Settings) -> dict[str, dict[str, Any]]:
    """What the index holds per document (hash, title, chunk ids...), without loading it."""
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(s)._documents()
    return read_manifest(s.index_dir)["documents"]


def sync_store(s: Settings, docs: Sequence[Document], embedder: Embedder, chunker: Chunker,
               rebuild: bool = False, progress: bool = False) -> SyncReport:
    """Bring the configured store in line with `docs`, embedding only what is new or changed."""
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(s).sync(docs, embedder, chunker, rebuild, progress)
    return sync(docs, s.index_dir, embedder, chunker, rebuild=rebuild, progress=progress,
                vector_index=s.vector_index, sentence_vectors=s.sentence_vectors)


__all__ = ["Index", "Store", "SyncReport", "has_index", "indexed_documents", "open_index",
           "sync_store"]
