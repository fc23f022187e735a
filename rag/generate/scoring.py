"""Candidate sentences scored in two stages: the features, then the reader on the best few.

Stage one is the selector's feature model (`Selector.sentence`): cheap, so it scores every
sentence of every passage. Stage two runs the cross-encoder reader (`reader.py`) on the
`Selector.read` sentences stage one ranks highest, and the selector's second model
(`Selector.reading`) combines the reader's logit with the features. A sentence stage two did
not read ranks below every one it read. The re-ranker and the extractive generator both score
through here, and the reader's cache means the sentences they share are read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import ConfigError
from rag.generate.features import Candidate, FeatureExtractor
from rag.generate.reader import CONTEXT_WORDS, Reader, load_reader
from rag.generate.selector import Selector
from rag.query import Query
from rag.types import Passage

UNREAD = 10.0  # how far below the lowest read sentence an unread one ranks


@dataclass(frozen=True)
class Scored:
    """A question's candidates, their feature rows (with the reader's columns when it read),
    their logits, the reader's answer span in each sentence ((0, 0): none), and the
    calibrated confidence once the generator has judged them."""

    candidates: list[Candidate]
    x: np.ndarray
    logits: np.ndarray
    spans: tuple[tuple[int, int], ...]
    confidence: float = 0.0


class Scorer:
    """Scores the candidate sentences of a set of passages (`features` then the reader)."""

    def __init__(self, features: FeatureExtractor, selector: Selector,
                 reader: Reader | None) -> None:
        if selector.reading is not None and reader is None:
            raise ConfigError("this answer selector needs the reader (reader.onnx), which "
                              "is missing; reinstall the package or run `rag train-selector`")
        self.features, self.selector = features, selector
        self.reader = reader if selector.read else None

    def extract(self, query: Query, passages: Sequence[Passage]
                ) -> tuple[list[Candidate], np.ndarray]:
        """The candidates and their rows of the selector's own features, by name."""
        cands, x = self.features.extract(query, passages)
        index = self.selector.feature_index
        return cands, x if index == list(range(x.shape[1])) else x[:, index]

    def __call__(self, query: Query, passages: Sequence[Passage]) -> Scored:
        cands, x = self.extract(query, passages)
        first = self.selector.sentence(x)
        if self.reader is None or not cands:
            return Scored(cands, x, first, ((0, 0),) * len(cands))
        x2, read, spans = self.read(query, cands, x, first)
        if self.selector.reading is None:  # training the second stage: its inputs only
            return Scored(cands, x2, first, spans)
        logits = self.selector.reading(x2)
        logits = np.where(read, logits, logits[read].min() - UNREAD).astype(np.float32)
        return Scored(cands, x2, logits, spans)

    def read(self, query: Query, cands: Sequence[Candidate], x: np.ndarray, first: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, tuple[tuple[int, int], ...]]:
        """The reader on the first stage's best `read` candidates: the rows with the selector's
        `reader_features` appended, which rows it read, and its spans (in `Candidate.shown`)."""
        assert self.reader is not None
        top = np.argsort(-first, kind="stable")[:self.selector.read]
        reading = self.reader.read(
            query.question, [cands[i].shown for i in top],
            [cands[i].passage.title for i in top], [_before(cands[i]) for i in top])
        score = np.full(len(cands), float(reading.scores.min()), dtype=np.float32)
        score[top] = reading.scores
        margin = np.full(len(cands), float(reading.margins.min()), dtype=np.float32)
        margin[top] = reading.margins
        columns = {"reader": score, "reader_rel": score - score.max(),
                   "first_rel": first - first.max(), "span_margin": margin}
        extra = np.stack([columns[name] for name in self.selector.reader_features], axis=1)
        read = np.zeros(len(cands), dtype=bool)
        read[top] = True
        spans = [(0, 0)] * len(cands)
        for i, span in zip(top.tolist(), reading.spans, strict=True):
            spans[i] = span
        return np.hstack([x, extra.astype(np.float32)]), read, tuple(spans)


def reader_for(selector: Selector, models: str = "") -> Reader | None:
    """The reader of the model bundle `models` ("": the shipped one) when `selector` has a
    reader stage, else None (none is loaded). A selector fitted on another reader's logits is
    refused: its weights mean nothing here."""
    if selector.reading is None:
        return None
    from rag.models import bundle

    reader = load_reader(models=models)  # its bytes checked against the manifest's SHA-256
    mismatch = bundle(models).selector_mismatch(selector.meta)
    if mismatch:
        raise ConfigError(mismatch)
    return reader


def _before(c: Candidate) -> str:
    """The words just before a sentence in its passage (the reader's context); none before a
    table row, whose context is its column names."""
    if c.passage.chunk.header:
        return ""
    return " ".join(c.passage.chunk.text[:c.start].split()[-CONTEXT_WORDS:])
