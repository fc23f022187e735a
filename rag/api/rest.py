"""A small REST face, mounted at `/api`: `POST /api/answer` (the Answer object), `GET
/api/documents` and `GET /api/collections` (what the caller may read), with an OpenAPI schema
at `/api/openapi.json` and a page describing it at `/api/docs` (no web fonts or scripts from
elsewhere: it works offline). Same keys and errors as the chat endpoint."""

import html
from typing import Any, Literal

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.api import ApiError, Gate, Json
from rag.app.library import PDF_HEADERS, Unserved, readable
from rag.config import MAX_K
from rag.errors import QuestionError, RagError
from rag.pipeline import MAX_TURNS, Ask
from rag.types import Citation, Sentence


class AnswerRequest(BaseModel):
    """The body of `POST /api/answer` (parsed on into the one request every surface takes,
    `rag.pipeline.Ask`)."""

    question: str = Field(description="the question")
    history: list[str] = Field(default=[], max_length=MAX_TURNS,
                               description="earlier user turns, oldest first")
    k: int = Field(default=0, ge=0, le=MAX_K, description="passages to read (0: the default)")
    generator: str = Field(default="", description="extractive, or a configured LLM")
    collection: str = Field(default="", description="the collection ('': the first you may "
                                                    "read)")


class PassageOut(BaseModel):
    chunk_id: str
    doc_id: str
    text: str
    score: float
    rank: int
    page: int | None = None
    section: str | None = None


class AnswerOut(BaseModel):
    """The Answer object (README, "Answer object"): an abstention has no citations."""

    question: str
    answer: str = Field(description="text with inline [n] markers")
    abstained: bool
    citations: list[Citation]  # the dataclass itself: its fields are the JSON's
    passages: list[PassageOut]
    timings_ms: dict[str, float]
    sentences: list[Sentence]
    generator: str
    fallback: str | None = Field(description="why the configured LLM did not answer")
    rewritten: str | None = Field(description="a follow-up as the question searched")
    confidence: float
    band: Literal["answer", "tentative", "abstain"]
    note: str | None


def app(gate: Gate) -> FastAPI:
    api = FastAPI(title="rag", version="1", openapi_url="/openapi.json", docs_url=None,
                  redoc_url=None, description="Cited answers from the documents you may read.",
                  default_response_class=Json)

    @api.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        return Json(e.body(), status_code=e.status)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body it cannot parse, an unknown path) in OpenAI's shape
        return Json(ApiError(e.status_code, str(e.detail)).body(), status_code=e.status_code)

    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ())[1:])
        return Json(ApiError(400, f"{where}: {first.get('msg', 'invalid')}",
                                     param=where or None).body(), status_code=400)

    @api.post("/answer", summary="Answer a question from the documents, with citations",
              response_model=AnswerOut)
    async def answer(body: AnswerRequest, authorization: str | None = Header(default=None)
                     ) -> dict[str, Any]:
        who = gate.caller(authorization)
        try:
            ask = Ask.parse(**body.model_dump())
            rag = gate.library.get(ask.collection, who)
            rag.check(ask)
        except QuestionError as e:
            raise ApiError(400, str(e), param=e.param) from None
        except RagError as e:
            raise ApiError(404, str(e), param="collection") from None
        gate.enter()
        try:
            def run() -> dict[str, Any]:
                with gate.slot():
                    return rag.ask(ask, who).to_dict()
            try:
                return await run_in_threadpool(run)
            except QuestionError as e:
                raise ApiError(400, str(e), param=e.param or "question") from None
            except RagError as e:
                raise ApiError(400, str(e)) from None
        finally:
            gate.leave()

    @api.get("/documents", summary="The documents you may read in a collection")
    async def documents(collection: str = "", authorization: str | None = Header(default=None)
                        ) -> list[dict[str, Any]]:
        who = gate.caller(authorization)
        try:
            rag = gate.library.get(collection, who)
        except RagError as e:
            raise ApiError(404, str(e), param="collection") from None
        return [{"doc_id": d, "title": info.title, "kind": info.kind, "pages": info.pages,
                 "chunks": len(info.chunks), "date": info.date, "url": info.url,
                 "indexed_at": info.indexed_at}
                for d, info in sorted(readable(rag, who).items())]

    @api.get("/documents/{doc_id:path}", response_class=Response,
             summary="The original file of an indexed PDF you may read (a citation's link)",
             responses={200: {"content": {"application/pdf": {}}}})
    async def document(doc_id: str, collection: str = "",
                       authorization: str | None = Header(default=None)) -> Response:
        who = gate.caller(authorization)
        try:  # `Library.pdf` says what is served
            raw = await run_in_threadpool(gate.library.pdf, collection, doc_id, who)
        except Unserved as e:
            raise ApiError(e.status, str(e), param="doc_id") from None
        return Response(raw, media_type="application/pdf", headers=PDF_HEADERS)

    @api.get("/collections", summary="The collections you may read")
    async def collections(authorization: str | None = Header(default=None)
                          ) -> list[dict[str, Any]]:
        who = gate.caller(authorization)
        return [{"name": name or "rag", "documents": len(readable(gate.library.rags[name], who))}
                for name in gate.library.names(who)]

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        schema = api.openapi()
        rows = "".join(
            f"<tr><td><code>{html.escape(method.upper())} /api{html.escape(path)}</code></td>"
            f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
            for path, ops in schema["paths"].items() for method, op in ops.items())
        return HTMLResponse(
            "<!doctype html><title>rag API</title><h1>rag API</h1>"
            "<p>Send <code>Authorization: Bearer KEY</code>. The schema: "
            "<a href='openapi.json'>openapi.json</a>. OpenAI-compatible chat: "
            "<code>GET /v1/models</code>, <code>POST /v1/chat/completions</code>.</p>"
            f"<table>{rows}</table>")

    return api
