"""Markdown as the text it renders to, through markdown-it's tokens: a paragraph's lines are
one line (a soft break is a space; a trailing backslash or two spaces break), emphasis, link
syntax, heading marks and HTML comments are gone, inline code keeps its content, entities are
decoded once; headings give the sections, pipe tables their rows."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from rag.ingest.formats.blocks import COMMENT, Blocks
from rag.ingest.formats.limits import Budget

_TAG = re.compile(r"<[^>]*>")


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def render(source: str, budget: Budget | None = None) -> Blocks:
    """The blocks of a Markdown text, spent from `budget` (default: the default limits)."""
    out = Blocks(budget=budget or Budget())
    tokens = _parser().parse(source)
    rows: list[list[str]] = []
    head_rows = 0
    number: list[int] = []  # the next item number of each open ordered list (0: bullets)
    prefix = ""
    for i, tok in enumerate(tokens):
        out.budget.check()
        t = tok.type
        if t == "heading_open":
            out.heading(int(tok.tag[1]), _inline(tokens[i + 1]))
        elif t == "paragraph_open" and tokens[i + 1].type == "inline":
            out.paragraph(prefix + _inline(tokens[i + 1]))
            prefix = ""
        elif t in ("fence", "code_block"):
            out.code(tok.content)
        elif t == "html_block":
            out.paragraph(_html_text(tok.content))
        elif t == "ordered_list_open":
            number.append(int(tok.attrs.get("start", 1) or 1))
        elif t == "bullet_list_open":
            number.append(0)
        elif t in ("ordered_list_close", "bullet_list_close"):
            number.pop()
        elif t == "list_item_open":
            # An ordered item keeps its number, as a reader sees it; a bullet is no text.
            prefix = f"{number[-1]}. " if number and number[-1] else ""
            if number and number[-1]:
                number[-1] += 1
        elif t == "table_open":
            rows, head_rows = [], 0
        elif t == "tr_open":
            rows.append([])
        elif t == "thead_close":
            head_rows = len(rows)
        elif t in ("th_open", "td_open"):
            rows[-1].append(_inline(tokens[i + 1]) if tokens[i + 1].type == "inline" else "")
        elif t == "table_close":
            out.table(rows, head_rows)
            rows = []
    return out


def _inline(tok) -> str:
    """An inline token's text as rendered: marks dropped, soft breaks a space."""
    parts: list[str] = []
    for child in tok.children or ():
        t = child.type
        if t in ("text", "code_inline"):
            parts.append(child.content)
        elif t == "softbreak":
            parts.append(" ")
        elif t == "hardbreak":
            parts.append("\n")
        elif t == "image":
            parts.append(_inline(child))  # the alt text
        elif t == "html_inline" and re.match(r"<br\s*/?>", child.content, re.I):
            parts.append("\n")
    return "".join(parts)


def _html_text(block: str) -> str:
    """What a browser shows of raw HTML inside Markdown: comments and tags dropped."""
    return html.unescape(_TAG.sub(" ", COMMENT.sub("", block)))
