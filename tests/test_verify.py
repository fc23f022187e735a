"""The citation verifier's rule, with the fake embedder (the real model: test_llm.py)."""

from __future__ import annotations

import json

from rag.generate.verify import UNSEEN, Verifier, lexical_support, load_verifier
from rag.models import SHIPPED

from .conftest import FakeEmbedder

PASSAGE = ("Prime Minister Christopher Luxon will travel to Washington DC from 9 to 12 July. "
           "He will attend the NATO summit with Foreign Minister Winston Peters.")


def _verifier(min_coverage: float = 0.6, min_cosine: float = 0.3) -> Verifier:
    return Verifier(FakeEmbedder().encode_queries, lambda t: 1.0, min_coverage, min_cosine,
                    max_novel=1.0)


def test_a_verbatim_quote_is_supported_and_its_quote_is_the_matching_sentence():
    s = _verifier().check("He will attend the NATO summit with Foreign Minister Winston Peters.",
                          [PASSAGE])
    assert s.supported and s.coverage == 1.0 and not s.missing
    start, end = s.quotes[0]
    assert PASSAGE[start:end].startswith("He will attend the NATO summit")


def test_a_number_or_name_the_passage_lacks_is_unsupported():
    s = _verifier().check("Luxon will travel to Washington DC on 20 July.", [PASSAGE])
    assert not s.supported and s.missing == ("20",)
    s = _verifier().check("He will attend the NATO summit with Foreign Minister Judith Collins.",
                          [PASSAGE])
    assert not s.supported and set(s.missing) == {"judith", "collins"}


def test_a_sentence_about_something_else_is_unsupported_by_coverage():
    s = _verifier().check("The harvest of apples starts in autumn in orchards.", [PASSAGE])
    assert not s.supported and s.coverage < 0.6


def test_support_can_come_from_several_cited_passages_together():
    other = "The summit marks the 75th anniversary of the alliance."
    claim = "Luxon will attend the summit marking the 75th anniversary of the alliance."
    v = _verifier()
    assert not v.check(claim, [PASSAGE]).supported
    both = v.check(claim, [PASSAGE, other])
    assert both.supported and len(both.quotes) == 2


def test_no_passages_supports_nothing():
    assert not _verifier().check("Anything.", []).supported


def test_coverage_weighs_rare_terms_more():
    idf = {"luxon": 5.0, "travel": 1.0, "moon": 5.0}.get
    cov, _, _ = lexical_support("Luxon travel moon", [PASSAGE], lambda t: idf(t, 1.0))
    assert abs(cov - 6.0 / 11.0) < 1e-6


def test_the_shipped_thresholds_load_and_carry_their_validation_figures():
    data = json.loads((SHIPPED / "verifier.json").read_text(encoding="utf-8"))
    v = load_verifier(FakeEmbedder().encode_queries, lambda t: 1.0)
    assert (v.min_coverage, v.min_cosine) == (data["min_coverage"], data["min_cosine"])
    assert data["validation"]["all"]["n"] > 0 and data["validation_articles"]
    assert not set(data["validation_articles"]) & set(data["training_articles"])


def test_a_rare_word_the_passage_lacks_is_a_new_fact_but_a_common_one_is_not():
    def idf(term: str) -> float:
        return 10.0 if term == UNSEEN else 9.0 if term.startswith("harass") else 1.0

    v = Verifier(FakeEmbedder().encode_queries, idf, min_coverage=0.5, min_cosine=0.0,
                 max_novel=0.5)
    base = "He will attend the NATO summit with Foreign Minister Winston Peters"
    assert v.check(base + " to attend.", [PASSAGE]).supported
    s = v.check(base + " despite harassment.", [PASSAGE])
    assert not s.supported and s.novel == 0.9


def test_train_verifier_fits_on_training_articles_and_reports_held_out_ones(tiny_squad,
                                                                           tmp_path):
    from rag.train.verifier import train_verifier

    r = train_verifier(tiny_squad, tmp_path / "bundle", embedder=FakeEmbedder(),
                       work=tmp_path / "work")
    out = tmp_path / "bundle" / "verifier.json"
    assert r.path == out
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["min_coverage"], data["min_cosine"], data["max_novel"]) == r.thresholds
    assert data["validation_articles"] == ["Pavlova"]
    assert data["validation"]["all"]["n"] > 0 and data["train"]["all"]["n"] > 0
    assert r.train["balanced_accuracy"] >= 0.75
    assert r.validation["all"]["unsupported_flagged"] >= 0.5
    load_verifier(FakeEmbedder().encode_queries, lambda t: 1.0, models=str(out.parent))


def test_the_verifiers_defaults_are_the_shipped_thresholds():
    shipped = json.loads((SHIPPED / "verifier.json").read_text(encoding="utf-8"))
    v = Verifier(FakeEmbedder().encode_queries, lambda t: 1.0)
    assert (v.min_coverage, v.min_cosine, v.max_novel) == (
        shipped["min_coverage"], shipped["min_cosine"], shipped["max_novel"])
