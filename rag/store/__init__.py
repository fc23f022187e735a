"""Where the index lives: a versioned local folder (`local`: FAISS + BM25 files) or a Milvus
collection (`milvus`), behind one protocol. The retriever asks a store for fused candidates;
the generators for term weights and sentence vectors; the page for the document table."""

from __future__ import annotations

from collections.abc import Sequence

from rag.config import Settings
from rag.embed import Embedder
from rag.ingest.chunk import Chunker
from rag.store.base import SearchParams, Store, SyncReport, plan_sync
from rag.store.local import Index, index_exists, read_documents, read_manifest, sync
from rag.types import Document, DocumentInfo


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


def indexed_documents(s: Settings) -> dict[str, DocumentInfo]:
    """What the index holds per document (hash, title, chunk ids...), without loading it."""
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(s).documents()
    return read_documents(s.index_dir)


def recorded_corpus(s: Settings) -> list[str] | None:
    """The folders and files the index was built from (absolute paths), None without an index.

    An index written before the record existed tells by its documents: each one's path ends
    with its id, under the folder it was found in."""
    if not has_index(s):
        return None
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        store = MilvusStore(s)
        recorded = (store.meta() or {}).get("corpus")
        documents = None if recorded else store.documents()
    else:
        recorded = read_manifest(s.index_dir).get("corpus")
        documents = None if recorded else read_documents(s.index_dir)
    if recorded:
        return list(recorded)
    roots: list[str] = []
    for doc_id, info in (documents or {}).items():
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
    if s.store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(s).sync(docs, embedder, chunker, rebuild, progress, corpus)
    return sync(docs, s.index_dir, embedder, chunker, rebuild=rebuild, progress=progress,
                vector_index=s.vector_index, sentence_vectors=s.sentence_vectors,
                corpus=corpus)


__all__ = ["Index", "SearchParams", "Store", "SyncReport", "has_index", "indexed_documents",
           "open_index", "plan_sync", "recorded_corpus", "sync_store"]
