"""Answer-aware re-ranking: retrieved passages ordered by the best sentence each one holds.

Fusion ranks whole chunks by similarity; the question is answered by one sentence. The
answer selector's sentence scorer (`rag/generate/selector.py`, learned from SQuAD) already
scores every candidate sentence of a set of passages, so the retriever fetches `rerank_depth`
passages and keeps the `k` whose best sentence scores highest. Each generator then reads
passages that hold an answer, not merely ones about the topic. The scorer weighs features, so
re-ranking 20 passages costs a few milliseconds on a CPU, where a cross-encoder would take
hundreds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rag.generate.features import FeatureExtractor
from rag.generate.selector import Selector
from rag.query import Query
from rag.types import Passage


class Reranker:
    """Orders passages by their best sentence's selector score (a `Rerank` of the retriever)."""

    def __init__(self, features: FeatureExtractor, selector: Selector) -> None:
        self.features = features
        self.selector = selector

    def __call__(self, query: Query, passages: Sequence[Passage], k: int) -> list[Passage]:
        """The best `k` passages, ranked 1..k. A passage all of whose sentences an earlier
        (overlapping) one already holds has no candidates of its own and goes last."""
        cands, x = self.features.extract(query, passages)
        best: dict[str, float] = {}
        for cand, logit in zip(cands, self.selector.logits(x).tolist(), strict=True):
            key = cand.passage.chunk.chunk_id
            best[key] = max(best.get(key, logit), logit)
        order = sorted(passages, key=lambda p: -best.get(p.chunk.chunk_id, float("-inf")))
        return [replace(p, rank=n) for n, p in enumerate(order[:k], start=1)]
