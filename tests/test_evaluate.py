import pytest

from rag.errors import RagError
from rag.evaluate import contains_answer, doc_stem, load_set
from rag.load import load_documents

from .conftest import EVAL_SET, SEEDS


def test_contains_answer_folds_case_spacing_and_typography():
    assert contains_answer("visit from 9-12\u00a0July [1]", ["9-12 july"])
    assert contains_answer("New Zealand\u2019s profile", ["new zealand's profile"])
    assert not contains_answer("visit in July", ["9-12 July"])
    assert not contains_answer("anything", [""])


def test_doc_stem():
    assert doc_stem("news/beehive.txt") == "beehive"


def test_every_seed_answer_occurs_in_a_listed_source():
    docs = {doc_stem(d.doc_id): d.text for d in load_documents([SEEDS])}
    for item in load_set(EVAL_SET):
        if item.answerable:
            assert item.sources and set(item.sources) <= set(docs), item.id
            assert any(contains_answer(docs[s], [a]) for s in item.sources
                       for a in item.answers), item.id


def test_bad_eval_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "a", "question": "q"}\n{"id": "b"}\n')
    with pytest.raises(RagError, match="bad.jsonl:2"):
        load_set(p)
