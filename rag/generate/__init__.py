"""Answer generators behind one protocol; `make_generator` builds one by name."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import ConfigError
from rag.generate.base import ABSTAIN_TEXT, Draft, Generator

if TYPE_CHECKING:
    from rag.generate.features import FeatureExtractor

GENERATORS = ("extractive", "openai", "llamacpp")


def available(s: Settings) -> list[str]:
    """Generators that can run with these settings: extractive always; `openai` once a server
    is named (llm_base_url, OPENAI_BASE_URL, or an API key for api.openai.com); `llamacpp` once
    a model file is."""
    names = ["extractive"]
    if s.llm_base_url or s.llm_api_key or os.environ.get("OPENAI_BASE_URL"):
        names.append("openai")
    if s.llm_model_path:
        names.append("llamacpp")
    return names


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
    if name not in GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; choose one of: {', '.join(GENERATORS)}")
    if extractive is None:
        extractive = ExtractiveGenerator(embedder, idf, load_selector(s.selector or None),
                                         s.abstain_threshold, s.max_answer_sentences, features)
    if name == "extractive":
        return extractive
    assert isinstance(extractive, ExtractiveGenerator)
    from rag.generate.llm import LLMGenerator
    from rag.generate.verify import load_verifier

    if chat is None and name == "openai":
        from rag.generate.openai import OpenAIChat

        chat = OpenAIChat(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)
    elif chat is None:
        if not s.llm_model_path:
            raise ConfigError("the llamacpp generator needs llm_model_path: a .gguf file, "
                              "or smollm2 / gemma3-270m (the bundled test models)")
        from rag.generate.llamacpp import LlamaCppChat

        chat = LlamaCppChat(s.llm_model_path, s.llm_context)
    return LLMGenerator(name, chat, extractive, load_verifier(extractive.features.encode, idf),
                        context=s.llm_context, reply_tokens=s.llm_max_tokens,
                        temperature=s.llm_temperature, rewrite_follow_ups=s.llm_rewrite)


__all__ = ["ABSTAIN_TEXT", "Draft", "GENERATORS", "Generator", "available", "make_generator"]
