import pytest

from rag.query.answer_types import (
    ORDINALS,
    answer_type,
    core_span,
    cue_words,
    entities,
    has_type,
    locate_core,
    negated,
)


def test_question_types():
    assert answer_type("How many troops are there?")[0] == "number"
    assert answer_type("What is the population of Fiji?")[0] == "number"
    assert answer_type("When does he leave?")[0] == "date"
    assert answer_type("On what dates will he visit?")[0] == "date"
    assert answer_type("Who is the Foreign Minister?")[0] == "person"
    assert answer_type("Where did she die?")[0] == "place"
    assert answer_type("What did Xi Jinping say about it?") == ("speech", {"xi", "jinp"})  # stems
    assert answer_type("Why is he going?") == (None, set())


def test_cue_words_are_not_content():
    assert cue_words("How old was she?") == {"how", "old"}
    assert cue_words("What is the population of Fiji?") == set()  # population is content


def test_sentences_with_and_without_the_type():
    assert has_type("number", "It sent six NZDF personnel.")
    assert not has_type("number", "It sent NZDF personnel.")
    assert has_type("date", "He leaves on Monday evening.")
    assert has_type("speech", "Patman told RNZ it mattered.")
    assert not has_type("person", "the summit starts soon.")


def test_core_span_takes_the_typed_span_nearest_the_question_words():
    s = "When Ardern visited in 2022, the shooting left 19 students and two teachers dead."
    assert core_span(s, "number", "How many students were killed?") == "19"
    assert core_span("Prime Minister Christopher Luxon will visit from 9-12 July.", "date",
                     "On what dates will Luxon visit?") == "9-12 July"
    assert core_span("It plays a leading role, Mr Luxon says.", "person",
                     "Who is Luxon?") is None  # the only name is the one asked about
    assert core_span("A sentence about nothing.", None, "Why?") is None


@pytest.mark.parametrize("sentence", [
    "The minister noted the risk.", "She suggested a delay.", "The company announced profits.",
    "He wrote that it failed.", "According to the report, it failed.", "They warned of floods."])
def test_reporting_verbs_are_general_english(sentence):
    assert has_type("speech", sentence)


def test_ordinals_are_complete_and_anniversaries_are_not_dates():
    for word in ("fourth", "sixth", "eleventh", "twentieth", "hundredth"):
        assert word in ORDINALS and has_type("number", f"It came {word}.")
    assert not has_type("date", "It marks an anniversary.")
    assert has_type("date", "It ended in the 1990s.")


def test_the_core_span_knows_how_far_it_is_from_the_question_phrase():
    q = "Who is New Zealand's Foreign Minister?"
    span, to_word, to_phrase = locate_core(
        "He said the team of Luxon and Foreign Minister Winston Peters agreed.", "person", q)
    assert span == "Winston Peters" and to_phrase <= 1
    far = locate_core("Foreign policy is bipartisan, and Patman thinks so.", "person", q)
    assert far is not None and far[2] > 10
    # A name next to a phrase of the question beats one next to a single question word.
    assert core_span("The team of Luxon and Foreign Minister Winston Peters might go further "
                     "in responding to US foreign policy.", "person", q) == "Winston Peters"


def test_months_and_days_are_names_not_common_words():
    assert not has_type("date", "But Patman may go, and they march on.")
    assert has_type("date", "It opened in May.") and has_type("date", "It rained on Sunday.")
    assert core_span("It opened in May 2020 to the public.", "date", "When did it open?") \
        == "May 2020"
    assert core_span("It ran from July 4-6, 2024 in Paris.", "date", "When did it run?") \
        == "July 4-6, 2024"


def test_entities_and_negation():
    assert entities("When did Genghis Khan take Beijing in 1215?") == {
        "genghis", "khan", "beijing", "1215"}
    assert entities("What is it?") == frozenset()
    assert entities("Who is New Zealand's Foreign Minister?") == {
        "new", "zealand", "foreign", "minister"}  # the possessive is not part of the name
    assert negated("Who didn't come?") and negated("Who never came?")
    assert not negated("Who came?")
