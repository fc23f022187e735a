"""A Milvus collection as the index: for a corpus beyond one machine's memory, or several
chat-page replicas answering from one index.

Two collections: `<name>` holds a row per chunk (its vector, its BM25 terms, which Milvus turns
into a sparse vector with its own BM25 function, the chunk itself and its sentences' spans and
float16 vectors for the answer selector), `<name>_documents` a
row per document (hash, metadata, chunk ids, term counts) and one `/meta` row (model, chunker,
version). Dense and BM25 searches are fused in the engine by reciprocal rank (a list of weight
2 is sent twice: the same sum), with filters pushed down as expressions. Sync is incremental:
the chunks of changed or removed documents are deleted by document id and the changed ones
re-embedded, a renamed one keeps its rows under its new id (`plan_sync`, as in the local
store). The same code talks to Milvus Lite's local server (tests, one machine) and to a
Milvus Standalone or Distributed cluster; only `milvus_uri` differs.
"""

from __future__ import annotations

import base64
import json
import logging
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
    TERMS,
    Search,
    SearchParams,
    SyncReport,
    admitted,
    bm25_idf,
    built_with,
    embed_sentences,
    plan_sync,
    settings_mismatch,
)
from rag.text import terms
from rag.types import Chunk, Document, DocumentInfo, Filters, IndexInfo, Viewer

log = logging.getLogger("rag")

META = "/meta"  # a document id no relative path can take
BATCH = 256  # rows per upsert
MAX_TEXT = 60_000  # characters of a VARCHAR field (Milvus allows 65,535 bytes)
SENTENCE_CACHE = 20_000  # chunks whose sentence vectors are kept after a search


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
        except Exception as e:  # pymilvus raises its own and grpc's errors
            raise RagError(f"cannot reach Milvus at {settings.milvus_uri} "
                           f"({str(e).splitlines()[0][:160]})") from None

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
        problem = meta and _mismatch(meta, embedder, chunker, with_sentences)
        if rebuild or problem:
            report.rebuilt_because = "--rebuild" if rebuild else problem
            for name in (self.name, self.docs):
                self.client.drop_collection(name)
            meta = None
        self._create(embedder.dim)
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
                **_meta(embedder, chunker, with_sentences), "version": uuid.uuid4().hex,
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

    def _create(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        if not c.has_collection(self.name):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=4096)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=4096)
            schema.add_field("terms", DataType.VARCHAR, max_length=65_535, enable_analyzer=True)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
            schema.add_field("title_lc", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("date", DataType.VARCHAR, max_length=64)
            schema.add_field("chunk", DataType.JSON)
            schema.add_field("sentences", DataType.JSON)  # spans, float16 vectors (base64)
            # The engine's BM25 over our own terms (stemmed, stop words dropped), so both
            # stores rank by the same words.
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                         input_field_names=["terms"],
                                         output_field_names=["sparse"]))
            index = c.prepare_index_params()
            index.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                            params={"M": 32, "efConstruction": 80})
            index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                            metric_type="BM25")
            c.create_collection(self.name, schema=schema, index_params=index)
        if not c.has_collection(self.docs):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=4096)
            schema.add_field("info", DataType.JSON)
            schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector
            index = c.prepare_index_params()
            index.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
            c.create_collection(self.docs, schema=schema, index_params=index)
        for name in (self.name, self.docs):
            c.load_collection(name)

    # -- reading -----------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.client.has_collection(self.docs) and bool(self.meta())

    def version(self) -> str | None:
        """The version the last sync wrote (a cheap check before each question)."""
        try:
            return (self.meta() or {}).get("version")
        except Exception:  # a server that went away: keep answering from what is loaded
            return None

    def open(self, embedder: Embedder, chunker: Chunker) -> EngineIndex:
        if not self.client.has_collection(self.docs) or not (meta := self.meta()):
            raise IndexMissingError(f"no index in the Milvus collection {self.name}; run "
                                    f"`rag build` with store = milvus first")
        problem = _mismatch(meta, embedder, chunker, self.settings.sentence_vectors)
        if problem:
            raise IndexMismatchError(f"the Milvus collection {self.name} was built {problem}; "
                                     f"run `rag build --rebuild`")
        return EngineIndex(self, meta, self._document_rows())

    def meta(self) -> dict[str, Any] | None:
        """The build record: model, chunker, version, corpus (None before the first sync)."""
        rows = self.client.query(self.docs, filter=f'doc_id == "{META}"', output_fields=["info"])
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
        """One hybrid search: every dense and BM25 request fused by the engine's RRF, the
        viewer's access pushed down as a filter expression."""
        from pymilvus import AnnSearchRequest, RRFRanker

        s = params
        dim = self.info.dim
        expr = filter_expression(filters)
        if viewer is not None and not viewer.everything:
            ok = admitted(self.documents, None, viewer)
            if ok is not None and not ok:
                return [], np.zeros((0, dim), dtype=np.float32)
            if ok is not None:  # the shorter list: the readable or the unreadable documents
                other = sorted(set(self.documents) - ok)
                rule = f"doc_id in {_list(sorted(ok))}" if len(ok) <= len(other) \
                    else f"doc_id not in {_list(other)}"
                expr = f"({expr}) and {rule}" if expr else rule
        reqs = []
        for vec, q_terms in searches:
            dense = AnnSearchRequest([np.asarray(vec, dtype=np.float32).tolist()], "dense",
                                     {"metric_type": "IP", "params": {"ef": max(64, s.candidates)}},
                                     s.candidates, expr or None)
            reqs += [dense] * int(s.dense_weight)
            if q_terms:
                bm25 = AnnSearchRequest([" ".join(q_terms)], "sparse", {"metric_type": "BM25"},
                                        s.candidates, expr or None)
                reqs += [bm25] * int(s.bm25_weight)
        if not reqs:
            return [], np.zeros((0, dim), dtype=np.float32)
        hits = self.store.client.hybrid_search(self.store.name, reqs, RRFRanker(s.rrf_k),
                                               limit=size,
                                               output_fields=["chunk", "dense", "sentences"])[0]
        chunks = [Chunk(**h["entity"]["chunk"]) for h in hits]
        for c, h in zip(chunks, hits, strict=True):
            self._remember(c, h["entity"].get("sentences") or {})
        vecs = np.asarray([h["entity"]["dense"] for h in hits], dtype=np.float32)
        return chunks, vecs.reshape(len(chunks), dim)


def filter_expression(filters: Filters | None) -> str:
    """`Filters` as a Milvus boolean expression ("" for none)."""
    if filters is None:
        return ""
    parts = []
    if filters.doc_ids:
        parts.append(f"doc_id in {_list(filters.doc_ids)}")
    if filters.title:
        pattern = filters.title.lower().replace("\\", "\\\\").replace("%", "\\%")
        parts.append(f"title_lc like {json.dumps('%' + pattern + '%')}")
    if filters.date_from or filters.date_to:
        parts.append('date != ""')
    if filters.date_from:
        parts.append(f"date >= {json.dumps(filters.date_from[:10])}")
    if filters.date_to:
        parts.append(f"date <= {json.dumps(filters.date_to[:10])}")
    return " and ".join(parts)


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


def _meta(embedder: Embedder, chunker: Chunker, sentences: bool) -> dict[str, Any]:
    return {**built_with(embedder, chunker), "sentences": sentences, "bm25": {"terms": TERMS}}


def _mismatch(meta: dict[str, Any], embedder: Embedder, chunker: Chunker, sentences: bool
              ) -> str | None:
    if meta.get("sentences") != sentences:
        return (f"{'with' if meta.get('sentences') else 'without'} sentence vectors "
                f"(configured: sentence_vectors = {str(sentences).lower()})")
    return settings_mismatch(meta, embedder, chunker)
