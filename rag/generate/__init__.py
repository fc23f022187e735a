"""Answer generators behind one protocol; `make_generator` builds one by name.

The extractive generator (quotes chosen by the trained selector and reader) always runs; an LLM
generator writes from the same passages, gated by it and falling back to it. An LLM back end is
a module with `configured(settings) -> bool` and `make_chat(settings)` returning a `Chat`
(`rag.generate.llm`); `register(name, module)` makes it a generator. Adding one is one module
and one line in `BACKENDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import ConfigError
from rag.generate.base import ABSTAIN_TEXT, Draft, Generator

if TYPE_CHECKING:
    from rag.generate.features import FeatureExtractor

# LLM back ends by generator name: the module that builds its chat client.
BACKENDS: dict[str, str] = {
    "openai": "rag.generate.openai",  # any OpenAI-compatible server
    "llamacpp": "rag.generate.llamacpp",  # a GGUF file in this process
}


def register(name: str, module: str) -> None:
    """Make the LLM back end in `module` available as the generator `name`."""
    if name == "extractive":
        raise ValueError("the extractive generator is built in")
    BACKENDS[name] = module


def names() -> list[str]:
    """Every generator there is, configured or not."""
    return ["extractive", *BACKENDS]


def _backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise ConfigError(f"unknown generator {name!r}; choose one of: {', '.join(names())}")
    return importlib.import_module(BACKENDS[name])


def available(s: Settings) -> list[str]:
    """Generators that can run with these settings: extractive always; an LLM once its back
    end is configured (`openai` once a server is named, `llamacpp` once a model file is)."""
    return ["extractive", *(name for name in BACKENDS if _backend(name).configured(s))]


def make_generator(name: str, settings: Settings, embedder: Embedder,
                   idf: Callable[[str], float], extractive: Generator | None = None,
                   chat: Any = None, features: FeatureExtractor | None = None) -> Generator:
    """The generator `name`, configured by `settings`; the abstention threshold is the
    selector's own (chosen on validation data) unless `abstain_threshold` is set. An LLM
    generator gates on and falls back to `extractive` (pass the one already built, so both
    share its sentence-vector cache; None: a new one). `chat` reuses an LLM client;
    `features` is the feature extractor to share with the re-ranker (None: a new one)."""
    from rag.generate.extractive import ExtractiveGenerator
    from rag.generate.selector import load_selector

    s = settings
    backend = None if name == "extractive" else _backend(name)  # unknown names fail first
    if extractive is None:
        from rag.generate.scoring import reader_for

        selector = load_selector(s.selector or None, s.models)
        extractive = ExtractiveGenerator(embedder, idf, selector, s.abstain_threshold,
                                         s.max_answer_sentences, features,
                                         reader_for(selector, s.models))
    if backend is None:
        return extractive
    assert isinstance(extractive, ExtractiveGenerator)
    from rag.generate.llm import LLMGenerator
    from rag.generate.verify import load_verifier

    return LLMGenerator(name, chat or backend.make_chat(s), extractive,
                        load_verifier(extractive.features.encode, idf, models=s.models),
                        context=s.llm_context, reply_tokens=s.llm_max_tokens,
                        temperature=s.llm_temperature, rewrite_follow_ups=s.llm_rewrite)


__all__ = ["ABSTAIN_TEXT", "BACKENDS", "Draft", "Generator", "available", "make_generator",
           "names", "register"]
