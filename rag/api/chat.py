"""OpenAI's chat API over the documents: `/v1/models` (one model per collection the caller may
read; "rag" for a server with one corpus) and `/v1/chat/completions`.

The last user message is the question and the earlier user messages its history (follow-ups
work); `model` picks the collection; extra fields `k` and `generator` are read, unknown ones
ignored. The reply's content is the answer with its `[n]` markers and a Markdown "Sources" list,
so any chat app shows the citations; the response also carries `citations` (the Answer's
citation objects), `band` and `confidence`. A stream (`stream: true`) sends Server-Sent Events
in OpenAI's chunk format: the role first, then the checked answer in pieces (they join to the
same content), then a last chunk with `finish_reason` and the citations, then `data: [DONE]`.
"""

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from rag.api import ApiError, Gate, Json, read_json
from rag.app.render import answer_markdown
from rag.errors import QuestionError, RagError
from rag.pipeline import MAX_TURNS, RAG, Ask
from rag.text import count_tokens
from rag.types import Answer, Viewer

SINGLE = "rag"  # the model of a server with one corpus
PIECE_WORDS = 4  # words per streamed chunk
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def error(e: ApiError) -> Response:
    return Json(e.body(), status_code=e.status)


def model_names(gate: Gate, viewer: Viewer | None) -> list[str]:
    return [name or SINGLE for name in gate.library.names(viewer)]


def collection_of(gate: Gate, model: str | None, viewer: Viewer | None) -> str:
    """The collection a model names ("": the first the caller may read), or 404."""
    if not model:
        return ""
    name = "" if model == SINGLE and not gate.library.named else model
    if not gate.library.may_read(name, viewer):
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to "
                            f"it; GET /v1/models lists yours", param="model",
                       code="model_not_found")
    return name


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and isinstance(p.get("text"), str))
    raise ApiError(400, "a message's content must be text or a list of text parts",
                   param="messages")


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request: the question it asks, the model (collection) it names, and
    whether the reply streams."""

    ask: Ask
    model: str = ""
    stream: bool = False


def parse(body: Any) -> ChatRequest:
    """The request's question, history and options, or 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    asked = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ApiError(400, f"each message needs a role ({', '.join(ROLES)}) and content",
                           param="messages")
        if m["role"] == "user":
            asked.append(_text(m.get("content")))
    if not asked or not asked[-1].strip():
        raise ApiError(400, "the last user message is the question; there is none",
                       param="messages")
    if body.get("model") is not None and not isinstance(body["model"], str):
        raise ApiError(400, "model must be a string", param="model")
    if not isinstance(body.get("stream") or False, bool):  # null is false, as OpenAI reads it
        raise ApiError(400, "stream must be true, false or null", param="stream")
    try:  # a chat app sends the whole conversation: its latest turns are the history
        ask = Ask.parse(asked[-1], asked[:-1][-MAX_TURNS:], body.get("k"), body.get("generator"))
    except QuestionError as e:
        raise ApiError(400, str(e), param=e.param or "messages") from None
    return ChatRequest(ask, body.get("model") or "", body.get("stream") or False)


def _answer(gate: Gate, rag: RAG, ask: Ask, viewer: Viewer | None) -> Answer:
    with gate.slot():
        try:
            return rag.ask(ask, viewer)
        except RagError as e:  # the caller's to fix: an empty or overlong question, say
            raise ApiError(400, str(e), param=getattr(e, "param", None) or "messages") from None


def _extras(ans: Answer) -> dict[str, Any]:
    return {"citations": [c.to_dict() for c in ans.citations], "band": ans.band,
            "confidence": round(ans.confidence, 4)}


def completion(ans: Answer, model: str, question: str, base_url: str = "",
               collection: str = "") -> dict[str, Any]:
    content = answer_markdown(ans, base_url, collection)
    prompt, reply = count_tokens(question), count_tokens(content)
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": reply,
                      "total_tokens": prompt + reply},
            **_extras(ans)}


def _chunk(cid: str, created: int, model: str, delta: dict[str, Any],
           finish: str | None = None, **extra: Any) -> str:
    data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def events(gate: Gate, rag: RAG, ask: Ask, viewer: Viewer | None, model: str,
           base_url: str = "", collection: str = "") -> Iterator[str]:
    """The stream: role, the checked answer in pieces, the citations, [DONE]."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    try:
        yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
        try:
            ans = _answer(gate, rag, ask, viewer)
        except ApiError as e:
            yield f"data: {json.dumps(e.body())}\n\n"
            return
        words = answer_markdown(ans, base_url, collection).split(" ")
        for i in range(0, len(words), PIECE_WORDS):
            piece = " ".join(words[i:i + PIECE_WORDS]) + (" " if i + PIECE_WORDS < len(words)
                                                         else "")
            yield _chunk(cid, created, model, {"content": piece})
        yield _chunk(cid, created, model, {}, "stop", **_extras(ans))
        yield "data: [DONE]\n\n"
    finally:
        gate.leave()


def routes(gate: Gate) -> list[Route]:
    async def models(request: Request) -> Response:
        try:
            viewer = gate.caller(request.headers.get("authorization"))
        except ApiError as e:
            return error(e)
        return Json({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "rag"}
            for name in model_names(gate, viewer)]})

    async def completions(request: Request) -> Response:
        try:
            viewer = gate.caller(request.headers.get("authorization"))
            req = parse(await read_json(request))
            name = collection_of(gate, req.model, viewer)
            rag = gate.library.get(name, viewer)
            model = req.model or (name or model_names(gate, viewer)[0])
            rag.check(req.ask)
            gate.enter()
        except ApiError as e:
            return error(e)
        except QuestionError as e:
            return error(ApiError(400, str(e), param=e.param))
        except RagError as e:  # no collection the caller may read
            return error(ApiError(404, str(e), param="model", code="model_not_found"))
        base = str(request.base_url)  # document links a key can open
        if req.stream:
            return StreamingResponse(events(gate, rag, req.ask, viewer, model, base, name),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            ans = await run_in_threadpool(_answer, gate, rag, req.ask, viewer)
        except ApiError as e:
            return error(e)
        finally:
            gate.leave()
        return Json(completion(ans, model, req.ask.question, base, name))

    return [Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"])]
