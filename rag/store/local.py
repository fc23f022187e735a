"""The index on disk: FAISS vectors, BM25, the chunk table and a manifest, kept in step.

Layout of an index folder:

    CURRENT          name of the live version folder (replaced atomically)
    v-.../           manifest.json, chunks.jsonl, vectors.npy, [vectors.faiss], bm25/, df.json,
                     [sentences/offsets.npy, spans.npy, vectors.npy]
    .lock            held while a build writes

A build writes a complete new version folder, fsyncs it, then swaps CURRENT with `os.replace`,
so a reader (or a crash) only ever sees the old complete index or the new complete one.
Row i of `vectors.npy` (the exact vectors, memory-mapped) is row i of the chunk table; an
approximate index (`vectors.faiss`, HNSW or IVF-PQ) is built from them, and exact search needs
none. `sentences/` holds each chunk's sentence spans and vectors (float16), so answering needs
no model call per sentence.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import VECTOR_INDEXES, Settings
from rag.embed import Embedder
from rag.errors import (
    IndexBusyError,
    IndexMismatchError,
    IndexMissingError,
    RagError,
    UnreadError,
)
from rag.files import atomic_write, fsync, write_synced
from rag.ingest.chunk import Chunker
from rag.store.base import (
    TERMS,
    Search,
    SearchParams,
    SyncReport,
    admitted,
    bm25_idf,
    built_with,
    embed_sentences,
    plan_sync,
    rrf,
    settings_mismatch,
)
from rag.text import terms
from rag.types import Chunk, Document, DocumentInfo, Filters, IndexInfo, Viewer

log = logging.getLogger("rag")

FORMAT = 3  # 3: exact vectors in vectors.npy, optional ANN index, sentence vectors
CURRENT = "CURRENT"
BIG_DOCUMENT = 1_000_000  # characters; splitting one takes seconds, so it is announced
HNSW_FROM, IVFPQ_FROM = 100_000, 5_000_000  # chunks; "auto" picks by size (BENCHMARKS.md)
IVFPQ_MIN = 10_000  # fewer vectors cannot train 256 centroids per sub-quantizer well
EXACT_FILTER = 50_000  # a filter allowing fewer rows than this is searched exactly
HNSW_M, HNSW_EF_BUILD, HNSW_EF_SEARCH = 32, 80, 96
IVFPQ_DIMS, IVFPQ_NPROBE, IVFPQ_RERANK = 8, 48, 100  # a byte per 8 dims; rerank 100 n


def vector_index_for(n: int, asked: str = "auto") -> str:
    """The vector index type for `n` chunks: `asked`, or chosen by size when "auto"."""
    if asked == "ivfpq" and n < IVFPQ_MIN:
        return "flat"  # too few vectors to train a quantizer; exact search is fast anyway
    if asked != "auto":
        return asked
    return "flat" if n < HNSW_FROM else "hnsw" if n < IVFPQ_FROM else "ivfpq"


@dataclass
class Index:
    """An index in memory. Build with `sync`, open with `Index.load`."""

    _manifest: dict[str, Any] = field(repr=False)  # the on-disk record; others read `info`
    chunks: list[Chunk]
    matrix: np.ndarray  # exact unit vectors, row i = chunk i (memory-mapped)
    vectors: Any  # the faiss index searched: flat, HNSW or IVF-PQ
    bm25: Any  # bm25s.BM25
    df: dict[str, int]
    path: Path | None = None
    version: str = ""  # the version folder this was read from (see `live_version`)
    sentences: Sentences | None = None
    _rows: dict[str, int] = field(default_factory=dict, repr=False)
    _doc_rows: dict[str, np.ndarray] | None = field(default=None, repr=False)
    info: IndexInfo = field(init=False)

    def __post_init__(self) -> None:
        self._rows = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        m = self._manifest
        embedding = m.get("embedding", {})
        self.info = IndexInfo(
            {doc_id: DocumentInfo.from_dict(d) for doc_id, d in m["documents"].items()},
            len(self.chunks), m.get("built_at", ""), embedding.get("model", ""),
            embedding.get("dim", self.matrix.shape[1]), tuple(m.get("corpus") or ()),
            m["vector_index"]["type"])

    # -- reading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: str | Path, embedder: Embedder, chunker: Chunker) -> Index:
        """Open the live version under `folder`; refuse one built with other settings."""
        root = Path(folder)
        before = live_version(root) if root.is_dir() else None
        try:
            return cls._load(root, embedder, chunker)
        except IndexMismatchError:
            # Builds may have swapped CURRENT twice and removed the version we had started to
            # read: read the new one. Anything else is real damage.
            if live_version(root) in (None, before):
                raise
            return cls._load(root, embedder, chunker)

    @classmethod
    def _load(cls, root: Path, embedder: Embedder, chunker: Chunker) -> Index:
        import bm25s

        live = _live_version(root)
        try:
            manifest = json.loads((live / "manifest.json").read_text(encoding="utf-8"))
            for name, size in manifest.get("files", {}).items():
                if (live / name).stat().st_size != size:
                    raise IndexMismatchError(
                        f"the index in {root} is damaged ({name} is "
                        f"{(live / name).stat().st_size:,} bytes, the manifest says {size:,}); "
                        f"run `rag build --rebuild --index {root}`")
            problem = _mismatch(manifest, embedder, chunker)
            if problem:
                raise IndexMismatchError(f"the index in {root} was built {problem}; "
                                         f"run `rag build --rebuild --index {root}`")
            chunks = [Chunk(**json.loads(line)) for line in
                      (live / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
            matrix = np.load(live / "vectors.npy", mmap_mode="r")
            kind = manifest["vector_index"]["type"]
            vectors = _open_search(kind, matrix, live)
            sentences = Sentences.load(live / "sentences") if manifest["sentences"] else None
            bm25 = bm25s.BM25.load(str(live / "bm25"))
            df = json.loads((live / "df.json").read_text(encoding="utf-8"))
            manifest["documents"], manifest["counts"]  # noqa: B018 - keys every reader needs
        except IndexMismatchError:
            raise
        # What a truncated or edited file raises: faiss a RuntimeError, json/orjson a
        # ValueError, a missing file OSError, a manifest without a key KeyError.
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError,
                IndexError) as e:
            what = f"{type(e).__name__}: {e}".splitlines()[0][:160]
            raise IndexMismatchError(f"the index in {root} is damaged ({what}); "
                                     f"run `rag build --rebuild --index {root}`") from None
        counted = {"vectors.npy": matrix.shape[0], "vectors.faiss": vectors.ntotal,
                   "sentences/offsets.npy": len(sentences.offsets) - 1 if sentences else
                   len(chunks), "bm25/params.index.json":
                   bm25.scores.get("num_docs", len(chunks)) if chunks else len(chunks)}
        for name, n in counted.items():
            if n != len(chunks):
                raise IndexMismatchError(
                    f"the index in {root} is damaged ({name} was built for {n:,} chunks, not "
                    f"{len(chunks):,}); run `rag build --rebuild --index {root}`")
        return cls(manifest, chunks, matrix, vectors, bm25, df, root, live.name, sentences)

    @property
    def documents(self) -> Mapping[str, DocumentInfo]:
        return self.info.documents

    def row(self, chunk_id: str) -> int:
        return self._rows[chunk_id]

    def live(self) -> str | None:
        """The version a reader would open now (`version` is the one loaded)."""
        return live_version(self.path) if self.path else None

    def reopen(self, embedder: Embedder, chunker: Chunker) -> Index:
        """The live version of the same index."""
        assert self.path is not None
        return Index.load(self.path, embedder, chunker)

    @property
    def kind(self) -> str:
        """The vector index type: flat, hnsw or ivfpq."""
        return self._manifest["vector_index"]["type"]

    def vector_rows(self, rows: Sequence[int]) -> np.ndarray:
        """Exact vectors of some rows."""
        return np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)], dtype=np.float32) \
            if len(rows) else np.zeros((0, self.matrix.shape[1]), dtype=np.float32)

    def candidates(self, searches: Sequence[Search], size: int, filters: Filters | None,
                   params: SearchParams, viewer: Viewer | None = None
                   ) -> tuple[list[Chunk], np.ndarray]:
        """The best `size` chunks for some (query vector, query terms) searches, with their
        exact vectors: dense and BM25 lists of every search fused by weighted reciprocal rank
        (the one call a retriever makes of a store). Only rows of documents `filters` and
        `viewer` admit are searched: FAISS through an ID selector, BM25 through a weight mask,
        both before their top-n."""
        allowed = self.allowed_rows(filters, viewer)
        if allowed is not None and len(allowed) == 0:
            return [], np.zeros((0, self.matrix.shape[1]), dtype=np.float32)
        lists, weights = [], []
        for vec, q_terms in searches:
            lists.append([r for r, _ in self.dense_search(vec, params.candidates, allowed)])
            lists.append([r for r, _ in self.bm25_search(q_terms, params.candidates, allowed)])
            weights += [params.dense_weight, params.bm25_weight]
        rows = [row for row, _ in rrf(lists, weights, params.rrf_k)[:size]]
        return [self.chunks[r] for r in rows], self.vector_rows(rows)

    def allowed_rows(self, filters: Filters | None, viewer: Viewer | None = None
                     ) -> np.ndarray | None:
        """The rows of the documents `filters` and `viewer` admit; None: every row."""
        ok = admitted(self.documents, filters, viewer)
        if ok is None:
            return None
        if self._doc_rows is None:  # once per loaded index: rows by document
            by_doc: dict[str, list[int]] = {}
            for i, c in enumerate(self.chunks):
                by_doc.setdefault(c.doc_id, []).append(i)
            self._doc_rows = {d: np.asarray(r, dtype=np.int64) for d, r in by_doc.items()}
        rows = [self._doc_rows[d] for d in ok if d in self._doc_rows]
        return np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)

    def sentences_of(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray] | None:
        """Sentence spans (in `chunk.text`) and unit vectors of an indexed chunk, or None."""
        row = self._rows.get(chunk.chunk_id)
        if self.sentences is None or row is None or self.chunks[row].text != chunk.text:
            return None
        return self.sentences.of(row)

    def idf(self, term: str) -> float:
        """BM25-style inverse document frequency over chunks; unseen terms get the maximum."""
        return bm25_idf(len(self.chunks), self.df.get(term, 0))

    def dense_search(self, query: np.ndarray, n: int,
                     allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top `n` rows by cosine similarity, optionally only among `allowed` rows."""
        import faiss

        n = min(n, self.matrix.shape[0] if allowed is None else len(allowed))
        if n <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is not None and self.kind != "flat" and len(allowed) <= EXACT_FILTER:
            # A narrow filter: exact scores of the allowed rows beat an ANN walk that must
            # skip most of what it visits.
            scores = self.vector_rows(allowed) @ q[0]
            top = np.argsort(-scores, kind="stable")[:n]
            return [(int(allowed[i]), float(scores[i])) for i in top]
        sel = faiss.IDSelectorBatch(allowed.astype(np.int64)) if allowed is not None else None
        wanted = n * IVFPQ_RERANK if self.kind == "ivfpq" else n
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, n))
        elif self.kind == "ivfpq":
            params = faiss.SearchParametersIVF(sel=sel, nprobe=IVFPQ_NPROBE)
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        _, ids = self.vectors.search(q, wanted, params=params)
        rows = [int(i) for i in ids[0] if i >= 0]
        # Scores always come from the exact vectors (IVF-PQ's are approximate: rerank them).
        scores = self.vector_rows(rows) @ q[0]
        order = np.argsort(-scores, kind="stable")[:n]
        return [(rows[i], float(scores[i])) for i in order]

    def bm25_search(self, query_terms: Sequence[str], n: int,
                    allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top `n` rows by BM25 score (rows scoring 0 are left out)."""
        known = [t for t in query_terms if t in self.bm25.vocab_dict]
        rows = self.matrix.shape[0]
        if not known or not rows:
            return []
        mask = None
        if allowed is not None:
            mask = np.zeros(rows, dtype=np.float32)
            mask[allowed] = 1.0
        scores = self.bm25.get_scores(known, weight_mask=mask)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def sync(docs: Sequence[Document], folder: str | Path, embedder: Embedder, chunker: Chunker,
         rebuild: bool = False, progress: bool = False, vector_index: str = "auto",
         sentence_vectors: bool = True, corpus: Sequence[str] = ()) -> SyncReport:
    """Bring the index in `folder` in line with `docs`, embedding only new or changed text.

    Unchanged documents (same content hash) keep their vectors, even when renamed. `corpus`
    (the folders and files `docs` came from) is recorded in the manifest.
    `report.timings` splits the seconds into chunk, embed, bm25 and write.
    """
    t0 = time.perf_counter()
    root = _folder(folder)
    root.mkdir(parents=True, exist_ok=True)
    report = SyncReport()
    with _locked(root):
        old: Index | None = None
        if rebuild:
            report.rebuilt_because = "--rebuild"
        else:
            try:
                old = Index.load(root, embedder, chunker)
            except IndexMissingError:
                pass
            except (IndexMismatchError, OSError, ValueError, RagError) as e:
                report.rebuilt_because = str(e).split(";")[0]
            if old is not None and bool(old.sentences) != sentence_vectors:
                report.rebuilt_because = f"sentence_vectors is now {str(sentence_vectors).lower()}"
                old = None
        t = time.perf_counter()
        plan = _plan(docs, old, chunker, report, progress)
        report.timings["chunk"] = time.perf_counter() - t
        _embed(plan, docs, embedder, chunker, sentence_vectors, progress, report.timings)
        report.chunks_embedded = len(plan.todo)
        report.chunks_total = len(plan.chunks)
        kind = vector_index_for(len(plan.chunks), vector_index)
        if old is not None and old.kind != kind:
            report.rebuilt_because = report.rebuilt_because or f"vector index now {kind}"
        corpus = list(corpus)
        # Files touched but unchanged are recorded anew, so the next sync need not read them.
        restat = old is not None and any(
            not d.unread and (d.size, d.mtime_ns) != (old.documents[d.doc_id].size,
                                                      old.documents[d.doc_id].mtime_ns)
            for d in docs if d.doc_id in old.documents)
        if report.wrote or restat or old is None or list(old.info.corpus) != corpus:
            _write(root, docs, plan, embedder, chunker, old.documents if old else {}, kind,
                   sentence_vectors, report.timings, corpus)
        report.seconds = time.perf_counter() - t0
    return report


@dataclass
class _Plan:
    """The new chunk table in document order, with what is reused and what must be embedded."""

    chunks: list[Chunk] = field(default_factory=list)
    vectors: list[np.ndarray | None] = field(default_factory=list)
    spans: list[np.ndarray] = field(default_factory=list)  # per chunk: (n, 2) sentence spans
    sentence_vectors: list[np.ndarray | None] = field(default_factory=list)  # (n, dim)
    todo: list[int] = field(default_factory=list)  # positions whose vectors are missing


def _plan(docs: Sequence[Document], old: Index | None, chunker: Chunker, report: SyncReport,
          progress: bool = False) -> _Plan:
    """Chunk new or changed documents; take the rest (vectors included) from `old`."""
    from rag.progress import Progress

    source = plan_sync(docs, old.documents if old else {}, report)
    plan = _Plan()
    # Splitting runs at about a million characters in 5 s: say so when a corpus is big.
    shown = Progress(sum(len(d.text) for d in docs), "chunking", "million characters",
                     scale=1e6, enabled=progress)
    for doc in docs:
        if doc.doc_id in source and old is not None:
            rows = [old.row(cid) for cid in old.documents[source[doc.doc_id]].chunks]
            for row, vec in zip(rows, old.vector_rows(rows), strict=True):
                c = old.chunks[row]
                plan.chunks.append(replace(c, chunk_id=f"{doc.doc_id}#{c.n}",
                                           doc_id=doc.doc_id))
                plan.vectors.append(vec)
                spans, svecs = old.sentences.of(row) if old.sentences else (_NO_SPANS, None)
                plan.spans.append(spans)
                plan.sentence_vectors.append(svecs)
        else:
            if doc.unread:  # taken from a record this index no longer has: read it first
                raise UnreadError(f"{doc.doc_id} must be read to be indexed again")
            if len(doc.text) >= BIG_DOCUMENT:
                shown.note(f"chunking {doc.doc_id} ({len(doc.text) / 1e6:,.1f} million "
                           f"characters)")
            for c, spans in chunker.segment(doc):
                plan.todo.append(len(plan.chunks))
                plan.chunks.append(c)
                plan.vectors.append(None)
                plan.spans.append(np.asarray(spans, dtype=np.int32).reshape(-1, 2))
                plan.sentence_vectors.append(None)
        shown.update(len(doc.text))
    shown.close()
    return plan


_NO_SPANS = np.zeros((0, 2), dtype=np.int32)


def _embed(plan: _Plan, docs: Sequence[Document], embedder: Embedder, chunker: Chunker,
           sentence_vectors: bool, progress: bool, timings: dict[str, float]) -> None:
    """Fill in the vectors of the planned chunks (and of their sentences) that are missing."""
    t = time.perf_counter()
    timings["embed"] = timings["sentences"] = 0.0
    if not plan.todo:
        return
    titles = {d.doc_id: d.title for d in docs}
    fresh = embedder.encode_documents(
        [chunker.index_text(plan.chunks[i], titles[plan.chunks[i].doc_id]) for i in plan.todo],
        progress=progress)
    for pos, vec in zip(plan.todo, fresh, strict=True):
        plan.vectors[pos] = vec
    timings["embed"] = time.perf_counter() - t
    if not sentence_vectors:
        return
    t = time.perf_counter()
    fresh = embed_sentences([(plan.chunks[i].text, plan.spans[i]) for i in plan.todo],
                            embedder, progress)
    for i, vecs in zip(plan.todo, fresh, strict=True):
        plan.sentence_vectors[i] = vecs
    timings["sentences"] = time.perf_counter() - t


def _write(root: Path, docs: Sequence[Document], plan: _Plan, embedder: Embedder,
           chunker: Chunker, previous: Mapping[str, DocumentInfo], kind: str,
           sentence_vectors: bool, timings: dict[str, float], corpus: list[str]) -> None:
    import bm25s

    chunks = plan.chunks
    tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        t = time.perf_counter()
        titles = {d.doc_id: d.title for d in docs}
        chunk_terms = [terms(chunker.index_text(c, titles[c.doc_id])) for c in chunks]
        bm25 = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        # An empty corpus still needs a valid (empty) index; "" is bm25s's empty token.
        bm25.index(chunk_terms or [[""]], show_progress=False)
        timings["bm25"] = time.perf_counter() - t
        t = time.perf_counter()
        matrix = (np.vstack(plan.vectors).astype(np.float32) if chunks
                  else np.zeros((0, embedder.dim), dtype=np.float32))
        _save_npy(tmp / "vectors.npy", matrix)
        params = _build_search(kind, matrix, tmp)
        if sentence_vectors:
            Sentences.save(tmp / "sentences", plan.spans, plan.sentence_vectors, embedder.dim)
        bm25.save(str(tmp / "bm25"), show_progress=False)
        df = Counter(t for ts in chunk_terms for t in set(ts))
        write_synced(tmp / "df.json", json.dumps(df, ensure_ascii=False))
        write_synced(tmp / "chunks.jsonl", "".join(
            json.dumps(c.__dict__, ensure_ascii=False) + "\n" for c in chunks))
        manifest = _manifest(docs, chunks, embedder, chunker, previous)
        manifest["vector_index"] = {"type": kind, **params}
        manifest["sentences"] = sentence_vectors
        manifest["corpus"] = corpus
        # Sizes of the other files: a truncated file, or one copied from another build, is
        # caught at load by one stat each.
        manifest["files"] = {p.relative_to(tmp).as_posix(): p.stat().st_size
                             for p in sorted(tmp.rglob("*")) if p.is_file()}
        write_synced(tmp / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        for p in tmp.rglob("*"):
            if p.is_file():
                fsync(p)
        version = root / f"v-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{tmp.name[5:]}"
        os.rename(tmp, version)
        fsync(root)
        replaced = live_version(root)
        atomic_write(root / CURRENT, version.name + "\n")
        timings["write"] = time.perf_counter() - t
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):  # a full disk, say: the old index still stands
            raise RagError(f"could not write the index in {root} ({e.strerror or e}); "
                           f"the previous index is unchanged") from e
        raise
    _collect_garbage(root, keep={version.name, replaced})


class Sentences:
    """Every chunk's sentences: spans in the chunk text and float16 unit vectors, rows of chunk
    i at `offsets[i]:offsets[i + 1]` (memory-mapped)."""

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
        _save_npy(folder / "offsets.npy", offsets)
        _save_npy(folder / "spans.npy", np.vstack([_NO_SPANS, *spans]).astype(np.int32))
        _save_npy(folder / "vectors.npy", np.vstack(
            [np.zeros((0, dim), dtype=np.float16), *[v for v in vectors if v is not None]]
        ).astype(np.float16))


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))


def _build_search(kind: str, matrix: np.ndarray, folder: Path) -> dict[str, Any]:
    """Write the approximate index for `kind` (flat needs none); return its parameters."""
    import faiss

    n, dim = matrix.shape
    if kind == "flat":
        return {}
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_BUILD
        index.add(matrix)
        params: dict[str, Any] = {"m": HNSW_M, "ef_construction": HNSW_EF_BUILD}
    else:
        nlist = int(max(16, min(4 * math.sqrt(n), n // 64)))
        m = max(d for d in range(1, dim // IVFPQ_DIMS + 1) if dim % d == 0)  # sub-quantizers
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        sample = matrix[np.random.default_rng(0).choice(n, min(n, 64 * nlist + 10_000),
                                                        replace=False)]
        index.train(np.ascontiguousarray(sample))
        index.add(matrix)
        params = {"nlist": nlist, "m": m, "bits": 8}
    faiss.write_index(index, str(folder / "vectors.faiss"))
    return params


def _open_search(kind: str, matrix: np.ndarray, folder: Path) -> Any:
    import faiss

    if kind == "flat":
        index = faiss.IndexFlatIP(matrix.shape[1])
        index.add(np.ascontiguousarray(matrix, dtype=np.float32))
        return index
    if kind not in VECTOR_INDEXES:
        raise ValueError(f"unknown vector index type {kind!r}")
    return faiss.read_index(str(folder / "vectors.faiss"))


def _manifest(docs: Sequence[Document], chunks: list[Chunk], embedder: Embedder,
              chunker: Chunker, previous: Mapping[str, DocumentInfo]) -> dict[str, Any]:
    per_doc: dict[str, list[str]] = {}
    for c in chunks:
        per_doc.setdefault(c.doc_id, []).append(c.chunk_id)
    now = datetime.now(UTC).isoformat(timespec="seconds")

    def since(d: Document) -> str:  # when this content was indexed
        prev = previous.get(d.doc_id)
        return prev.indexed_at if prev and prev.sha256 == d.sha256 else now

    return {
        "format": FORMAT,
        "built_at": now,
        **built_with(embedder, chunker),
        "bm25": {"method": "lucene", "k1": 1.2, "b": 0.75, "terms": TERMS},
        "counts": {"documents": len(docs), "chunks": len(chunks)},
        "documents": {d.doc_id: DocumentInfo.of(d, per_doc.get(d.doc_id, []), since(d)).to_dict()
                      for d in docs},
    }


def _mismatch(manifest: dict[str, Any], embedder: Embedder, chunker: Chunker) -> str | None:
    if manifest.get("format") != FORMAT:
        return f"in format {manifest.get('format')} (this version reads {FORMAT})"
    return settings_mismatch(manifest, embedder, chunker)


def _folder(folder: str | Path) -> Path:
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise RagError(f"the index folder {root} is a file; name a folder with --index")
    return root


def _live_version(root: Path) -> Path:
    _folder(root)
    pointer = root / CURRENT
    if not pointer.is_file():
        raise IndexMissingError(f"no index in {root}; run `rag build PATH... --index {root}` "
                                f"first")
    live = root / pointer.read_text(encoding="utf-8").strip()
    if not (live / "manifest.json").is_file():
        raise IndexMismatchError(f"the index in {root} is damaged ({live.name} is missing); "
                                 f"run `rag build --rebuild --index {root}`")
    return live


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The live version's manifest (documents, counts), without loading vectors or BM25."""
    return json.loads((_live_version(Path(folder)) / "manifest.json").read_text(encoding="utf-8"))


def read_documents(folder: str | Path) -> dict[str, DocumentInfo]:
    """What the live version records per document, without loading vectors or BM25."""
    return {doc_id: DocumentInfo.from_dict(d)
            for doc_id, d in read_manifest(folder)["documents"].items()}


def live_version(folder: str | Path) -> str | None:
    """The name of the live version folder, None when there is no index (a cheap check)."""
    try:
        return (Path(folder) / CURRENT).read_text(encoding="utf-8").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def index_exists(folder: str | Path) -> bool:
    return (Path(folder) / CURRENT).is_file()


class LocalBackend:
    """The index in the folder `index_dir`, as a `Backend`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = Path(settings.index_dir)

    def exists(self) -> bool:
        return index_exists(self.folder)

    def documents(self) -> dict[str, DocumentInfo]:
        return read_documents(self.folder)

    def corpus(self) -> list[str] | None:
        return read_manifest(self.folder).get("corpus")

    def sync(self, docs: Sequence[Document], embedder: Embedder, chunker: Chunker,
             rebuild: bool = False, progress: bool = False, corpus: Sequence[str] = ()
             ) -> SyncReport:
        s = self.settings
        return sync(docs, self.folder, embedder, chunker, rebuild=rebuild, progress=progress,
                    vector_index=s.vector_index, sentence_vectors=s.sentence_vectors,
                    corpus=corpus)

    def open(self, embedder: Embedder, chunker: Chunker) -> Index:
        return Index.load(self.folder, embedder, chunker)


@contextmanager
def _locked(root: Path):
    """One writer at a time per index folder (readers never need the lock)."""
    import fcntl

    if not os.access(root, os.W_OK):  # say so now, not after minutes of embedding
        raise RagError(f"cannot write to the index folder {root}; check its permissions or "
                       f"name another with --index")
    with open(root / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(f"another build is writing {root}; wait for it to finish"
                                 ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _collect_garbage(root: Path, keep: set[str | None]) -> None:
    """Remove older versions and leftovers of interrupted builds. The version CURRENT named
    until now is kept, so a reader that has just read the old pointer still finds its files."""
    for p in root.iterdir():
        if p.is_dir() and p.name not in keep and p.name.startswith(("v-", ".tmp-")):
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file() and p.name.startswith(".tmp-"):  # a pointer a crash left unrenamed
            p.unlink(missing_ok=True)
