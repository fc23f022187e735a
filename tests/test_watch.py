"""A watched folder: changes reach the index within seconds; questions asked meanwhile are
answered from the old complete index or the new one, never from half of one."""

from __future__ import annotations

import time

from rag.config import Settings
from rag.pipeline import RAG, chunker
from rag.store.local import Index
from rag.watch import watch_in_background


def _wait_for(check, seconds: float = 20.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if check():
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def test_changes_are_synced_and_questions_meanwhile_see_old_or_new(corpus, tmp_path,
                                                                   fake_embedder):
    s = Settings(index_dir=str(tmp_path / "ix"), chunk_tokens=40, chunk_overlap=8)
    reports = []
    stop = watch_in_background([corpus], s, fake_embedder, on_sync=reports.append)
    try:
        _wait_for(lambda: reports)  # the first sync
        rag = RAG(Index.load(s.index_dir, fake_embedder, chunker(s)), fake_embedder, s)
        question = "How far does the Clutha flow to the sea?"
        seen = set()

        def distance() -> str:
            ans = rag.answer(question, threshold=0)
            quoted = " ".join(c.quote for c in ans.citations)
            for km in ("338 kilometres", "340 kilometres"):
                if km in quoted:
                    seen.add(km)
                    return km
            raise AssertionError(f"neither old nor new text: {ans.answer}")

        assert distance() == "338 kilometres"
        river = corpus / "rivers.txt"
        river.write_text(river.read_text().replace("338", "340"))
        took = _wait_for(lambda: distance() == "340 kilometres")
        assert took < 10
        (corpus / "sub" / "bees.txt").unlink()  # a removal syncs too

        def bees_gone() -> bool:
            rag.refresh()
            return "sub/bees.txt" not in rag.index.documents

        _wait_for(bees_gone)
        (corpus / ".draft.txt.swp").write_text("an editor's swap file")  # not a document
        time.sleep(2)
        assert ".draft.txt.swp" not in rag.index.documents
    finally:
        stop.set()
    assert seen == {"338 kilometres", "340 kilometres"}


def test_a_changed_access_rule_is_synced_without_re_embedding(corpus, tmp_path, fake_embedder):
    from rag.types import Viewer

    s = Settings(index_dir=str(tmp_path / "ix"), chunk_tokens=40, chunk_overlap=8)
    reports = []
    stop = watch_in_background([corpus], s, fake_embedder, on_sync=reports.append)
    try:
        _wait_for(lambda: reports)
        before = fake_embedder.embedded
        (corpus / "sub" / ".access.toml").write_text('groups = ["beekeepers"]\n')
        _wait_for(lambda: any(r.relabeled == ["sub/bees.txt"] for r in reports))
        assert fake_embedder.embedded == before
        rag = RAG(Index.load(s.index_dir, fake_embedder, chunker(s)), fake_embedder, s)
        assert "sub/bees.txt" not in {p.chunk.doc_id for p in rag.search(
            "bees pollinate", k=10, viewer=Viewer("ann"))}
    finally:
        stop.set()
