"""Answer-aware re-ranking: hand-set weights with the fake embedder, the retriever's depth, and
the real model on the seed corpus."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from rag.config import Settings
from rag.generate.features import FeatureExtractor
from rag.generate.rerank import Reranker
from rag.generate.scoring import Scorer
from rag.ingest.chunk import Chunker
from rag.ingest.load import load_documents
from rag.query import Query
from rag.retrieve import Retriever
from rag.store.local import Index, sync
from rag.types import Passage

from .conftest import FakeEmbedder, flat_idf, hand_selector, passages_of


def _reranker(**weights: float) -> Reranker:
    features = FeatureExtractor(FakeEmbedder(), flat_idf)
    return Reranker(Scorer(features, hand_selector(**weights), None))


def test_passages_are_ordered_by_their_best_sentence_and_renumbered():
    ps = passages_of("Apples grow in orchards. Pears too.",
                   "Bees make honey. The Clutha is the longest river in the South Island.",
                   "Rivers flow to the sea.")
    q = Query.parse("Which is the longest river in the South Island?")
    top = _reranker(cov=5.0)(q, ps, 2)
    assert [p.chunk.doc_id for p in top] == ["d2.txt", "d3.txt"]
    assert [p.rank for p in top] == [1, 2]
    assert top[0].score == ps[1].score  # the similarity shown is the passage's own


def test_ties_keep_the_fused_order_and_a_repeated_passage_goes_last():
    same = "Nothing here matches."
    ps = passages_of(same, "Also nothing.", "Still nothing.")
    q = Query.parse("Which is the longest river?")
    assert [p.chunk.doc_id for p in _reranker()(q, ps, 3)] == ["d1.txt", "d2.txt", "d3.txt"]
    # An overlapping chunk that only repeats sentences of an earlier one adds no candidate.
    first = ps[0]
    repeat = Passage(replace(first.chunk, chunk_id="d1.txt#1", n=1), 0.9, 2, first.title)
    order = _reranker()(q, [first, repeat, ps[1]], 3)
    assert [p.chunk.chunk_id for p in order] == ["d1.txt#0", "d2.txt#0", "d1.txt#1"]


class _Spy:
    """A `Rerank` that records what it was given and keeps the fused order."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, query: Query, passages: Sequence[Passage], k: int) -> list[Passage]:
        self.seen.append(len(passages))
        return list(passages[:k])


# k=3: the pool is the depth, at least k; with MMR at least 3k, and the re-ranker keeps 3k.
@pytest.mark.parametrize("depth, mmr, fetched", [(6, False, 6), (2, False, 3), (6, True, 9)])
def test_the_retriever_fetches_the_rerank_depth_and_returns_k(corpus, tmp_path, depth, mmr,
                                                              fetched):
    emb = FakeEmbedder()
    sync(load_documents([corpus]), tmp_path / "ix", emb, Chunker(12, 2))
    ix = Index.load(tmp_path / "ix", emb, Chunker(12, 2))
    assert len(ix.chunks) >= 9
    spy = _Spy()
    ps = Retriever(ix, emb, Settings(k=3, rerank_depth=depth, mmr=mmr), spy).search(
        Query.parse("apples"))
    assert spy.seen == [fetched] and len(ps) == 3
    assert [p.rank for p in ps] == [1, 2, 3]
    off = _Spy()
    assert len(Retriever(ix, emb, Settings(k=3, rerank_depth=0), off).search(
        Query.parse("apples"))) == 3 and off.seen == []


@pytest.mark.slow
@pytest.mark.parametrize("question, answer", [
    ("Who will represent Australia's Prime Minister at the summit?", "Richard Marles"),
    ("How long has Luxon been prime minister?", "six months")])
def test_reranking_brings_the_answer_up_on_the_seed_corpus(seed_rag, question, answer):
    """The real model and selector: the passage holding the answer is first after re-ranking,
    where fusion alone put it lower."""
    q = seed_rag.query(question)
    fused = Retriever(seed_rag.index, seed_rag.embedder,
                      seed_rag.settings.with_(rerank_depth=0)).search(q, k=20)
    reranked = seed_rag.retriever.search(q)
    assert answer in reranked[0].chunk.text
    assert answer not in fused[0].chunk.text
    assert {p.chunk.chunk_id for p in reranked} <= {p.chunk.chunk_id for p in fused}
