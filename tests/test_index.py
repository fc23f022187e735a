import json
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexMismatchError, IndexMissingError
from rag.ingest.chunk import Chunker
from rag.ingest.load import load_documents
from rag.store.local import Index, read_manifest, sync
from rag.types import Chunk

from .conftest import ROOT, FakeEmbedder

CHUNKER = Chunker(40, 8)


def _sync(corpus: Path, folder: Path, emb: FakeEmbedder, **kw):
    # Sentence vectors off unless a test asks: then `emb.embedded` counts chunks alone.
    kw.setdefault("sentence_vectors", False)
    return sync(load_documents([corpus]), folder, emb, CHUNKER, **kw)


def _load(folder: Path, emb: FakeEmbedder) -> Index:
    return Index.load(folder, emb, CHUNKER)


def test_build_writes_a_consistent_self_describing_index(corpus, tmp_path, fake_embedder):
    r = _sync(corpus, tmp_path / "ix", fake_embedder)
    assert sorted(r.added) == ["apples.md", "rivers.txt", "sub/bees.txt"]
    ix = _load(tmp_path / "ix", fake_embedder)
    assert ix.total == len(ix.chunks) == r.chunks_total == fake_embedder.embedded
    m = read_manifest(tmp_path / "ix")  # the record on disk
    assert m["embedding"] == {"model": "fake-hash-embedder", "dim": 64}
    assert m["chunker"]["max_tokens"] == 40
    assert set(m["documents"]) == {"apples.md", "rivers.txt", "sub/bees.txt"}
    for c in ix.chunks:  # chunk ids are doc_id#n and the manifest lists them
        assert c.chunk_id == f"{c.doc_id}#{c.n}"
        assert c.chunk_id in m["documents"][c.doc_id]["chunks"]


def test_second_build_embeds_nothing_and_writes_nothing(corpus, tmp_path, fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    live = (tmp_path / "ix" / "CURRENT").read_text()
    before = fake_embedder.embedded
    r = _sync(corpus, tmp_path / "ix", fake_embedder)
    assert fake_embedder.embedded == before and r.chunks_embedded == 0
    assert len(r.kept) == 3 and not r.wrote
    assert (tmp_path / "ix" / "CURRENT").read_text() == live


def test_changed_document_alone_is_re_embedded(corpus, tmp_path, fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    (corpus / "rivers.txt").write_text("The Waikato is the longest river in New Zealand.\n")
    before = fake_embedder.embedded
    r = _sync(corpus, tmp_path / "ix", fake_embedder)
    assert r.changed == ["rivers.txt"] and sorted(r.kept) == ["apples.md", "sub/bees.txt"]
    assert fake_embedder.embedded - before == r.chunks_embedded == 1
    ix = _load(tmp_path / "ix", fake_embedder)
    texts = " ".join(c.text for c in ix.chunks)
    assert "Waikato" in texts and "Clutha" not in texts
    # The vectors still line up with the chunk table.
    for c in ix.chunks:
        assert np.allclose(ix.vector_rows([ix.row(c.chunk_id)])[0],
                           fake_embedder.encode_query(c.text))


def test_removed_document_disappears_from_every_part(corpus, tmp_path, fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    (corpus / "sub" / "bees.txt").unlink()
    r = _sync(corpus, tmp_path / "ix", fake_embedder)
    assert r.removed == ["sub/bees.txt"]
    ix = _load(tmp_path / "ix", fake_embedder)
    assert "sub/bees.txt" not in ix.documents
    assert all(c.doc_id != "sub/bees.txt" for c in ix.chunks)
    assert ix.rows_live == len(ix.chunks)
    assert ix.bm25_search(["pollin"], 10) == []  # only bees.txt said "pollinate"


def test_renamed_identical_file_is_not_re_embedded(corpus, tmp_path, fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    (corpus / "rivers.txt").rename(corpus / "south-island-rivers.txt")
    before = fake_embedder.embedded
    r = _sync(corpus, tmp_path / "ix", fake_embedder)
    assert r.renamed == [("rivers.txt", "south-island-rivers.txt")] and r.removed == []
    assert fake_embedder.embedded == before
    ix = _load(tmp_path / "ix", fake_embedder)
    assert {c.doc_id for c in ix.chunks} == {"apples.md", "south-island-rivers.txt", "sub/bees.txt"}


def test_a_moved_file_copied_twice_is_one_rename_and_one_addition(corpus, tmp_path,
                                                                  fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    text = (corpus / "rivers.txt").read_text()
    (corpus / "rivers.txt").unlink()
    (corpus / "a.txt").write_text(text)
    (corpus / "b.txt").write_text(text)
    before = fake_embedder.embedded
    r = _sync(corpus, tmp_path / "ix", fake_embedder)
    assert r.renamed == [("rivers.txt", "a.txt")] and r.added == ["b.txt"] and r.removed == []
    assert fake_embedder.embedded == before  # both reuse the vectors


def test_rebuild_re_embeds_everything(corpus, tmp_path, fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    before = fake_embedder.embedded
    r = _sync(corpus, tmp_path / "ix", fake_embedder, rebuild=True)
    assert fake_embedder.embedded - before == r.chunks_total > 0


def test_missing_index_and_mismatched_settings_are_refused(corpus, tmp_path, fake_embedder):
    with pytest.raises(IndexMissingError, match="run `rag build PATH... --index"):
        _load(tmp_path / "nothing", fake_embedder)
    _sync(corpus, tmp_path / "ix", fake_embedder)
    with pytest.raises(IndexMismatchError, match="rag build --rebuild"):
        Index.load(tmp_path / "ix", fake_embedder, Chunker(60, 8))

    class OtherModel(FakeEmbedder):
        name = "another-model"

    with pytest.raises(IndexMismatchError, match="another-model"):
        _load(tmp_path / "ix", OtherModel())


def test_build_with_other_settings_rebuilds_by_itself(corpus, tmp_path, fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    r = sync(load_documents([corpus]), tmp_path / "ix", fake_embedder, Chunker(60, 8))
    assert r.rebuilt_because and "chunks of 40 tokens" in r.rebuilt_because
    Index.load(tmp_path / "ix", fake_embedder, Chunker(60, 8))


def test_chunk_headers_are_part_of_the_index_and_change_what_is_found(corpus, tmp_path,
                                                                       fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    with pytest.raises(IndexMismatchError, match="chunk_headers = true"):
        Index.load(tmp_path / "ix", fake_embedder, Chunker(40, 8, headers=True))
    r = sync(load_documents([corpus]), tmp_path / "ix", fake_embedder, Chunker(40, 8, True))
    assert r.rebuilt_because and "without chunk headers" in r.rebuilt_because
    Index.load(tmp_path / "ix", fake_embedder, Chunker(40, 8, True))  # opens now
    assert read_manifest(tmp_path / "ix")["chunker"]["headers"] is True
    # A word only the title has is found with headers and not without.
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "zebra.md").write_text("---\ntitle: Zebra facts\n---\nStripes are "
                                             "black and white.\n", encoding="utf-8")
    (tmp_path / "z" / "horse.md").write_text("Horses run fast on grass.\n", encoding="utf-8")
    docs = load_documents([tmp_path / "z"])
    for headers, found in ((True, ["zebra.md"]), (False, [])):
        sync(docs, tmp_path / f"z{headers}", fake_embedder, Chunker(40, 8, headers))
        ix = Index.load(tmp_path / f"z{headers}", fake_embedder, Chunker(40, 8, headers))
        assert [ix.chunk(r).doc_id for r, _ in ix.bm25_search(["zebra"], 5)] == found
        assert "Zebra" not in ix.chunks[0].text + ix.chunks[1].text  # chunk text unchanged


CRASH = textwrap.dedent("""
    import os, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from conftest import FakeEmbedder
    from rag.store import local as index
    from rag.ingest.chunk import Chunker
    from rag.ingest.load import load_documents
    real, real_replace = index.write_synced, os.replace
    def dying(path, text):
        if path.name == {at!r}:
            os._exit(9)  # killed: no cleanup, no finally
        real(path, text)
    def dying_replace(src, dst):
        if os.path.basename(dst) == {at!r}:
            os._exit(9)  # the new pointer written, not yet renamed into place
        real_replace(src, dst)
    index.write_synced, os.replace = dying, dying_replace
    index.sync(load_documents([{corpus!r}]), {folder!r}, FakeEmbedder(), Chunker(40, 8))
""")


@pytest.mark.parametrize("at", ["df.json", "manifest.json", "CURRENT"])
def test_build_killed_mid_write_leaves_the_old_index_loadable(corpus, tmp_path, fake_embedder,
                                                               at):
    folder = tmp_path / "ix"
    _sync(corpus, folder, fake_embedder)
    old = [c.chunk_id for c in _load(folder, fake_embedder).chunks]
    (corpus / "new.txt").write_text("Kiwifruit grow on vines in the Bay of Plenty.\n")
    script = CRASH.format(root=str(ROOT), tests=str(ROOT / "tests"), at=at,
                          corpus=str(corpus), folder=str(folder))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert [c.chunk_id for c in _load(folder, fake_embedder).chunks] == old
    # The next build recovers and cleans up the leftovers.
    r = _sync(corpus, folder, fake_embedder)
    assert r.added == ["new.txt"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    # The live version and the one before it (kept for readers that had just opened it).
    versions = {p.name for p in folder.iterdir() if p.name.startswith("v-")}
    live = (folder / "CURRENT").read_text().strip()
    assert live in versions and len(versions) == 2
    assert json.loads((folder / live / "manifest.json").read_text())["counts"] == {
        "documents": 4, "chunks": len(_load(folder, fake_embedder).chunks)}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


def _drop_key(path: Path) -> None:
    m = json.loads(path.read_text(encoding="utf-8"))
    del m["documents"]
    path.write_text(json.dumps(m), encoding="utf-8")


def _part(live: Path, part: str) -> Path:
    """`part` of the live version, SEG/ naming the file in its (one) segment."""
    if part.startswith("SEG/"):
        (seg,) = [p for p in live.iterdir() if p.name.startswith("s-")]
        return seg / part[4:]
    return live / part


@pytest.mark.parametrize("part, damage", [
    ("SEG/vectors.npy", _truncate),
    ("SEG/chunks.jsonl", Path.unlink),
    ("SEG/chunks.offsets.npy", _truncate),
    ("manifest.json", lambda p: p.write_text("{not json", encoding="utf-8")),
    ("manifest.json", _drop_key),
    ("SEG/terms/vocab.json", lambda p: p.write_text("", encoding="utf-8")),
    ("SEG/terms/term_rows.npy", _truncate),
])
def test_a_damaged_index_is_named_as_such_and_a_plain_build_repairs_it(
        corpus, tmp_path, fake_embedder, part, damage):
    folder = tmp_path / "ix"
    _sync(corpus, folder, fake_embedder)
    live = folder / (folder / "CURRENT").read_text().strip()
    damage(_part(live, part))
    with pytest.raises(IndexMismatchError, match=r"is damaged .*rag build --rebuild"):
        _load(folder, fake_embedder)
    r = _sync(corpus, folder, fake_embedder)  # no --rebuild needed
    assert r.rebuilt_because and "damaged" in r.rebuilt_because
    assert len(_load(folder, fake_embedder).chunks) > 0


@pytest.mark.parametrize("part", ["SEG/vectors.npy", "SEG/chunks.jsonl", "df.json",
                                  "SEG/chunks.offsets.npy", "SEG/terms/vocab.json",
                                  "SEG/terms/term_rows.npy", "SEG/terms/lengths.npy"])
def test_a_file_from_another_build_is_caught_and_named(corpus, tmp_path, fake_embedder, part):
    folder, other = tmp_path / "ix", tmp_path / "other"
    _sync(corpus, folder, fake_embedder)
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "one.txt").write_text("Kiwifruit grow on vines.\n")
    _sync(tmp_path / "small", other, fake_embedder)
    live = folder / (folder / "CURRENT").read_text().strip()
    theirs = other / (other / "CURRENT").read_text().strip()
    mine = _part(live, part)
    mine.write_bytes(_part(theirs, part).read_bytes())
    name = mine.relative_to(live).as_posix()
    with pytest.raises(IndexMismatchError, match=rf"is damaged \({re.escape(name)} (is .* bytes, "
                       r"the manifest says|was written for 1 rows, not 3).*rag build --rebuild"):
        _load(folder, fake_embedder)


def test_an_index_path_that_is_a_file_is_refused_clearly(corpus, tmp_path, fake_embedder):
    from rag.errors import RagError

    f = tmp_path / "notes.txt"
    f.write_text("not an index", encoding="utf-8")
    for call in (lambda: _load(f, fake_embedder), lambda: _sync(corpus, f, fake_embedder)):
        with pytest.raises(RagError, match="is a file; name a folder"):
            call()
    assert f.read_text(encoding="utf-8") == "not an index"


def test_a_read_only_index_folder_is_refused_before_any_embedding(corpus, tmp_path,
                                                                   fake_embedder, monkeypatch):
    import os

    from rag.errors import RagError

    folder = tmp_path / "ix"
    folder.mkdir()
    real = os.access
    # as for a folder without write permission (tests may run as root, who may write anywhere)
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder and
                        mode == os.W_OK else real(p, mode))
    with pytest.raises(RagError, match="cannot write to the index folder"):
        _sync(corpus, folder, fake_embedder)
    assert fake_embedder.embedded == 0


def test_chunking_progress_reaches_a_log(corpus, tmp_path, fake_embedder, monkeypatch, capsys):
    from rag import progress
    from rag.store import local as index

    monkeypatch.setattr(progress, "EVERY", 0.0)
    monkeypatch.setattr(index, "BIG_DOCUMENT", 100)  # the apples document counts as big
    sync(load_documents([corpus]), tmp_path / "ix", fake_embedder, Chunker(40, 8),
         progress=True)
    err = capsys.readouterr().err
    assert "chunking apples.md (0.0 million characters)" in err
    assert re.search(r"chunking: 0\.0 of 0\.0 million characters", err)


# -- sentence vectors and vector index types ------------------------------------------------

def test_sentence_vectors_are_stored_per_chunk_and_reused_for_unchanged_documents(
        corpus, tmp_path, fake_embedder):
    from rag.text import sentence_spans

    _sync(corpus, tmp_path / "ix", fake_embedder, sentence_vectors=True)
    ix = _load(tmp_path / "ix", fake_embedder)
    assert read_manifest(tmp_path / "ix")["sentences"] is True and ix.sentences is not None
    for c in ix.chunks:
        spans, vecs = ix.sentences_of(c)
        assert [tuple(s) for s in spans] == sentence_spans(c.text)
        for (s, e), v in zip(spans, vecs, strict=True):  # float16 on disk
            assert np.allclose(v, fake_embedder.encode_query(c.text[s:e]), atol=1e-3)
    (corpus / "rivers.txt").write_text("The Waikato is the longest river. It is 425 km long.\n")
    before = fake_embedder.embedded
    r = _sync(corpus, tmp_path / "ix", fake_embedder, sentence_vectors=True)
    assert r.changed == ["rivers.txt"]
    assert fake_embedder.embedded - before == 1 + 2  # one chunk, its two sentences
    ix = _load(tmp_path / "ix", fake_embedder)
    apples = next(c for c in ix.chunks if c.doc_id == "apples.md")
    assert len(ix.sentences_of(apples)[0]) == 3  # carried over from the first build
    other = replace(apples, text="Not this index's text.")
    assert ix.sentences_of(other) is None


def test_turning_sentence_vectors_on_rebuilds_and_says_why(corpus, tmp_path, fake_embedder):
    _sync(corpus, tmp_path / "ix", fake_embedder)
    r = _sync(corpus, tmp_path / "ix", fake_embedder, sentence_vectors=True)
    assert r.rebuilt_because == "sentence_vectors is now true"
    assert _load(tmp_path / "ix", fake_embedder).sentences is not None


def test_vector_index_type_follows_size_unless_set():
    from rag.store.local import vector_index_for

    assert vector_index_for(5_000) == "flat"
    assert vector_index_for(200_000) == "hnsw"
    assert vector_index_for(6_000_000) == "ivfpq"
    assert vector_index_for(5_000, "hnsw") == "hnsw"
    assert vector_index_for(5_000, "ivfpq") == "flat"  # too few vectors to train on


def _clustered(n: int, dim: int = 64) -> np.ndarray:
    """Unit vectors around 200 centres (neighbours at cosine ~0.7, as sentence embeddings
    have), not uniform noise, in which no point has a near neighbour."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, dim))
    x = centres[rng.integers(0, 200, n)] + 0.7 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_each_vector_index_type_finds_the_exact_neighbours(tmp_path, kind):
    from rag.store.segment import Segment

    data = _clustered(20_050)
    matrix, queries = data[:20_000], data[20_000:]  # queries near the data, not in it
    chunks = [Chunk(f"d#{i}", "d", i, "x", 0, 1) for i in range(len(matrix))]
    Segment.write(tmp_path / "s-1", chunks, matrix, [[] for _ in chunks], None, None, kind)
    assert (tmp_path / "s-1" / "vectors.faiss").exists() == (kind != "flat")
    ix = Index.over([Segment(tmp_path / "s-1", kind, False)], kind)
    recall = []
    for q in queries:
        exact = set(np.argsort(-(np.asarray(matrix) @ q))[:10].tolist())
        got = ix.dense_search(q, 10)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        assert np.allclose([s for _, s in got], [float(matrix[r] @ q) for r, _ in got])
        recall.append(len(exact & {r for r, _ in got}) / 10)
    assert np.mean(recall) >= 0.95
    allowed = np.arange(0, 20_000, 7, dtype=np.int64)  # a filter: only these rows
    got = ix.dense_search(queries[0], 10, allowed)
    best = allowed[np.argsort(-(np.asarray(matrix)[allowed] @ queries[0]))[:10]]
    assert [r for r, _ in got] == best.tolist()


def test_the_vector_index_setting_is_written_and_a_change_rebuilds_without_embedding(
        corpus, tmp_path, fake_embedder):
    folder = tmp_path / "ix"
    _sync(corpus, folder, fake_embedder, vector_index="hnsw")
    ix = _load(folder, fake_embedder)
    assert ix.kind == "hnsw" and list((folder / ix.version).glob("s-*/vectors.faiss"))
    assert ix.dense_search(fake_embedder.encode_query("longest river Clutha"), 1)[0][0] == \
        next(ix.row(c.chunk_id) for c in ix.chunks if "Clutha" in c.text)
    before = fake_embedder.embedded
    r = _sync(corpus, folder, fake_embedder, vector_index="flat")
    assert r.rebuilt_because == "vector index now flat" and fake_embedder.embedded == before
    ix = _load(folder, fake_embedder)
    assert ix.kind == "flat" and not list((folder / ix.version).glob("s-*/vectors.faiss"))
