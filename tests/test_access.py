"""Access rules: read from front matter and `.access.toml`, stored per document in both stores,
re-labelled without re-embedding, and enforced inside the search."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rag.config import Settings
from rag.errors import CorpusError
from rag.ingest.load import load_documents
from rag.pipeline import RAG, build
from rag.types import Viewer

from .conftest import STORES, FakeEmbedder, milvus_uri

DOCS = {
    "public/guide.md": "The staff guide says lunch is served at noon in the canteen.\n",
    "hr/salaries.md": "The salary review gives every nurse a raise of four percent.\n",
    "hr/private/cases.txt": "The disciplinary case against the night porter closed in May.\n",
    "finance/budget.txt": "The budget sets aside ninety thousand dollars for new laptops.\n",
}
HR, FINANCE = Viewer("hana", frozenset({"hr"})), Viewer("fred", frozenset({"finance"}))
NOBODY = Viewer("nora")  # signed in, in no group


def _corpus(root: Path) -> Path:
    for rel, text in DOCS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "hr" / ".access.toml").write_text('groups = ["hr"]\n')
    (root / "hr" / "private" / ".access.toml").write_text('groups = ["hr-leads"]\n')
    (root / "finance" / "budget.txt").write_text(
        "---\naccess: [finance, board]\n---\n" + DOCS["finance/budget.txt"])
    return root


def test_rules_come_from_front_matter_and_the_nearest_rule_file(tmp_path):
    docs = {d.doc_id: d.access for d in load_documents([_corpus(tmp_path)])}
    assert docs == {"public/guide.md": None, "hr/salaries.md": ("hr",),
                    "hr/private/cases.txt": ("hr-leads",),
                    "finance/budget.txt": ("board", "finance")}
    # A file named alone still gets its folder's rule.
    (doc,) = load_documents([tmp_path / "hr" / "salaries.md"])
    assert doc.access == ("hr",)


def test_an_unreadable_rule_stops_the_build_and_a_bad_front_matter_rule_skips_the_file(
        tmp_path, caplog):
    root = _corpus(tmp_path)
    (root / "hr" / ".access.toml").write_text("groups = hr\n")
    with pytest.raises(CorpusError, match=r"cannot read the access rule .*hr/\.access\.toml"):
        load_documents([root])
    (root / "hr" / ".access.toml").write_text("readers = ['hr']\n")
    with pytest.raises(CorpusError, match=r'needs groups = \["group", \.\.\.\]'):
        load_documents([root])
    (root / "hr" / ".access.toml").write_text('groups = ["hr"]\n')
    (root / "public" / "guide.md").write_text("---\naccess: {hr: 1}\n---\nLunch.\n")
    assert "public/guide.md" not in {d.doc_id for d in load_documents([root])}
    assert "front matter access must be a list of group names" in caplog.text


@pytest.fixture(params=STORES)
def store_settings(request, tmp_path) -> Settings:
    s = Settings(index_dir=str(tmp_path / "ix"), chunk_tokens=40, chunk_overlap=8, k=3,
                 sentence_vectors=False)
    if request.param != "local":
        s = s.with_(store="milvus", milvus_uri=milvus_uri(request, request.param),
                    milvus_collection=f"t{uuid.uuid4().hex[:12]}")
    return s


def _docs(rag: RAG, question: str, viewer: Viewer | None, k: int = 10) -> set[str]:
    return {p.chunk.doc_id for p in rag.search(question, k=k, viewer=viewer)}


def test_each_reader_finds_only_what_their_groups_may_read_in_every_store(store_settings,
                                                                         tmp_path):
    emb = FakeEmbedder()
    build([_corpus(tmp_path / "c")], settings=store_settings, embedder=emb)
    rag = RAG.load(settings=store_settings, embedder=emb)
    assert rag.index.documents["hr/salaries.md"].access == ("hr",)
    q = "salary raise nurse budget laptops case porter lunch canteen"
    assert _docs(rag, q, None) == set(DOCS)  # the command line reads everything
    assert _docs(rag, q, HR) == {"public/guide.md", "hr/salaries.md"}
    assert _docs(rag, q, FINANCE) == {"public/guide.md", "finance/budget.txt"}
    assert _docs(rag, q, NOBODY) == {"public/guide.md"}
    # k is filled with readable passages: the search is restricted, not filtered afterwards.
    assert len(rag.search("nurse salary raise", k=2, viewer=HR)) == 2
    ans = rag.answer("What raise does every nurse get?", threshold=0, viewer=FINANCE)
    assert all(c.doc_id != "hr/salaries.md" for c in ans.citations)
    assert all(p.chunk.doc_id != "hr/salaries.md" for p in ans.passages)


def test_a_changed_rule_relabels_without_re_embedding_in_every_store(store_settings, tmp_path):
    emb = FakeEmbedder()
    corpus = _corpus(tmp_path / "c")
    build([corpus], settings=store_settings, embedder=emb)
    (corpus / "hr" / ".access.toml").write_text('groups = ["hr", "finance"]\n')
    before = emb.embedded
    r = build(settings=store_settings, embedder=emb)
    assert r.relabeled == ["hr/salaries.md"] and r.kept and not (r.added or r.changed)
    assert emb.embedded == before and r.chunks_embedded == 0
    rag = RAG.load(settings=store_settings, embedder=emb)
    assert "hr/salaries.md" in _docs(rag, "nurse salary raise", FINANCE)
    (corpus / "hr" / ".access.toml").unlink()  # no rule: every signed-in user
    build(settings=store_settings, embedder=emb)
    rag = RAG.load(settings=store_settings, embedder=emb)
    assert "hr/salaries.md" in _docs(rag, "nurse salary raise", NOBODY)
    assert "hr/private/cases.txt" not in _docs(rag, "porter case", NOBODY)


_GROUPS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def open_index(tmp_path_factory):
    """Twelve documents, each on its own topic, indexed once; rules vary per example."""
    root = tmp_path_factory.mktemp("prop")
    words = ["river", "orchard", "glacier", "harbour", "volcano", "forest", "vineyard",
             "railway", "lighthouse", "library", "stadium", "market"]
    for i, w in enumerate(words):
        (root / f"d{i}.txt").write_text(f"The {w} of town {i} is famous for its {w} tours.\n")
    s = Settings(index_dir=str(root / "ix"), chunk_tokens=40, chunk_overlap=8,
                 sentence_vectors=False)
    emb = FakeEmbedder()
    build([root], settings=s, embedder=emb)
    return RAG.load(settings=s, embedder=emb), words


@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=st.lists(st.one_of(st.none(), st.lists(st.sampled_from(_GROUPS), max_size=2)),
                      min_size=12, max_size=12),
       groups=st.frozensets(st.sampled_from(_GROUPS)),
       question=st.lists(st.sampled_from(["river", "orchard", "glacier", "harbour", "tours",
                                          "town", "famous", "market", "what", "is"]),
                         min_size=1, max_size=5).map(" ".join),
       k=st.integers(1, 10))
def test_no_passage_of_an_unreadable_document_ever_reaches_a_reader(open_index, rules, groups,
                                                                    question, k):
    from dataclasses import replace

    rag, _ = open_index
    docs = rag.index.info.documents
    relabeled = {d: replace(info, access=None if rule is None else tuple(rule))
                 for (d, info), rule in zip(sorted(docs.items()), rules, strict=True)}
    rag.index.info = replace(rag.index.info, documents=relabeled)
    viewer = Viewer("u", groups)
    may = {d for d, info in relabeled.items() if viewer.may_read(info)}
    ans = rag.answer(question, k=k, threshold=0, viewer=viewer)
    seen = {p.chunk.doc_id for p in ans.passages} | {c.doc_id for c in ans.citations}
    assert seen <= may
    assert len(ans.passages) == min(k, len(may))  # the readable ones fill k
    rag.index.info = replace(rag.index.info, documents=docs)
