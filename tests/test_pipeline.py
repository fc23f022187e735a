"""The whole path through the real model on the seed corpus, and the Answer contract."""

import json

import pytest

from rag.errors import QuestionError
from rag.eval.metrics import summarize
from rag.eval.runner import load_set, run_pipeline
from rag.generate import ABSTAIN_TEXT
from rag.ingest.load import load_documents

from .conftest import EVAL_SET, SEEDS

pytestmark = pytest.mark.slow


def test_dates_question_answers_with_a_cited_quote(seed_rag):
    ans = seed_rag.answer("On what dates will the Prime Minister visit the United States?")
    assert not ans.abstained
    assert "9-12 July" in ans.answer and "[1]" in ans.answer
    c = ans.citations[0]
    assert c.doc_id == "beehive-pm-heads-to-us-for-nato.txt"
    assert c.title == "Prime Minister heads to United States for NATO"
    assert c.date == "2024-07-02" and c.url.startswith("https://www.beehive.govt.nz/")
    assert "9-12 July" in c.quote


def test_every_citation_points_exactly_into_its_document(seed_rag):
    docs = {d.doc_id: d.text for d in load_documents([SEEDS])}
    for item in load_set(EVAL_SET):
        ans = seed_rag.answer(item.question, list(item.history))
        for c in ans.citations:
            assert docs[c.doc_id][c.start:c.end] == c.text
            assert c.quote and c.quote in c.text
        assert [c.n for c in ans.citations] == list(range(1, len(ans.citations) + 1))
        for n in range(1, len(ans.citations) + 1):
            assert f"[{n}]" in ans.answer


def test_unanswerable_question_abstains_without_citations(seed_rag):
    ans = seed_rag.answer("How many seats did Labour win in the UK election?")
    assert ans.abstained and ans.answer == ABSTAIN_TEXT and ans.citations == ()
    assert ans.passages  # what was searched is still shown


def test_answer_json_has_the_contract_shape(seed_rag):
    d = seed_rag.answer("How many countries belong to the NATO alliance?").to_dict()
    # the documented fields, and the planned additions that exist so far
    assert set(d) == {"question", "answer", "abstained", "citations", "passages", "timings_ms",
                      "sentences", "generator", "fallback", "rewritten", "confidence", "band",
                      "note"}
    assert d["generator"] == "extractive" and 0.0 <= d["confidence"] <= 1.0
    assert d["band"] in ("answer", "tentative") and not d["abstained"]
    assert d["fallback"] is None and d["rewritten"] is None
    assert d["sentences"][0]["citations"] == [1] and d["sentences"][0]["supported"] is True
    # the answer text is rendered from the sentences
    assert d["answer"] == " ".join(
        s["text"] + "".join(f" [{n}]" for n in s["citations"]) for s in d["sentences"])
    assert set(d["citations"][0]) == {"n", "doc_id", "title", "url", "date", "chunk_id", "text",
                                      "start", "end", "quote", "score", "page", "section",
                                      "header"}
    assert d["citations"][0]["page"] is None and d["citations"][0]["section"] is None  # text
    assert set(d["passages"][0]) == {"chunk_id", "doc_id", "text", "score", "rank", "page",
                                     "section"}
    assert set(d["timings_ms"]) == {"retrieve", "generate", "total", "first_token"}
    json.dumps(d)


def test_follow_up_is_answered_from_the_earlier_turn(seed_rag):
    ans = seed_rag.answer("How old was she?", ["Who died outside a mall in Newport Beach?"])
    assert "68" in ans.answer


@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n", "empty"), ("x" * 2001, "limit is 2,000")])
def test_bad_questions_get_a_clear_error(seed_rag, question, message):
    with pytest.raises(QuestionError, match=message):
        seed_rag.answer(question)


_SEED_SUMMARY: dict[str, float] = {}


def _seed_summary(rag) -> dict[str, float]:
    """The seed set's evaluation summary, measured once per test session."""
    if not _SEED_SUMMARY:
        items = load_set(EVAL_SET)
        assert sum(i.answerable for i in items) >= 30
        assert sum(not i.answerable for i in items) >= 8
        assert sum(bool(i.history) for i in items) >= 4
        _SEED_SUMMARY.update(summarize(run_pipeline(rag, items)))
    return _SEED_SUMMARY


def test_seed_evaluation_holds_its_measured_level(seed_rag):
    """A regression guard, not a target: the seed set is out of sample for the selector and
    the reader, and it measured 40/43 answered right and cited and 6/12 abstained with the
    6-layer reader (evals/README.md). One item of slack each way."""
    summary = _seed_summary(seed_rag)
    assert summary["answer_correct"] >= 39 / 43, summary
    assert summary["abstain_correct"] >= 5 / 12, summary


def test_seed_answerable_questions_rarely_abstain(seed_rag):
    """0/43 wrongly abstained with the 6-layer reader (1/43 before the reader's stage, 3/43
    with the 4-layer one); one item of slack."""
    summary = _seed_summary(seed_rag)
    assert summary["abstain_wrong"] <= 1 / 43, summary


# Every example question the README and rag.toml show, with what a right answer contains.
EXAMPLES = {
    "On what dates will the Prime Minister visit the United States?": ["9-12 July"],
    "How many countries belong to the NATO alliance?": ["32"],
    "How old was she?": ["68"],
    "Who will join Luxon at the Indo-Pacific Four meeting?": ["Australia, Japan and Korea"],
    "Why is Luxon stopping in San Francisco?": ["investment links", "investors"],
    # Patman says both: "... under strain globally ..." and, of Russia's and China's challenge
    # to it, "challenging the very basis of New Zealand foreign policy"
    "What does Patman say about the rules-based order?": ["under strain",
                                                          "challenging the very basis"],
}
FOLLOW_UPS = {"How old was she?": ["Who died outside a mall in Newport Beach?"]}


def _shown_questions() -> set[str]:
    import re
    import tomllib

    readme = (SEEDS.parent / "README.md").read_text(encoding="utf-8")
    shown = {" ".join(q.split()) for q in
             re.findall(r'(?:rag ask|Q=|answer\(|question=)"([^"]+\?)"', readme)}
    shown |= set(tomllib.loads((SEEDS.parent / "rag.toml").read_text())["examples"])
    return shown


def test_the_examples_table_covers_every_question_the_readme_shows():
    assert _shown_questions() == set(EXAMPLES)


@pytest.mark.parametrize("question", sorted(EXAMPLES))
def test_readme_example_questions_are_answered_correctly(seed_rag, question):
    ans = seed_rag.answer(question, FOLLOW_UPS.get(question, []))
    assert not ans.abstained, question
    assert any(a in ans.answer for a in EXAMPLES[question]), ans.answer
    assert ans.citations and ans.sentences


# Known misses of the learned selector on the seed corpus (evals/README.md). Strict: each test
# fails once the question is answered right, so the list cannot go stale.
KNOWN_MISSES = {
    # prefers "Foreign policy in New Zealand is ..." (all four question words) to
    # "... Foreign Minister Winston Peters ..." (two of them, next to the name); only
    # tentatively (confidence 0.59 with the 6-layer reader, the answer band starts at 0.90)
    "Who is New Zealand's Foreign Minister?": "Winston Peters",
}


@pytest.mark.xfail(strict=True, reason="known misses, see KNOWN_MISSES")
@pytest.mark.parametrize("question", sorted(KNOWN_MISSES))
def test_known_misses(seed_rag, question):
    assert KNOWN_MISSES[question] in seed_rag.answer(question).answer
