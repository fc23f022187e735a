"""One suite, two stores: the local FAISS + BM25 index and a Milvus collection served by Milvus
Lite's gRPC server in another process (the client's network path, as with a cluster)."""

import json
import uuid

import pytest

from rag.config import Settings
from rag.errors import IndexMismatchError
from rag.pipeline import RAG, build
from rag.store import SyncReport, plan_sync
from rag.types import Document, DocumentInfo, Filters

from .conftest import MILVUS_SERVERS, ROOT, SEEDS, STORES, FakeEmbedder, milvus_uri


@pytest.fixture(params=STORES)
def settings(request, tmp_path) -> Settings:
    s = Settings(index_dir=str(tmp_path / "ix"), chunk_tokens=40, chunk_overlap=8, k=3,
                 sentence_vectors=False)
    if request.param != "local":
        s = s.with_(store="milvus", milvus_uri=milvus_uri(request, request.param),
                    milvus_collection=f"t{uuid.uuid4().hex[:12]}")
    return s


def _rag(s: Settings, emb: FakeEmbedder) -> RAG:
    return RAG.load(settings=s, embedder=emb)


def test_search_and_answer_find_the_passage(settings, corpus):
    emb = FakeEmbedder()
    report = build([corpus], settings=settings, embedder=emb)
    assert sorted(report.added) == ["apples.md", "rivers.txt", "sub/bees.txt"]
    rag = _rag(settings, emb)
    assert (len(rag.index.documents), rag.index.info.chunks) == (3, report.chunks_total)
    hits = rag.retriever.search(rag.query("Which is the longest river in the South Island?"))
    assert hits[0].chunk.doc_id == "rivers.txt" and "Clutha" in hits[0].chunk.text
    assert hits[0].title == "Rivers of the South Island"
    ans = rag.answer("Which is the longest river in the South Island?", threshold=0)
    assert "Clutha" in ans.answer and ans.citations[0].doc_id == "rivers.txt"
    assert rag.index.idf("appl") < rag.index.idf("zebra")  # a term it holds is commoner


def test_filters_are_applied_by_the_store(settings, corpus):
    emb = FakeEmbedder()
    build([corpus], settings=settings, embedder=emb)
    rag = _rag(settings, emb)
    q = rag.query("What grows in orchards and rivers?")
    only = rag.retriever.search(q, filters=Filters(doc_ids=("sub/bees.txt",)))
    assert only and {p.chunk.doc_id for p in only} == {"sub/bees.txt"}
    titled = rag.retriever.search(q, filters=Filters(title="APPLES"))
    assert titled and {p.chunk.doc_id for p in titled} == {"apples.md"}
    dated = rag.retriever.search(q, filters=Filters(date_from="2024-01-01"))
    assert dated and {p.chunk.doc_id for p in dated} == {"apples.md"}
    assert rag.retriever.search(q, filters=Filters(date_to="2023-12-31")) == []


def test_sync_is_incremental_and_deletes_by_document(settings, corpus):
    emb = FakeEmbedder()
    build([corpus], settings=settings, embedder=emb)
    before = emb.embedded
    again = build([corpus], settings=settings, embedder=emb)
    assert emb.embedded == before and sorted(again.kept) == ["apples.md", "rivers.txt",
                                                             "sub/bees.txt"]
    (corpus / "rivers.txt").write_text("The Waikato is the longest river in New Zealand.\n")
    (corpus / "sub" / "bees.txt").unlink()
    r = build([corpus], settings=settings, embedder=emb)
    assert r.changed == ["rivers.txt"] and r.removed == ["sub/bees.txt"]
    assert emb.embedded - before == r.chunks_embedded == 1
    rag = _rag(settings, emb)
    texts = " ".join(p.chunk.text for p in rag.retriever.search(
        rag.query("longest river pollinate bees Clutha Waikato"), k=10))
    assert "Waikato" in texts and "Clutha" not in texts and "pollinate" not in texts
    assert set(rag.index.documents) == {"apples.md", "rivers.txt"}


def test_a_replica_answers_from_a_build_made_elsewhere(settings, corpus):
    emb = FakeEmbedder()
    build([corpus], settings=settings, embedder=emb)
    replica = _rag(settings, emb)
    (corpus / "kiwi.txt").write_text("Kiwifruit grow on vines in the Bay of Plenty.\n")
    build([corpus], settings=settings, embedder=emb)  # another process, say
    ans = replica.answer("Where do kiwifruit grow?", threshold=0)
    assert "Bay of Plenty" in ans.answer and "kiwi.txt" in replica.index.documents


def test_an_index_built_with_another_model_is_refused(settings, corpus):
    build([corpus], settings=settings, embedder=FakeEmbedder())

    class Other(FakeEmbedder):
        name = "another-model"

    with pytest.raises(IndexMismatchError, match="another"):
        _rag(settings, Other())


@pytest.mark.slow
@pytest.mark.parametrize("server", MILVUS_SERVERS)
def test_every_seed_question_answers_the_same_from_milvus(request, server, seed_rag, tmp_path):
    """The real model on the seed set: each answer, its citations and its passages are the
    local store's, whether the engine (Milvus Lite) or the product (Milvus 2.3) scores BM25.
    Both indexes are built here with one embedder object, so only the store differs (ONNX
    Runtime's sums may differ in the last bits between sessions of other thread counts)."""
    emb = seed_rag.embedder
    here = Settings(index_dir=str(tmp_path / "ix"))
    s = Settings(store="milvus", milvus_uri=milvus_uri(request, server),
                 milvus_collection=f"seeds{uuid.uuid4().hex[:8]}")
    for settings in (here, s):
        build([SEEDS], settings=settings, embedder=emb)
    local, engine = (RAG.load(settings=x, embedder=emb) for x in (here, s))
    questions = [json.loads(line)["question"] for line in
                 (ROOT / "evals" / "seed.jsonl").read_text().splitlines() if line.strip()]
    assert len(questions) >= 50
    differ = []
    for q in questions:
        a, b = local.answer(q), engine.answer(q)
        if (a.answer, a.abstained, [c.chunk_id for c in a.citations],
                [p.chunk.chunk_id for p in a.passages]) != \
                (b.answer, b.abstained, [c.chunk_id for c in b.citations],
                 [p.chunk.chunk_id for p in b.passages]):
            differ.append((q, a.answer[:60], b.answer[:60]))
    assert not differ, differ


def test_store_settings_are_checked():
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="store must be one of local, milvus"):
        Settings(store="redis")
    with pytest.raises(ConfigError, match="needs milvus_uri"):
        RAG.load(settings=Settings(store="milvus"), embedder=FakeEmbedder())
    assert "secret" not in repr(Settings(milvus_token="secret"))


def test_sentence_vectors_come_back_with_the_passages(settings, corpus):
    from rag.text import sentence_spans

    s = settings.with_(sentence_vectors=True)
    emb = FakeEmbedder()
    build([corpus], settings=s, embedder=emb)
    rag = _rag(s, emb)
    for p in rag.retriever.search(rag.query("Which river flows to the sea?")):
        spans, vecs = rag.index.sentences_of(p.chunk)
        assert [tuple(x) for x in spans] == sentence_spans(p.chunk.text)
        for (a, b), v in zip(spans, vecs, strict=True):
            assert abs(float(v @ emb.encode_query(p.chunk.text[a:b])) - 1.0) < 2e-3
    before = emb.embedded
    rag.answer("Which river flows to the sea?", threshold=0)
    assert emb.embedded == before  # no sentence embedded: the question is a query


def test_the_index_records_its_corpus_and_builds_only_what_it_records(settings, corpus,
                                                                      tmp_path):
    """A bare build syncs the recorded folders from any working folder; other folders are an
    error naming both, unless --rebuild says to replace the corpus."""
    from rag.errors import CorpusError
    from rag.store import indexed_documents, recorded_corpus

    emb = FakeEmbedder()
    assert recorded_corpus(settings) is None
    build([corpus], settings=settings, embedder=emb)
    assert recorded_corpus(settings) == [str(corpus.resolve())]
    other = tmp_path / "other"
    other.mkdir()
    (other / "moa.txt").write_text("The moa was a flightless bird of New Zealand.\n")
    with pytest.raises(CorpusError, match=f"built from {corpus.resolve()}, not "
                                          f"{other.resolve()}.*--rebuild"):
        build([other], settings=settings, embedder=emb)
    assert set(indexed_documents(settings)) == {"apples.md", "rivers.txt", "sub/bees.txt"}
    (corpus / "sub" / "wasps.txt").write_text("Wasps build paper nests.\n")
    again = build(settings=settings.with_(corpus=("no-such-folder",)), embedder=emb)
    assert again.added == ["sub/wasps.txt"] and not again.removed
    replaced = build([other], settings=settings, embedder=emb, rebuild=True)
    assert set(indexed_documents(settings)) == {"moa.txt"} and replaced.rebuilt_because
    assert recorded_corpus(settings) == [str(other.resolve())]


def test_a_renamed_file_keeps_its_vectors_in_every_store(settings, corpus):
    emb = FakeEmbedder()
    first = build([corpus], settings=settings, embedder=emb)
    (corpus / "rivers.txt").rename(corpus / "south-island-rivers.txt")
    before = emb.embedded
    r = build([corpus], settings=settings, embedder=emb)
    assert r.renamed == [("rivers.txt", "south-island-rivers.txt")]
    assert (r.added, r.changed, r.removed) == ([], [], [])
    assert emb.embedded == before and r.chunks_embedded == 0
    assert r.chunks_total == first.chunks_total
    rag = _rag(settings, emb)
    docs = rag.index.documents
    assert set(docs) == {"apples.md", "south-island-rivers.txt", "sub/bees.txt"}
    moved = docs["south-island-rivers.txt"]
    assert moved.chunks and all(c.startswith("south-island-rivers.txt#") for c in moved.chunks)
    only = Filters(doc_ids=("south-island-rivers.txt",))
    hits = rag.retriever.search(rag.query("Which is the longest river in the South Island?"),
                                filters=only)
    assert hits and {p.chunk.doc_id for p in hits} == {"south-island-rivers.txt"}
    assert "Clutha" in hits[0].chunk.text
    assert not rag.retriever.search(rag.query("longest river"),
                                    filters=Filters(doc_ids=("rivers.txt",)))


def test_one_planner_tells_kept_changed_renamed_copied_and_removed_apart():
    def doc(doc_id, sha):
        return Document(doc_id, "text", doc_id, sha)

    def info(sha):
        return DocumentInfo(sha, "t")

    old = {"kept": info("k"), "edited": info("e"), "moved": info("m"), "gone": info("g")}
    report = SyncReport()
    source = plan_sync([doc("kept", "k"), doc("edited", "e2"), doc("new-name", "m"),
                        doc("copy-of-kept", "k"), doc("second-copy", "m"), doc("fresh", "f")],
                       old, report)
    assert report.kept == ["kept"] and report.changed == ["edited"]
    assert report.renamed == [("moved", "new-name")] and report.removed == ["gone"]
    assert report.added == ["copy-of-kept", "second-copy", "fresh"]
    assert source == {"kept": "kept", "new-name": "moved", "copy-of-kept": "kept",
                      "second-copy": "moved"}


def test_both_backends_have_the_one_backend_shape_and_are_chosen_by_the_settings(settings):
    import inspect

    from rag.store import backend
    from rag.store.base import Backend
    from rag.store.local import LocalBackend
    from rag.store.milvus import MilvusBackend

    shape = {n: inspect.signature(getattr(Backend, n)) for n in
             ("exists", "documents", "corpus", "sync", "open")}
    for cls in (LocalBackend, MilvusBackend):
        for name, sig in shape.items():
            assert list(inspect.signature(getattr(cls, name)).parameters) == \
                list(sig.parameters), (cls.__name__, name)
    chosen = backend(settings)
    assert type(chosen).__name__ == {"local": "LocalBackend", "milvus": "MilvusBackend"}[
        settings.store]
    assert not chosen.exists()


MILVUS_CRASH = """
import os, sys
sys.path[:0] = [{root!r}, {tests!r}]
from conftest import FakeEmbedder
from rag.config import Settings
from rag.pipeline import build
from rag.store import milvus
real = milvus.MilvusBackend._create
def dying(self, dim, bm25):
    real(self, dim, bm25)
    upsert = self.client.upsert
    def killed(name, rows):
        if name == self.name:  # the first chunk rows written, nothing else
            upsert(name, rows[:1])
            os._exit(9)
        upsert(name, rows)
    self.client.upsert = killed
milvus.MilvusBackend._create = dying
s = Settings(**{settings!r})
build([{corpus!r}], settings=s, embedder=FakeEmbedder())
"""


@pytest.mark.parametrize("server", MILVUS_SERVERS)
def test_a_sync_killed_mid_write_is_mended_by_the_next(request, server, corpus):
    """A Milvus sync cannot be one transaction: killed after its first write, the collection
    still opens and answers from what the last complete sync recorded, and the next sync
    finishes the work."""
    import subprocess
    import sys

    from .conftest import ROOT

    s = Settings(store="milvus", milvus_uri=milvus_uri(request, server),
                 milvus_collection=f"t{uuid.uuid4().hex[:12]}", chunk_tokens=40,
                 chunk_overlap=8, k=3, sentence_vectors=False)
    emb = FakeEmbedder()
    build([corpus], settings=s, embedder=emb)
    (corpus / "rivers.txt").write_text("The Waikato is the longest river in New Zealand. "
                                       "It drains Lake Taupo.\n")
    (corpus / "kiwi.txt").write_text("Kiwifruit grow on vines in the Bay of Plenty.\n")
    fields = {k: getattr(s, k) for k in ("store", "milvus_uri", "milvus_collection",
                                         "chunk_tokens", "chunk_overlap", "k",
                                         "sentence_vectors")}
    script = MILVUS_CRASH.format(root=str(ROOT), tests=str(ROOT / "tests"), settings=fields,
                                 corpus=str(corpus))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]
    half = _rag(s, emb)  # the documents table is the last complete sync's
    assert set(half.index.documents) == {"apples.md", "rivers.txt", "sub/bees.txt"}
    assert half.answer("Where do apples grow?", threshold=0).citations
    r = build([corpus], settings=s, embedder=emb)
    assert sorted(r.added) == ["kiwi.txt"] and r.changed == ["rivers.txt"]
    rag = _rag(s, emb)
    ans = rag.answer("Where do kiwifruit grow?", threshold=0)
    assert "Bay of Plenty" in ans.answer
    texts = " ".join(p.chunk.text for p in rag.retriever.search(
        rag.query("longest river Clutha Waikato kiwifruit"), k=10))
    assert "Waikato" in texts and "Clutha" not in texts
    ids = [p.chunk.chunk_id for p in rag.retriever.search(rag.query("river apples kiwi"), k=20)]
    assert len(ids) == len(set(ids))  # no row written twice


@pytest.mark.parametrize("server", MILVUS_SERVERS)
def test_collections_on_one_milvus_server_stay_apart(request, server, corpus, tmp_path):
    from rag.config import Collection

    other = tmp_path / "other"
    other.mkdir()
    (other / "kiwi.txt").write_text("Kiwifruit grow on vines in the Bay of Plenty.\n")
    base = Settings(store="milvus", milvus_uri=milvus_uri(request, server),
                    milvus_collection=f"t{uuid.uuid4().hex[:12]}", chunk_tokens=40,
                    chunk_overlap=8, k=3, sentence_vectors=False,
                    collections=(Collection("fruit", (str(corpus),), str(tmp_path / "a")),
                                 Collection("kiwi", (str(other),), str(tmp_path / "b"))))
    emb = FakeEmbedder()
    for name, folder in (("fruit", corpus), ("kiwi", other)):
        build([folder], settings=base.collection(name), embedder=emb)
    fruit, kiwi = (_rag(base.collection(n), emb) for n in ("fruit", "kiwi"))
    assert set(fruit.index.documents) == {"apples.md", "rivers.txt", "sub/bees.txt"}
    assert set(kiwi.index.documents) == {"kiwi.txt"}
    assert {p.chunk.doc_id for p in kiwi.retriever.search(kiwi.query("apples rivers"))} <= {
        "kiwi.txt"}


def test_who_scores_bm25_follows_the_server_and_the_collection():
    from rag.store.milvus import _mismatch, scored_by, server_version

    assert server_version("v2.3.5-lite") == (2, 3, 5) < (2, 5)
    assert server_version("2.5.0") >= (2, 5) and server_version("v2.6") >= (2, 5)
    assert server_version("unknown") >= (2, 5)  # unreadable: taken as the newest
    from rag.ingest.chunk import Chunker
    from rag.store.milvus import _meta

    emb, chunker = FakeEmbedder(), Chunker(40, 8)
    engine, product = (_meta(emb, chunker, False, who) for who in ("engine", "product"))
    assert scored_by(engine) == "engine" and scored_by(product) == "product"
    assert scored_by({"bm25": {}}) == "engine"  # collections built before the choice existed
    # An older server cannot answer from the engine's BM25; the product's works anywhere.
    assert "lacks" in _mismatch(engine, emb, chunker, False, "product")
    assert _mismatch(product, emb, chunker, False, "engine") is None
    assert _mismatch(engine, emb, chunker, False, "engine") is None
