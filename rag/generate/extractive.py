"""The default generator: answers with the retrieved sentences that best answer the question.

Nothing is paraphrased, so every answer sentence is a verbatim quote of the passage it cites.
Each candidate sentence is scored on three signals, because similarity alone cannot tell an
on-topic question the documents answer from one they do not:

- `sem`: cosine similarity of the sentence to the (history-aware) question;
- `cov`: the IDF-weighted share of the question's content terms found in the sentence (partial
  credit for terms in the sentence before it, which covers "He said ..." sentences, and less
  for terms elsewhere in its passage);
- `typ`: whether the sentence holds the kind of answer asked for (`answer_types`).

`confidence = (sem + cov) / 2`, scaled down when the answer type is missing; below
`abstain_threshold` the generator abstains.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.cite import citation
from rag.embed import Embedder
from rag.generate.answer_types import answer_type, core_span, cue_words, has_type
from rag.generate.base import Draft
from rag.retrieve import contextual_query, is_follow_up
from rag.text import is_stopword, sentence_spans, stem, terms, words
from rag.types import Passage

TYPE_PENALTY = 0.5  # confidence factor when the sentence lacks the kind of answer asked for
PHRASE_BONUS = 0.1  # ranking credit for the share of question phrases a sentence repeats
SECOND_SENTENCE = 0.8  # a further sentence must score this share of the best one
PREV_CREDIT, NEAR_CREDIT = 0.5, 0.3  # coverage credit for terms in the sentence before / passage
HISTORY_CREDIT = 0.25  # weight factor of earlier-turn terms in a follow-up


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
                 threshold: float = 0.44, max_sentences: int = 2) -> None:
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
        core = core_span(best.text, answer_type(question)[0], question)
        return Draft(text, cites, False, best.confidence, core)

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
        context = contextual_query(question, history)
        vecs = self._encode([t for *_, t in spans])
        sems = vecs @ self.embedder.encode_query(context)
        if context != question:  # a follow-up: its own words matter as much as the context
            sems = 0.5 * (sems + vecs @ self.embedder.encode_query(question))
        need, speaker = answer_type(question)
        weights = self._term_weights(question, history, skip=cue_words(question))
        total = sum(weights.values()) or 1.0
        passage_terms = {id(p): set(terms(p.chunk.text)) for p in passages}
        q_pairs = _pairs(terms(question))
        out = []
        prev_terms: set[str] = set()
        prev_passage = None
        for (p, s, e, text), sem, vec in zip(spans, sems, vecs, strict=True):
            seq = terms(text)
            own = set(seq)
            if p is not prev_passage:
                prev_terms, prev_passage = set(), p
            near = passage_terms[id(p)]
            # Credit for terms the sentence leans on: the one before it ("He said ...") and,
            # less, the rest of its passage.
            cov = sum(w * (1.0 if t in own else PREV_CREDIT if t in prev_terms else
                           NEAR_CREDIT if t in near else 0.0)
                      for t, w in weights.items()) / total
            conf = 0.5 * float(sem) + 0.5 * cov
            # Reported speech must come from the person asked about.
            if need and not (has_type(need, text) and speaker <= own | prev_terms):
                conf *= TYPE_PENALTY
            prev_terms = own
            # Question phrases ("Foreign Minister") found as phrases rank a sentence higher;
            # ties go to the better-ranked passage.
            phrase = len(q_pairs & _pairs(seq)) / len(q_pairs) if q_pairs else 0.0
            score = conf + PHRASE_BONUS * phrase + 0.02 / p.rank
            out.append(_Candidate(p, s, e, text, score, conf, vec))
        out.sort(key=lambda c: -c.score)
        return out

    def _term_weights(self, question: str, history: Sequence[str],
                      skip: set[str] = frozenset()) -> dict[str, float]:
        """IDF weight of each content stem of the question; earlier-turn stems count less.

        A word the corpus never uses gets the highest weight: a question about something the
        documents never mention must not be answered (measured: discounting such words as
        likely paraphrases let "What is the population of ...?" through).
        """
        weights: dict[str, float] = {}
        for w in words(question):
            if not is_stopword(w) and len(w) > 1 and w not in skip:
                weights[stem(w)] = self.idf(stem(w))
        if history and is_follow_up(question):
            for w in words(history[-1]):
                t = stem(w)
                if not is_stopword(w) and len(w) > 1 and t not in weights:
                    weights[t] = HISTORY_CREDIT * self.idf(t)
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


def _pairs(seq: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent content stems (from `terms`): the phrases of a text."""
    return set(zip(seq, seq[1:], strict=False))


def _tidy(text: str) -> str:
    """One line with plain spaces (str.split also splits at no-break spaces); the citation
    keeps the exact quote."""
    return " ".join(text.split())
