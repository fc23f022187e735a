"""An `Answer` for people, one renderer per surface format: `answer_text` and `sources_text`
for a terminal (`rag ask`), `answer_markdown` for chat apps (the OpenAI-compatible API),
`answer_html` and its parts for the chat page. `Answer.answer` (the
sentences with inline `[n]` markers, `rag.types.render_sentences`) is the data form JSON and
Python callers get.

Everything taken from documents is escaped for HTML *and* Markdown before it reaches the page
(the chat renders Markdown, so `[x](javascript:...)` must not become a link), and only http(s)
urls become links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import quote

from rag.generate.base import TENTATIVE_TEXT
from rag.generate.cite import locator
from rag.types import Answer, Citation, Passage, Sentence, render_sentences

SNIPPET_CHARS = 320
# One pass over the text: HTML's special characters and those Markdown (or KaTeX) would
# interpret become numeric entities, so they print literally and mean nothing.
_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-.!|~$:"})


# -- a terminal --------------------------------------------------------------------------------

def answer_text(ans: Answer) -> str:
    """The answer for a terminal: the hedge of a tentative answer, then each sentence with its
    markers, flagged when no cited passage supports it."""
    if ans.abstained or not ans.sentences:
        return ans.answer
    hedge = TENTATIVE_TEXT + "\n" if ans.band == "tentative" else ""
    return hedge + render_sentences(ans.sentences, unsupported=" [unsupported]")


def sources_text(ans: Answer) -> list[str]:
    """The numbered sources: title and date, link, and the quote with where it is."""
    lines = []
    for c in ans.citations:
        lines.append(f"[{c.n}] {c.title}" + (f" ({c.date})" if c.date else ""))
        if c.url:
            lines.append(f"    {c.url}")
        place = ", ".join(x for x in (c.doc_id, locator(c)) if x)
        lines.append(f"    > {' '.join(c.quote.split())}  ({place})")
    return lines


# -- a chat app (the OpenAI-compatible API) ---------------------------------------------------

_MD = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+!|~"})


def answer_markdown(ans: Answer) -> str:
    """The answer for any chat app: the hedge of a tentative answer, the sentences with their
    `[n]` markers, then a "Sources" list (title, page or section, date, link). Document text
    is escaped for Markdown; only http(s) urls become links. An abstention is the fixed reply
    alone."""
    if ans.abstained or not ans.citations:
        return ans.answer
    hedge = TENTATIVE_TEXT + "\n\n" if ans.band == "tentative" else ""
    text = " ".join(x.text.translate(_MD) + "".join(f" [{n}]" for n in x.citations)
                    for x in ans.sentences) or ans.answer.translate(_MD)
    lines = [hedge + text, "", "**Sources**", ""]
    for c in ans.citations:
        where = ", ".join(x for x in (locator(c), c.date or "") if x)
        url = _safe_url(c.url)
        quote = " ".join(c.quote.split()).translate(_MD)
        lines.append(f"{c.n}. {c.title.translate(_MD)}" + (f" ({where})" if where else "")
                     + (f" — <{url}>" if url else "") + f" — “{quote}”")
    return "\n".join(lines)


# -- the chat page -----------------------------------------------------------------------------

def escape(text: str) -> str:
    """Plain text, safe in HTML and inert as Markdown."""
    return text.translate(_ESCAPES)


def _safe_url(url: str | None) -> str | None:
    return url if url and re.match(r"^https?://[^\s\"'<>]+$", url) else None


def answer_html(ans: Answer, collection: str = "") -> str:
    """The answer with superscript markers (a sentence no cited passage supports is marked),
    then its numbered sources (collapsible passages), and a note when an LLM handed over."""
    note = (f'<p class="rag-note">The language model could not answer ({escape(ans.fallback)});'
            " these are quotes from the documents instead.</p>") if ans.fallback else ""
    if ans.abstained:
        return f'<p class="rag-abstain">{escape(ans.answer)}</p>{note}'
    hedge = f'<p class="rag-tentative">{escape(TENTATIVE_TEXT)}</p>' \
        if ans.band == "tentative" else ""
    body = " ".join(_sentence_html(x) for x in ans.sentences)
    sources = "".join(citation_html(c, collection) for c in ans.citations)
    return (f'<div class="rag-answer">{hedge}<p>{body}</p>{note}'
            f'<div class="rag-sources"><b>Sources</b>{sources}</div></div>')


def _sentence_html(x: Sentence) -> str:
    marks = "".join(f"<sup>[{n}]</sup>" for n in x.citations)
    if x.supported:
        return escape(x.text) + marks
    return (f'<span class="rag-unsupported" title="No cited passage supports this sentence">'
            f'{escape(x.text)}</span>{marks}<span class="rag-flag"> ⚠ unsupported</span>')


def citation_html(c: Citation, collection: str = "") -> str:
    """One source: number, title, date, link, the quote, and the passage with it highlighted."""
    head = f"[{c.n}] <b>{escape(c.title)}</b>"
    if c.page is not None:  # a PDF: open it at the cited page
        within = f"&collection={quote(collection)}" if collection else ""
        href = html.escape(f"document?id={quote(c.doc_id)}{within}#page={c.page}", quote=True)
        head += (f' · <a class="rag-where" href="{href}" target="_blank" '
                 f'rel="noopener noreferrer">{escape(locator(c))}</a>')
    elif locator(c):
        head += f' · <span class="rag-where">{escape(locator(c))}</span>'
    if c.date:
        head += f" · {escape(c.date)}"
    url = _safe_url(c.url)
    if url:
        head += (f' · <a href="{html.escape(url, quote=True)}" target="_blank" '
                 f'rel="noopener noreferrer">{escape(url)}</a>')
    at = c.text.find(c.quote)
    passage = (escape(c.text[:at]) + f"<mark>{escape(c.quote)}</mark>"
               + escape(c.text[at + len(c.quote):])) if at >= 0 else escape(c.text)
    return (f'<div class="rag-source">{head}'
            f'<div class="rag-quote">“{escape(" ".join(c.quote.split()))}”</div>'
            f"<details><summary>passage {escape(c.chunk_id)} (characters {c.start}–{c.end})"
            f"</summary><p>{passage}</p></details></div>")


def passages_html(passages: Sequence[Passage]) -> str:
    """The retrieved passages of the last answer with their scores."""
    if not passages:
        return "<p>No passages retrieved yet.</p>"
    rows = "".join(
        f"<tr><td>{p.rank}</td><td>{p.score:.3f}</td><td><b>{escape(p.title)}</b><br>"
        f"<small>{escape(p.chunk.chunk_id)}</small><br>{escape(_snippet(p.chunk.text))}</td></tr>"
        for p in passages)
    return ('<table class="rag-passages"><thead><tr><th>#</th><th>cosine</th><th>passage</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"
