"""The one protocol every answer generator implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.query import Query
from rag.types import Citation, Passage, Sentence, render_sentences

ABSTAIN_TEXT = "The documents don't say."


@dataclass(frozen=True)
class Draft:
    """A generator's answer before the pipeline wraps it with timings and passages."""

    sentences: tuple[Sentence, ...]
    citations: tuple[Citation, ...]
    abstained: bool
    confidence: float  # calibrated probability that the answer is right
    core: str | None = None  # the shortest span that answers, when the generator knows one

    @property
    def text(self) -> str:
        return ABSTAIN_TEXT if self.abstained else render_sentences(self.sentences)

    @classmethod
    def abstain(cls, confidence: float = 0.0) -> Draft:
        return cls((), (), True, confidence)


class Generator(Protocol):
    """Turns a query and retrieved passages into a cited answer, or an abstention."""

    name: str

    def generate(self, query: Query, passages: Sequence[Passage],
                 threshold: float | None = None) -> Draft:
        """`threshold`: the least confidence to answer with (None: the configured one)."""
        ...
