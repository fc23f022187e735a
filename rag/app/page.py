"""The Gradio chat page. `build_app(rag)` returns it without launching; `serve` launches it.

Answers are drawn by `rag.app.render`, which escapes everything taken from documents for HTML
and Markdown; Gradio's own sanitizer stays on as a second line of defence.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Sequence
from typing import Any

from rag.app.render import answer_html, escape, passages_html
from rag.config import MAX_K
from rag.errors import RagError
from rag.pipeline import RAG, check_history
from rag.types import Answer

# The largest request body the page accepts: a question, its history and settings are a few
# hundred kilobytes at most; anything bigger is refused before it is read.
MAX_REQUEST_BYTES = 1_000_000

CSS = """
.rag-answer sup { font-size: 0.75em; color: var(--color-accent); }
.rag-sources { margin-top: 0.6em; border-top: 1px solid var(--border-color-primary); }
.rag-source { margin: 0.4em 0; }
.rag-quote { margin: 0.2em 0 0.2em 1em; font-style: italic; }
.rag-abstain { color: var(--body-text-color-subdued); }
.rag-unsupported { text-decoration: underline wavy #d97706; }
.rag-flag { color: #d97706; font-size: 0.8em; }
.rag-tentative { color: var(--body-text-color-subdued); font-style: italic; margin-bottom: 0.3em; }
.rag-note { color: var(--body-text-color-subdued); font-size: 0.85em; }
.rag-passages td { vertical-align: top; padding: 2px 6px; }
mark { background: #fde68a; color: inherit; }
"""


def corpus_header(rag: RAG) -> str:
    info = rag.index.info
    return (f"Answers come only from the documents, with the passage behind every sentence. "
            f"Corpus: **{len(info.documents)} documents**, {info.chunks} chunks, built "
            f"{escape(info.built_at)} from the index in {escape(str(rag.index.path))}.")


def documents_table(rag: RAG) -> str:
    """What is indexed: one row per document (title, id, type, pages, chunks, when)."""
    rows = "".join(
        f"<tr><td>{escape(info.title or '')}</td><td>{escape(doc_id)}</td>"
        f"<td>{escape(info.kind or 'text')}</td><td>{info.pages or ''}</td>"
        f"<td>{len(info.chunks)}</td><td>{escape(info.indexed_at or '')}</td></tr>"
        for doc_id, info in sorted(rag.index.documents.items()))
    return ('<table class="rag-passages"><thead><tr><th>title</th><th>document</th>'
            '<th>type</th><th>pages</th><th>chunks</th><th>indexed</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def example_questions(rag: RAG, n: int = 4) -> list[str]:
    if rag.settings.examples:
        return list(rag.settings.examples)[:n]
    titles = [d.title for d in rag.index.documents.values() if d.title]
    return [f"What does “{t}” say?" for t in titles[:n]]


def user_turns(history: Sequence[dict[str, Any]]) -> list[str]:
    """Earlier user messages from Gradio's openai-style history, oldest first."""
    turns = []
    for m in history or []:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if isinstance(content, str) and content.strip():
            turns.append(content)
    return turns


MAX_TURNS = 50


def check_request(rag: RAG, question: Any, history: Any, k: Any, generator: Any) -> list[str]:
    """An API request checked as strictly as the command line; the history as a list, or
    RagError saying what is wrong."""
    if not isinstance(question, str):
        raise RagError("question must be a string")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_K:
        raise RagError(f"k must be a whole number from 1 to {MAX_K} (0: the default)")
    history = check_history(history)
    if len(history) > MAX_TURNS or any(len(h) > rag.settings.max_question_chars
                                       for h in history):
        raise RagError(f"history holds at most {MAX_TURNS} turns of at most "
                       f"{rag.settings.max_question_chars:,} characters")
    if generator:
        check_generator(rag, generator)
    return history


def check_generator(rag: RAG, generator: str) -> None:
    """RagError unless `generator` is one these settings can run."""
    if generator not in rag.generators():
        raise RagError(f"generator {generator!r} is not configured here; "
                       f"available: {', '.join(rag.generators())}")


def build_app(rag: RAG, upload: bool = False):
    """The chat page as a `gr.Blocks`, not launched; `upload` adds the box that adds
    documents."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    import gradio as gr

    def respond(message: str, history: list[dict[str, Any]], k: int, generator: str
                ) -> Iterator[tuple[str, str]]:
        try:
            check_generator(rag, generator)
            shown = ""
            for piece in rag.stream(message, user_turns(history), k=int(k), generator=generator):
                if isinstance(piece, Answer):
                    yield answer_html(piece), passages_html(piece.passages)
                else:
                    shown += piece
                    yield f'<div class="rag-answer"><p>{escape(shown)}</p></div>', gr.skip()
        except RagError as e:  # the user's to fix (an empty question, say): say so in the chat
            yield f'<p class="rag-abstain">{escape(str(e))}</p>', gr.skip()

    def answer_json(question: str, history: list[str] | None = None, k: int = 0,
                    generator: str = "") -> dict:
        """The Answer object (see README) for one question, with optional earlier user turns."""
        try:
            turns = check_request(rag, question, history, k, generator)
            return rag.answer(question, turns, k=k or None, generator=generator or None).to_dict()
        except RagError as e:  # the client's to fix: its message, not a server traceback
            raise gr.Error(str(e)) from None

    s = rag.settings
    with gr.Blocks(title="Ask the documents") as demo:
        gr.Markdown("## Ask the documents")
        header = gr.Markdown(corpus_header(rag), elem_id="corpus")
        with gr.Accordion("Indexed documents", open=False):
            listing = gr.HTML(documents_table(rag), elem_id="documents")
        passages = gr.HTML(passages_html(()), render=False, elem_id="passages")
        k = gr.Slider(1, 10, value=s.k, step=1, label="Passages to retrieve", render=False)
        names = rag.generators()
        gen = gr.Dropdown(names, value=s.generator if s.generator in names else names[0],
                          label="Answer generator", visible=len(names) > 1, render=False)
        with gr.Row():
            with gr.Column(scale=3):
                gr.ChatInterface(
                    respond,
                    chatbot=gr.Chatbot(height=520, latex_delimiters=[], sanitize_html=True,
                                       elem_id="chat", buttons=["copy"]),
                    textbox=gr.Textbox(placeholder="Ask a question about the documents…",
                                       max_length=s.max_question_chars, elem_id="question"),
                    additional_inputs=[k, gen],
                    additional_inputs_accordion="Settings",
                    additional_outputs=[passages],
                    examples=[[q, s.k, gen.value] for q in example_questions(rag)],
                    api_name="chat",
                    fill_height=False,
                )
            with gr.Column(scale=2):
                with gr.Accordion("Retrieved passages (last answer)", open=True):
                    passages.render()
        gr.api(answer_json, api_name="answer")
        if upload:
            _upload_box(gr, rag, header, listing)

        def fresh_header() -> tuple[str, str]:  # a build since the page was served
            rag.refresh()
            return corpus_header(rag), documents_table(rag)

        demo.load(fresh_header, outputs=[header, listing], api_name=False, queue=False)
    return demo


def _upload_box(gr, rag: RAG, header, listing) -> None:
    """Drop or pick files; each is checked, saved into the corpus's uploads folder and indexed,
    with one result line per file."""
    from pathlib import Path

    from rag.app.upload import add_files
    from rag.ingest.formats import KINDS

    def add(files: list[str] | None) -> Iterator[tuple[str, str, str]]:
        if not files:
            yield "", gr.skip(), gr.skip()
            return
        yield f"Indexing {len(files)} file(s)…", gr.skip(), gr.skip()
        known = {info.sha256: d for d, info in rag.index.documents.items()}
        try:
            results = add_files([(Path(f).name, Path(f)) for f in files], rag.settings,
                                rag.embedder, known)
        except RagError as e:
            yield f"Not indexed: {escape(str(e))}", gr.skip(), gr.skip()
            return
        rag.refresh()
        yield ("\n".join(f"- {escape(name)}: {escape(result)}" for name, result in results),
               corpus_header(rag), documents_table(rag))

    with gr.Accordion("Add documents", open=False):
        files = gr.File(file_count="multiple", file_types=sorted(KINDS),
                        label=f"PDF, Word, HTML, Markdown or text, up to "
                              f"{rag.settings.max_upload_mb} MB each", elem_id="upload")
        status = gr.Markdown(elem_id="upload-status")
    files.upload(add, inputs=files, outputs=[status, header, listing], api_name="upload")


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """`"user:password"` (as in RAG_AUTH) to credentials; None when no login is wanted."""
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not (sep and user and password):
        raise RagError("RAG_AUTH must look like user:password")
    return user, password


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return False


def check_exposure(host: str, share: bool, auth: str | None) -> None:
    """Refuse to serve beyond this machine without a login."""
    if (share or not is_loopback(host)) and not auth:
        where = "through a share link" if share else f"on {host}"
        raise RagError(f"serving {where} makes the documents reachable from other machines; "
                       f"set RAG_AUTH=user:password to require a login")


class LimitBody:
    """ASGI middleware: answer 413 to a request body over `max_bytes`, declared or streamed,
    before the application reads it."""

    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES, uploads: int = 0) -> None:
        self.app, self.max_bytes, self.uploads = app, max_bytes, uploads

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # File uploads (when on) may be as large as the upload limit, and no larger.
        limit = self.uploads if self.uploads and scope["path"].endswith("/upload") \
            else self.max_bytes
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(send, limit)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    body = f"request body over {limit:,} bytes".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def document_route(rag: RAG):
    """GET /document?id=DOC_ID: the original file of an indexed PDF, looked up by its id in
    the index (never by a path from the request), behind the page's login when there is one.
    Other formats are shown as passages on the page, not served: a saved web page opened from
    this origin could run its scripts here."""
    import hashlib

    from fastapi import Request
    from fastapi.responses import PlainTextResponse, Response
    from fastapi.routing import APIRoute

    def document(request: Request, id: str = ""):  # noqa: A002 - the query parameter's name
        app = request.app
        if getattr(app, "auth", None):
            token = request.cookies.get(f"access-token-{app.cookie_id}") or \
                request.cookies.get(f"access-token-unsecure-{app.cookie_id}")
            if app.tokens.get(token) is None:
                return PlainTextResponse("log in first", status_code=401)
        info = rag.index.documents.get(id)
        if info is None or info.kind != "pdf":
            return PlainTextResponse("no such PDF in the index", status_code=404)
        try:
            raw = open(info.path, "rb").read()
        except OSError:
            return PlainTextResponse("the file is gone; rebuild the index", status_code=404)
        if hashlib.sha256(raw).hexdigest() != info.sha256:
            return PlainTextResponse("the file changed since it was indexed; rebuild the index",
                                     status_code=409)
        return Response(raw, media_type="application/pdf",  # the bytes just checked
                        headers={"Content-Disposition": "inline",
                                 "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "sandbox"})

    # FastAPI reads the parameters' types; this module's annotations are strings it cannot
    # resolve from inside a function.
    document.__annotations__.update(request=Request, id=str)
    return APIRoute("/document", document, methods=["GET"])


def serve(rag: RAG, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          auth: str | None = None, concurrency: int = 4, upload: bool = True) -> None:
    """Launch the page; `auth` is "user:password" (e.g. from RAG_AUTH). Load `rag` with
    `embedder_for(settings, threads=1)`: requests run side by side, a core each."""
    from starlette.middleware import Middleware

    credentials = parse_auth(auth)  # refuse a malformed value rather than serve without login
    check_exposure(host, share, auth)
    demo = build_app(rag, upload=upload)
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    most = rag.settings.max_upload_mb * 1_000_000
    demo.launch(server_name=host, server_port=port, share=share, auth=credentials,
                css=CSS, theme=_theme(), show_error=False, footer_links=["api"],
                max_file_size=most if upload else 1,
                app_kwargs={"middleware": [Middleware(
                    LimitBody, uploads=most + 100_000 if upload else 0)],
                    "routes": [document_route(rag)]})


def _theme():
    import gradio as gr

    # System fonts: the default theme fetches web fonts, which an offline machine cannot.
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])
