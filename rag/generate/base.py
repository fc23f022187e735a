"""The one protocol every answer generator implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.types import Citation, Passage

ABSTAIN_TEXT = "The documents don't say."


@dataclass(frozen=True)
class Draft:
    """A generator's answer before the pipeline wraps it with timings and passages."""

    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    confidence: float  # the generator's own support score, compared with the threshold
    core: str | None = None  # the shortest span that answers, when the generator knows one

    @classmethod
    def abstain(cls, confidence: float = 0.0) -> Draft:
        return cls(ABSTAIN_TEXT, (), True, confidence)


class Generator(Protocol):
    """Turns a question and retrieved passages into a cited answer, or an abstention."""

    name: str

    def generate(self, question: str, passages: Sequence[Passage],
                 history: Sequence[str] = ()) -> Draft: ...
