"""Answer generators behind one protocol; `make_generator` picks one by name."""

from __future__ import annotations

from collections.abc import Callable

from rag.embed import Embedder
from rag.errors import ConfigError
from rag.generate.base import ABSTAIN_TEXT, Draft, Generator

GENERATORS = ("extractive",)


def make_generator(name: str, *, embedder: Embedder, idf: Callable[[str], float],
                   threshold: float | None, max_sentences: int,
                   selector: str | None = None) -> Generator:
    """`threshold` None: the selector's own (chosen on validation data)."""
    if name == "extractive":
        from rag.generate.extractive import ExtractiveGenerator
        from rag.generate.selector import load_selector

        return ExtractiveGenerator(embedder, idf, load_selector(selector), threshold,
                                   max_sentences)
    raise ConfigError(f"unknown generator {name!r}; choose one of: {', '.join(GENERATORS)}")


__all__ = ["ABSTAIN_TEXT", "Draft", "GENERATORS", "Generator", "make_generator"]
