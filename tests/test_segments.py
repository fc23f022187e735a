"""The local index grows in segments: a re-sync writes only what changed, links what it keeps,
and searches exactly as a full rebuild of the same documents would (BM25 scores, dense hits,
fused candidates); merges keep the segment count bounded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rag.ingest.chunk import Chunker
from rag.ingest.load import load_documents
from rag.store.base import SearchParams
from rag.store.local import MAX_SEGMENTS, Index, sync

from .conftest import FakeEmbedder

CHUNKER = Chunker(40, 8)
QUESTIONS = ["Which is the longest river in the South Island?", "When does the harvest start?",
             "What do bees pollinate?", "Where do kiwifruit grow?", "apples orchards Nelson",
             "river kilometres sea"]
PARAMS = SearchParams(candidates=10, dense_weight=1.0, bm25_weight=2.0, rrf_k=20)


class SmoothEmbedder(FakeEmbedder):
    """Each term a random direction (seeded by the term): texts rarely score alike, so two
    indexes can be compared rank by rank."""

    def _vec(self, text: str) -> np.ndarray:
        import hashlib

        from rag.text import terms

        v = np.zeros(self.dim)
        for t in terms(text) or ["<empty>"]:
            seed = int(hashlib.md5(t.encode()).hexdigest()[:8], 16)
            v += np.random.default_rng(seed).normal(size=self.dim)
        return (v / np.linalg.norm(v)).astype(np.float32)


def _sync(corpus: Path, folder: Path, emb: FakeEmbedder, **kw):
    return sync(load_documents([corpus]), folder, emb, CHUNKER, sentence_vectors=True, **kw)


def _fill(corpus: Path, n: int = 40) -> None:
    """Notes enough that a few changed documents leave most rows live (no full rewrite), in
    words of their own: none ties with another for any question."""
    for i in range(n):
        words = " ".join(f"zq{i}x{j}" for j in range(3 + i % 5))
        (corpus / f"note{i}.txt").write_text(f"Memo: {words}.\n")


def _segments(folder: Path) -> list[Path]:
    live = folder / (folder / "CURRENT").read_text().strip()
    return sorted(live.glob("s-*"))


def _same_search(grown: Index, fresh: Index, emb: FakeEmbedder) -> None:
    """Every question finds the same chunks with the same scores in both indexes."""
    assert {c.chunk_id for c in grown.chunks} == {c.chunk_id for c in fresh.chunks}
    assert grown.df == fresh.df and grown.rows_live == fresh.rows_live
    for q in QUESTIONS:
        from rag.text import terms

        ts = terms(q)
        g = [(grown.chunk(r).chunk_id, round(s, 5)) for r, s in grown.bm25_search(ts, 10)]
        f = [(fresh.chunk(r).chunk_id, round(s, 5)) for r, s in fresh.bm25_search(ts, 10)]
        assert g == f, q
        v = emb.encode_query(q)
        assert [(grown.chunk(r).chunk_id, round(s, 5)) for r, s in grown.dense_search(v, 5)] \
            == [(fresh.chunk(r).chunk_id, round(s, 5)) for r, s in fresh.dense_search(v, 5)]
        gc, gv = grown.candidates([(v, ts)], 6, None, PARAMS)
        fc, fv = fresh.candidates([(v, ts)], 6, None, PARAMS)
        assert [c.chunk_id for c in gc] == [c.chunk_id for c in fc] and np.allclose(gv, fv)
        for c in gc:
            a, b = grown.sentences_of(c), fresh.sentences_of(c)
            assert a is not None and b is not None
            assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])


def test_a_re_sync_writes_one_segment_and_links_the_rest(corpus, tmp_path):
    emb, folder = FakeEmbedder(), tmp_path / "ix"
    _fill(corpus, 10)
    _sync(corpus, folder, emb)
    (first,) = _segments(folder)
    (corpus / "rivers.txt").write_text("The Waikato is the longest river in New Zealand.\n")
    before = emb.embedded
    r = _sync(corpus, folder, emb)
    assert r.changed == ["rivers.txt"] and r.chunks_embedded == 1
    assert emb.embedded - before == 2  # its chunk and its one sentence
    kept, new = _segments(folder)  # the old segment, and one holding the changed chunk
    assert kept.name == first.name
    assert os.stat(kept / "vectors.npy").st_ino == os.stat(first / "vectors.npy").st_ino
    ix = Index.load(folder, emb, CHUNKER)
    assert ix.rows_live == len(ix.chunks) < ix.total  # the old river chunk is kept, not live
    assert [c.doc_id for c in ix.chunks].count("rivers.txt") == 1


def test_a_grown_index_searches_as_a_full_rebuild_would(corpus, tmp_path):
    emb, folder = SmoothEmbedder(), tmp_path / "ix"
    _fill(corpus)
    _sync(corpus, folder, emb)
    (corpus / "rivers.txt").write_text("The Waikato is the longest river in New Zealand. It "
                                       "drains Lake Taupo and flows to the sea.\n")
    _sync(corpus, folder, emb)
    (corpus / "kiwi.txt").write_text("Kiwifruit grow on vines in the Bay of Plenty. Bees "
                                     "pollinate the flowers in spring.\n")
    (corpus / "sub" / "bees.txt").rename(corpus / "sub" / "honeybees.txt")  # kept vectors
    _sync(corpus, folder, emb)
    (corpus / "apples.md").unlink()
    _sync(corpus, folder, emb)
    assert len(_segments(folder)) == 3  # the removal wrote no segment
    _sync(corpus, tmp_path / "fresh", emb, rebuild=True)
    _same_search(Index.load(folder, emb, CHUNKER), Index.load(tmp_path / "fresh", emb, CHUNKER),
                 emb)


def test_merges_keep_the_segments_bounded_and_the_answers(corpus, tmp_path):
    emb, folder = SmoothEmbedder(), tmp_path / "ix"
    _fill(corpus)  # a big first segment: the one merges leave alone
    _sync(corpus, folder, emb)
    (big,) = _segments(folder)
    for i in range(MAX_SEGMENTS + 3):
        # Lengths of their own: no two score alike for a question about kiwifruit.
        (corpus / f"kiwi{i}.txt").write_text("Kiwifruit grows " + "near the coast " * (i + 1)
                                             + ".\n")
        _sync(corpus, folder, emb)
        assert len(_segments(folder)) <= MAX_SEGMENTS
    assert big.name in {p.name for p in _segments(folder)}
    _sync(corpus, tmp_path / "fresh", emb, rebuild=True)
    _same_search(Index.load(folder, emb, CHUNKER), Index.load(tmp_path / "fresh", emb, CHUNKER),
                 emb)


def test_many_dead_rows_rewrite_everything_into_one_segment(corpus, tmp_path):
    emb, folder = FakeEmbedder(), tmp_path / "ix"
    _sync(corpus, folder, emb)
    for name in ("apples.md", "rivers.txt"):  # most rows change at once
        (corpus / name).write_text(f"Changed {name}: kiwifruit and totara trees.\n")
    r = _sync(corpus, folder, emb)
    assert len(_segments(folder)) == 1 and r.chunks_embedded == 2
    ix = Index.load(folder, emb, CHUNKER)
    assert ix.total == ix.rows_live  # nothing dead is carried over


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_dead_rows_are_skipped_by_the_approximate_index(tmp_path, kind):
    """An index whose big segment has dead rows: HNSW and IVF-PQ searches never return them
    and still find the nearest live rows."""
    from rag.store.segment import Segment
    from rag.types import Chunk

    from .test_index import _clustered

    data = _clustered(12_010)
    matrix, queries = data[:12_000], data[12_000:]
    chunks = [Chunk(f"d#{i}", "d", i, "x", 0, 1) for i in range(len(matrix))]
    Segment.write(tmp_path / "s-1", chunks, matrix, [[] for _ in chunks], None, None, kind)
    ix = Index.over([Segment(tmp_path / "s-1", kind, False)], kind)
    ix.alive[::3] = False  # a third of the rows no longer live
    ix.rows_live = int(ix.alive.sum())
    live = np.flatnonzero(ix.alive)
    recall = []
    for q in queries:
        got = [r for r, _ in ix.dense_search(q, 10)]
        assert all(ix.alive[got])
        best = set(live[np.argsort(-(matrix[live] @ q))[:10]].tolist())
        recall.append(len(best & set(got)) / 10)
    assert np.mean(recall) >= 0.9
