"""What every store shares: the `Backend` protocol (where an index lives) and the `Store`
protocol (an opened index), the search parameters it takes, one sync planner, the build record
an index keeps, and BM25's IDF and reciprocal-rank fusion."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rag.config import TOKEN_ENCODING, Settings
from rag.embed import Embedder
from rag.ingest.chunk import Chunker
from rag.types import Chunk, Document, DocumentInfo, Filters, IndexInfo, Viewer

TERMS = "fold+lower+nltk_stopwords_en+snowball_english"  # how chunk and query terms are made
BM25_K1, BM25_B = 1.2, 0.75

# One search of a store: a query vector and the query's BM25 terms.
Search = tuple[np.ndarray, Sequence[str]]


@dataclass(frozen=True)
class SearchParams:
    """How a store fuses its dense and BM25 lists."""

    candidates: int  # per list
    dense_weight: float
    bm25_weight: float
    rrf_k: int

    @classmethod
    def of(cls, s: Settings) -> SearchParams:
        return cls(s.candidates, s.dense_weight, s.bm25_weight, s.rrf_k)


class Store(Protocol):
    """An opened index, whichever store holds it."""

    info: IndexInfo
    version: str  # what was loaded; `live()` says what a reader would load now
    path: Any  # where it is, for people

    @property
    def documents(self) -> Mapping[str, DocumentInfo]: ...

    def live(self) -> str | None: ...

    def reopen(self, embedder: Embedder, chunker: Chunker) -> Store: ...

    def idf(self, term: str) -> float: ...

    def sentences_of(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray] | None: ...

    def candidates(self, searches: Sequence[Search], size: int, filters: Filters | None,
                   params: SearchParams, viewer: Viewer | None = None
                   ) -> tuple[list[Chunk], np.ndarray]:
        """The best `size` chunks and their vectors, among the documents `filters` and
        `viewer` admit: the restriction is part of the search, so `size` is filled with
        readable chunks whenever there are that many."""
        ...


class Backend(Protocol):
    """Where an index lives, before it is opened: the local folder or a Milvus collection.
    Chosen once from the settings (`rag.store.backend`)."""

    def exists(self) -> bool: ...

    def documents(self) -> dict[str, DocumentInfo]:
        """What the index records per document, without loading vectors or BM25."""
        ...

    def corpus(self) -> list[str] | None:
        """The folders and files the index records it was built from (None: no record)."""
        ...

    def sync(self, docs: Sequence[Document], embedder: Embedder, chunker: Chunker,
             rebuild: bool = False, progress: bool = False, corpus: Sequence[str] = ()
             ) -> SyncReport:
        """Bring the index in line with `docs` (read from `corpus`, which is recorded),
        embedding only what is new or changed."""
        ...

    def open(self, embedder: Embedder, chunker: Chunker) -> Store:
        """The index, loaded to answer; refused when built with other settings."""
        ...


@dataclass
class SyncReport:
    """What a build did, for the CLI to print."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old id, new id)
    kept: list[str] = field(default_factory=list)
    relabeled: list[str] = field(default_factory=list)  # kept, with another access rule
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    rebuilt_because: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    @property
    def wrote(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.renamed
                    or self.relabeled or self.rebuilt_because)


def plan_sync(docs: Sequence[Document], old: Mapping[str, DocumentInfo], report: SyncReport
              ) -> dict[str, str]:
    """Classify `docs` against what a store holds (`old`) into `report` (added, changed,
    removed, renamed, kept; kept ones whose access rule changed also as relabeled) and return,
    per new document whose content the store already has, the old document to take its chunks
    and vectors from: itself when unchanged, the old id when renamed, any holder of the same
    bytes for a copy. The rest must be chunked and embedded."""
    by_hash = {info.sha256: doc_id for doc_id, info in old.items()}
    new_ids = {d.doc_id for d in docs}
    source: dict[str, str] = {}
    moved: set[str] = set()  # old ids reported as renamed
    for doc in docs:
        prev = old.get(doc.doc_id)
        if prev and prev.sha256 == doc.sha256:
            source[doc.doc_id] = doc.doc_id
            report.kept.append(doc.doc_id)
            if prev.access != doc.access:  # a rule changed, not the text: no re-embedding
                report.relabeled.append(doc.doc_id)
        elif doc.sha256 in by_hash and not prev:
            source[doc.doc_id] = by_hash[doc.sha256]
            # A copy of a file that is still there, or a second copy of a moved one.
            if source[doc.doc_id] in new_ids or source[doc.doc_id] in moved:
                report.added.append(doc.doc_id)
            else:
                moved.add(source[doc.doc_id])
                report.renamed.append((source[doc.doc_id], doc.doc_id))
        elif prev:
            report.changed.append(doc.doc_id)
        else:
            report.added.append(doc.doc_id)
    report.removed = sorted(set(old) - new_ids - moved)
    return source


def built_with(embedder: Embedder, chunker: Chunker) -> dict[str, Any]:
    """What any store records of the model and chunker an index was built with."""
    return {"embedding": {"model": embedder.name, "dim": embedder.dim},
            "chunker": {"max_tokens": chunker.max_tokens, "overlap": chunker.overlap,
                        "headers": chunker.headers, "encoding": TOKEN_ENCODING}}


def settings_mismatch(recorded: Mapping[str, Any], embedder: Embedder, chunker: Chunker
                      ) -> str | None:
    """How the model, chunker or terms an index records differ from the configured ones."""
    model = recorded["embedding"]["model"]
    if model != embedder.name:
        return f"with the embedding model {model} (configured: {embedder.name})"
    c = recorded["chunker"]
    if (c["max_tokens"], c["overlap"]) != (chunker.max_tokens, chunker.overlap):
        return (f"with chunks of {c['max_tokens']} tokens and overlap {c['overlap']} "
                f"(configured: {chunker.max_tokens} and {chunker.overlap})")
    if c.get("headers", False) != chunker.headers:
        return (f"{'with' if c.get('headers') else 'without'} chunk headers "
                f"(configured: chunk_headers = {str(chunker.headers).lower()})")
    if recorded.get("bm25", {}).get("terms") != TERMS:
        return "with other BM25 terms"
    return None


def embed_sentences(chunks: Sequence[tuple[str, Sequence[Sequence[int]]]], embedder: Embedder,
                    progress: bool = False) -> list[np.ndarray]:
    """Float16 unit vectors of each chunk's sentences, given (chunk text, sentence spans).
    Overlapping chunks repeat sentences: each distinct sentence is embedded once."""
    texts = list(dict.fromkeys(text[s:e] for text, spans in chunks for s, e in spans))
    where = {t: n for n, t in enumerate(texts)}
    vecs = embedder.encode_documents(texts, progress=progress, unit="sentences"
                                     ).astype(np.float16)
    return [vecs[np.asarray([where[text[s:e]] for s, e in spans], dtype=np.int64)]
            for text, spans in chunks]


def bm25_idf(n: int, df: int) -> float:
    """BM25's inverse document frequency of a term in `df` of `n` texts (positive always)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def admitted(documents: Mapping[str, DocumentInfo], filters: Filters | None,
             viewer: Viewer | None) -> set[str] | None:
    """The ids of the documents `filters` and `viewer` admit; None when that is all of them
    (nothing to restrict)."""
    if not filters and (viewer is None or viewer.everything):
        return None
    ok = {doc_id for doc_id, info in documents.items()
          if (not filters or filters.admits(doc_id, info))
          and (viewer is None or viewer.may_read(info))}
    return None if len(ok) == len(documents) else ok


def rrf(ranked_lists: Sequence[Sequence[int]], weights: Sequence[float], k: int = 60
        ) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: sum of weight / (k + rank) over the lists an item appears in."""
    scores: dict[int, float] = {}
    for items, w in zip(ranked_lists, weights, strict=True):
        for rank, item in enumerate(items, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
