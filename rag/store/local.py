"""The index on disk: segments of FAISS vectors, BM25 counts and chunks, and a manifest that
says which rows are live, kept in step.

Layout of an index folder:

    CURRENT          name of the live version folder (replaced atomically)
    v-.../           manifest.json, df.json and the segments (s-.../, see rag.store.segment)
    .lock            held while a build writes

A sync writes only what changed: the chunks of new and changed documents go into a new
segment, and the manifest stops placing the rows of removed and changed ones (they stay in
their segment, searched past, until a merge drops them). The segments it keeps are hard
links into the new version folder, so each version folder is complete on its own. It is
fsynced, then CURRENT swapped with `os.replace`: a reader (or a crash) only ever sees the old
complete index or the new complete one.

Merges keep searches fast: past MAX_SEGMENTS segments, every segment but the biggest is
rewritten into the new one; past MAX_DEAD of the rows no longer live, or when the vector
index type changes with the corpus's size, everything is rewritten into one segment.
"""

from __future__ import annotations

import logging
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
import orjson

from rag.config import Settings
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
    BM25_B,
    BM25_K1,
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
from rag.store.segment import IVFPQ_MIN, Segment, bm25_scores, term_weights, top_scores
from rag.text import terms
from rag.types import Chunk, Document, DocumentInfo, Filters, IndexInfo, Viewer

log = logging.getLogger("rag")

FORMAT = 4  # 4: segments, rows placed by the manifest, BM25 scored from raw counts
CURRENT = "CURRENT"
BIG_DOCUMENT = 1_000_000  # characters; splitting one takes seconds, so it is announced
HNSW_FROM, IVFPQ_FROM = 100_000, 5_000_000  # chunks; "auto" picks by size (BENCHMARKS.md)
EXACT_FILTER = 50_000  # a filter allowing fewer rows than this is searched exactly
MAX_SEGMENTS = 8  # beyond, the small segments are merged into the new one
MAX_DEAD = 0.25  # beyond this share of rows no longer live, everything is rewritten


def vector_index_for(n: int, asked: str = "auto") -> str:
    """The vector index type for `n` chunks: `asked`, or chosen by size when "auto"."""
    if asked == "ivfpq" and n < IVFPQ_MIN:
        return "flat"  # too few vectors to train a quantizer; exact search is fast anyway
    if asked != "auto":
        return asked
    return "flat" if n < HNSW_FROM else "hnsw" if n < IVFPQ_FROM else "ivfpq"


@dataclass
class Index:
    """An index in memory. Build with `sync`, open with `Index.load`. Rows are numbered
    across segments in the manifest's order; a row is live while a document places it."""

    _manifest: dict[str, Any] = field(repr=False)  # the on-disk record; others read `info`
    segments: list[Segment]
    df: dict[str, int]  # live rows holding each term
    path: Path | None = None
    version: str = ""  # the version folder this was read from (see `live_version`)
    info: IndexInfo = field(init=False)

    def __post_init__(self) -> None:
        m = self._manifest
        self.firsts = np.cumsum([0] + [s.rows for s in self.segments])  # first row of each
        self.total = int(self.firsts[-1])
        first_of = {s.name: int(f) for s, f in zip(self.segments, self.firsts, strict=False)}
        documents = {doc_id: DocumentInfo.from_dict(d) for doc_id, d in m["documents"].items()}
        # Each document's rows: contiguous in the segment that holds them, from its first row
        # there (`placed`), which is that segment's first row plus it (`spans`).
        self.placed: dict[str, tuple[str, int]] = {
            doc_id: (seg, first) for doc_id, (seg, first) in m["placement"].items()
            if documents[doc_id].chunks}
        self.spans = {doc_id: (first_of[seg] + first, len(documents[doc_id].chunks))
                      if doc_id in self.placed else (0, 0)
                      for doc_id, (seg, first) in m["placement"].items()}
        self.named = {s.name: s for s in self.segments}
        self.alive = np.zeros(self.total, dtype=bool)
        for start, n in self.spans.values():
            self.alive[start:start + n] = True
        self.rows_live = int(self.alive.sum())
        lengths = [np.asarray(s.lengths) for s in self.segments]
        self.avgdl = float(np.concatenate(lengths)[self.alive].mean()) if self.rows_live else 1.0
        embedding = m.get("embedding", {})
        dim = self.segments[0].vectors.shape[1] if self.segments else embedding.get("dim", 0)
        self.info = IndexInfo(documents, self.rows_live, m.get("built_at", ""),
                              embedding.get("model", ""), dim,
                              tuple(m.get("corpus") or ()), m["vector_index"]["type"])
        self._rows: dict[str, int] | None = None
        self._live_bits: dict[str, tuple[np.ndarray, Any]] = {}
        self._weights: list[np.ndarray] | None = None

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
        live = _live_version(root)
        try:
            manifest = orjson.loads((live / "manifest.json").read_bytes())
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
            kind = manifest["vector_index"]["type"]
            segments = []
            for rec in manifest["segments"]:
                seg = Segment(live / rec["name"], kind, manifest["sentences"])
                seg.check()
                if seg.rows != rec["rows"]:
                    raise ValueError(f"{rec['name']} holds {seg.rows:,} rows, the manifest "
                                     f"says {rec['rows']:,}")
                segments.append(seg)
            df = orjson.loads((live / "df.json").read_bytes())
            index = cls(manifest, segments, df, root, live.name)
            for doc_id, (start, n) in index.spans.items():
                if start + n > index.total:
                    raise ValueError(f"{doc_id} is placed past the end of its segment")
        except IndexMismatchError:
            raise
        # What a truncated or edited file raises: json a ValueError, a missing file OSError,
        # a manifest without a key KeyError.
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError,
                IndexError) as e:
            what = f"{type(e).__name__}: {e}".splitlines()[0][:160]
            raise IndexMismatchError(f"the index in {root} is damaged ({what}); "
                                     f"run `rag build --rebuild --index {root}`") from None
        return index

    @classmethod
    def over(cls, segments: list[Segment], kind: str) -> Index:
        """An index of some segments alone, every row live (for measuring search)."""
        docs, placement = {}, {}
        for seg in segments:
            docs[seg.name] = {"title": seg.name, "sha256": "", "chunks": [
                f"{seg.name}#{i}" for i in range(seg.rows)]}
            placement[seg.name] = [seg.name, 0]
        return cls({"vector_index": {"type": kind}, "documents": docs, "placement": placement,
                    "sentences": False}, segments, {})

    @property
    def documents(self) -> Mapping[str, DocumentInfo]:
        return self.info.documents

    @property
    def sentences(self) -> bool:
        """Whether sentence vectors are stored."""
        return bool(self._manifest["sentences"])

    def row(self, chunk_id: str) -> int:
        if self._rows is None:  # once per loaded index
            self._rows = {cid: start + i for doc_id, (start, _) in self.spans.items()
                          for i, cid in enumerate(self.documents[doc_id].chunks)}
        return self._rows[chunk_id]

    def chunk(self, row: int) -> Chunk:
        seg, local = self._where(row)
        return seg.chunk(local)

    @property
    def chunks(self) -> list[Chunk]:
        """Every live chunk, document by document (reads them all: for small indexes)."""
        return [self.chunk(start + i) for start, n in self.spans.values() for i in range(n)]

    def _where(self, row: int) -> tuple[Segment, int]:
        i = int(np.searchsorted(self.firsts, row, side="right")) - 1
        return self.segments[i], row - int(self.firsts[i])

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
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.info.dim), dtype=np.float32)
        which = np.searchsorted(self.firsts, rows, side="right") - 1
        for i in np.unique(which):
            at = which == i
            out[at] = self.segments[i].vectors[rows[at] - int(self.firsts[i])]
        return out

    def candidates(self, searches: Sequence[Search], size: int, filters: Filters | None,
                   params: SearchParams, viewer: Viewer | None = None
                   ) -> tuple[list[Chunk], np.ndarray]:
        """The best `size` chunks for some (query vector, query terms) searches, with their
        exact vectors: dense and BM25 lists of every search fused by weighted reciprocal rank
        (the one call a retriever makes of a store). Only live rows of documents `filters` and
        `viewer` admit are searched: FAISS through an ID selector, BM25 through a mask, both
        before their top-n."""
        allowed = self.allowed_rows(filters, viewer)
        if allowed is not None and len(allowed) == 0:
            return [], np.zeros((0, self.info.dim), dtype=np.float32)
        lists, weights = [], []
        for vec, q_terms in searches:
            lists.append([r for r, _ in self.dense_search(vec, params.candidates, allowed)])
            lists.append([r for r, _ in self.bm25_search(q_terms, params.candidates, allowed)])
            weights += [params.dense_weight, params.bm25_weight]
        rows = [row for row, _ in rrf(lists, weights, params.rrf_k)[:size]]
        return [self.chunk(r) for r in rows], self.vector_rows(rows)

    def allowed_rows(self, filters: Filters | None, viewer: Viewer | None = None
                     ) -> np.ndarray | None:
        """The live rows of the documents `filters` and `viewer` admit; None: every live
        row."""
        ok = admitted(self.documents, filters, viewer)
        if ok is None:
            return None
        rows = [np.arange(start, start + n, dtype=np.int64)
                for d in ok if d in self.spans for start, n in [self.spans[d]]]
        return np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)

    def sentences_of(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray] | None:
        """Sentence spans (in `chunk.text`) and unit vectors of an indexed chunk, or None."""
        if not self.sentences:
            return None
        try:
            row = self.row(chunk.chunk_id)
        except KeyError:
            return None
        seg, local = self._where(row)
        if seg.sentences is None or seg.chunk(local).text != chunk.text:
            return None
        return seg.sentences.of(local)

    def idf(self, term: str) -> float:
        """BM25-style inverse document frequency over chunks; unseen terms get the maximum."""
        return bm25_idf(self.rows_live, self.df.get(term, 0))

    def dense_search(self, query: np.ndarray, n: int,
                     allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top `n` live rows by cosine similarity, optionally only among `allowed` rows."""
        import faiss

        n = min(n, self.rows_live if allowed is None else len(allowed))
        if n <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is not None and self.kind != "flat" and len(allowed) <= EXACT_FILTER:
            # A narrow filter: exact scores of the allowed rows beat an ANN walk that must
            # skip most of what it visits.
            scores = self.vector_rows(allowed) @ q[0]
            top = np.argsort(-scores, kind="stable")[:n]
            return [(int(allowed[i]), float(scores[i])) for i in top]
        found: list[int] = []
        for seg, first in zip(self.segments, self.firsts, strict=False):
            first = int(first)
            if allowed is not None:
                local = allowed[(allowed >= first) & (allowed < first + seg.rows)] - first
                if not len(local):
                    continue
                sel = faiss.IDSelectorBatch(local.astype(np.int64))
            else:
                sel = self._live_selector(seg, first)
            found += [first + r for r in seg.search(q, n, sel)]
        # Scores always come from the exact vectors (IVF-PQ's are approximate: rerank them).
        scores = self.vector_rows(found) @ q[0]
        order = np.argsort(-scores, kind="stable")[:n]
        return [(found[i], float(scores[i])) for i in order]

    def _live_selector(self, seg: Segment, first: int) -> Any:
        """A FAISS selector of a segment's live rows; None when all are live."""
        import faiss

        alive = self.alive[first:first + seg.rows]
        if alive.all():
            return None
        if seg.name not in self._live_bits:  # the bitmap must outlive the selector
            bits = np.packbits(alive, bitorder="little")
            self._live_bits[seg.name] = (bits, faiss.IDSelectorBitmap(seg.rows,
                                                                      faiss.swig_ptr(bits)))
        return self._live_bits[seg.name][1]

    def bm25_search(self, query_terms: Sequence[str], n: int,
                    allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top `n` live rows by BM25 score (rows scoring 0 are left out)."""
        if not self.rows_live or not any(self.df.get(t) for t in query_terms):
            return []
        if self._weights is None:  # once per loaded index: they depend on the live rows
            self._weights = [term_weights(seg.terms, self.avgdl, BM25_K1, BM25_B)
                             for seg in self.segments]
        parts = [(seg.terms, int(first), w) for seg, first, w in
                 zip(self.segments, self.firsts, self._weights, strict=False)]
        scores = bm25_scores(parts, self.total, query_terms, self.df, self.rows_live)
        if allowed is not None:
            mask = np.zeros(self.total, dtype=bool)
            mask[allowed] = True
            scores[~mask] = 0
        else:
            scores[~self.alive] = 0
        return top_scores(scores, n)


def sync(docs: Sequence[Document], folder: str | Path, embedder: Embedder, chunker: Chunker,
         rebuild: bool = False, progress: bool = False, vector_index: str = "auto",
         sentence_vectors: bool = True, corpus: Sequence[str] = ()) -> SyncReport:
    """Bring the index in `folder` in line with `docs`, embedding only new or changed text,
    and writing only a segment of what changed (see the module's notes on merges).

    Unchanged documents (same content hash) keep their vectors, even when renamed. `corpus`
    (the folders and files `docs` came from) is recorded in the manifest.
    `report.timings` splits the seconds into chunk, embed, sentences and write.
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
            if old is not None and old.sentences != sentence_vectors:
                report.rebuilt_because = f"sentence_vectors is now {str(sentence_vectors).lower()}"
                old = None
        t = time.perf_counter()
        source = plan_sync(docs, old.documents if old else {}, report)
        fresh = _chunk_new(docs, source, chunker, progress)
        report.timings["chunk"] = time.perf_counter() - t
        new_rows = sum(len(v) for v in fresh.values())
        live_after = new_rows + sum(len(old.documents[source[d.doc_id]].chunks)
                                    for d in docs if old and d.doc_id in source)
        kind = vector_index_for(live_after, vector_index)
        kept = _kept_segments(old, docs, source, kind, new_rows, report)
        plan = _plan(docs, old, source, fresh, kept)
        _embed(plan, docs, embedder, chunker, sentence_vectors, progress, report.timings)
        report.chunks_embedded = len(plan.todo)
        report.chunks_total = live_after
        corpus = list(corpus)
        # Files touched but unchanged are recorded anew, so the next sync need not read them.
        restat = old is not None and any(
            not d.unread and (d.size, d.mtime_ns) != (old.documents[d.doc_id].size,
                                                      old.documents[d.doc_id].mtime_ns)
            for d in docs if d.doc_id in old.documents)
        if report.wrote or restat or old is None or list(old.info.corpus) != corpus:
            _write(root, docs, old, kept, plan, embedder, chunker, kind, sentence_vectors,
                   report.timings, corpus)
        report.seconds = time.perf_counter() - t0
    return report


def _chunk_new(docs: Sequence[Document], source: Mapping[str, str], chunker: Chunker,
               progress: bool) -> dict[str, list[tuple[Chunk, np.ndarray]]]:
    """The chunks and sentence spans of every document the index does not hold yet."""
    from rag.progress import Progress

    todo = [d for d in docs if d.doc_id not in source]
    # Splitting runs at about a million characters in 5 s: say so when a corpus is big.
    shown = Progress(sum(len(d.text) for d in todo), "chunking", "million characters",
                     scale=1e6, enabled=progress)
    out = {}
    for doc in todo:
        if doc.unread:  # taken from a record this index no longer has: read it first
            raise UnreadError(f"{doc.doc_id} must be read to be indexed again")
        if len(doc.text) >= BIG_DOCUMENT:
            shown.note(f"chunking {doc.doc_id} ({len(doc.text) / 1e6:,.1f} million "
                       f"characters)")
        out[doc.doc_id] = [(c, np.asarray(spans, dtype=np.int32).reshape(-1, 2))
                           for c, spans in chunker.segment(doc)]
        shown.update(len(doc.text))
    shown.close()
    return out


def _kept_segments(old: Index | None, docs: Sequence[Document], source: Mapping[str, str],
                   kind: str, new_rows: int, report: SyncReport) -> set[str]:
    """The old segments the new version keeps as they are: all of them, the biggest alone
    past MAX_SEGMENTS, none past MAX_DEAD dead rows or when the vector index type changes."""
    if old is None:
        return set()
    if old.kind != kind:
        report.rebuilt_because = report.rebuilt_because or f"vector index now {kind}"
        return set()
    kept_rows = sum(old.spans[d.doc_id][1] for d in docs if source.get(d.doc_id) == d.doc_id)
    total = old.total + new_rows
    if total and 1 - (kept_rows + new_rows) / total > MAX_DEAD:
        return set()
    if len(old.segments) + 1 > MAX_SEGMENTS:
        return {max(old.segments, key=lambda s: s.rows).name}
    return {s.name for s in old.segments}


@dataclass
class _Plan:
    """The new segment's rows in document order, with what is reused and what must be
    embedded, and where every document's rows are."""

    chunks: list[Chunk] = field(default_factory=list)
    vectors: list[np.ndarray | None] = field(default_factory=list)
    spans: list[np.ndarray] = field(default_factory=list)  # per chunk: (n, 2) sentence spans
    sentence_vectors: list[np.ndarray | None] = field(default_factory=list)  # (n, dim)
    todo: list[int] = field(default_factory=list)  # positions whose vectors are missing
    # Per document: (segment, first row, rows); segment None: the new one.
    placement: dict[str, tuple[str | None, int, int]] = field(default_factory=dict)
    dropped: dict[str, list[int]] = field(default_factory=dict)  # old live rows, by segment


def _plan(docs: Sequence[Document], old: Index | None, source: Mapping[str, str],
          fresh: Mapping[str, list[tuple[Chunk, np.ndarray]]], kept: set[str]) -> _Plan:
    """Where each document's rows will be: left in a kept segment, copied from the old index
    into the new segment (renamed, copied, or in a segment being merged), or new."""
    plan = _Plan()
    staying: set[str] = set()
    for doc in docs:
        src = source.get(doc.doc_id)
        if src is not None and old is not None:
            n = old.spans[src][1]
            if not n:
                plan.placement[doc.doc_id] = (None, 0, 0)
                continue
            name, first = old.placed[src]
            seg = old.named[name]
            if src == doc.doc_id and seg.name in kept:
                plan.placement[doc.doc_id] = (seg.name, first, n)
                staying.add(src)
                continue
            plan.placement[doc.doc_id] = (None, len(plan.chunks), n)
            for local in range(first, first + n):
                c = seg.chunk(local)
                plan.chunks.append(replace(c, chunk_id=f"{doc.doc_id}#{c.n}",
                                           doc_id=doc.doc_id))
                plan.vectors.append(np.asarray(seg.vectors[local], dtype=np.float32))
                spans, svecs = seg.sentences.of(local) if seg.sentences else (_NO_SPANS, None)
                plan.spans.append(spans)
                plan.sentence_vectors.append(svecs)
        else:
            plan.placement[doc.doc_id] = (None, len(plan.chunks), len(fresh[doc.doc_id]))
            for c, spans in fresh[doc.doc_id]:
                plan.todo.append(len(plan.chunks))
                plan.chunks.append(c)
                plan.vectors.append(None)
                plan.spans.append(spans)
                plan.sentence_vectors.append(None)
    if old is not None:  # rows live until now that no kept segment keeps placing
        for doc_id, (name, first) in old.placed.items():
            if name in kept and doc_id not in staying:
                n = old.spans[doc_id][1]
                plan.dropped.setdefault(name, []).extend(range(first, first + n))
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


def _write(root: Path, docs: Sequence[Document], old: Index | None, kept: set[str],
           plan: _Plan, embedder: Embedder, chunker: Chunker, kind: str,
           sentence_vectors: bool, timings: dict[str, float], corpus: list[str]) -> None:
    """Write a complete new version folder (kept segments linked, the new one written) and
    make it the live one."""
    tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        t = time.perf_counter()
        titles = {d.doc_id: d.title for d in docs}
        chunk_terms = [terms(chunker.index_text(c, titles[c.doc_id])) for c in plan.chunks]
        timings["bm25"] = time.perf_counter() - t
        t = time.perf_counter()
        segments: list[dict[str, Any]] = []
        df: Counter[str] = Counter()
        if old is not None and kept:
            for seg in old.segments:
                if seg.name in kept:
                    _link_tree(old.path / old.version / seg.name, tmp / seg.name)
                    segments.append({"name": seg.name, "rows": seg.rows})
            df = _kept_df(old, kept, plan.dropped)
        name = None
        if plan.chunks:
            name = f"s-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
            matrix = np.vstack(plan.vectors).astype(np.float32)
            params = Segment.write(tmp / name, plan.chunks, matrix, chunk_terms,
                                   plan.spans if sentence_vectors else None,
                                   plan.sentence_vectors if sentence_vectors else None, kind)
            segments.append({"name": name, "rows": len(plan.chunks), **params})
            df.update(t for ts in chunk_terms for t in set(ts))
        write_synced(tmp / "df.json", orjson.dumps({t: c for t, c in df.items() if c > 0}))
        manifest = _manifest(docs, plan, name, embedder, chunker, old)
        manifest["segments"] = segments
        manifest["vector_index"] = {"type": kind}
        manifest["sentences"] = sentence_vectors
        manifest["corpus"] = corpus
        # Sizes of the other files: a truncated file, or one copied from another build, is
        # caught at load by one stat each.
        manifest["files"] = {p.relative_to(tmp).as_posix(): p.stat().st_size
                             for p in sorted(tmp.rglob("*")) if p.is_file()}
        # orjson: a million chunk ids in 0.1 s (the json module took 0.9 s).
        write_synced(tmp / "manifest.json", orjson.dumps(manifest))
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


def _kept_df(old: Index, kept: set[str], dropped: Mapping[str, list[int]]) -> Counter[str]:
    """How many rows that stay live in the kept segments hold each term: the old counts less
    the rows that stop being live, and less every live row of a segment not kept (its live
    rows are copied into the new segment, which counts them again)."""
    df = Counter(old.df)
    for seg, first in zip(old.segments, old.firsts.tolist(), strict=False):
        gone = np.asarray(dropped.get(seg.name, []), dtype=np.int64) if seg.name in kept \
            else np.flatnonzero(old.alive[first:first + seg.rows])
        if len(gone):
            df.subtract(seg.terms.df(gone))
    return df


def _link_tree(src: Path, dst: Path) -> None:
    """`dst` as hard links to every file under `src` (a kept segment costs no copy)."""
    for p in sorted(src.rglob("*")):
        target = dst / p.relative_to(src)
        if p.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, target)


def _manifest(docs: Sequence[Document], plan: _Plan, new_segment: str | None,
              embedder: Embedder, chunker: Chunker, old: Index | None) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    previous = old.documents if old else {}
    recorded = old._manifest["documents"] if old else {}

    def since(d: Document) -> str:  # when this content was indexed
        prev = previous.get(d.doc_id)
        return prev.indexed_at if prev and prev.sha256 == d.sha256 else now

    def chunk_ids(d: Document) -> list[str]:
        seg, first, n = plan.placement[d.doc_id]
        if seg is None:  # rows in the new segment
            return [c.chunk_id for c in plan.chunks[first:first + n]]
        return list(previous[d.doc_id].chunks)

    def record(d: Document) -> dict[str, Any]:
        prev = previous.get(d.doc_id)
        # A file not read again (its record) whose rows stay put: the record as it was.
        if d.unread and prev and plan.placement[d.doc_id][0] and prev.access == d.access:
            return recorded[d.doc_id]
        return DocumentInfo.of(d, chunk_ids(d), since(d)).to_dict()

    documents = {d.doc_id: record(d) for d in docs}
    return {
        "format": FORMAT,
        "built_at": now,
        **built_with(embedder, chunker),
        "bm25": {"method": "lucene", "k1": BM25_K1, "b": BM25_B, "terms": TERMS},
        "counts": {"documents": len(docs),
                   "chunks": sum(len(d["chunks"]) for d in documents.values())},
        "documents": documents,
        # Where each document's rows start: (segment, row in it).
        "placement": {d.doc_id: [plan.placement[d.doc_id][0] or new_segment or "",
                                 plan.placement[d.doc_id][1]] for d in docs},
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
    return orjson.loads((_live_version(Path(folder)) / "manifest.json").read_bytes())


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
