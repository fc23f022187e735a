"""Chat completions from any OpenAI-compatible server (OpenAI, Ollama, vLLM, LM Studio,
llama.cpp's server) through the official `openai` client, streamed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence

from rag.config import Settings
from rag.errors import LLMError


class OpenAIChat:
    """One server and model. The API key goes to the server only: it is never logged, printed
    or put into an error message."""

    def __init__(self, base_url: str = "", model: str = "", api_key: str = "",
                 timeout: float = 60.0) -> None:
        from openai import OpenAI

        # A local server needs no key, but the client insists on one.
        self._key = api_key
        self.timeout = timeout
        self.client = OpenAI(base_url=base_url or None, api_key=api_key or "not-needed",
                             timeout=timeout, max_retries=0)  # fail fast, then fall back
        self.base_url = str(self.client.base_url)
        self._model = model

    @property
    def model(self) -> str:
        """The configured model, else the server's first (a local server serves one)."""
        if not self._model:
            import openai

            try:
                models = [m.id for m in self.client.models.list()]
            except openai.OpenAIError as e:
                raise LLMError(self._describe(e)) from None
            if not models:
                raise LLMError(f"{self.base_url} serves no models; set llm_model")
            self._model = models[0]
        return self._model

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int,
               temperature: float) -> Iterator[str]:
        """The reply in pieces as the server sends them; LLMError on any failure, including a
        reply cut off mid-stream, malformed data, or one that takes longer than the timeout
        in all (a server trickling tokens never trips the per-read timeout)."""
        import httpx
        import openai

        deadline = time.monotonic() + self.timeout
        finished = False
        try:
            chunks = self.client.chat.completions.create(
                model=self.model, messages=list(messages), max_tokens=max_tokens,
                temperature=temperature, stream=True)
            with chunks:
                for chunk in chunks:
                    if time.monotonic() > deadline:
                        raise LLMError(f"{self.base_url} took longer than {self.timeout:g} s")
                    if not chunk.choices:
                        continue
                    finished = finished or chunk.choices[0].finish_reason is not None
                    if chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise LLMError(self._describe(e)) from None
        except ValueError:  # a server's malformed JSON
            raise LLMError(f"{self.base_url} sent malformed data") from None
        if not finished:
            raise LLMError(f"{self.base_url} closed the connection mid-reply")

    def _describe(self, e: Exception) -> str:
        import httpx
        import openai

        if isinstance(e, openai.APITimeoutError):
            what = "timed out"
        elif isinstance(e, openai.APIConnectionError | httpx.TransportError):
            what = "unreachable"
        elif isinstance(e, openai.APIStatusError):
            what = f"error {e.status_code}: {_message(e)}"
        else:
            what = type(e).__name__
        text = f"{self.base_url} {what}"
        return text.replace(self._key, "***") if self._key else text


def _message(e) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:200]
    return str(getattr(e, "message", "") or e)[:200]


def configured(s: Settings) -> bool:
    """A server is named: llm_base_url, OPENAI_BASE_URL, or an API key for api.openai.com."""
    return bool(s.llm_base_url or s.llm_api_key or os.environ.get("OPENAI_BASE_URL"))


def make_chat(s: Settings) -> OpenAIChat:
    return OpenAIChat(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)
