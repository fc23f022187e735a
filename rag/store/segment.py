"""One immutable part of a local index: the rows one sync wrote. An index is a list of
segments; a row stops counting when no document places it any more (`rag.store.local`), and a
segment is never changed once written, so a sync writes only what is new.

    s-<id>/chunks.jsonl         one chunk record per line
           chunks.offsets.npy   where each line starts (a row is read without reading the rest)
           vectors.npy          exact unit vectors (float32, memory-mapped)
           vectors.faiss        its approximate index (HNSW or IVF-PQ), when it has one
           terms/               BM25 counts: per row its terms, per term its rows (both sparse)
           sentences/           per row its sentence spans and float16 vectors

BM25 is not frozen per segment: each segment keeps raw term counts and lengths, and the index
scores them with the statistics of every live row (`bm25_scores`), so a row scores the same
in any segment as after a full rebuild. (bm25s, whose stop words the terms use, stores scores
with the corpus's IDF built in, which no index that grows can keep.)
"""

from __future__ import annotations

import json
import math
import mmap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.files import write_synced
from rag.types import Chunk

HNSW_M, HNSW_EF_BUILD, HNSW_EF_SEARCH = 32, 80, 96
IVFPQ_DIMS, IVFPQ_NPROBE, IVFPQ_RERANK = 8, 48, 100  # a byte per 8 dims; rerank 100 n
IVFPQ_MIN = 10_000  # fewer vectors cannot train 256 centroids per sub-quantizer well
_NO_SPANS = np.zeros((0, 2), dtype=np.int32)


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))


class Terms:
    """A segment's BM25 counts: `row_ptr`/`row_terms` (CSR: the distinct term ids of each row),
    `term_ptr`/`term_rows`/`term_tf` (CSC: each term's rows and counts), `lengths` (terms per
    row, repeats included) and `vocab` (term id -> term)."""

    def __init__(self, vocab: list[str], arrays: dict[str, np.ndarray]) -> None:
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.row_ptr, self.row_terms = arrays["row_ptr"], arrays["row_terms"]
        self.term_ptr, self.term_rows = arrays["term_ptr"], arrays["term_rows"]
        self.term_tf, self.lengths = arrays["term_tf"], arrays["lengths"]

    NAMES = ("row_ptr", "row_terms", "term_ptr", "term_rows", "term_tf", "lengths")

    @classmethod
    def build(cls, chunk_terms: Sequence[Sequence[str]]) -> Terms:
        from collections import Counter

        from scipy import sparse

        vocab: dict[str, int] = {}
        indptr, indices, data = [0], [], []
        for ts in chunk_terms:
            counts = Counter(ts)
            for t, c in counts.items():
                indices.append(vocab.setdefault(t, len(vocab)))
                data.append(c)
            indptr.append(len(indices))
        n, v = len(chunk_terms), len(vocab)
        csr = sparse.csr_matrix((np.asarray(data, dtype=np.float32),
                                 np.asarray(indices, dtype=np.int32),
                                 np.asarray(indptr, dtype=np.int64)), shape=(n, v))
        csc = csr.tocsc()
        csc.sort_indices()
        return cls(list(vocab), {
            "row_ptr": csr.indptr.astype(np.int64), "row_terms": csr.indices.astype(np.int32),
            "term_ptr": csc.indptr.astype(np.int64), "term_rows": csc.indices.astype(np.int32),
            "term_tf": csc.data.astype(np.float32),
            "lengths": np.asarray([len(ts) for ts in chunk_terms], dtype=np.float32)})

    def save(self, folder: Path) -> None:
        folder.mkdir()
        write_synced(folder / "vocab.json", json.dumps(self.vocab, ensure_ascii=False))
        for name in self.NAMES:
            save_npy(folder / f"{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, folder: Path) -> Terms:
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        return cls(vocab, {name: np.load(folder / f"{name}.npy", mmap_mode="r")
                           for name in cls.NAMES})

    def df(self, rows: np.ndarray | None = None) -> dict[str, int]:
        """How many rows (of `rows`, or all) hold each term."""
        if rows is None:
            counts = np.diff(np.asarray(self.term_ptr))
        else:
            rows = np.asarray(rows, dtype=np.int64)
            starts = np.asarray(self.row_ptr)[rows]
            lens = np.asarray(self.row_ptr)[rows + 1] - starts
            # Every posting of those rows, gathered at once.
            at = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
            counts = np.bincount(np.asarray(self.row_terms)[at], minlength=len(self.vocab))
        return {self.vocab[i]: int(counts[i]) for i in np.flatnonzero(counts)}


class Sentences:
    """Every row's sentences: spans in the chunk text and float16 unit vectors, those of row i
    at `offsets[i]:offsets[i + 1]` (memory-mapped)."""

    def __init__(self, offsets: np.ndarray, spans: np.ndarray, vectors: np.ndarray) -> None:
        self.offsets, self.spans, self.vectors = offsets, spans, vectors

    def of(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
        return np.asarray(self.spans[lo:hi]), np.asarray(self.vectors[lo:hi])

    @classmethod
    def load(cls, folder: Path) -> Sentences:
        return cls(*(np.load(folder / f"{name}.npy", mmap_mode="r")
                     for name in ("offsets", "spans", "vectors")))

    @staticmethod
    def save(folder: Path, spans: Sequence[np.ndarray], vectors: Sequence[np.ndarray | None],
             dim: int) -> None:
        folder.mkdir()
        offsets = np.zeros(len(spans) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(s) for s in spans])
        save_npy(folder / "offsets.npy", offsets)
        save_npy(folder / "spans.npy", np.vstack([_NO_SPANS, *spans]).astype(np.int32))
        save_npy(folder / "vectors.npy", np.vstack(
            [np.zeros((0, dim), dtype=np.float16), *[v for v in vectors if v is not None]]
        ).astype(np.float16))


class Segment:
    """An opened segment. Its approximate index and vocabulary are read on first use: a sync
    that only adds a segment never reads them."""

    def __init__(self, folder: Path, kind: str, sentences: bool) -> None:
        self.folder, self.name, self.kind = folder, folder.name, kind
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        self.offsets = np.load(folder / "chunks.offsets.npy", mmap_mode="r")
        self.rows = self.vectors.shape[0]
        self.sentences = Sentences.load(folder / "sentences") if sentences else None
        # flat when the segment has no approximate index (too small for IVF-PQ, say)
        self.searched_kind = kind if (folder / "vectors.faiss").exists() else "flat"
        self._ann: Any = None
        self._terms: Terms | None = None
        self._text: mmap.mmap | None = None

    def check(self) -> None:
        """ValueError naming the file whose row count is not the segment's."""
        counts = {"chunks.offsets.npy": len(self.offsets) - 1,
                  "terms/lengths.npy": len(self.lengths)}
        if self.sentences is not None:
            counts["sentences/offsets.npy"] = len(self.sentences.offsets) - 1
        for name, n in counts.items():
            if n != self.rows:
                raise ValueError(f"{self.name}/{name} was written for {n:,} rows, not "
                                 f"{self.rows:,}")

    @property
    def lengths(self) -> np.ndarray:
        """Terms per row (BM25's document lengths), without reading the vocabulary."""
        if self._terms is not None:
            return self._terms.lengths
        return np.load(self.folder / "terms" / "lengths.npy", mmap_mode="r")

    @property
    def terms(self) -> Terms:
        if self._terms is None:
            self._terms = Terms.load(self.folder / "terms")
        return self._terms

    def chunk(self, row: int) -> Chunk:
        """The chunk record of one row, read alone."""
        if self._text is None:
            with open(self.folder / "chunks.jsonl", "rb") as fh:
                self._text = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
        return Chunk(**json.loads(self._text[lo:hi]))

    def search(self, q: np.ndarray, n: int, sel: Any = None) -> list[int]:
        """Rows of this segment near `q` (its approximate index, or exact when small), at
        most `n` (IVF-PQ: `n` x IVFPQ_RERANK candidates, to re-rank exactly)."""
        import faiss

        kind = self.searched_kind
        if self._ann is None:
            if kind == "flat":
                self._ann = faiss.IndexFlatIP(self.vectors.shape[1])
                self._ann.add(np.ascontiguousarray(self.vectors, dtype=np.float32))
            else:
                self._ann = faiss.read_index(str(self.folder / "vectors.faiss"))
        wanted = n * IVFPQ_RERANK if kind == "ivfpq" else n
        if kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, n))
        elif kind == "ivfpq":
            params = faiss.SearchParametersIVF(sel=sel, nprobe=IVFPQ_NPROBE)
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        _, ids = self._ann.search(q.reshape(1, -1), min(wanted, self.rows), params=params)
        return [int(i) for i in ids[0] if i >= 0]

    @staticmethod
    def write(folder: Path, chunks: Sequence[Chunk], matrix: np.ndarray,
              chunk_terms: Sequence[Sequence[str]], spans: Sequence[np.ndarray] | None,
              sentence_vectors: Sequence[np.ndarray | None] | None, kind: str
              ) -> dict[str, Any]:
        """Write a segment into the new folder `folder`; return its approximate index's
        parameters."""
        folder.mkdir()
        lines = [json.dumps(c.__dict__, ensure_ascii=False).encode() + b"\n" for c in chunks]
        offsets = np.zeros(len(lines) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in lines])
        with open(folder / "chunks.jsonl", "wb") as fh:
            fh.write(b"".join(lines))
        save_npy(folder / "chunks.offsets.npy", offsets)
        save_npy(folder / "vectors.npy", matrix)
        Terms.build(chunk_terms).save(folder / "terms")
        if spans is not None and sentence_vectors is not None:
            Sentences.save(folder / "sentences", spans, sentence_vectors, matrix.shape[1])
        if kind == "ivfpq" and len(chunks) < IVFPQ_MIN:
            return {}  # too few to train a quantizer: searched exactly
        return build_ann(kind, matrix, folder)


def build_ann(kind: str, matrix: np.ndarray, folder: Path) -> dict[str, Any]:
    """Write the approximate index for `kind` (flat needs none); return its parameters."""
    import faiss

    n, dim = matrix.shape
    if kind == "flat":
        return {}
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_BUILD
        index.add(np.ascontiguousarray(matrix, dtype=np.float32))
        params: dict[str, Any] = {"m": HNSW_M, "ef_construction": HNSW_EF_BUILD}
    else:
        nlist = int(max(16, min(4 * math.sqrt(n), n // 64)))
        m = max(d for d in range(1, dim // IVFPQ_DIMS + 1) if dim % d == 0)  # sub-quantizers
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        sample = matrix[np.random.default_rng(0).choice(n, min(n, 64 * nlist + 10_000),
                                                        replace=False)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.add(np.ascontiguousarray(matrix, dtype=np.float32))
        params = {"nlist": nlist, "m": m, "bits": 8}
    faiss.write_index(index, str(folder / "vectors.faiss"))
    return params


def bm25_scores(parts: Sequence[tuple[Terms, int, np.ndarray]], total: int,
                query_terms: Sequence[str], df: Mapping[str, int], live: int) -> np.ndarray:
    """BM25 (Lucene's variant, as bm25s scores it) of every row of every (counts, first
    global row, term weights from `term_weights`), with the statistics of the live rows:
    `live` rows and document frequencies `df`. Rows no term matches score 0."""
    scores = np.zeros(total, dtype=np.float32)
    for counts, first, weights in parts:
        rows, values = [], []
        for term in query_terms:  # a repeated query term counts again, as in bm25s
            d, i = df.get(term, 0), counts.ids.get(term)
            if not d or i is None:
                continue
            idf = np.float32(math.log(1 + (live - d + 0.5) / (d + 0.5)))
            lo, hi = int(counts.term_ptr[i]), int(counts.term_ptr[i + 1])
            rows.append(counts.term_rows[lo:hi])
            values.append(idf * weights[lo:hi])
        if rows:  # every posting at once, as bm25s adds them
            part = scores[first:first + len(counts.lengths)]  # a view: no index arithmetic
            np.add.at(part, np.concatenate(rows), np.concatenate(values))
    return scores


def term_weights(counts: Terms, avgdl: float, k1: float, b: float) -> np.ndarray:
    """Per posting its BM25 term-frequency part, tf / (tf + k1 (1 - b + b |d| / avgdl)), for
    one mean length: what bm25s stores, less the IDF, which the query's statistics give."""
    lengths = np.asarray(counts.lengths, dtype=np.float32)
    norm = k1 * ((1 - b) + b * lengths / np.float32(avgdl))
    tf = np.asarray(counts.term_tf, dtype=np.float32)
    return (tf / (norm[np.asarray(counts.term_rows)] + tf)).astype(np.float32)


def top_scores(scores: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The `n` best (row, score), best first, rows scoring 0 left out."""
    n = min(n, len(scores))
    if n <= 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
