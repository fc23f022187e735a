"""The extractive generator and its selector, with the fake embedder and hand-set weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.generate.features import FEATURES, FeatureExtractor
from rag.generate.scoring import Scorer
from rag.generate.selector import (
    READER_FEATURES,
    Selector,
    load_selector,
    sigmoid,
)
from rag.query import Query
from rag.train.fit import fit_logistic, fit_softmax

from .conftest import (
    DOC,
    FakeEmbedder,
    extractive_with,
    flat_idf,
    hand_linear,
    hand_selector,
    passages_of,
)


def test_the_best_sentence_is_quoted_and_cited_with_exact_offsets():
    gen = extractive_with(hand_selector(cov=6.0), max_sentences=1)
    draft = gen.generate(Query.parse("How far does the Clutha flow to the sea?"), passages_of(DOC))
    assert not draft.abstained
    assert [s.text for s in draft.sentences][0] == "It flows for 338 kilometres to the sea."
    c = draft.citations[0]
    assert c.n == 1 and c.doc_id == "d1.txt" and c.quote in c.text
    assert DOC.index(c.quote) == DOC.index("It flows")
    assert draft.text.startswith("It flows for 338 kilometres to the sea. [1]")


def test_a_typed_question_prefers_the_sentence_with_that_kind_of_answer():
    q = Query.parse("How many kilometres is the Clutha river?")
    assert q.answer_type == "number"
    gen = extractive_with(hand_selector(cov=1.0, typed_new=5.0), max_sentences=1)
    draft = gen.generate(q, passages_of(DOC))
    assert draft.sentences[0].text.startswith("It flows for 338") and draft.core == "338"


def test_abstains_below_the_threshold_and_answers_at_it():
    q = Query.parse("How far does the Clutha flow to the sea?")
    passages = passages_of(DOC)
    gen = extractive_with(hand_selector(cov=6.0))
    scored = gen.score(q, passages)
    confidence = scored.confidence
    assert confidence == pytest.approx(float(sigmoid(scored.logits.max() - 2.0)))
    at = extractive_with(hand_selector(cov=6.0), threshold=confidence)
    assert at.generate(q, passages).abstained is False
    below = extractive_with(hand_selector(cov=6.0), threshold=np.nextafter(confidence, 1.0))
    draft = below.generate(q, passages)
    assert draft.abstained and draft.sentences == () and draft.citations == ()
    assert draft.text == "The documents don't say." and draft.confidence == confidence


def test_no_passages_means_no_answer():
    draft = extractive_with(hand_selector(cov=6.0)).generate(Query.parse("Anything?"), [])
    assert draft.abstained and draft.confidence == 0.0


def test_a_second_sentence_needs_enough_probability_and_must_add_something():
    q = Query.parse("Clutha river length and irrigation?")
    ps = passages_of(DOC)
    two = extractive_with(hand_selector(cov=6.0, second_ratio=0.01)).generate(q, ps)
    assert len(two.sentences) == 2 and [c.n for c in two.citations] == [1, 2]
    assert [s.citations for s in two.sentences] == [(1,), (2,)]
    # in document order when both come from one document
    assert two.citations[0].quote.startswith("The Clutha")
    one = extractive_with(hand_selector(cov=6.0, second_ratio=0.999)).generate(q, ps)
    assert len(one.sentences) == 1
    capped = extractive_with(hand_selector(cov=6.0, second_ratio=0.01),
                             max_sentences=1).generate(q, ps)
    assert len(capped.sentences) == 1
    twins = passages_of("The Clutha river water flows fast.", "The Clutha river water flows fast!")
    dup = extractive_with(hand_selector(cov=6.0, second_ratio=0.01)).generate(q, twins)
    assert len(dup.sentences) == 1  # a near-duplicate adds nothing


def test_a_follow_up_is_answered_through_the_earlier_turn():
    ps = passages_of("Apples grow in Nelson orchards. The Clutha flows for 338 kilometres.")
    gen = extractive_with(hand_selector(cov=6.0, sem_ctx=2.0), max_sentences=1)
    follow = gen.generate(Query.parse("How long is it?", ["Tell me about the Clutha."]), ps)
    assert "Clutha" in follow.sentences[0].text


def test_features_cover_names_numbers_and_negation():
    ext = FeatureExtractor(FakeEmbedder(), flat_idf)
    col = {f: i for i, f in enumerate(FEATURES)}
    cands, x = ext.extract(Query.parse("Did the Waitaki not flow 338 kilometres?"),
                           passages_of(DOC))
    assert len(cands) == 3 and x.shape == (3, len(FEATURES))
    flows = next(i for i, c in enumerate(cands) if c.text.startswith("It flows"))
    assert x[flows, col["ent_sent"]] == pytest.approx(0.5)  # 338 yes, Waitaki no
    assert x[flows, col["neg_mismatch"]] == 1.0
    assert x[:, col["sem_rel"]].max() == 0.0  # relative to the best candidate
    assert x[0, col["first"]] == 1.0 and x[0, col["passage_sem"]] == pytest.approx(0.5)


def test_selector_json_round_trips_and_refuses_other_features(tmp_path):
    sel = hand_selector(cov=1.5)
    assert Selector.from_json(sel.to_json()) == sel
    bad = sel.to_json().replace('"cov"', '"coverage"')
    with pytest.raises(ConfigError, match="rag train-selector"):
        Selector.from_json(bad)
    with pytest.raises(ConfigError, match="no answer selector"):
        load_selector(str(tmp_path / "missing.json"))


def test_the_shipped_selector_loads_with_a_threshold_and_its_provenance():
    sel = load_selector()
    assert 0.0 < sel.threshold < 1.0
    assert sel.meta["data_sha256"] and sel.meta["validation_articles"]
    assert not set(sel.meta["validation_articles"]) & set(sel.meta["training_articles"])


def test_logistic_regression_recovers_a_known_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = (rng.random(4000) < sigmoid(2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5)).astype(float)
    w, b = fit_logistic(x, y, l2=1e-3)
    assert w == pytest.approx([2.0, -1.0], abs=0.2) and b == pytest.approx(0.5, abs=0.15)


def test_softmax_regression_learns_to_put_the_positive_first():
    rng = np.random.default_rng(1)
    groups = []
    for _ in range(300):
        x = rng.normal(size=(6, 2))
        y = np.zeros(6)
        y[int(np.argmax(1.5 * x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.3, size=6)))] = 1
        groups.append((x, y))
    w = fit_softmax(groups, l2=0.1)
    assert w[0] > 0 > w[1] and w[0] / -w[1] == pytest.approx(3.0, rel=0.35)
    top1 = np.mean([y[int(np.argmax(x @ w))] for x, y in groups])
    assert top1 > 0.8


def test_three_bands_split_at_the_two_thresholds():
    sel = replace(hand_selector(threshold=0.2), answer_threshold=0.6)
    assert [sel.band(c) for c in (0.1, 0.2, 0.59, 0.6, 0.9)] == \
        ["abstain", "tentative", "tentative", "answer", "answer"]
    assert sel.band(0.65, threshold=0.7) == "abstain" and sel.band(0.7, threshold=0.7) == "answer"
    assert sel.band(0.1, threshold=0.0) == "tentative"  # threshold 0 answers everything
    assert hand_selector(threshold=0.2).band(0.3) == "answer"  # no answer band: two bands only


def test_a_tentative_answer_quotes_what_a_confident_one_would_under_a_hedge():
    from rag.generate.base import TENTATIVE_TEXT

    q = Query.parse("How far does the Clutha flow to the sea?")
    passages = passages_of(DOC)
    confidence = extractive_with(hand_selector(cov=6.0)).score(q, passages).confidence
    banded = hand_selector(threshold=confidence / 2, second_ratio=0.0, cov=6.0)
    gen = extractive_with(replace(banded, answer_threshold=np.nextafter(confidence, 1.0)),
                          max_sentences=3)
    draft = gen.generate(q, passages)
    assert draft.band == "tentative" and not draft.abstained
    assert any(s.text.startswith("It flows for 338") for s in draft.sentences)
    pieces = list(gen.stream(q, passages))
    assert pieces[0] == TENTATIVE_TEXT + "\n" and pieces[-1] == draft
    confident = extractive_with(replace(banded, answer_threshold=confidence),
                                max_sentences=3).generate(q, passages)
    assert confident.band == "answer" and confident.sentences == draft.sentences
    assert len(draft.sentences) > 1  # the same sentences, the same rule for a second one


def test_a_selector_with_a_reader_stage_needs_the_reader():
    names = FEATURES + READER_FEATURES
    sel = replace(hand_selector(cov=6.0), reading=hand_linear({"reader": 1.0}, names), read=4,
                  confidence_model=hand_linear({"top": 1.0}, ("top", "margin") + names, -2.0),
                  reader_features=READER_FEATURES)
    with pytest.raises(ConfigError, match="needs the reader"):
        Scorer(FeatureExtractor(FakeEmbedder(), flat_idf), sel, None)


def test_a_selector_reads_the_features_it_was_fitted_with_by_name():
    q = Query.parse("How far does the Clutha flow to the sea?")
    everything = hand_selector(cov=6.0)
    names = ("cov", "sem", "bm25")  # a subset, in another order
    some = Selector(names, hand_linear({"cov": 6.0}, names),
                    hand_linear({"top": 1.0}, ("top", "margin") + names, -2.0), 0.5)
    extractor = FeatureExtractor(FakeEmbedder(), flat_idf)
    cands, x = Scorer(extractor, some, None).extract(q, passages_of(DOC))
    _, full = Scorer(extractor, everything, None).extract(q, passages_of(DOC))
    assert x.shape == (len(cands), 3) and full.shape[1] == len(FEATURES)
    assert np.array_equal(x, full[:, [FEATURES.index(n) for n in names]])
    assert np.allclose(Scorer(extractor, some, None)(q, passages_of(DOC)).logits,
                       Scorer(extractor, everything, None)(q, passages_of(DOC)).logits)
    with pytest.raises(ConfigError, match="other features"):
        replace(some, features=("cov", "no-such-feature", "bm25"))


def test_a_table_row_knows_its_column_names_cover_the_question():
    from rag.types import Chunk, Passage

    chunk = Chunk("lakes.csv#0", "lakes.csv", 0, "Taupo | 186 m\nHauroko | 462 m", 0, 29,
                  header="lake | depth")
    passages = [Passage(chunk, 0.5, 1, "Lakes")]
    cands, x = FeatureExtractor(FakeEmbedder(), flat_idf).extract(
        Query.parse("What is the depth of Hauroko?"), passages)
    assert [c.text for c in cands] == ["Taupo | 186 m", "Hauroko | 462 m"]
    assert [c.shown for c in cands] == ["lake: Taupo; depth: 186 m", "lake: Hauroko; depth: 462 m"]
    row, header = FEATURES.index("row"), FEATURES.index("cov_header")
    assert x[:, row].tolist() == [1.0, 1.0]
    assert x[1, header] > 0 and x[1, header] == x[0, header]  # "depth" is a column's name
