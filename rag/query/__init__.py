"""The `Query`: a question with its chat history, analysed once and shared by the retriever
and the generators (which never recompute follow-up handling or answer types)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.query.answer_types import answer_type, cue_words, entities, negated
from rag.text import is_stopword, terms, words

# Words that point back to something said before.
_REFERRING = frozenset("he him his she her hers they them their theirs it its this that these "
                       "those there then else also other another same".split())
_CONTINUATION = re.compile(r"^\s*(and|but|so|also|what about|how about|why|what else)\b", re.I)


def is_follow_up(question: str) -> bool:
    """Does the question lean on an earlier turn (pronouns, 'and ...', or almost no content)?"""
    ws = words(question)
    content = [w for w in ws if not is_stopword(w)]
    return bool(_CONTINUATION.match(question)) or len(content) <= 2 or \
        any(w in _REFERRING for w in ws)


@dataclass(frozen=True)
class Query:
    """One question as every stage sees it. Build it with `Query.parse`."""

    question: str
    history: tuple[str, ...] = ()  # earlier user turns, oldest first
    text: str = ""  # what to search with: the question, after the last turn for a follow-up
    follow_up: bool = False  # leans on the last turn (and there is one)
    terms: tuple[str, ...] = ()  # BM25 terms of the question alone
    answer_type: str | None = None  # speech, date, number, person, place, or None
    speaker: frozenset[str] = frozenset()  # stems of who is asked about ("what did X say")
    cue: frozenset[str] = frozenset()  # words that only name the answer type ("how old")
    entities: frozenset[str] = frozenset()  # names and numbers the question is about
    negated: bool = False  # "not", "never", "n't"

    @classmethod
    def parse(cls, question: str, history: Sequence[str] = ()) -> Query:
        turns = tuple(h.strip() for h in history if h and h.strip())
        follow = bool(turns) and is_follow_up(question)
        need, speaker = answer_type(question)
        return cls(question=question, history=turns,
                   text=f"{turns[-1]} {question}" if follow else question, follow_up=follow,
                   terms=tuple(terms(question)), answer_type=need, speaker=frozenset(speaker),
                   cue=frozenset(cue_words(question)), entities=entities(question),
                   negated=negated(question))
