"""The one protocol every answer generator implements."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from rag.query import Query
from rag.types import Citation, Passage, Sentence, render_sentences

ABSTAIN_TEXT = "The documents don't say."
# Shown above a tentative answer's quote (band `tentative`): close, but maybe not the answer.
TENTATIVE_TEXT = "The documents may not answer this directly. The closest passage:"


@dataclass(frozen=True)
class Draft:
    """A generator's answer before the pipeline wraps it with timings and passages."""

    sentences: tuple[Sentence, ...]
    citations: tuple[Citation, ...]
    abstained: bool
    confidence: float  # calibrated probability that the answer is right
    core: str | None = None  # the shortest span that answers, when the generator knows one
    generator: str = ""  # who wrote it ("": the generator that was asked)
    fallback: str | None = None  # why the asked generator handed over to another
    band: str = "answer"  # `answer`, `tentative` or `abstain` (`Selector.band`)

    @property
    def text(self) -> str:
        return ABSTAIN_TEXT if self.abstained else render_sentences(self.sentences)

    @classmethod
    def abstain(cls, confidence: float = 0.0) -> Draft:
        return cls((), (), True, confidence, band="abstain")

    def handed_over(self, generator: str, reason: str) -> Draft:
        """This draft, marked as written by `generator` because the asked one could not."""
        return replace(self, generator=generator, fallback=reason)


def stream_words(draft: Draft) -> Iterator[str | Draft]:
    """A finished draft released word by word, then the draft itself (for generators that
    compose an answer at once). A tentative draft's hedge comes first, on its own line."""
    if draft.band == "tentative":
        yield TENTATIVE_TEXT + "\n"
    yield from re.findall(r"\S+\s*", draft.text)
    yield draft


class Generator(Protocol):
    """Turns a query and retrieved passages into a cited answer, or an abstention."""

    name: str

    def generate(self, query: Query, passages: Sequence[Passage],
                 threshold: float | None = None) -> Draft:
        """`threshold`: the least confidence to answer with (None: the configured one)."""
        ...

    def stream(self, query: Query, passages: Sequence[Passage],
               threshold: float | None = None) -> Iterator[str | Draft]:
        """The answer text in pieces as it is written, then the finished `Draft`."""
        ...

    def rewrite(self, query: Query) -> str | None:
        """A follow-up as a standalone question, or None to search with `query.text`."""
        ...
