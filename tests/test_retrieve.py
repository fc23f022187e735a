import numpy as np
import pytest

from rag.config import Settings
from rag.ingest.chunk import Chunker
from rag.ingest.load import load_documents
from rag.query import Query
from rag.retrieve import Retriever, mmr
from rag.store.base import rrf
from rag.store.local import Index, sync
from rag.types import Filters


def test_rrf_rewards_agreement_and_respects_weights():
    fused = rrf([[1, 2, 3], [3, 1, 4]], [1.0, 1.0], k=60)
    assert [i for i, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    only_second = rrf([[1, 2, 3], [3, 1, 4]], [0.0, 1.0], k=60)
    assert [i for i, _ in only_second][:2] == [3, 1]


def test_mmr_skips_near_duplicates():
    q = np.array([1.0, 0.0], dtype=np.float32)
    vecs = np.array([[1, 0], [0.999, 0.0447], [0.6, 0.8]], dtype=np.float32)
    assert mmr(q, vecs, 2, lam=0.3) == [0, 2]  # novelty: 0.3*0.6-0.7*0.6 > 0.3*0.999-0.7*0.999
    assert mmr(q, vecs, 2, lam=1.0) == [0, 1]


@pytest.fixture
def small(corpus, tmp_path, fake_embedder):
    sync(load_documents([corpus]), tmp_path / "ix", fake_embedder, Chunker(40, 8))
    ix = Index.load(tmp_path / "ix", fake_embedder, Chunker(40, 8))
    return Retriever(ix, fake_embedder, Settings(k=3))


def test_hybrid_search_ranks_the_matching_document_first(small):
    (top, *_) = small.search(Query.parse("How long is the Clutha river?"))
    assert top.chunk.doc_id == "rivers.txt" and top.rank == 1
    assert top.title == "Rivers of the South Island"


def test_filters_by_document_title_and_date(small):
    ps = small.search(Query.parse("apples"), filters=Filters(doc_ids=("sub/bees.txt",)))
    assert {p.chunk.doc_id for p in ps} == {"sub/bees.txt"}
    ps = small.search(Query.parse("river"), filters=Filters(title="apples"))
    assert {p.chunk.doc_id for p in ps} == {"apples.md"}
    in_2024 = Filters(date_from="2024-01-01", date_to="2024-12-31")
    ps = small.search(Query.parse("apples"), filters=in_2024)
    assert {p.chunk.doc_id for p in ps} == {"apples.md"}  # undated documents are left out
    assert small.search(Query.parse("apples"), filters=Filters(date_from="2030-01-01")) == []


@pytest.mark.slow
def test_follow_up_retrieves_through_the_earlier_turn(seed_rag):
    """The same follow-up finds different passages after different earlier turns."""
    q = "What will he do there?"
    home = seed_rag.retriever.search(Query.parse(q, ["Where will Luxon stop on his way home?"]))
    assert "investors" in home[0].chunk.text
    gaza = seed_rag.retriever.search(
        Query.parse(q, ["Why did New Zealand send NZDF personnel to the Red Sea?"]))
    assert "Houthis" in " ".join(p.chunk.text for p in gaza[:2])
    assert home[0].chunk.chunk_id != gaza[0].chunk.chunk_id


@pytest.mark.slow
def test_real_hybrid_search_on_seeds(seed_rag):
    ps = seed_rag.retriever.search(
        Query.parse("On what dates will the Prime Minister visit the United States?"))
    assert ps[0].chunk.doc_id == "beehive-pm-heads-to-us-for-nato.txt"
    assert "9-12 July" in ps[0].chunk.text
    assert [p.rank for p in ps] == list(range(1, len(ps) + 1))
    assert all(-1.0 <= p.score <= 1.0 for p in ps)
