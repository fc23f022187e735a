from rag.query import Query, is_follow_up


def test_follow_up_detection():
    assert is_follow_up("And who else was there?")
    assert is_follow_up("What does he think about it?")
    assert not is_follow_up("Which countries joined NATO at last year's summit?")


def test_a_follow_up_is_searched_after_the_last_turn():
    q = Query.parse("Where does he teach?", ["Who is Robert Patman?"])
    assert q.follow_up and q.text == "Who is Robert Patman? Where does he teach?"
    assert q.history == ("Who is Robert Patman?",)
    alone = Query.parse("Where does he teach?")
    assert not alone.follow_up and alone.text == "Where does he teach?"


def test_a_standalone_question_ignores_the_history():
    q = Query.parse("How long is the Clutha river?", ["Who grows apples?", "  "])
    assert not q.follow_up and q.text == q.question
    assert q.history == ("Who grows apples?",)  # blank turns dropped


def test_the_query_carries_terms_type_entities_and_negation():
    q = Query.parse("How many people did Genghis Khan not conquer in 1206?")
    assert q.answer_type == "number" and "how" in q.cue and "many" in q.cue
    assert {"genghi", "khan", "conquer", "1206"} <= set(q.terms)
    assert q.entities == {"genghis", "khan", "1206"}
    assert q.negated
    speech = Query.parse("What did Xi Jinping say about it?")
    assert speech.answer_type == "speech" and speech.speaker == {"xi", "jinp"}
    assert not speech.negated
