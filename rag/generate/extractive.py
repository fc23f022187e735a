"""The default generator: answers with the retrieved sentences that best answer the question.

Nothing is paraphrased, so every answer sentence is a verbatim quote of the passage it cites.
Each candidate sentence is scored on three signals, because similarity alone cannot tell an
on-topic question the documents answer from one they do not:

- `sem`: cosine similarity of the sentence to the (history-aware) question;
- `cov`: the IDF-weighted share of the question's content terms found in the sentence (half
  credit for terms found elsewhere in its passage, which covers "He said ..." sentences);
- `typ`: whether the sentence holds the kind of answer asked for (a number for "how many",
  a date for "when", a name for "who", a place for "where").

`confidence = (sem + cov) / 2`, scaled down when the answer type is missing; below
`abstain_threshold` the generator abstains.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.cite import citation
from rag.embed import Embedder
from rag.generate.base import Draft
from rag.retrieve import contextual_query, is_follow_up
from rag.text import is_stopword, sentence_spans, stem, words
from rag.types import Passage

_MONTHS = ("january february march april may june july august september october november "
           "december jan feb mar apr jun jul aug sep sept oct nov dec").split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_TIME_WORDS = ("today yesterday tomorrow week weekend month year years morning evening night "
               "afternoon ago later earlier anniversary century decade").split()
_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen "
                 "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty "
                 "sixty seventy eighty ninety hundred thousand million billion trillion dozen "
                 "half third quarter first second fifth").split()
_DATE = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b|\b(" + "|".join(_MONTHS + _DAYS + _TIME_WORDS)
                   + r")\b", re.I)
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
# A capitalised word that does not start the sentence: a crude but useful proper-name signal.
_NAME = re.compile(r"(?<=[\w,;:] )[A-Z][\w'-]+")

_QTYPES: list[tuple[str, re.Pattern[str]]] = [
    ("date", re.compile(r"^\s*(when|(what|which) (date|day|days|year|month|time))\b|"
                        r"\b(what|which) (date|day|year|month)\b|\bhow long ago\b", re.I)),
    ("number", re.compile(r"\bhow (many|much|old|long|far|big|large)\b|"
                          r"\bwhat (number|percentage|percent|share|proportion|amount)\b", re.I)),
    ("person", re.compile(r"^\s*(who|whom|whose)\b|\b(who|whom|whose)\b|"
                          r"\bwhich (person|leader|minister|president|official|politician)", re.I)),
    ("place", re.compile(r"^\s*where\b|\bwhich (city|country|state|place|region|nation)", re.I)),
]
_HAS_TYPE: dict[str, Callable[[str], bool]] = {
    "date": lambda s: bool(_DATE.search(s)),
    "number": lambda s: bool(_NUMBER.search(s)),
    "person": lambda s: bool(_NAME.search(s)),
    "place": lambda s: bool(_NAME.search(s)),
}
TYPE_PENALTY = 0.75  # confidence factor when the sentence lacks the kind of answer asked for
SECOND_SENTENCE = 0.92  # a further sentence must score this share of the best one


def answer_type(question: str) -> str | None:
    """The kind of answer a question asks for: date, number, person, place, or None."""
    for name, pattern in _QTYPES:
        if pattern.search(question):
            return name
    return None


@dataclass(frozen=True)
class _Candidate:
    passage: Passage
    start: int  # offsets into passage.chunk.text
    end: int
    text: str
    score: float
    confidence: float
    vec: np.ndarray


class ExtractiveGenerator:
    """Quotes the best one to `max_sentences` sentences of the passages, each cited."""

    name = "extractive"

    def __init__(self, embedder: Embedder, idf: Callable[[str], float],
                 threshold: float = 0.45, max_sentences: int = 2) -> None:
        self.embedder = embedder
        self.idf = idf
        self.threshold = threshold
        self.max_sentences = max_sentences
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def generate(self, question: str, passages: Sequence[Passage],
                 history: Sequence[str] = ()) -> Draft:
        cands = self.candidates(question, passages, history)
        if not cands:
            return Draft.abstain()
        best = cands[0]
        if best.confidence < self.threshold:
            return Draft.abstain(best.confidence)
        chosen = [best]
        for c in cands[1:]:
            if len(chosen) >= self.max_sentences or c.score < SECOND_SENTENCE * best.score:
                break
            if c.confidence >= self.threshold and all(float(c.vec @ o.vec) < 0.85 for o in chosen):
                chosen.append(c)
        # Sentences of one document read best in document order.
        if len({c.passage.chunk.doc_id for c in chosen}) == 1:
            chosen.sort(key=lambda c: c.passage.chunk.start + c.start)
        cites = tuple(citation(n, c.passage, c.start, c.end) for n, c in enumerate(chosen, 1))
        text = " ".join(f"{_tidy(c.text)} [{n}]" for n, c in enumerate(chosen, 1))
        return Draft(text, cites, False, best.confidence)

    def candidates(self, question: str, passages: Sequence[Passage],
                   history: Sequence[str] = ()) -> list[_Candidate]:
        """Every distinct sentence of the passages, best first."""
        spans: list[tuple[Passage, int, int, str]] = []
        seen: set[tuple[str, int]] = set()
        for p in passages:
            for s, e in sentence_spans(p.chunk.text):
                key = (p.chunk.doc_id, p.chunk.start + s)
                if key not in seen:  # overlapping chunks repeat sentences
                    seen.add(key)
                    spans.append((p, s, e, p.chunk.text[s:e]))
        if not spans:
            return []
        qvec = self.embedder.encode_query(contextual_query(question, history))
        vecs = self._encode([t for *_, t in spans])
        sems = vecs @ qvec
        weights = self._term_weights(question, history)
        total = sum(weights.values()) or 1.0
        need = answer_type(question)
        passage_terms = {id(p): _stems(p.chunk.text) for p in passages}
        out = []
        for (p, s, e, text), sem, vec in zip(spans, sems, vecs, strict=True):
            own = _stems(text)
            near = passage_terms[id(p)]
            cov = sum(w * (1.0 if t in own else 0.5 if t in near else 0.0)
                      for t, w in weights.items()) / total
            conf = 0.5 * float(sem) + 0.5 * cov
            if need and not _HAS_TYPE[need](text):
                conf *= TYPE_PENALTY
            score = conf + 0.02 / p.rank  # ties go to the better-ranked passage
            out.append(_Candidate(p, s, e, text, score, conf, vec))
        out.sort(key=lambda c: -c.score)
        return out

    def _term_weights(self, question: str, history: Sequence[str]) -> dict[str, float]:
        """IDF weight of each content stem of the question; earlier-turn stems count half."""
        weights: dict[str, float] = {}
        for w in words(question):
            if not is_stopword(w) and len(w) > 1:
                weights[stem(w)] = self.idf(stem(w))
        if history and is_follow_up(question):
            for w in words(history[-1]):
                t = stem(w)
                if not is_stopword(w) and len(w) > 1 and t not in weights:
                    weights[t] = 0.5 * self.idf(t)
        return weights

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vecs]
        if missing:
            fresh = self.embedder.encode_documents(missing)
            with self._lock:
                for t, v in zip(missing, fresh, strict=True):
                    self._vecs[t] = v
                while len(self._vecs) > 20_000:
                    self._vecs.popitem(last=False)
        with self._lock:
            return np.vstack([self._vecs[t] for t in texts])


def _stems(text: str) -> set[str]:
    return {stem(w) for w in words(text) if not is_stopword(w)}


def _tidy(text: str) -> str:
    """One line with plain spaces (str.split also splits at no-break spaces); the citation
    keeps the exact quote."""
    return " ".join(text.split())
