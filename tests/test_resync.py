"""A sync reads only files whose size or modification time changed: the rest come from the
index's record, a file skipped once is skipped again unread, and an index that must be rebuilt
reads everything after all."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.ingest import load as loader
from rag.pipeline import build, chunker, sync_corpus
from rag.store import indexed_documents
from rag.store.local import Index


def _settings(tmp_path: Path, **extra) -> Settings:
    return Settings(index_dir=str(tmp_path / "ix"), chunk_tokens=40, chunk_overlap=8, **extra)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The files the loader reads (their names), in order."""
    seen: list[str] = []
    real = loader._read

    def counted(path, *args, **kwargs):
        seen.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loader, "_read", counted)
    return seen


def test_only_changed_files_are_read_again(corpus, tmp_path, fake_embedder, reads):
    s = _settings(tmp_path)
    build([corpus], settings=s, embedder=fake_embedder)
    first = sorted(reads)
    assert first and indexed_documents(s)["rivers.txt"].size is not None
    reads.clear()
    report = sync_corpus([corpus], s, embedder=fake_embedder)
    assert reads == [] and not report.wrote  # nothing changed: nothing read, nothing written
    (corpus / "rivers.txt").write_text((corpus / "rivers.txt").read_text() +
                                       "The Clutha is the longest river in the South.\n")
    report = sync_corpus([corpus], s, embedder=fake_embedder)
    assert reads == ["rivers.txt"] and report.changed == ["rivers.txt"]
    index = Index.load(s.index_dir, fake_embedder, chunker(s))
    assert any("Clutha" in c.text for c in index.chunks)
    # Touched but the same bytes: read (its hash decides), kept, and not read again after.
    reads.clear()
    os.utime(corpus / "rivers.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
    report = sync_corpus([corpus], s, embedder=fake_embedder)
    assert reads == ["rivers.txt"] and report.kept and not report.changed
    reads.clear()
    sync_corpus([corpus], s, embedder=fake_embedder)
    assert reads == []


def test_an_unread_documents_titles_rules_and_chunks_are_those_indexed(corpus, tmp_path,
                                                                      fake_embedder):
    s = _settings(tmp_path)
    (corpus / "secret").mkdir()
    (corpus / "secret" / "plan.md").write_text("---\naccess: [board]\n---\n# The plan\n\n"
                                               "The board meets in March.\n")
    build([corpus], settings=s, embedder=fake_embedder)
    before = Index.load(s.index_dir, fake_embedder, chunker(s))
    (corpus / ".access.toml").write_text('groups = ["staff"]\n')  # a rule, not the text
    report = sync_corpus([corpus], s, embedder=fake_embedder)
    after = Index.load(s.index_dir, fake_embedder, chunker(s))
    assert set(report.relabeled) == set(before.documents) - {"secret/plan.md"}
    for doc_id, info in after.documents.items():
        old = before.documents[doc_id]
        assert (info.title, info.sha256, info.chunks, info.pages) == \
            (old.title, old.sha256, old.chunks, old.pages)
        assert info.access == (("board",) if doc_id == "secret/plan.md" else ("staff",))
    assert [c.text for c in after.chunks] == [c.text for c in before.chunks]


def test_a_skipped_file_is_not_read_again_until_it_changes(corpus, tmp_path, fake_embedder,
                                                           reads, caplog):
    s = _settings(tmp_path, max_file_chars=200)
    (corpus / "long.txt").write_text("A sentence about rivers and lakes. " * 20)
    with caplog.at_level(logging.WARNING, "rag"):
        build([corpus], settings=s, embedder=fake_embedder)
    assert "long.txt" in reads and "200-character limit" in caplog.text
    reads.clear()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "rag"):
        sync_corpus([corpus], s, embedder=fake_embedder)
    assert "long.txt" not in reads  # the same file, the same limits: its refusal stands
    assert "long.txt: over the 200-character limit" in caplog.text and "unchanged" in caplog.text
    (corpus / "long.txt").write_text("A short note on lakes.\n")
    sync_corpus([corpus], s, embedder=fake_embedder)
    assert "long.txt" in reads and "long.txt" in indexed_documents(s)
    # A raised limit reads a refused file again.
    (corpus / "long.txt").write_text("A sentence about rivers and lakes. " * 20)
    sync_corpus([corpus], s, embedder=fake_embedder)
    reads.clear()
    sync_corpus([corpus], s.with_(max_file_chars=10_000), embedder=fake_embedder)
    assert "long.txt" in reads


def test_an_index_that_must_be_rebuilt_reads_every_file(corpus, tmp_path, fake_embedder,
                                                       reads):
    s = _settings(tmp_path)
    build([corpus], settings=s, embedder=fake_embedder)
    reads.clear()
    other = s.with_(chunk_tokens=60)  # another chunker: the store rebuilds
    report = sync_corpus([corpus], other, embedder=fake_embedder)
    names = sorted(Path(d).name for d in indexed_documents(other))
    assert report.rebuilt_because and sorted(reads) == names
    index = Index.load(other.index_dir, fake_embedder, chunker(other))
    assert all(c.text for c in index.chunks) and len(index.documents) == len(reads)
