"""Answer-aware re-ranking: retrieved passages ordered by the best sentence each one holds.

Fusion ranks whole chunks by similarity; the question is answered by one sentence. The
answer's two-stage scorer (`rag/generate/scoring.py`: the selector's features over every
sentence, then the trained reader over the best few) already scores every candidate sentence
of a set of passages, so the retriever fetches `rerank_depth` passages and keeps the `k` whose
best sentence scores highest. Each generator then reads passages that hold an answer, not
merely ones about the topic. The sentences the reader reads here are cached, so the generator
that reads the kept passages next does not read them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rag.generate.scoring import Scorer
from rag.query import Query
from rag.types import Passage


class Reranker:
    """Orders passages by their best sentence's score (a `Rerank` of the retriever)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    def __call__(self, query: Query, passages: Sequence[Passage], k: int) -> list[Passage]:
        """The best `k` passages, ranked 1..k. A passage all of whose sentences an earlier
        (overlapping) one already holds has no candidates of its own and goes last."""
        scored = self.scorer(query, passages)
        best: dict[str, float] = {}
        for cand, logit in zip(scored.candidates, scored.logits.tolist(), strict=True):
            key = cand.passage.chunk.chunk_id
            best[key] = max(best.get(key, logit), logit)
        order = sorted(passages, key=lambda p: -best.get(p.chunk.chunk_id, float("-inf")))
        return [replace(p, rank=n) for n, p in enumerate(order[:k], start=1)]
