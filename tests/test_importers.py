import json
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.eval.importers import import_beir, import_squad
from rag.eval.runner import load_set
from rag.ingest.load import load_documents

SQUAD_V2 = {"version": "v2.0", "data": [
    {"title": "Kiwi_bird", "paragraphs": [
        {"context": "The kiwi is a flightless bird endemic to New Zealand.",
         "qas": [{"id": "q1", "question": "Where is the kiwi endemic to?", "is_impossible": False,
                  "answers": [{"text": "New Zealand", "answer_start": 41},
                              {"text": "New Zealand", "answer_start": 41}]},
                 {"id": "q2", "question": "How fast does the kiwi fly?", "is_impossible": True,
                  "answers": [],
                  "plausible_answers": [{"text": "flightless", "answer_start": 13}]}]},
        {"context": "Kiwi lay very large eggs.",
         "qas": [{"id": "q3", "question": "What do kiwi lay?", "answers": [
             {"text": "very large eggs", "answer_start": 9}]}]}]},
    {"title": "Tui", "paragraphs": [
        {"context": "The tui is a songbird.", "qas": [
            {"id": "q4", "question": "What is the tui?", "answers": [
                {"text": "a songbird", "answer_start": 11}]}]}]}]}


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    p = tmp_path / "squad.json"
    p.write_text(json.dumps(SQUAD_V2), encoding="utf-8")
    return p


def test_squad_paragraphs_become_documents_and_questions_items(squad_file, tmp_path):
    r = import_squad(squad_file, tmp_path / "out")
    assert (r.documents, r.questions, r.unanswerable) == (3, 4, 1)
    docs = {d.doc_id: d for d in load_documents([tmp_path / "out" / "docs"])}
    assert set(docs) == {"kiwi-bird-000.md", "kiwi-bird-001.md", "tui-000.md"}
    assert docs["kiwi-bird-000.md"].title == "Kiwi bird"
    assert docs["kiwi-bird-000.md"].text.startswith("The kiwi is a flightless bird")
    items = {i.id: i for i in load_set(tmp_path / "out" / "eval.jsonl")}
    assert items["q1"].answers == ("New Zealand",) and items["q1"].sources == ("kiwi-bird-000",)
    assert not items["q2"].answerable and items["q2"].answers == () and items["q2"].sources == ()
    assert items["q4"].sources == ("tui-000",)


def test_squad_limit_and_seeded_sample(squad_file, tmp_path):
    r = import_squad(squad_file, tmp_path / "one", limit_articles=1)
    assert (r.documents, r.questions) == (2, 3)
    a = import_squad(squad_file, tmp_path / "a", sample=2, seed=7)
    import_squad(squad_file, tmp_path / "b", sample=2, seed=7)
    ids = [i.id for i in load_set(tmp_path / "a" / "eval.jsonl")]
    assert a.questions == 2 and len(set(ids)) == 2
    assert ids == [i.id for i in load_set(tmp_path / "b" / "eval.jsonl")]


def test_squad_refuses_bad_input_and_a_non_empty_target(squad_file, tmp_path):
    with pytest.raises(RagError, match="does not exist"):
        import_squad(tmp_path / "missing.json", tmp_path / "x")
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}')
    with pytest.raises(RagError, match="not a SQuAD JSON file"):
        import_squad(bad, tmp_path / "y")
    import_squad(squad_file, tmp_path / "z")
    with pytest.raises(RagError, match="already holds files"):
        import_squad(squad_file, tmp_path / "z")


def test_beir_corpus_and_graded_qrels(beir_dir, tmp_path):
    r = import_beir(beir_dir, tmp_path / "out")
    assert (r.documents, r.questions) == (3, 2)
    docs = {d.doc_id: d for d in load_documents([tmp_path / "out" / "docs"])}
    assert set(docs) == {"d1.md", "d_2.md", "d3.md"}
    assert docs["d_2.md"].meta["beir_id"] == "d/2" and docs["d3.md"].title == "d3"
    items = {i.id: i for i in load_set(tmp_path / "out" / "eval.jsonl")}
    assert items["q1"].relevance == {"d1": 2.0, "d3": 1.0}
    assert items["q1"].sources == ("d1", "d3") and items["q1"].answers == ()
    assert items["q2"].relevance == {"d_2": 1.0}  # grade 0 is not relevant


def test_beir_missing_parts_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RagError, match="corpus.jsonl is missing"):
        import_beir(tmp_path / "empty", tmp_path / "out")
