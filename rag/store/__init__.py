"""Where the index lives: a versioned local folder (`local`: FAISS + BM25 files) or a Milvus
collection (`milvus`), behind one protocol. The retriever asks a store for fused candidates;
the generators for term weights and sentence vectors; the page for the document table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rag.config import Settings
from rag.embed import Embedder
from rag.ingest.chunk import Chunker
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


def recorded_corpus(s: Settings) -> list[str] | None:
    """The folders and files the index was built from (absolute paths), None without an index.

    An index written before the record existed tells by its documents: each one's path ends
    with its id, under the folder it was found in."""
    if not has_index(s):
        return None
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        store = MilvusStore(s)
        recorded, documents = (store._meta() or {}).get("corpus"), None
        if not recorded:
            documents = store._documents()
    else:
        manifest = read_manifest(s.index_dir)
        recorded, documents = manifest.get("corpus"), manifest["documents"]
    if recorded:
        return list(recorded)
    roots: list[str] = []
    for doc_id, info in (documents or {}).items():
        path = info.get("path") or ""
        root = path[:-len(doc_id)].rstrip("/") if path.endswith("/" + doc_id) else path
        if root and root not in roots:
            roots.append(root)
    return roots or None


def sync_store(s: Settings, docs: Sequence[Document], embedder: Embedder, chunker: Chunker,
               rebuild: bool = False, progress: bool = False, corpus: Sequence[str] = ()
               ) -> SyncReport:
    """Bring the configured store in line with `docs` (read from `corpus`, which is recorded),
    embedding only what is new or changed."""
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(s).sync(docs, embedder, chunker, rebuild, progress, corpus)
    return sync(docs, s.index_dir, embedder, chunker, rebuild=rebuild, progress=progress,
                vector_index=s.vector_index, sentence_vectors=s.sentence_vectors,
                corpus=corpus)


__all__ = ["Index", "Store", "SyncReport", "has_index", "indexed_documents", "open_index",
           "recorded_corpus", "sync_store"]
