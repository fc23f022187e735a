from rag.generate.answer_types import answer_type, core_span, cue_words, has_type


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
