"""Uploads: checked, saved whole into the corpus's uploads folder, indexed, one line each."""

from __future__ import annotations

import pytest

from rag.app.upload import add_files, safe_name, uploads_folder
from rag.config import Settings
from rag.pipeline import build, chunker
from rag.store.local import Index

from .documents import make_pdf


@pytest.mark.parametrize("given, safe", [
    ("report.pdf", "report.pdf"), ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\evil.md", "evil.md"), ("/abs/path/notes.txt", "notes.txt"),
    (".hidden.txt", "hidden.txt"), ("bad\x00\x1bname.txt", "badname.txt"), ("", "upload"),
    ("..", "upload"), ("ngā manu.md", "ngā manu.md")])
def test_names_stay_in_the_uploads_folder(given, safe):
    assert safe_name(given) == safe


def _settings(corpus, tmp_path) -> Settings:
    return Settings(index_dir=str(tmp_path / "ix"), corpus=(str(corpus),), chunk_tokens=40,
                    chunk_overlap=8, max_upload_mb=1)


def test_uploads_are_saved_indexed_and_each_reported(corpus, tmp_path, fake_embedder):
    s = _settings(corpus, tmp_path)
    build(settings=s, embedder=fake_embedder)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    make_pdf(incoming / "kakapo.pdf", ["The kakapo is a flightless parrot.", "It is nocturnal."])
    (incoming / "empty.txt").write_bytes(b"")
    (incoming / "photo.png").write_bytes(b"\x89PNG....")
    (incoming / "big.txt").write_text("word " * 300_000)
    (incoming / "fake.pdf").write_text("not a pdf")
    (incoming / "copy.txt").write_bytes((corpus / "rivers.txt").read_bytes())
    index = Index.load(s.index_dir, fake_embedder, chunker(s))
    known = {info.sha256: d for d, info in index.documents.items()}
    got = dict(add_files([("../../kakapo.pdf", incoming / "kakapo.pdf"),
                          ("empty.txt", incoming / "empty.txt"),
                          ("photo.png", incoming / "photo.png"),
                          ("big.txt", incoming / "big.txt"),
                          ("fake.pdf", incoming / "fake.pdf"),
                          ("copy.txt", incoming / "copy.txt")], s, fake_embedder, known))
    assert got["kakapo.pdf"].startswith("indexed, ") and got["kakapo.pdf"] != "indexed, 0 chunks"
    assert got["empty.txt"] == "skipped: empty file"
    assert got["photo.png"].startswith("skipped: not a supported type")
    assert got["big.txt"] == "skipped: 1.5 MB, over the 1 MB limit"
    assert got["fake.pdf"].startswith("skipped: not a PDF")
    assert got["copy.txt"] == "already indexed as rivers.txt"
    folder = uploads_folder(s)
    assert folder == corpus / "uploads"
    assert sorted(p.name for p in folder.iterdir()) == ["kakapo.pdf"]  # nothing else, no temp
    index = Index.load(s.index_dir, fake_embedder, chunker(s))
    assert "uploads/kakapo.pdf" in index.documents and "rivers.txt" in index.documents
    # The same file again is recognised; another file of the same name is numbered.
    known = {info.sha256: d for d, info in index.documents.items()}
    again = dict(add_files([("kakapo.pdf", incoming / "kakapo.pdf")], s, fake_embedder, known))
    assert again == {"kakapo.pdf": "already indexed as uploads/kakapo.pdf"}
    make_pdf(incoming / "other.pdf", ["The takahe is a swamp hen."])
    other = dict(add_files([("kakapo.pdf", incoming / "other.pdf")], s, fake_embedder, known))
    assert other["kakapo.pdf"].startswith("indexed")
    assert (folder / "kakapo (2).pdf").exists()


def test_an_upload_that_fails_mid_write_leaves_nothing(corpus, tmp_path, fake_embedder,
                                                       monkeypatch):
    import errno
    import os

    s = _settings(corpus, tmp_path)
    build(settings=s, embedder=fake_embedder)
    src = tmp_path / "notes.txt"
    src.write_text("The tui sings two notes at once.\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    got = dict(add_files([("notes.txt", src)], s, fake_embedder, {}))
    assert got == {"notes.txt": "not saved: No space left on device"}
    assert list(uploads_folder(s).iterdir()) == []  # no file, no temporary


def test_an_upload_during_a_build_waits_for_it(corpus, tmp_path, fake_embedder):
    import threading
    import time

    from rag.store import local as index

    s = _settings(corpus, tmp_path)
    build(settings=s, embedder=fake_embedder)
    src = tmp_path / "notes.txt"
    src.write_text("The tui sings two notes at once.\n")
    held = threading.Event()

    def another_build() -> None:
        with index._locked(tmp_path / "ix"):
            held.set()
            time.sleep(1.5)

    t = threading.Thread(target=another_build)
    t.start()
    held.wait(10)
    t0 = time.monotonic()
    got = dict(add_files([("notes.txt", src)], s, fake_embedder, {}))
    t.join()
    assert got["notes.txt"].startswith("indexed, ") and time.monotonic() - t0 >= 1.0


def test_an_index_from_before_the_corpus_record_tells_its_corpus_by_its_documents(
        corpus, tmp_path, fake_embedder):
    """An index written without the record (an older version) still uploads into its own
    corpus: the folder is read off its documents' paths, never taken from `seeds/`."""
    import json

    from rag.app.upload import uploads_folder
    from rag.store.local import live_version

    s = _settings(corpus, tmp_path)
    build(settings=s, embedder=fake_embedder)
    manifest = tmp_path / "ix" / live_version(tmp_path / "ix") / "manifest.json"
    old = json.loads(manifest.read_text())
    del old["corpus"]
    manifest.write_text(json.dumps(old))
    elsewhere = s.with_(corpus=("seeds",))  # what a bare `rag chat` elsewhere would assume
    assert uploads_folder(elsewhere) == corpus.resolve() / "uploads"
