"""The Gradio chat page. `build_app(rag)` returns it without launching; `serve` launches it.

Answers are drawn by `rag.app.render`, which escapes everything taken from documents for HTML
and Markdown; Gradio's own sanitizer stays on as a second line of defence.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rag.app.guards import HungUp, cors
from rag.app.history import conversation_choices, conversation_events, feedback_box
from rag.app.library import PDF_HEADERS, Library, Unserved, readable
from rag.app.login import Login
from rag.app.people import Visitors, check_exposure, login_check, one_login, refused
from rag.app.render import answer_html, escape, passages_html
from rag.errors import RagError
from rag.pipeline import RAG, Ask
from rag.types import Answer, Viewer
from rag.users import Users
from rag.users.conversations import Conversations

# The largest request body the page accepts: a question, its history and settings are a few
# hundred kilobytes at most; anything bigger is refused before it is read.
MAX_REQUEST_BYTES = 1_000_000
GRADIO_EVENTS_KEPT = 100  # Gradio's per-event records (a monitoring view this page does not use)

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


def corpus_header(rag: RAG, viewer: Viewer | None = None) -> str:
    info = rag.index.info
    docs = readable(rag, viewer)
    chunks = info.chunks if viewer is None else sum(len(d.chunks) for d in docs.values())
    return (f"Answers come only from the documents, with the passage behind every sentence. "
            f"Corpus: **{len(docs)} documents**, {chunks} chunks, built "
            f"{escape(info.built_at)} from the index in {escape(str(rag.index.path))}.")


def documents_table(rag: RAG, viewer: Viewer | None = None) -> str:
    """What is indexed and `viewer` may read: one row per document (title, id, type, pages,
    chunks, when)."""
    rows = "".join(
        f"<tr><td>{escape(info.title or '')}</td><td>{escape(doc_id)}</td>"
        f"<td>{escape(info.kind or 'text')}</td><td>{info.pages or ''}</td>"
        f"<td>{len(info.chunks)}</td><td>{escape(info.indexed_at or '')}</td></tr>"
        for doc_id, info in sorted(readable(rag, viewer).items()))
    return ('<table class="rag-passages"><thead><tr><th>title</th><th>document</th>'
            '<th>type</th><th>pages</th><th>chunks</th><th>indexed</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def example_questions(rag: RAG, viewer: Viewer | None = None, n: int = 4) -> list[str]:
    if rag.settings.examples:
        return list(rag.settings.examples)[:n]
    titles = [d.title for d in readable(rag, viewer).values() if d.title]
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


def build_app(rag: RAG | Library, upload: bool = False, visitors: Visitors | None = None,
              conversations: Conversations | None = None):
    """The chat page as a `gr.Blocks`, not launched: one index (`RAG`) or several collections
    (`Library`, with a picker); `upload` adds the box that adds documents; `visitors` says who
    may read what (None: everyone reads everything); `conversations` keeps each person's
    conversations and feedback (None: nothing is kept)."""
    lib = rag if isinstance(rag, Library) else Library.single(rag)
    return ChatPage(lib, visitors or Visitors(), conversations, upload).build()


@dataclass
class Widgets:
    """The page's components that its handlers read or write (built by `ChatPage.build`)."""

    picker: Any  # the collection
    header: Any  # what the collection holds
    listing: Any  # its documents
    passages: Any  # the last answer's retrieved passages
    cid: Any  # the open conversation ("": a new one starts with a question)
    turns: Any  # per answer shown: its kept turn (feedback names it)
    chat: Any = None  # the ChatInterface
    listed: Any = None  # the visitor's conversations
    title: Any = None  # the open conversation's title box
    new: Any = None
    rename: Any = None
    remove: Any = None
    feedback: Any = None  # the feedback status line
    audience: Any = None  # who an upload is for


class ChatPage:
    """The chat page's handlers, each a method reading who is asking from the request."""

    def __init__(self, lib: Library, who: Visitors, saved: Conversations | None,
                 upload: bool) -> None:
        self.lib, self.who, self.saved, self.upload = lib, who, saved, upload

    def person(self, name: str | None) -> str:
        """The request's user name, once their account is known to exist (or RagError)."""
        self.who.viewer(name)
        return name or ""

    def respond(self, message: str, history: list[dict[str, Any]], k: int, generator: str,
                collection: str, cid: str, turns: list[int | None], request: Any
                ) -> Iterator[tuple[Any, ...]]:
        """Stream the answer; once it is complete, keep the turn in the conversation (a new
        one on the first question). `turns` holds the kept turn of each answer shown."""
        import gradio as gr

        turns = list(turns or [])
        saved = self.saved
        try:
            viewer = self.who.viewer(request.username)
            ask = Ask.parse(message, user_turns(history), int(k), generator, collection)
            rag = self.lib.get(ask.collection, viewer)
            rag.check(ask)
            shown = ""
            for piece in rag.stream(ask.question, ask.history, k=ask.k, generator=ask.generator,
                                    viewer=viewer):
                if isinstance(piece, Answer):
                    html = answer_html(piece, collection)
                    if saved is None:
                        yield html, passages_html(piece.passages), cid, turns + [None]
                        return
                    user = request.username or ""
                    cid = cid or saved.start(user, message, collection or "")
                    turn = saved.add_turn(user, cid, message, html, piece.to_dict(),
                                          piece.core, str(rag.index.version))
                    yield html, passages_html(piece.passages), cid, turns + [turn]
                else:
                    shown += piece
                    yield f'<div class="rag-answer"><p>{escape(shown)}</p></div>', \
                        gr.skip(), gr.skip(), gr.skip()
        except RagError as e:  # the user's to fix (an empty question, say): say so in the chat
            yield f'<p class="rag-abstain">{escape(str(e))}</p>', gr.skip(), cid, \
                turns + [None]

    def answer_json(self, question: str, history: list[str] | None = None, k: int = 0,
                    generator: str = "", collection: str = "", request: Any = None) -> dict:
        """The Answer object (see README) for one question, with optional earlier user turns,
        from a collection (the first one the caller may read when not named)."""
        import gradio as gr

        try:
            ask = Ask.parse(question, history, k, generator, collection)
            viewer = self.who.viewer(request.username if request else None)
            return self.lib.get(ask.collection, viewer).ask(ask, viewer).to_dict()
        except RagError as e:  # the client's to fix: its message, not a server traceback
            raise refused(gr, e) from None

    def view(self, collection: str | None, request: Any) -> tuple[Any, str, str]:
        """The picker, header and document list as this visitor may see them."""
        import gradio as gr

        try:
            viewer = self.who.viewer(request.username)
            mine = self.lib.names(viewer)
            chosen = collection if collection in mine else (mine[0] if mine else None)
            rag = self.lib.get(chosen, viewer)
        except RagError as e:
            return gr.update(choices=[], value=None), escape(str(e)), ""
        rag.refresh()  # a build since the page was served
        return (gr.update(choices=mine, value=chosen), corpus_header(rag, viewer),
                documents_table(rag, viewer))

    def own_groups(self, request: Any) -> Any:
        """The upload box's audience: the visitor's own groups."""
        import gradio as gr

        try:
            viewer = self.who.viewer(request.username)
        except RagError:
            return gr.update(choices=[], value=[])
        return gr.update(choices=audience_choices(viewer), value=sorted(viewer.groups))

    def own_list(self, request: Any) -> Any:
        """The visitor's saved conversations."""
        import gradio as gr

        assert self.saved is not None
        try:
            return conversation_choices(self.saved, self.person(request.username), None)
        except RagError:
            return gr.update(choices=[], value=None)

    def build(self):
        """The `gr.Blocks`: the layout, then the events wired to the handlers above."""
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
        import gradio as gr

        # Gradio hands a handler the request by its parameter's type; the annotations here
        # are strings it cannot resolve (`gr` is imported only when a page is built).
        for fn in (ChatPage.respond, ChatPage.answer_json, ChatPage.view, ChatPage.own_groups,
                   ChatPage.own_list):
            fn.__annotations__["request"] = gr.Request
        lib, who, saved = self.lib, self.who, self.saved
        # Built once for every visitor: only what anyone signed in may read; each visitor's
        # own view replaces it when the page loads.
        shared = lib.names(who.anyone)
        first = lib.rags[shared[0]] if shared else None
        s = next(iter(lib.rags.values())).settings
        with gr.Blocks(title="Ask the documents") as demo:
            gr.Markdown("## Ask the documents")
            # Any name passes Gradio's own check (a person's choices are set when the page
            # loads); `lib.get` decides what they may read.
            w = Widgets(
                picker=gr.Dropdown(shared, value=shared[0] if shared else None,
                                   label="Collection", visible=lib.named, elem_id="collection",
                                   render=lib.named, allow_custom_value=True),
                header=gr.Markdown(corpus_header(first, who.anyone) if first else "",
                                   elem_id="corpus"),
                listing=None,
                passages=gr.HTML(passages_html(()), render=False, elem_id="passages"),
                cid=gr.State(""), turns=gr.State([]))
            with gr.Accordion("Indexed documents", open=False):
                w.listing = gr.HTML(documents_table(first, who.anyone) if first else "",
                                    elem_id="documents")
            k = gr.Slider(1, 10, value=s.k, step=1, label="Passages to retrieve", render=False)
            names = (first or next(iter(lib.rags.values()))).generators()
            gen = gr.Dropdown(names, value=s.generator if s.generator in names else names[0],
                              label="Answer generator", visible=len(names) > 1, render=False)
            w.listed = gr.Radio([], label="Conversations", elem_id="conversations",
                                render=False)
            with gr.Row():
                if saved is not None:
                    with gr.Column(scale=1, min_width=200):
                        w.new = gr.Button("New conversation", size="sm",
                                          elem_id="new-conversation")
                        w.listed.render()
                        with gr.Accordion("Rename or delete", open=False):
                            w.title = gr.Textbox(label="Title", elem_id="conversation-title")
                            w.rename = gr.Button("Rename", size="sm", elem_id="rename")
                            w.remove = gr.Button("Delete", size="sm", variant="stop",
                                                 elem_id="delete")
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(height=520, latex_delimiters=[], sanitize_html=True,
                                         elem_id="chat", buttons=["copy"])
                    examples = example_questions(first, who.anyone) if first else []
                    w.chat = gr.ChatInterface(
                        self.respond,
                        chatbot=chatbot,
                        textbox=gr.Textbox(placeholder="Ask a question about the documents…",
                                           max_length=s.max_question_chars,
                                           elem_id="question"),
                        additional_inputs=[k, gen, w.picker, w.cid, w.turns],
                        additional_inputs_accordion="Settings",
                        additional_outputs=[w.passages, w.cid, w.turns],
                        examples=[[q, s.k, gen.value, w.picker.value, "", []]
                                  for q in examples],
                        api_name="chat",
                        fill_height=False,
                    )
                    if saved is not None:
                        w.feedback = feedback_box(gr, saved, chatbot, w.turns)
                with gr.Column(scale=2):
                    with gr.Accordion("Retrieved passages (last answer)", open=True):
                        w.passages.render()
            if saved is not None:
                conversation_events(gr, saved, w, person=self.person)
            gr.api(self.answer_json, api_name="answer")
            if self.upload:
                w.audience = _upload_box(gr, lib, w.header, w.listing, who, w.picker)
            if who.accounts:
                gr.Button("Log out", link="/logout", size="sm", elem_id="logout")
            self._wire(gr, demo, w)
        return demo

    def _wire(self, gr: Any, demo: Any, w: Widgets) -> None:
        """What each visitor's page loads, and what picking a collection does."""
        shown = [w.picker, w.header, w.listing]
        demo.load(self.view, [w.picker], shown, api_name=False, queue=False)
        if self.lib.named:
            w.picker.input(self.view, [w.picker], shown, api_name=False, queue=False).then(
                lambda: ([], "", [], passages_html(())), None,
                [w.chat.chatbot_value, w.cid, w.turns, w.passages], api_name=False,
                queue=False)
        if w.audience is not None and self.who.accounts:
            demo.load(self.own_groups, outputs=[w.audience], api_name=False, queue=False)
        if self.saved is not None:
            demo.load(self.own_list, outputs=[w.listed], api_name=False, queue=False)


EVERYONE = "everyone who may read this collection"


def audience_choices(viewer: Viewer | None) -> list[str]:
    """Who an upload may be opened to: each of the uploader's groups, or the collection's
    readers (a person with no group must choose that on purpose)."""
    return [*sorted(viewer.groups), EVERYONE] if viewer is not None else []


def chosen_audience(chosen: Any, viewer: Viewer | None) -> tuple[str, ...] | None:
    """The groups an upload is for (None: the collection's readers), or RagError when the
    choice names a group the uploader is not in; nothing chosen means all their groups."""
    if viewer is None or viewer.everything:
        return None  # no accounts: every document is everyone's
    picked = [chosen] if isinstance(chosen, str) else list(chosen or [])
    if not all(isinstance(g, str) for g in picked):
        raise RagError("the audience must be a list of group names")
    if EVERYONE in picked:
        return None
    if not set(picked) <= viewer.groups:
        raise RagError("an upload may be opened only to groups you are in: "
                       + (", ".join(sorted(viewer.groups)) or "you are in none"))
    groups = tuple(sorted(picked or viewer.groups))
    if not groups:
        raise RagError(f"you are in no group: choose “{EVERYONE}” to add documents here")
    return groups


# Gradio's temporary upload copies and how many requests are reading each.
_TEMP_USERS: Counter[str] = Counter()
_TEMP_LOCK = threading.Lock()


def _upload_box(gr, lib: Library, header, listing, who: Visitors, picker) -> Any:
    """Drop or pick files; each is checked, saved into the corpus's uploads folder and indexed,
    with one result line per file. With accounts, an upload is readable by the uploader's
    groups unless they choose otherwise (returns that control)."""
    from pathlib import Path

    from rag.app.upload import add_files
    from rag.ingest.formats import KINDS

    def add(files: list[str] | None, collection: str, audience: Any, request: gr.Request
            ) -> Iterator[tuple[str, str, str]]:
        if not files:
            yield "", gr.skip(), gr.skip()
            return
        with _TEMP_LOCK:
            _TEMP_USERS.update(files)
        try:
            try:
                viewer = who.viewer(request.username)
                rag = lib.get(collection, viewer)
                groups = chosen_audience(audience, viewer)
            except RagError as e:
                yield f"Not indexed: {escape(str(e))}", gr.skip(), gr.skip()
                return
            if not lib.may_write(collection or next(iter(lib.rags)), viewer):
                yield "Not indexed: you may not add documents to this collection", \
                    gr.skip(), gr.skip()
                return
            yield f"Indexing {len(files)} file(s)…", gr.skip(), gr.skip()
            # Only what the user may read: a copy of a document they may not read would
            # otherwise be answered with its id.
            known = {info.sha256: d for d, info in readable(rag, viewer).items()}
            try:
                results = add_files([(Path(f).name, Path(f)) for f in files], rag.settings,
                                    rag.embedder, known, groups)
            except RagError as e:
                yield f"Not indexed: {escape(str(e))}", gr.skip(), gr.skip()
                return
            rag.refresh()
            yield ("\n".join(f"- {escape(name)}: {escape(result)}"
                              for name, result in results),
                   corpus_header(rag, viewer), documents_table(rag, viewer))
        finally:
            # Gradio serves its temporary copy to anyone who knows the path: the saved file
            # is the only copy kept. Gradio keeps one copy per content, so the same bytes
            # sent twice at once share it: the last request done with it deletes it.
            with _TEMP_LOCK:
                for f in files or []:
                    _TEMP_USERS[f] -= 1
                    if _TEMP_USERS[f] <= 0:
                        del _TEMP_USERS[f]
                        Path(f).unlink(missing_ok=True)

    add.__annotations__["request"] = gr.Request
    with gr.Accordion("Add documents", open=False):
        files = gr.File(file_count="multiple", file_types=sorted(KINDS),
                        label=f"PDF, Word, HTML, Markdown or text, up to "
                              f"{next(iter(lib.rags.values())).settings.max_upload_mb} MB each",
                        elem_id="upload")
        # Set per person when the page loads: their groups, or everyone.
        # Any value passes Gradio's own check (an API client never loads the page);
        # `chosen_audience` decides.
        audience = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True,
                               label="Who may read it (nothing chosen: all your groups)",
                               elem_id="audience", visible=who.accounts)
        status = gr.Markdown(elem_id="upload-status")
    files.upload(add, inputs=[files, picker, audience], outputs=[status, header, listing],
                 api_name="upload")
    return audience


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
        api = scope["path"].startswith(("/v1/", "/api/"))
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(send, limit, api)
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
            await _too_large(send, limit, api)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int, api: bool = False) -> None:
    """413; for the API in OpenAI's error shape."""
    message = f"request body over {limit:,} bytes"
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                 "param": None, "code": "request_too_large"}}).encode() \
        if api else message.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json" if api else b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def document_route(rag: RAG | Library, who: Visitors | None = None,
                   login: Login | None = None):
    """GET /document?id=DOC_ID: the original file of an indexed PDF, looked up by its id in
    the index (never by a path from the request), behind the page's login when there is one
    (`Library.pdf` says what is served)."""
    from fastapi import Request
    from fastapi.responses import PlainTextResponse, Response
    from fastapi.routing import APIRoute

    lib = rag if isinstance(rag, Library) else Library.single(rag)

    def document(request: Request, id: str = "", collection: str = ""):  # noqa: A002
        user = login.user(request) if login else None
        if login and user is None:
            return PlainTextResponse("log in first", status_code=401)
        try:
            viewer = (who or Visitors()).viewer(user)
        except RagError:
            return PlainTextResponse("log in first", status_code=401)
        try:
            raw = lib.pdf(collection, id, viewer)
        except Unserved as e:
            return PlainTextResponse(str(e), status_code=e.status)
        return Response(raw, media_type="application/pdf", headers=PDF_HEADERS)

    # FastAPI reads the parameters' types; this module's annotations are strings it cannot
    # resolve from inside a function.
    document.__annotations__.update(request=Request, id=str, collection=str)
    return APIRoute("/document", document, methods=["GET"])


def serve(rag: RAG | Library, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          auth: str | None = None, concurrency: int = 4, upload: bool = True,
          users: Users | None = None, conversations: Conversations | None = None,
          routes: Sequence[Any] = (), page: bool = True) -> None:
    """Launch the page. With accounts in `users`, each person signs in as themselves and
    reads what their groups may; else `auth` ("user:password", e.g. from RAG_AUTH) is the one
    login, if any. `conversations` keeps each person's conversations and feedback; `routes`
    are served beside the page (the API), or alone without `page`. Load `rag` with
    `embedder_for(settings, threads=1)`: requests run side by side, a core each."""
    from starlette.middleware import Middleware

    # Gradio keeps a record of its last 10,000 events for a monitoring view and recomputes a
    # summary over all of them after each one: the page's process grew 400 -> 443 MB over
    # 1,000 answers through its queue; with 100 kept, 392 -> 400 MB (RELIABILITY.md, "Load").
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", str(GRADIO_EVENTS_KEPT))
    who = Visitors(users)
    # Accounts, when there are any, replace the one RAG_AUTH login.
    check = login_check(users) if users is not None else one_login(auth)
    login = Login(check) if check else None
    check_exposure(host, share, auth, who.accounts)
    settings = rag.settings if isinstance(rag, RAG) else next(iter(rag.rags.values())).settings
    # Outermost first: hang-ups end quietly; cross-origin reads only where configured.
    guards = [Middleware(HungUp), cors(settings.cors_origins)]
    if not page:  # the API alone: no Gradio app at all
        import uvicorn
        from starlette.applications import Starlette

        uvicorn.run(Starlette(routes=list(routes),
                              middleware=[*guards, Middleware(LimitBody)]),
                    host=host, port=port, log_level="warning")
        return
    demo = build_app(rag, upload=upload, visitors=who, conversations=conversations)
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    most = settings.max_upload_mb * 1_000_000
    demo.launch(server_name=host, server_port=port, share=share,
                auth_dependency=login.user if login else None,
                css=CSS, theme=_theme(), show_error=False, footer_links=["api"],
                max_file_size=most if upload else 1,
                app_kwargs={"middleware": [
                    *guards,
                    Middleware(LimitBody, uploads=most + 100_000 if upload else 0),
                    *([login.middleware()] if login else [])],
                    # The login's routes come first: they answer /login and /logout, not
                    # Gradio's own.
                    "routes": [*(login.routes() if login else []),
                               document_route(rag, who, login), *routes]})


def _theme():
    import gradio as gr

    # System fonts: the default theme fetches web fonts, which an offline machine cannot.
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])
