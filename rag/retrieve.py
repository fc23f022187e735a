"""Hybrid retrieval: dense (FAISS) and BM25 lists fused by reciprocal rank, filters, then
answer-aware re-ranking (`rag/rerank.py`) or MMR.

A follow-up question ("And who else was there?") is searched both alone and after the previous
user turn (`Query.text`); both take part in the fusion, so a question that only looked like a
follow-up loses little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.config import Settings
from rag.embed import Embedder
from rag.query import Query
from rag.store import Store
from rag.store.local import Index
from rag.text import terms
from rag.types import Chunk, Passage


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents. Dates are ISO strings compared as text."""

    doc_ids: tuple[str, ...] | None = None
    title: str | None = None  # case-insensitive substring of the title
    date_from: str | None = None
    date_to: str | None = None

    def allowed_rows(self, index: Index) -> np.ndarray | None:
        if not (self.doc_ids or self.title or self.date_from or self.date_to):
            return None
        ok_docs = set()
        wanted = set(self.doc_ids or ())
        for doc_id, info in index.documents.items():
            if wanted and doc_id not in wanted:
                continue
            if self.title and self.title.lower() not in (info.get("title") or "").lower():
                continue
            date = (info.get("date") or "")[:10]
            if (self.date_from or self.date_to) and not date:
                continue
            if self.date_from and date < self.date_from[:10]:
                continue
            if self.date_to and date > self.date_to[:10]:
                continue
            ok_docs.add(doc_id)
        return np.array([i for i, c in enumerate(index.chunks) if c.doc_id in ok_docs],
                        dtype=np.int64)


def rrf(ranked_lists: Sequence[Sequence[int]], weights: Sequence[float], k: int = 60
        ) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: sum of weight / (k + rank) over the lists an item appears in."""
    scores: dict[int, float] = {}
    for items, w in zip(ranked_lists, weights, strict=True):
        for rank, item in enumerate(items, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def mmr(query: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: positions of `vectors` balancing relevance and novelty."""
    rel = vectors @ query
    chosen: list[int] = []
    left = list(range(len(vectors)))
    while left and len(chosen) < k:
        if chosen:
            red = (vectors[left] @ vectors[chosen].T).max(axis=1)
        else:
            red = np.zeros(len(left))
        best = int(np.argmax(lam * rel[left] - (1 - lam) * red))
        chosen.append(left.pop(best))
    return chosen


# Re-orders a query's passages and keeps the best k of them (`rag.generate.rerank.Reranker`).
Rerank = Callable[[Query, Sequence[Passage], int], list[Passage]]


class Retriever:
    """Searches one index (any store) with one embedder under one set of settings; with a
    `rerank`, fetches `rerank_depth` passages and lets it choose the k."""

    def __init__(self, index: Store, embedder: Embedder, settings: Settings,
                 rerank: Rerank | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.rerank = rerank if settings.rerank_depth else None

    def search(self, query: Query, k: int | None = None, filters: Filters | None = None
               ) -> list[Passage]:
        s = self.settings
        k = k or s.k
        texts = [(query.question, list(query.terms))]
        if query.follow_up:
            texts.append((query.text, terms(query.text)))
        searches = [(self.embedder.encode_query(text), q_terms) for text, q_terms in texts]
        size = k * 3 if s.mmr else k
        if self.rerank:
            size = max(size, s.rerank_depth)
        pool, vecs = self.index.candidates(searches, size, filters, s)
        qvec = self.embedder.encode_query(query.text)
        cos = vecs @ qvec if len(pool) else np.zeros(0, dtype=np.float32)
        docs = self.index.documents
        out = []
        for rank, (chunk, score) in enumerate(zip(pool, cos, strict=True), start=1):
            info = docs.get(chunk.doc_id, {})
            out.append(Passage(chunk, float(score), rank, info.get("title", chunk.doc_id),
                               info.get("date"), info.get("url")))
        if s.mmr and out:
            # With re-ranking, MMR diversifies the re-ranker's best 3k.
            keep = self.rerank(query, out, k * 3) if self.rerank else out
            rows = {p.chunk.chunk_id: i for i, p in enumerate(out)}
            order = mmr(qvec, vecs[[rows[p.chunk.chunk_id] for p in keep]], k, s.mmr_lambda)
            return [replace(keep[i], rank=n) for n, i in enumerate(order, start=1)]
        return self.rerank(query, out, k) if self.rerank and out else out[:k]


def fuse_locally(index: Index, searches: Sequence[tuple[np.ndarray, Sequence[str]]], size: int,
                 filters: Filters | None, s: Settings) -> tuple[list[Chunk], np.ndarray]:
    """Dense and BM25 lists of every search, fused by weighted reciprocal rank: the best
    `size` chunks and their exact vectors."""
    allowed = filters.allowed_rows(index) if filters else None
    if allowed is not None and len(allowed) == 0:
        return [], np.zeros((0, index.matrix.shape[1]), dtype=np.float32)
    lists, weights = [], []
    for vec, q_terms in searches:
        lists.append([r for r, _ in index.dense_search(vec, s.candidates, allowed)])
        lists.append([r for r, _ in index.bm25_search(q_terms, s.candidates, allowed)])
        weights += [s.dense_weight, s.bm25_weight]
    rows = [row for row, _ in rrf(lists, weights, s.rrf_k)[:size]]
    return [index.chunks[r] for r in rows], index.vector_rows(rows)
