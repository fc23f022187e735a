"""Hybrid retrieval over any store (which fuses its dense and BM25 lists by reciprocal rank
and applies filters), then answer-aware re-ranking (`rag.generate.rerank`) or MMR.

A follow-up question ("And who else was there?") is searched both alone and after the previous
user turn (`Query.text`); both take part in the fusion, so a question that only looked like a
follow-up loses little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from rag.config import Settings
from rag.embed import Embedder
from rag.query import Query
from rag.store import SearchParams, Store
from rag.text import terms
from rag.types import Filters, Passage, Viewer


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
        self.params = SearchParams.of(settings)

    def search(self, query: Query, k: int | None = None, filters: Filters | None = None,
               viewer: Viewer | None = None) -> list[Passage]:
        """The k best passages of the documents `filters` and `viewer` admit (the store
        restricts its search: nothing unreadable is fetched, re-ranked or returned)."""
        s = self.settings
        k = k or s.k
        texts = [(query.question, list(query.terms))]
        if query.follow_up:
            texts.append((query.text, terms(query.text)))
        searches = [(self.embedder.encode_query(text), q_terms) for text, q_terms in texts]
        size = k * 3 if s.mmr else k
        if self.rerank:
            size = max(size, s.rerank_depth)
        pool, vecs = self.index.candidates(searches, size, filters or None, self.params, viewer)
        qvec = self.embedder.encode_query(query.text)
        cos = vecs @ qvec if len(pool) else np.zeros(0, dtype=np.float32)
        docs = self.index.documents
        out = []
        for rank, (chunk, score) in enumerate(zip(pool, cos, strict=True), start=1):
            info = docs.get(chunk.doc_id)
            out.append(Passage(chunk, float(score), rank, info.title if info else chunk.doc_id,
                               info.date if info else None, info.url if info else None))
        if s.mmr and out:
            # With re-ranking, MMR diversifies the re-ranker's best 3k.
            keep = self.rerank(query, out, k * 3) if self.rerank else out
            rows = {p.chunk.chunk_id: i for i, p in enumerate(out)}
            order = mmr(qvec, vecs[[rows[p.chunk.chunk_id] for p in keep]], k, s.mmr_lambda)
            return [replace(keep[i], rank=n) for n, i in enumerate(order, start=1)]
        return self.rerank(query, out, k) if self.rerank and out else out[:k]
