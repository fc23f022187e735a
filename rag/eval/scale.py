"""`rag bench --scale N`: the local store at N synthetic chunks, through the product's own
code. Vectors are unit vectors around 1,000 random centres (neighbours at cosine ~0.7, as
sentence embeddings have them; uniform noise has no near neighbours and would measure nothing
useful); texts are 40 Zipf-distributed words, as English has them.

1. Each vector index type alone: build time, size, search latency, recall@10 against exact.
2. The index growing: an index of N chunks (N/10 documents of 10 chunks) written as a full
   build writes it, then re-synced with one document changed (three times: the median), then
   with a tenth of the documents changed at once; after that, recall@10 of dense search
   against exact search over the live rows, and the latency of dense, BM25 and hybrid search.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.base import TextVectors

WORDS = 40  # per synthetic text
VOCAB = 50_000
PER_DOC = 10  # chunks per synthetic document in the base build


def clustered(n: int, dim: int = 384, centres: int = 1000, seed: int = 0) -> np.ndarray:
    """Unit vectors around `centres` random centres, neighbours at cosine ~0.7 as sentence
    embeddings have (uniform noise has no near neighbours and tells nothing)."""
    rng = np.random.default_rng(seed)
    c = _centres(centres, dim)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 100_000):  # in slices: the noise matrix alone would double memory
        hi = min(n, lo + 100_000)
        x = c[rng.integers(0, centres, hi - lo)] + 0.7 * rng.normal(size=(hi - lo, dim))
        out[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _centres(centres: int = 1000, dim: int = 384) -> np.ndarray:
    return np.random.default_rng(12345).normal(size=(centres, dim)).astype(np.float32)


class SyntheticEmbedder(TextVectors):
    """A text's vector drawn around one of the same centres, seeded by the text: what a sync
    embeds looks like what the base build holds."""

    name = "synthetic-clustered"
    dim = 384

    def __init__(self) -> None:
        self.centres = _centres()

    def _vec(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(int(hashlib.md5(text.encode()).hexdigest()[:8], 16))
        x = self.centres[rng.integers(0, len(self.centres))] + 0.7 * rng.normal(size=self.dim)
        return (x / np.linalg.norm(x)).astype(np.float32)



def scale(n: int, work: Path, say: Callable[[str], None] = print, queries: int = 200
          ) -> dict[str, Any]:
    """Every figure above, for `n` chunks, with scratch files in `work`."""
    data = clustered(n + queries)
    matrix, qs = data[:n], data[n:]
    del data
    out: dict[str, Any] = {"n": n, "dim": int(matrix.shape[1]), "queries": queries}
    for kind in ("flat", "hnsw", "ivfpq"):
        say(f"  {kind}")
        out[kind] = _one_kind(kind, matrix, qs, work / kind)
        (work / kind / "s-0" / "vectors.faiss").unlink(missing_ok=True)
    say("  growing")
    out["grow"] = _grow(matrix, qs, work / "grow", say)
    return out


def _one_kind(kind: str, matrix: np.ndarray, qs: np.ndarray, folder: Path) -> dict[str, Any]:
    import faiss

    from rag.store.local import Index
    from rag.store.segment import Segment, build_ann, save_npy

    seg = folder / "s-0"
    (seg / "terms").mkdir(parents=True)
    save_npy(seg / "vectors.npy", matrix)
    save_npy(seg / "chunks.offsets.npy", np.zeros(len(matrix) + 1, dtype=np.int64))
    save_npy(seg / "terms" / "lengths.npy", np.ones(len(matrix), dtype=np.float32))
    t = time.perf_counter()
    params = build_ann(kind, np.load(seg / "vectors.npy", mmap_mode="r"), seg)
    build_s = time.perf_counter() - t
    ix = Index.over([Segment(seg, kind, False)], kind)
    t = time.perf_counter()
    ix.dense_search(qs[0], 10)  # opens the index (flat: the vectors copied into FAISS)
    load_s = time.perf_counter() - t
    flat = faiss.IndexFlatIP(matrix.shape[1])
    flat.add(np.ascontiguousarray(matrix))
    _, truth = flat.search(qs, 10)
    del flat
    times, recall = _searched(ix, qs, [set(t.tolist()) for t in truth])
    size = (seg / "vectors.faiss").stat().st_size if kind != "flat" else matrix.nbytes
    return {"build_s": build_s, "load_s": load_s, "index_mb": size / 1e6,
            "search_ms": _summary(times), "recall@10": recall, **params}


def _searched(ix: Any, qs: np.ndarray, truth: Sequence[set[int]]) -> tuple[list[float], float]:
    """Per query its dense search time (ms), and the mean recall@10 against `truth`."""
    times, recall = [], []
    for q, want in zip(qs, truth, strict=True):
        t = time.perf_counter()
        got = ix.dense_search(q, 10)
        times.append((time.perf_counter() - t) * 1e3)
        recall.append(len(want & {r for r, _ in got}) / 10)
    return times, float(np.mean(recall))


def _grow(matrix: np.ndarray, qs: np.ndarray, root: Path, say: Callable[[str], None]
          ) -> dict[str, Any]:
    from rag.config import Settings
    from rag.ingest.chunk import Chunker
    from rag.store.base import SearchParams
    from rag.store.local import Index, _Plan, _write, sync, vector_index_for
    from rag.types import Chunk, Document

    s = Settings()
    chunker = Chunker(s.chunk_tokens, s.chunk_overlap, s.chunk_headers)
    emb = SyntheticEmbedder()
    n = len(matrix)
    rng = np.random.default_rng(7)
    docs = [Document(f"d{i:07d}.txt", "", f"Document {i}", f"sha-{i}", size=1, mtime_ns=1,
                     unread=True) for i in range(n // PER_DOC)]
    say(f"    writing {n:,} chunks as one full build")
    plan = _Plan()
    for d in docs:
        plan.placement[d.doc_id] = (None, len(plan.chunks), PER_DOC)
        for j in range(PER_DOC):
            text = _text(rng)
            plan.chunks.append(Chunk(f"{d.doc_id}#{j}", d.doc_id, j, text, 0, len(text)))
    plan.vectors = list(matrix)
    root.mkdir(parents=True)
    kind = vector_index_for(n)
    t = time.perf_counter()
    timings: dict[str, float] = {}
    _write(root, docs, None, set(), plan, emb, chunker, kind, False, timings, [])
    out: dict[str, Any] = {"documents": len(docs), "kind": kind,
                           "full_build_s": time.perf_counter() - t,
                           "full_build_phases_s": timings}
    del plan

    def changed(d: Document, run: int) -> Document:
        text = " ".join(_text(rng) + "." for _ in range(PER_DOC))
        return Document(d.doc_id, text, d.title, f"sha-{d.doc_id}-{run}", size=2, mtime_ns=2)

    say("    one document changed")
    one = []
    for run in range(3):
        k = int(rng.integers(len(docs)))
        docs[k] = changed(docs[k], run)
        t = time.perf_counter()
        r = sync(docs, root, emb, chunker, sentence_vectors=False)
        one.append(time.perf_counter() - t)
        assert r.changed == [docs[k].doc_id], r.changed
        docs[k] = Document(docs[k].doc_id, "", docs[k].title, docs[k].sha256, size=2,
                           mtime_ns=2, unread=True)
    out["resync_one_s"] = {"runs": one, "p50": statistics.median(one)}
    say("    a tenth of the documents changed")
    tenth = rng.choice(len(docs), len(docs) // 10, replace=False)
    for k in tenth:
        docs[k] = changed(docs[k], 9)
    t = time.perf_counter()
    r = sync(docs, root, emb, chunker, sentence_vectors=False)
    out["resync_tenth_s"] = time.perf_counter() - t
    out["resync_tenth_changed"] = len(r.changed)
    t = time.perf_counter()
    ix = Index.load(root, emb, chunker)
    out["load_s"] = time.perf_counter() - t
    out["segments"] = len(ix.segments)
    out["rows_live"], out["rows_total"] = ix.rows_live, ix.total
    live = np.flatnonzero(ix.alive)
    exact = []
    for lo in range(0, len(qs), 50):  # exact search over the live rows, in slices
        scores = np.zeros((len(live), min(50, len(qs) - lo)), dtype=np.float32)
        for a in range(0, len(live), 200_000):
            scores[a:a + 200_000] = ix.vector_rows(live[a:a + 200_000]) @ qs[lo:lo + 50].T
        for col in scores.T:
            exact.append(set(live[np.argpartition(-col, 10)[:10]].tolist()))
    times, recall = _searched(ix, qs, exact)
    out["after"] = {"dense_ms": _summary(times), "recall@10": recall}
    words = np.random.default_rng(1)
    bm25, hybrid = [], []
    params = SearchParams(s.candidates, s.dense_weight, s.bm25_weight, s.rrf_k)
    for q in qs:
        query = [f"w{w}" for w in words.zipf(1.3, 4) % VOCAB]
        t = time.perf_counter()
        ix.bm25_search(query, s.candidates)
        bm25.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        ix.candidates([(q, query)], s.candidates, None, params)
        hybrid.append((time.perf_counter() - t) * 1e3)
    out["after"]["bm25_ms"] = _summary(bm25)
    out["after"]["hybrid_ms"] = _summary(hybrid)
    return out


def _text(rng: np.random.Generator) -> str:
    return " ".join(f"w{w}" for w in rng.zipf(1.3, WORDS) % VOCAB)


def _summary(values: Sequence[float]) -> dict[str, float]:
    v = sorted(values)
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
            "max": float(v[-1])}


def table_rows(sc: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures a person reads first."""
    rows = []
    for kind in ("flat", "hnsw", "ivfpq"):
        k = sc[kind]
        rows.append((f"{sc['n']:,} vectors, {kind}",
                     f"p50 {k['search_ms']['p50']:.2f} / p95 {k['search_ms']['p95']:.2f} ms, "
                     f"recall@10 {k['recall@10']:.3f}, {k['index_mb']:,.0f} MB, "
                     f"built in {k['build_s']:.0f} s"))
    g = sc["grow"]
    a = g["after"]
    rows += [
        (f"{sc['n']:,} chunks, full build ({g['kind']})", f"{g['full_build_s']:.0f} s; opened "
                                                          f"in {g.get('load_s', 0):.1f} s"),
        ("re-sync, 1 document changed (median of 3)", f"{g['resync_one_s']['p50']:.2f} s"),
        ("re-sync, a tenth of the documents changed", f"{g['resync_tenth_s']:.0f} s"),
        ("after: dense search", f"p50 {a['dense_ms']['p50']:.2f} / p95 "
                                f"{a['dense_ms']['p95']:.2f} ms, recall@10 {a['recall@10']:.3f}"),
        ("after: BM25 / hybrid p95", f"{a['bm25_ms']['p95']:.1f} / {a['hybrid_ms']['p95']:.1f} "
                                     f"ms ({g['segments']} segments, {g['rows_live']:,} of "
                                     f"{g['rows_total']:,} rows live)"),
    ]
    return rows
