"""The page's saved conversations and feedback: the list, reopening, renaming, deleting,
thumbs on answers and the feedback form. Every call names the signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.app.people import refused
from rag.app.render import escape, passages_html
from rag.errors import RagError
from rag.users.conversations import Conversations

if TYPE_CHECKING:
    from rag.app.page import Widgets


def conversation_choices(saved: Conversations, user: str, cid: str | None):
    """The conversation list of `user` for the page, `cid` selected."""
    import gradio as gr

    return gr.update(choices=[(c.title, c.id) for c in saved.list(user)], value=cid)


def conversation_events(gr, saved: Conversations, w: Widgets,
                        person: Callable[[str | None], str] = lambda name: name or "") -> None:
    """Open, start, rename and delete conversations; each call names the signed-in user, so
    an id of someone else's conversation opens nothing. `person` is the request's user name,
    or RagError when that account is gone (its saved answers are closed to it too)."""

    def reopen(chosen: str | None, request: gr.Request):
        if not chosen:
            return [], "", [], gr.skip(), "", "", gr.skip()
        try:
            user = person(request.username)
            kept = saved.turns(user, chosen)
        except RagError as e:
            raise refused(gr, e) from None
        messages = [m for t in kept for m in ({"role": "user", "content": t.question},
                                              {"role": "assistant", "content": t.shown})]
        mine = {c.id: c for c in saved.list(user)}
        return (messages, chosen, [t.id for t in kept], passages_html(()), mine[chosen].title,
                "", mine[chosen].collection or gr.skip())

    def start_new():
        return [], "", [], passages_html(()), "", gr.update(value=None), ""

    def retitle(current: str, text: str, request: gr.Request):
        try:
            user = person(request.username)
            saved.rename(user, current, text)
        except RagError as e:
            raise refused(gr, e) from None
        return conversation_choices(saved, user, current)

    def forget(current: str, request: gr.Request):
        try:
            user = person(request.username)
            if current:
                saved.delete(user, current)
        except RagError as e:
            raise refused(gr, e) from None
        return [], "", [], conversation_choices(saved, user, None), ""

    for fn in (reopen, retitle, forget):
        fn.__annotations__["request"] = gr.Request

    def relist(current: str, request: gr.Request):  # a conversation the first answer began
        try:
            user = person(request.username)
        except RagError:
            return gr.update(choices=[], value=None)
        return conversation_choices(saved, user, current or None)

    relist.__annotations__["request"] = gr.Request
    shown = w.chat.chatbot_value
    w.cid.change(relist, [w.cid], [w.listed], api_name=False, queue=False)
    w.listed.input(reopen, [w.listed], [shown, w.cid, w.turns, w.passages, w.title, w.feedback,
                                        w.picker], api_name=False)
    w.new.click(start_new, None, [shown, w.cid, w.turns, w.passages, w.title, w.listed,
                                  w.feedback], api_name=False)
    w.rename.click(retitle, [w.cid, w.title], [w.listed], api_name=False)
    w.remove.click(forget, [w.cid], [shown, w.cid, w.turns, w.listed, w.title], api_name=False)


def feedback_box(gr, saved: Conversations, chatbot, turns):
    """Thumbs on each answer, and for the last one "the right answer is ..." and "a cited
    source is wrong"; all kept with the turn. Returns the status line."""

    def thumb(data: gr.LikeData, kept: list[int | None], request: gr.Request) -> str:
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        turn = kept[index // 2] if 0 <= index // 2 < len(kept) else None
        if turn is None:
            return "Only an answer can be rated."
        if data.liked is None or data.liked == "":
            return ""
        saved.rate(request.username or "", turn, 1 if data.liked is True else -1)
        return "Thanks: your rating is kept with the answer."

    def send(right: str, correction: str, wrong_source: bool, kept: list[int | None],
             request: gr.Request) -> str:
        last = next((t for t in reversed(kept or []) if t is not None), None)
        if last is None:
            return "Ask a question first."
        if not right and not correction.strip():
            return "Say whether the answer was right, or what the right answer is."
        rating = 1 if right == "right" and not correction.strip() else -1
        try:
            saved.rate(request.username or "", last, rating, correction, wrong_source)
        except RagError as e:
            return escape(str(e))
        return "Thanks: your feedback is kept with the answer."

    for fn in (thumb, send):
        fn.__annotations__["request"] = gr.Request
    thumb.__annotations__["data"] = gr.LikeData
    with gr.Accordion("Feedback on the last answer", open=False):
        right = gr.Radio(["right", "wrong"], label="The answer was", elem_id="rating")
        correction = gr.Textbox(label="The right answer is … (optional)",
                                elem_id="correction")
        wrong_source = gr.Checkbox(label="A cited source is wrong", elem_id="wrong-source")
        submit = gr.Button("Send feedback", size="sm", elem_id="send-feedback")
        status = gr.Markdown(elem_id="feedback-status")
    chatbot.like(thumb, [turns], [status], api_name=False)
    submit.click(send, [right, correction, wrong_source, turns], [status], api_name=False)
    return status
