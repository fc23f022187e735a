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

# Chat apps render the content as Markdown, and plain-text clients (`llm`, curl, an SDK) print
# it as it is: document text gets a backslash only before what a renderer would read as
# syntax, so "Indo-Pacific 4 (IP-4)" stays as written. Whitespace is collapsed first, so no
# document text starts a line of its own and only the pieces we put at a block's start can
# open a heading, a quote, a list or a fence there.
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")  # a backslash escapes these
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# At a block's start: an ATX heading, a block quote, a bullet, an ordered list item ("2024. "
# would start a list at 2024). A thematic break or setext underline needs a line to itself.
_BLOCK_START = re.compile(r"^(?:#{1,6}(?=\s|$)|>|[-+*](?=\s|$)|\d{1,9}(?=[.)](?:\s|$)))")
_CLOSE = {"“": "”", '"': '"'}  # a quote's own opening mark, and the one that closes it


def _md(text: str, block_start: bool = False) -> str:
    """Document text as one line of Markdown that renders as it reads: emphasis, code spans,
    links, images, HTML, autolinks and entities made inert (and headings, quotes and lists
    where it starts a block), with no backslash where nothing would be misread."""
    text = " ".join(text.split())
    out = []
    for i, ch in enumerate(text):
        # Past either end is our own text, which may be punctuation: judged as neither a
        # space nor a letter, so a `*` or `_` there is escaped.
        before = text[i - 1] if i else "\0"
        after = text[i + 1] if i + 1 < len(text) else "\0"
        if ch == "\\":
            inert = after not in _ASCII_PUNCT and after != "\0"  # "C:\Users" is literal
        elif ch == "*":
            inert = before.isspace() and after.isspace()  # "5 * 3" neither opens nor closes
        elif ch == "_":
            inert = before.isalnum() and after.isalnum()  # "snake_case" is never emphasis
        elif ch == "~":
            inert = "~" not in (before, after)  # "~5 km" stays; "~~x~~" strikes through
        elif ch == "]":
            inert = after not in "([:"  # "[x](y)", "[x][y]" and "[x]: y" make links
        elif ch == "<":
            inert = not (after.isalpha() or after in "/!?")  # "<img", "</p>", "<!--", "<?"
        elif ch == "&":
            inert = not _ENTITY.match(text, i)  # "&lt;" would print "<"
        else:
            inert = ch != "`"
        out.append(ch if inert else "\\" + ch)
    line = "".join(out)
    if block_start and (m := _BLOCK_START.match(line)):
        at = m.end() if line[0].isdigit() else 0  # "2024\. ", "\# ", "\> ", "\- "
        line = line[:at] + "\\" + line[at:]
    return line


def _quoted(text: str) -> str:
    """`text` in quote marks unless it brings its own (curly or straight): none is added at an
    end that has one, so "“At NATO, …”" is not doubled, and none at all when its own already
    pair up ("“…,” Mr Luxon says.")."""
    opens, closes = text[:1] in _CLOSE, len(text) > 1 and text[-1] in "”\""
    if not opens and not closes:
        return f"“{text}”"
    if (opens and closes) or (text.count("“") == text.count("”")
                              and text.count('"') % 2 == 0):
        return text
    return text + _CLOSE[text[0]] if opens else ('"' if text[-1] == '"' else "“") + text


def document_url(c: Citation, base_url: str = "", collection: str = "") -> str | None:
    """Where an API key opens a PDF citation at its page (`GET /api/documents/ID`): under
    `base_url` (the request's, "http://host:7860/") when it is a plain http(s) url, else
    relative to the server's root. None for other formats."""
    if c.page is None:
        return None
    plain = re.fullmatch(r"https?://[\w.:\[\]-]+(/[\w.~%/-]*)?", base_url)
    within = f"?collection={quote(collection, safe='')}" if collection else ""
    return (f"{base_url.rstrip('/') if plain else ''}/api/documents/{quote(c.doc_id)}"
            f"{within}#page={c.page}")


def answer_markdown(ans: Answer, base_url: str = "", collection: str = "") -> str:
    """The answer for any chat app: the hedge of a tentative answer, the sentences with their
    `[n]` markers, then a "Sources" list: title, document id, page (a link to the PDF at that
    page, `document_url`) or section, date, link, and the quote. Document text is inert as
    Markdown yet reads as plain text; only http(s) urls and our PDF links are links. An
    abstention is the fixed reply alone."""
    note = f"\n\n*{_md(ans.note)}*" if ans.note else ""
    if ans.abstained or not ans.citations:
        return ans.answer + note
    hedge = TENTATIVE_TEXT + "\n\n" if ans.band == "tentative" else ""
    text = " ".join(_md(x.text, block_start=i == 0) + "".join(f" [{n}]" for n in x.citations)
                    for i, x in enumerate(ans.sentences)) or _md(ans.answer, block_start=True)
    lines = [hedge + text + note, "", "**Sources**", ""]
    for c in ans.citations:
        pdf = document_url(c, base_url, collection)
        where = ", ".join(x for x in (
            "" if c.doc_id == c.title else _md(c.doc_id), f"[p. {c.page}]({pdf})" if pdf else "",
            _md(f"§ {c.section}") if c.section else "", _md(c.date or "")) if x)
        url = _safe_url(c.url)
        lines.append(f"{c.n}. {_md(c.title, block_start=True)}"
                     + (f" ({where})" if where else "") + (f" — <{url}>" if url else "")
                     + f" — {_quoted(_md(c.quote))}")
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
    if ans.note:
        note += f'<p class="rag-note">{escape(ans.note)}</p>'
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
