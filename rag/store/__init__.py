"""Where the index lives: a versioned local folder (`local`: FAISS + BM25 files) or a Milvus
collection (`milvus`), each a `Backend` chosen once from the settings; opened, each is a
`Store`. The retriever asks a store for fused candidates; the generators for term weights and
sentence vectors; the page for the document table."""

from __future__ import annotations

from collections.abc import Sequence

from rag.config import Settings
from rag.embed import Embedder
from rag.ingest.chunk import Chunker
from rag.store.base import Backend, SearchParams, Store, SyncReport, plan_sync
from rag.store.local import Index, LocalBackend
from rag.types import Document, DocumentInfo


def backend(s: Settings) -> Backend:
    """The backend `s` names: the folder `index_dir`, or the Milvus collection."""
    if s.store == "milvus":
        from rag.store.milvus import MilvusBackend

        return MilvusBackend(s)
    return LocalBackend(s)


def open_index(s: Settings, embedder: Embedder, chunker: Chunker) -> Store:
    return backend(s).open(embedder, chunker)


def has_index(s: Settings) -> bool:
    return backend(s).exists()


def indexed_documents(s: Settings) -> dict[str, DocumentInfo]:
    """What the index holds per document (hash, title, chunk ids...), without loading it."""
    return backend(s).documents()


def recorded_corpus(s: Settings) -> list[str] | None:
    """The folders and files the index was built from (absolute paths), None without an index.

    An index written before the record existed tells by its documents: each one's path ends
    with its id, under the folder it was found in."""
    b = backend(s)
    if not b.exists():
        return None
    recorded = b.corpus()
    if recorded:
        return list(recorded)
    roots: list[str] = []
    for doc_id, info in b.documents().items():
        path = info.path or ""
        root = path[:-len(doc_id)].rstrip("/") if path.endswith("/" + doc_id) else path
        if root and root not in roots:
            roots.append(root)
    return roots or None


def sync_store(s: Settings, docs: Sequence[Document], embedder: Embedder, chunker: Chunker,
               rebuild: bool = False, progress: bool = False, corpus: Sequence[str] = ()
               ) -> SyncReport:
    """Bring the configured store in line with `docs` (read from `corpus`, which is recorded),
    embedding only what is new or changed."""
    return backend(s).sync(docs, embedder, chunker, rebuild, progress, corpus)


__all__ = ["Backend", "Index", "SearchParams", "Store", "SyncReport", "backend", "has_index",
           "indexed_documents", "open_index", "plan_sync", "recorded_corpus", "sync_store"]
