"""A Milvus collection as the index: for a corpus beyond one machine's memory, or several
chat-page replicas answering from one index.

Two collections: `<name>` holds a row per chunk (its vector, its BM25 terms, the chunk itself
and its sentences' spans and float16 vectors for the answer selector), `<name>_documents` a
row per document (hash, metadata, chunk ids, term counts) and one `/meta` row (model, chunker,
version, who scores BM25).

BM25 is scored where the server can: Milvus 2.5 and later (and Milvus Lite 3) turn the terms
into a sparse vector with their own BM25 function, and dense and BM25 searches are fused in the
engine by reciprocal rank (a list of weight 2 is sent twice: the same sum). Older servers (2.3,
2.4) have no BM25: the engine runs the dense search and this process scores BM25 over the
terms it reads at open, then fuses both lists exactly as the local store does. Either way,
filters and access are pushed down as expressions. Sync is incremental:
the chunks of changed or removed documents are deleted by document id and the changed ones
re-embedded, a renamed one keeps its rows under its new id (`plan_sync`, as in the local
store). The same code talks to Milvus Lite's local server (tests, one machine) and to a
Milvus Standalone or Distributed cluster; only `milvus_uri` differs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from rag.cache import LRU
from rag.config import Settings
from rag.embed import Embedder
from rag.errors import (
    ConfigError,
    IndexMismatchError,
    IndexMissingError,
    RagError,
    UnreadError,
)
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
from rag.store.segment import Terms, bm25_scores, term_weights, top_scores
from rag.text import terms
from rag.types import Chunk, Document, DocumentInfo, Filters, IndexInfo, Viewer

log = logging.getLogger("rag")

META = "/meta"  # a document id no relative path can take
BATCH = 256  # rows per upsert
MAX_TEXT = 60_000  # characters of a VARCHAR field (Milvus allows 65,535 bytes)
SENTENCE_CACHE = 20_000  # chunks whose sentence vectors are kept after a search
# Reads made while answering. Strong reads wait for the server's next time tick (about 400 ms
# a request on Milvus 2.3 standalone, measured); what an opened index reads, and every read of
# a sync, stays Strong (the collections' default), so an index is opened complete, and the
# version check sees a sync within a tick.
ANSWERING = "Session"
ENGINE_BM25_FROM = (2, 5)  # the first Milvus with a BM25 function and sparse vectors


class MilvusBackend:
    """One collection pair on one Milvus server, as a `Backend`."""

    def __init__(self, settings: Settings) -> None:
        if not settings.milvus_uri:
            raise ConfigError("store = milvus needs milvus_uri (e.g. http://127.0.0.1:19530)")
        for name in ("dense_weight", "bm25_weight"):
            w = getattr(settings, name)
            if w < 0 or w != int(w):
                raise ConfigError(f"store = milvus fuses in the engine and needs a whole-number "
                                  f"{name} (got {w})")
        self.settings = settings
        self.name = settings.milvus_collection
        # pymilvus warns when Milvus Lite gives its iterator no timestamp: not our reader's news.
        logging.getLogger("pymilvus").setLevel(logging.ERROR)
        self.docs = f"{self.name}_documents"
        try:
            from pymilvus import MilvusClient

            self.client = MilvusClient(uri=settings.milvus_uri, token=settings.milvus_token,
                                       timeout=30)
            self.server = self.client.get_server_version()
        except Exception as e:  # pymilvus raises its own and grpc's errors
            raise RagError(f"cannot reach Milvus at {settings.milvus_uri} "
                           f"({str(e).splitlines()[0][:160]})") from None
        # Who scores BM25 in a collection this server creates: the engine, or this process.
        self.bm25 = "engine" if server_version(self.server) >= ENGINE_BM25_FROM else "product"

    # -- writing -----------------------------------------------------------------------------
    def sync(self, docs: Sequence[Document], embedder: Embedder, chunker: Chunker,
             rebuild: bool = False, progress: bool = False, corpus: Sequence[str] = ()
             ) -> SyncReport:
        """Bring the collections in line with `docs`, embedding only new or changed text;
        `corpus` (where `docs` came from) is recorded."""
        t0 = time.perf_counter()
        report = SyncReport()
        with_sentences = self.settings.sentence_vectors
        meta = self.meta() if self.client.has_collection(self.docs) else None
        problem = meta and _mismatch(meta, embedder, chunker, with_sentences, self.bm25)
        if rebuild or problem:
            report.rebuilt_because = "--rebuild" if rebuild else problem
            for name in (self.name, self.docs):
                self.client.drop_collection(name)
            meta = None
        # A collection keeps who scores its BM25; a new one takes what the server can do.
        bm25 = scored_by(meta) if meta else self.bm25
        self._create(embedder.dim, bm25)
        old = self._document_rows() if meta else {}
        source = plan_sync(docs, {d: DocumentInfo.from_dict(i) for d, i in old.items()}, report)
        new = {d.doc_id: d for d in docs}
        todo = [d for d in docs if d.doc_id not in source]
        if any(d.unread for d in todo):  # taken from a record the store no longer has
            raise UnreadError("documents taken unread must be read to be indexed again")
        copies = {d: src for d, src in source.items() if d != src}  # renamed or copied
        t = time.perf_counter()
        segments = [seg for d in todo for seg in chunker.segment(d)]
        chunks = [c for c, _ in segments]
        report.timings["chunk"] = time.perf_counter() - t
        titles = {d.doc_id: d.title for d in docs}
        texts = [chunker.index_text(c, titles[c.doc_id]) for c in chunks]
        t = time.perf_counter()
        vecs = embedder.encode_documents(texts, progress=progress)
        report.timings["embed"] = time.perf_counter() - t
        t = time.perf_counter()
        sentences = _sentence_rows(segments, embedder, progress) \
            if with_sentences else [{} for _ in segments]
        report.timings["sentences"] = time.perf_counter() - t
        t = time.perf_counter()
        chunk_terms = [terms(text) for text in texts]
        rows = [_chunk_row(c, ts, v, new[c.doc_id], sent)
                for c, ts, v, sent in zip(chunks, chunk_terms, vecs, sentences, strict=True)]
        # A renamed or copied document's rows, read before any delete, under its new id.
        rows += [_moved_row(row, new[row["doc_id"]]) for row in self._chunk_rows(copies)]
        # Old rows go first (of a removed, changed, renamed or half-synced document).
        gone = report.removed + report.changed + report.added + [a for a, _ in report.renamed]
        for i in range(0, len(gone), BATCH):
            self.client.delete(self.name, filter=f"doc_id in {_list(gone[i:i + BATCH])}")
        for i in range(0, len(rows), BATCH):
            self.client.upsert(self.name, rows[i:i + BATCH])
        now = datetime.now(UTC).isoformat(timespec="seconds")
        df: dict[str, Counter[str]] = {d.doc_id: Counter() for d in todo}
        for c, ts in zip(chunks, chunk_terms, strict=True):
            df[c.doc_id].update(set(ts))
        per_doc: dict[str, list[str]] = {d.doc_id: [] for d in todo}
        for c in chunks:
            per_doc[c.doc_id].append(c.chunk_id)
        doc_rows = [_doc_row(d.doc_id, {**DocumentInfo.of(d, per_doc[d.doc_id], now).to_dict(),
                                        "df": df[d.doc_id]}) for d in todo]
        for doc_id in report.relabeled:
            doc_rows.append(_doc_row(doc_id, {**old[doc_id], "access": new[doc_id].access}))
        for doc_id, src in copies.items():
            was = old[src]
            moved = [f"{doc_id}#{cid.rsplit('#', 1)[1]}" for cid in was["chunks"]]
            doc_rows.append(_doc_row(doc_id, {
                **DocumentInfo.of(new[doc_id], moved, was["indexed_at"]).to_dict(),
                "df": was.get("df", {})}))
        for i in range(0, len(doc_rows), BATCH):
            self.client.upsert(self.docs, doc_rows[i:i + BATCH])
        dropped = report.removed + [a for a, _ in report.renamed]
        for i in range(0, len(dropped), BATCH):
            self.client.delete(self.docs, filter=f"doc_id in {_list(dropped[i:i + BATCH])}")
        if report.wrote or meta is None or meta.get("corpus") != list(corpus):
            self.client.upsert(self.docs, [_doc_row(META, {
                **_meta(embedder, chunker, with_sentences, bm25),
                "version": uuid.uuid4().hex,
                "built_at": now, "corpus": list(corpus),
                "documents": len(docs)})])
        report.timings["write"] = time.perf_counter() - t
        report.chunks_embedded = len(chunks)
        report.chunks_total = sum(len(old[source[d]]["chunks"]) for d in source) + len(chunks)
        report.seconds = time.perf_counter() - t0
        return report

    def _chunk_rows(self, copies: Mapping[str, str]) -> list[dict[str, Any]]:
        """The chunk rows of the documents `copies` takes from, once per new document."""
        wanted: dict[str, list[str]] = {}
        for new_id, src in copies.items():
            wanted.setdefault(src, []).append(new_id)
        out: list[dict[str, Any]] = []
        sources = list(wanted)
        for i in range(0, len(sources), BATCH):
            it = self.client.query_iterator(
                self.name, batch_size=1000, filter=f"doc_id in {_list(sources[i:i + BATCH])}",
                output_fields=["doc_id", "terms", "dense", "chunk", "sentences"])
            while batch := it.next():
                out += [{**r, "doc_id": new_id} for r in batch for new_id in wanted[r["doc_id"]]]
            it.close()
        return out

    def _create(self, dim: int, bm25: str) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        engine = bm25 == "engine"
        if not c.has_collection(self.name):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=4096)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=4096)
            schema.add_field("terms", DataType.VARCHAR, max_length=65_535,
                             **({"enable_analyzer": True} if engine else {}))
            if engine:
                schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
            # Title and date, for people who query the collection; filters go as document ids.
            schema.add_field("title_lc", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("date", DataType.VARCHAR, max_length=64)
            schema.add_field("chunk", DataType.JSON)
            schema.add_field("sentences", DataType.JSON)  # spans, float16 vectors (base64)
            index = c.prepare_index_params()
            index.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                            params={"M": 32, "efConstruction": 80})
            if engine:
                # The engine's BM25 over our own terms (stemmed, stop words dropped), so both
                # stores rank by the same words.
                schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                             input_field_names=["terms"],
                                             output_field_names=["sparse"]))
                index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                                metric_type="BM25")
            # Strong: a search right after a sync sees it (Milvus 2.3 bounds staleness by
            # default, so a deleted row could still be found).
            c.create_collection(self.name, schema=schema, index_params=index,
                                consistency_level="Strong")
        if not c.has_collection(self.docs):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=4096)
            schema.add_field("info", DataType.JSON)
            schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector
            index = c.prepare_index_params()
            index.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
            c.create_collection(self.docs, schema=schema, index_params=index,
                                consistency_level="Strong")
        for name in (self.name, self.docs):
            c.load_collection(name)

    # -- reading -----------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.client.has_collection(self.docs) and bool(self.meta())

    def version(self) -> str | None:
        """The version the last sync wrote (a cheap check before each question)."""
        try:
            return (self.meta(ANSWERING) or {}).get("version")
        except Exception:  # a server that went away: keep answering from what is loaded
            return None

    def open(self, embedder: Embedder, chunker: Chunker) -> EngineIndex:
        if not self.client.has_collection(self.docs) or not (meta := self.meta()):
            raise IndexMissingError(f"no index in the Milvus collection {self.name}; run "
                                    f"`rag build` with store = milvus first")
        # A collection keeps the BM25 it was built with (a server upgraded to 2.5 goes on
        # answering from an older build); one that needs the engine's needs a server with it.
        problem = _mismatch(meta, embedder, chunker, self.settings.sentence_vectors, self.bm25)
        if problem:
            raise IndexMismatchError(f"the Milvus collection {self.name} was built {problem}; "
                                     f"run `rag build --rebuild`")
        return EngineIndex(self, meta, self._document_rows())

    def meta(self, consistency: str = "Strong") -> dict[str, Any] | None:
        """The build record: model, chunker, version, corpus (None before the first sync)."""
        rows = self.client.query(self.docs, filter=f'doc_id == "{META}"', output_fields=["info"],
                                 consistency_level=consistency)
        return rows[0]["info"] if rows else None

    def corpus(self) -> list[str] | None:
        return (self.meta() or {}).get("corpus")

    def documents(self) -> dict[str, DocumentInfo]:
        """What the collection records per document."""
        return {d: DocumentInfo.from_dict(info) for d, info in self._document_rows().items()}

    def _document_rows(self) -> dict[str, dict[str, Any]]:
        """Per document its stored record, with its chunks' term counts (`df`)."""
        out = {}
        it = self.client.query_iterator(self.docs, batch_size=1000,
                                        filter=f'doc_id != "{META}"',
                                        output_fields=["doc_id", "info"])
        while batch := it.next():
            out.update({r["doc_id"]: r["info"] for r in batch})
        it.close()
        return out


class EngineIndex:
    """What the retriever and the generators read, answered by Milvus."""

    kind = "milvus"

    def __init__(self, store: MilvusBackend, meta: dict[str, Any],
                 rows: Mapping[str, Mapping[str, Any]]) -> None:
        self.store = store
        self.version = meta["version"]
        self.path = f"{store.settings.milvus_uri} ({store.name})"
        self.df: Counter[str] = Counter()
        for row in rows.values():
            self.df.update(row.get("df", {}))
        documents = {doc_id: DocumentInfo.from_dict(row) for doc_id, row in rows.items()}
        self.info = IndexInfo(documents, sum(len(info.chunks) for info in documents.values()),
                              meta["built_at"],
                              meta["embedding"]["model"], meta["embedding"]["dim"],
                              tuple(meta.get("corpus") or ()), "milvus")
        # Sentence spans and vectors of recently retrieved chunks, for the answer selector.
        self._sentences: LRU[str, tuple[str, np.ndarray, np.ndarray]] = LRU(SENTENCE_CACHE)
        self.scored_by = scored_by(meta)
        if self.scored_by == "product":
            self._terms = ProductBM25.read(store, documents)


    @property
    def documents(self) -> Mapping[str, DocumentInfo]:
        return self.info.documents

    def live(self) -> str | None:
        return self.store.version()

    def reopen(self, embedder: Embedder, chunker: Chunker) -> EngineIndex:
        return self.store.open(embedder, chunker)

    def idf(self, term: str) -> float:
        return bm25_idf(self.info.chunks, self.df.get(term, 0))

    def sentences_of(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray] | None:
        """Sentence spans and vectors of a chunk this index returned lately, or None."""
        hit = self._sentences.get(chunk.chunk_id)
        if hit is None or hit[0] != chunk.text:
            return None
        return hit[1], hit[2]

    def _remember(self, chunk: Chunk, sentences: dict[str, Any]) -> None:
        if not sentences.get("spans"):
            return
        dim = self.info.dim
        spans = np.asarray(sentences["spans"], dtype=np.int32).reshape(-1, 2)
        vecs = np.frombuffer(base64.b64decode(sentences["f16"]), dtype=np.float16)
        self._sentences.put(chunk.chunk_id, (chunk.text, spans, vecs.reshape(-1, dim)))

    def candidates(self, searches: Sequence[Search], size: int, filters: Filters | None,
                   params: SearchParams, viewer: Viewer | None = None
                   ) -> tuple[list[Chunk], np.ndarray]:
        """One hybrid search: every dense and BM25 list fused by reciprocal rank, the filters
        and the viewer's access pushed down as a filter expression. The engine fuses when it
        scores BM25; otherwise its dense lists are fused here with this process's BM25."""
        dim = self.info.dim
        nothing = [], np.zeros((0, dim), dtype=np.float32)
        # Filters and access are decided per document, as in the local store, and sent as
        # the shorter list: the admitted documents or the others. (Milvus before 2.4 matches
        # no infix `like`, so a title filter cannot go as an expression of its own.)
        ok = admitted(self.documents, filters, viewer)
        if ok is not None and not ok:
            return nothing
        expr = ""
        if ok is not None:
            other = sorted(set(self.documents) - ok)
            expr = f"doc_id in {_list(sorted(ok))}" if len(ok) <= len(other) \
                else f"doc_id not in {_list(other)}"
        if self.scored_by == "product":
            ids = self._fused_here(searches, size, expr, ok, params)
            rows = self._rows(ids)
        else:
            rows = self._fused_by_engine(searches, size, expr, params)
        chunks = [Chunk(**r["chunk"]) for r in rows]
        for c, r in zip(chunks, rows, strict=True):
            self._remember(c, r.get("sentences") or {})
        vecs = np.asarray([r["dense"] for r in rows], dtype=np.float32)
        return chunks, vecs.reshape(len(chunks), dim)

    def _fused_by_engine(self, searches: Sequence[Search], size: int, expr: str,
                         params: SearchParams) -> list[dict[str, Any]]:
        from pymilvus import AnnSearchRequest, RRFRanker

        s = params
        reqs = []
        for vec, q_terms in searches:
            dense = AnnSearchRequest([np.asarray(vec, dtype=np.float32).tolist()], "dense",
                                     _dense_params(s.candidates), s.candidates, expr or None)
            reqs += [dense] * int(s.dense_weight)
            if q_terms:
                bm25 = AnnSearchRequest([" ".join(q_terms)], "sparse", {"metric_type": "BM25"},
                                        s.candidates, expr or None)
                reqs += [bm25] * int(s.bm25_weight)
        if not reqs:
            return []
        hits = self.store.client.hybrid_search(self.store.name, reqs, RRFRanker(s.rrf_k),
                                               limit=size,
                                               output_fields=["chunk", "dense", "sentences"],
                                               consistency_level=ANSWERING)[0]
        return [h["entity"] for h in hits]

    def _fused_here(self, searches: Sequence[Search], size: int, expr: str,
                    ok: set[str] | None, params: SearchParams) -> list[str]:
        """The engine's dense lists and this process's BM25 lists, fused as the local store
        fuses them (`rrf` over the same rows, the same weights)."""
        s, terms_ = params, self._terms
        allowed = terms_.rows_of(ok)
        lists, weights = [], []
        for vec, q_terms in searches:
            hits = self.store.client.search(
                self.store.name, [np.asarray(vec, dtype=np.float32).tolist()],
                anns_field="dense", limit=s.candidates, filter=expr or "",
                search_params=_dense_params(s.candidates), output_fields=["chunk_id"],
                consistency_level=ANSWERING)[0]
            lists.append([terms_.row[h["id"]] for h in hits if h["id"] in terms_.row])
            lists.append([r for r, _ in terms_.search(q_terms, s.candidates, allowed)])
            weights += [s.dense_weight, s.bm25_weight]
        return [terms_.ids[r] for r, _ in rrf(lists, weights, s.rrf_k)[:size]]

    def _rows(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The stored rows of some chunks, in the order asked."""
        if not ids:
            return []
        found = self.store.client.query(self.store.name, filter=f"chunk_id in {_list(ids)}",
                                        output_fields=["chunk_id", "chunk", "dense",
                                                       "sentences"],
                                        consistency_level=ANSWERING)
        by_id = {r["chunk_id"]: r for r in found}
        return [by_id[i] for i in ids if i in by_id]


class ProductBM25:
    """BM25 over a collection's chunk terms, scored in this process (for servers without
    Milvus's BM25) exactly as the local store scores a segment. Rows follow the documents'
    order and each document's chunk order."""

    def __init__(self, ids: list[str], doc_rows: dict[str, np.ndarray], counts: Terms) -> None:
        self.ids, self.doc_rows, self.counts = ids, doc_rows, counts
        self.row = {cid: i for i, cid in enumerate(ids)}
        self.df = counts.df()
        avgdl = float(np.mean(counts.lengths)) if ids else 1.0
        self.weights = term_weights(counts, avgdl, BM25_K1, BM25_B)

    @classmethod
    def read(cls, store: MilvusBackend, documents: Mapping[str, DocumentInfo]) -> ProductBM25:
        stored: dict[str, list[str]] = {}
        it = store.client.query_iterator(store.name, batch_size=1000, filter='doc_id != ""',
                                         output_fields=["chunk_id", "terms"])
        while batch := it.next():
            stored.update({r["chunk_id"]: r["terms"].split() for r in batch})
        it.close()
        ids, doc_rows = [], {}
        for doc_id in sorted(documents):
            have = [c for c in documents[doc_id].chunks if c in stored]
            doc_rows[doc_id] = np.arange(len(ids), len(ids) + len(have), dtype=np.int64)
            ids += have
        return cls(ids, doc_rows, Terms.build([stored[c] for c in ids]))

    def rows_of(self, docs: set[str] | None) -> np.ndarray | None:
        """The rows of some documents; None: every row."""
        if docs is None:
            return None
        rows = [self.doc_rows[d] for d in docs if d in self.doc_rows]
        return np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)

    def search(self, query_terms: Sequence[str], n: int, allowed: np.ndarray | None
               ) -> list[tuple[int, float]]:
        """Top `n` rows by BM25 (of `allowed` rows when given); rows scoring 0 left out."""
        if not self.ids or not any(self.df.get(t) for t in query_terms):
            return []
        scores = bm25_scores([(self.counts, 0, self.weights)], len(self.ids), query_terms,
                             self.df, len(self.ids))
        if allowed is not None:
            mask = np.zeros(len(self.ids), dtype=bool)
            mask[allowed] = True
            scores[~mask] = 0
        return top_scores(scores, n)


def _dense_params(candidates: int) -> dict[str, Any]:
    return {"metric_type": "IP", "params": {"ef": max(64, candidates)}}


def _list(values: Sequence[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def _chunk_row(c: Chunk, chunk_terms: list[str], vec: np.ndarray, doc: Document,
               sentences: dict[str, Any]) -> dict[str, Any]:
    return {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "terms": " ".join(chunk_terms),
            "dense": np.asarray(vec, dtype=np.float32).tolist(),
            "title_lc": doc.title.lower()[:MAX_TEXT], "date": (doc.date or "")[:10],
            "chunk": {**c.__dict__, "breaks": list(c.breaks)}, "sentences": sentences}


def _sentence_rows(segments: Sequence[tuple[Chunk, list[tuple[int, int]]]],
                   embedder: Embedder, progress: bool) -> list[dict[str, Any]]:
    """Per chunk its sentence spans and float16 vectors (base64), as the local store has them."""
    vecs = embed_sentences([(c.text, spans) for c, spans in segments], embedder, progress)
    return [{"spans": [list(sp) for sp in spans],
             "f16": base64.b64encode(v.tobytes()).decode("ascii")}
            for (_, spans), v in zip(segments, vecs, strict=True)]


def _moved_row(row: dict[str, Any], doc: Document) -> dict[str, Any]:
    """A stored chunk row under `doc`'s id (same text and vectors; title and date follow the
    document)."""
    c = Chunk(**row["chunk"])
    c = replace(c, chunk_id=f"{doc.doc_id}#{c.n}", doc_id=doc.doc_id)
    return _chunk_row(c, row["terms"].split(" "), row["dense"], doc, row["sentences"])


def _doc_row(doc_id: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"doc_id": doc_id, "info": info, "unused": [0.0, 0.0]}


def _meta(embedder: Embedder, chunker: Chunker, sentences: bool, bm25: str) -> dict[str, Any]:
    return {**built_with(embedder, chunker), "sentences": sentences,
            "bm25": {"terms": TERMS, "scored_by": bm25}}


def scored_by(meta: Mapping[str, Any]) -> str:
    """Who scores a collection's BM25: "engine" (its sparse field) or "product"."""
    return meta.get("bm25", {}).get("scored_by", "engine")


def server_version(text: str) -> tuple[int, ...]:
    """"v2.3.5-lite" -> (2, 3, 5); what cannot be read is taken as the newest."""
    found = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g or 0) for g in found.groups()) if found else (99,)


def _mismatch(meta: dict[str, Any], embedder: Embedder, chunker: Chunker, sentences: bool,
              bm25: str) -> str | None:
    """What makes a collection unusable here; `bm25` is what the server can score."""
    if scored_by(meta) == "engine" and bm25 != "engine":
        return "with the engine's BM25, which this Milvus server lacks (2.5 or later has it)"
    if meta.get("sentences") != sentences:
        return (f"{'with' if meta.get('sentences') else 'without'} sentence vectors "
                f"(configured: sentence_vectors = {str(sentences).lower()})")
    return settings_mismatch(meta, embedder, chunker)
