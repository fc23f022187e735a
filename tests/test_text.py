from rag.text import fold, sentence_spans, terms


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def test_abbreviations_without_periods_do_not_split():
    text = "Mr Biden met Sir Keir Starmer in Washington DC on Monday. The NZDF sent six people."
    assert _sentences(text) == ["Mr Biden met Sir Keir Starmer in Washington DC on Monday.",
                                "The NZDF sent six people."]


def test_quote_ending_with_period_inside_quotes():
    text = 'He said it was "a lot of emphasis." Then he left.'
    assert _sentences(text) == ['He said it was "a lot of emphasis."', "Then he left."]


def test_no_break_space_after_period_is_a_boundary_and_offsets_stay_exact():
    text = "It plays a leading role.\u00a0It is imperative that we talk."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["It plays a leading role.",
                                             "It is imperative that we talk."]


def test_stray_closing_quote_joins_the_sentence_before():
    text = "\u201cWe will rebuild the economy.\u201d"
    assert _sentences(text) == [text]


def test_lines_are_boundaries_and_blank_lines_vanish():
    text = "A headline\n\nThe first sentence. The second one.\n"
    assert _sentences(text) == ["A headline", "The first sentence.", "The second one."]


def test_fold_keeps_length_and_maps_typography():
    s = "New\u00a0Zealand\u2019s \u201cbest\u201d \u2013 ok"
    assert len(fold(s)) == len(s)
    assert fold(s) == "New Zealand's \"best\" - ok"


def test_terms_fold_stem_and_drop_stop_words():
    assert terms("The Prime\u00a0Minister\u2019s visits") == terms("prime minister's visit")
    assert "the" not in terms("the visit")


