"""The default generator: answers with the retrieved sentences most likely to hold the answer.

Nothing is paraphrased, so every answer sentence is a verbatim quote of the passage it cites.
Each candidate sentence gets the general features of `features.py` and, for the best few, the
reader's logit (`scoring.py`); the learned `Selector` scores them (a softmax over the candidates
gives each the probability of being the one that holds the answer) and gives the calibrated
confidence that the best one answers the question. The confidence falls in one of three bands
(`Selector.band`): `answer` quotes up to `max_sentences` sentences; `tentative` quotes the
same, for the page and the command line to show under a hedge (quoting the closest sentence
alone lost 3 points of `answer_contains` on held-out SQuAD articles); `abstain` says the
documents don't say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import numpy as np

from rag.embed import Embedder
from rag.generate.base import Draft, stream_words
from rag.generate.cite import citation
from rag.generate.features import FeatureExtractor
from rag.generate.reader import Reader
from rag.generate.scoring import Scored, Scorer, reader_for
from rag.generate.selector import Selector, load_selector, softmax
from rag.query import Query
from rag.query.answer_types import core_span
from rag.text import terms
from rag.types import Passage, Sentence

NEAR_DUPLICATE = 0.85  # cosine above which a second sentence only repeats the first


class ExtractiveGenerator:
    """Quotes the best one to `max_sentences` sentences of the passages, each cited."""

    name = "extractive"

    def __init__(self, embedder: Embedder, idf: Callable[[str], float],
                 selector: Selector | None = None, threshold: float | None = None,
                 max_sentences: int = 2, features: FeatureExtractor | None = None,
                 reader: Reader | None = None) -> None:
        self.features = features or FeatureExtractor(embedder, idf)
        self.selector = selector or load_selector()
        self.scorer = Scorer(self.features, self.selector, reader or reader_for(self.selector))
        self.threshold = self.selector.threshold if threshold is None else threshold
        self.max_sentences = max_sentences

    def score(self, query: Query, passages: Sequence[Passage]) -> Scored:
        """Candidates, their rows and logits, and the calibrated confidence."""
        scored = self.scorer(query, passages)
        words = terms(query.text)  # a follow-up's words include the turn it follows
        if words and all(self.features.idf(t) >= self.features.unseen_idf for t in words):
            # Not one word of the question occurs in the documents (gibberish, another
            # language): whatever the nearest vectors are, they cannot hold its answer.
            return scored
        return replace(scored, confidence=self.selector.confidence(scored.x, scored.logits))

    def least(self, threshold: float | None = None) -> float:
        """The confidence needed to answer: `threshold`, else the configured one."""
        return self.threshold if threshold is None else threshold

    def band(self, confidence: float, threshold: float | None = None) -> str:
        """`answer`, `tentative` or `abstain` (`Selector.band` at this generator's
        threshold, or `threshold`)."""
        return self.selector.band(confidence, self.least(threshold))

    def generate(self, query: Query, passages: Sequence[Passage],
                 threshold: float | None = None) -> Draft:
        return self.compose(query, self.score(query, passages), threshold)

    def compose(self, query: Query, scored: Scored, threshold: float | None = None) -> Draft:
        """The answer from `score`'s result (so a caller that scored once need not again)."""
        cands, logits, confidence = scored.candidates, scored.logits, scored.confidence
        band = self.band(confidence, threshold)
        if not cands or band == "abstain":
            return Draft.abstain(confidence)
        order = np.argsort(-logits, kind="stable")
        prob = softmax(logits)
        best = cands[order[0]]
        chosen = [best]
        floor = self.selector.second_ratio * float(prob[order[0]])
        for i in order[1:]:
            c = cands[i]
            if len(chosen) >= self.max_sentences or float(prob[i]) < floor:
                break
            if all(float(c.vec @ o.vec) < NEAR_DUPLICATE for o in chosen):
                chosen.append(c)
        # Sentences of one document read best in document order.
        if len({c.passage.chunk.doc_id for c in chosen}) == 1:
            chosen.sort(key=lambda c: c.passage.chunk.start + c.start)
        cites = tuple(citation(n, c.passage, c.start, c.end) for n, c in enumerate(chosen, 1))
        sentences = tuple(Sentence(_tidy(c.shown), (n,)) for n, c in enumerate(chosen, 1))
        lo, hi = scored.spans[order[0]]
        # The reader's span where it read the sentence; else the rules' typed span.
        core = best.shown[lo:hi].strip() if hi > lo else \
            core_span(best.shown, query.answer_type, query.question)
        return Draft(sentences, cites, False, confidence, core or None, band=band)

    def stream(self, query: Query, passages: Sequence[Passage],
               threshold: float | None = None) -> Iterator[str | Draft]:
        return stream_words(self.generate(query, passages, threshold))

    def rewrite(self, query: Query) -> str | None:
        return None  # retrieval already reads the last turn with a follow-up


def _tidy(text: str) -> str:
    """One line with plain spaces (str.split also splits at no-break spaces); the citation
    keeps the exact quote."""
    return " ".join(text.split())
