import re

import pytest

from rag.errors import RagError
from rag.eval.metrics import (
    EvalItem,
    abstention_curve,
    citation_scores,
    contains_answer,
    doc_stem,
    exact_match,
    hit_curve,
    ndcg,
    score_item,
    squad_normalize,
    summarize,
    token_f1,
)
from rag.eval.runner import load_set, run
from rag.ingest.load import load_documents
from rag.types import Answer, Chunk, Citation, Passage, Sentence, render_sentences

from .conftest import EVAL_SET, SEEDS


def test_contains_answer_folds_case_spacing_and_typography():
    assert contains_answer("visit from 9-12\u00a0July [1]", ["9-12 july"])
    assert contains_answer("New Zealand\u2019s profile", ["new zealand's profile"])
    assert not contains_answer("visit in July", ["9-12 July"])
    assert not contains_answer("anything", [""])


def test_doc_stem():
    assert doc_stem("news/beehive.txt") == "beehive"


@pytest.mark.parametrize("text, normal", [
    ("The  Cat's hat!", "cats hat"),
    ("an apple, a pear and the plum", "apple pear and plum"),
    ("9-12 July.", "912 july"),
    ("A", ""),
    ("Theatre of the Absurd", "theatre of absurd"),  # only whole-word articles go
    ("“Quoted” \u00a0 text", "quoted text"),
])
def test_squad_normalisation(text, normal):
    assert squad_normalize(text) == normal


def test_exact_match_and_f1_by_hand():
    assert exact_match("the 32", ["32"]) == 1.0
    assert exact_match("32 countries", ["32"]) == 0.0
    # common = {richard, marles}: P = 2/3, R = 1, F1 = 0.8
    assert token_f1("Richard Marles Defence", ["Richard Marles"]) == pytest.approx(0.8)
    assert token_f1("Richard Marles Defence", ["nobody", "Marles"]) == pytest.approx(0.5)
    assert token_f1("", ["x"]) == 0.0
    assert token_f1("the", ["a"]) == 1.0  # both normalise to nothing


def test_ndcg_by_hand():
    # DCG = 1/log2(2) + 0 + 3/log2(4) = 2.5; IDCG = 3/log2(2) + 1/log2(3)
    assert ndcg(["a", "b", "c"], {"a": 1, "c": 2}) == pytest.approx(2.5 / (3 + 1 / 1.5849625))
    assert ndcg(["c", "a"], {"a": 1, "c": 2}) == pytest.approx(1.0)
    assert ndcg(["x"], {"a": 1}) == 0.0


def _cite(n, doc_id, quote):
    return Citation(n, doc_id, "t", None, None, f"{doc_id}#0", quote, 0, len(quote), quote, 0.5)


def test_citation_precision_recall_read_the_answer_sentences_by_hand():
    sentences = (Sentence("Luxon visits in July.", (1,)), Sentence("Cats purr loudly.", (2,)))
    ans = Answer("q", render_sentences(sentences), False,
                 (_cite(1, "a.txt", "Luxon visits in July."),
                  _cite(2, "a.txt", "Dogs bark at night.")), sentences=sentences)
    assert ans.answer == "Luxon visits in July. [1] Cats purr loudly. [2]"
    # citation 1 supports its sentence, citation 2 does not: P = 1/2, R = 1/2
    assert citation_scores(ans, ["a"]) == (0.5, 0.5)
    # from an unlisted source, even a supporting citation does not count for precision
    assert citation_scores(ans, ["b"]) == (0.0, 0.5)
    assert citation_scores(Answer("q", "The documents don't say.", True), ["a"]) is None


def _passage(rank, doc_id, text):
    return Passage(Chunk(f"{doc_id}#0", doc_id, 0, text, 0, len(text)), 0.5, rank)


def test_score_item_ranks_hits_and_answer_metrics():
    deep = [_passage(1, "b.txt", "nothing here"), _passage(2, "a.txt", "no answer"),
            _passage(3, "a.txt", "it was 32 countries")]
    item = EvalItem("x", "How many?", ("32",), ("a",))
    ans = Answer("q", "It was 32 countries. [1]", False,
                 (_cite(1, "a.txt", "It was 32 countries."),), core="32",
                 sentences=(Sentence("It was 32 countries.", (1,)),))
    r = score_item(item, ans, deep, k=2)
    assert r.ranks == {"source": 2, "answer": 3}
    assert r.scores["mrr"] == pytest.approx(1 / 3) and r.scores["source_mrr"] == 0.5
    assert (r.scores["hit@1"], r.scores["hit@3"], r.scores["hit@k"]) == (0.0, 1.0, 0.0)
    assert r.scores["source_hit@k"] == 1.0
    assert r.scores["em"] == 1.0 and r.scores["answer_correct"] == 1.0  # core span scored
    unans = score_item(EvalItem("u", "?", answerable=False), Answer("q", "x", True), deep)
    assert unans.scores == {"abstain_correct": 1.0, "fallback": 0.0, "not_answered": 1.0,
                            "band_answer": 0.0, "band_tentative": 0.0, "band_abstain": 1.0}


def test_summary_curves_and_latency():
    deep = [_passage(1, "a.txt", "32")]
    rs = [score_item(EvalItem("1", "q", ("32",), ("a",)),
                     Answer("q", "32 [1]", False, (_cite(1, "a.txt", "32"),),
                            timings_ms={"total": 10.0}, confidence=0.8), deep),
          score_item(EvalItem("2", "q", answerable=False),
                     Answer("q", "x", True, timings_ms={"total": 30.0}, confidence=0.3), deep)]
    s = summarize(rs)
    assert s["n"] == 2 and s["answer_correct"] == 1.0 and s["abstain_correct"] == 1.0
    assert s["latency_ms_p50"] == 20.0 and s["latency_ms_max"] == 30.0
    curve = {round(c["threshold"], 2): c for c in abstention_curve(rs)}
    assert curve[0.3]["abstain_correct"] == 0.0 and curve[0.31]["abstain_correct"] == 1.0
    assert curve[0.8]["abstain_wrong"] == 0.0 and curve[0.81]["abstain_wrong"] == 1.0
    assert hit_curve(rs)[0] == 1.0


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


@pytest.mark.parametrize("line, why", [
    ('{"question": "Who?", "answers": "Winston Peters"}', '"answers" must be a list of strings'),
    ('{"question": 123}', '"question" must be a non-empty string'),
    ('{"question": "Who?", "history": "abc"}', '"history" must be a list of strings'),
    ('{"question": "Who?", "answerable": "no"}', '"answerable" must be true or false'),
    ('["Who?"]', "must be a JSON object"),
])
def test_eval_lines_are_type_checked_and_named_by_file_and_line(tmp_path, line, why):
    p = tmp_path / "set.jsonl"
    p.write_text('{"question": "Fine?"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(RagError, match=rf"set\.jsonl:2: .*{re.escape(why)}"):
        load_set(p)


def test_eval_sets_that_are_empty_or_not_utf8_are_refused_and_repeated_ids_warned(
        tmp_path, caplog):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(RagError, match="holds no items"):
        load_set(empty)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"question": "Café?"}\n'.encode("latin-1"))
    with pytest.raises(RagError, match="not UTF-8"):
        load_set(latin)
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "a", "question": "X?"}\n{"id": "a", "question": "Y?"}\n',
                     encoding="utf-8")
    assert len(load_set(twice)) == 2
    assert "id 'a' repeats line 1" in caplog.text


def test_the_runner_scores_what_the_answer_function_returned_through_plain_functions():
    """No pipeline: the runner calls the answer function, asks the retrieval function for the
    search behind that very answer (its rewritten question), and asks again at threshold 0
    only for an answerable item that was refused."""
    chunk = Chunk("a.txt#0", "a.txt", 0, "The Clutha flows 338 kilometres.", 0, 33)
    other = Chunk("b.txt#0", "b.txt", 0, "Apples grow in Hawke's Bay.", 0, 27)
    cite = Citation(1, "a.txt", "A", None, None, "a.txt#0", chunk.text, 0, 33, chunk.text, 0.9)
    items = [EvalItem("q1", "And how far?", ("338 kilometres",), ("a",), history=("Clutha?",)),
             EvalItem("q2", "Where do kiwis nest?", answerable=False)]
    asked, searched = [], []

    def answer_fn(item, threshold):
        asked.append((item.id, threshold))
        if item.id == "q1" and threshold is None:
            return Answer(item.question, "The documents don't say.", True,
                          rewritten="How far does the Clutha flow?")
        if item.id == "q1":
            return Answer(item.question, chunk.text + " [1]", False, citations=(cite,),
                          sentences=(Sentence(chunk.text, (1,)),))
        return Answer(item.question, "The documents don't say.", True)

    def retrieve_fn(item, ans, depth):
        searched.append((item.id, ans.rewritten, depth))
        return [Passage(other, 0.5, 1), Passage(chunk, 0.4, 2)]

    r1, r2 = run(items, answer_fn, retrieve_fn, k=3)
    assert asked == [("q1", None), ("q1", 0.0), ("q2", None)]
    assert searched == [("q1", "How far does the Clutha flow?", 10), ("q2", None, 10)]
    assert r1.ranks["answer"] == 2 and r1.scores["hit@1"] == 0.0 and r1.scores["hit@k"] == 1.0
    assert r1.scores["abstain_wrong"] == 1.0 and r1.right_if_answered
    assert r2.correct() and r2.scores["abstain_correct"] == 1.0
    # Without a retrieval function the answer's own passages are what is scored.
    (alone,) = run(items[:1], lambda it, t: Answer(it.question, "x", False,
                                                   passages=(Passage(chunk, 0.4, 1),)))
    assert alone.ranks["answer"] == 1
