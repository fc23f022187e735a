"""Plain text and Markdown: UTF-8 (or UTF-16 with a byte order mark), YAML front matter as
metadata. Markdown is indexed as the text it renders to; plain text hard-wrapped at a fixed
width has its wrapped lines joined in place, its invisible characters dropped (`visible`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import statistics
from pathlib import Path
from typing import Any

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import visible
from rag.ingest.formats.limits import Budget

log = logging.getLogger("rag")

WRAP_WIDTHS = (60, 100)  # line widths a hard-wrapping editor or tool uses
WRAPPED_SHARE = 0.5  # of a text's lines that must end near its wrap width


def decode(raw: bytes) -> str:
    """Text from bytes, or Unreadable: binary, or neither UTF-8 nor UTF-16 with a BOM."""
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # has NUL bytes, yet is text
    if b"\x00" in raw[:8192] and not utf16:
        raise Unreadable("binary file")
    try:
        return raw.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as e:
        raise Unreadable(f"not {'UTF-16' if utf16 else 'UTF-8'} (byte {e.start}); convert it "
                         f"to UTF-8 to index it") from None


def extract_text(raw: bytes, path: Path, markdown: bool, budget: Budget | None = None
                 ) -> Extracted:
    budget = budget or Budget()
    meta, body = split_front_matter(decode(raw), path)
    title = str(meta.pop("title", "") or "").strip()
    date, url, meta = iso(meta.pop("date", None)), _url(meta.pop("url", None)), jsonable(meta)
    lines = body.count("\n") + 1  # each line a block at most, counted before it is parsed
    if markdown:
        from rag.ingest.formats.markdown import render

        budget.check(lines)
        b = render(body, budget)
        return Extracted(b.text(), "markdown", title=title, date=date, url=url, meta=meta,
                         sections=tuple(b.sections), tables=tuple(b.tables))
    budget.spend(lines, len(body))
    return Extracted(unwrap(visible(body.replace("\r\n", "\n"))), "text", title=title,
                     date=date, url=url, meta=meta)


_LIST_ITEM = re.compile(r"\s*([-*+•]|\d{1,3}[.)]|[a-z][.)])\s")


def unwrap(text: str) -> str:
    """Join the lines of a text hard-wrapped at a fixed width, in place (each joining newline
    becomes a space, so every offset holds). A text whose lines are paragraphs (most news
    copy, logs) is left as it is: wrapping shows as most lines ending near one width."""
    lines = text.split("\n")
    lengths = [len(ln.rstrip()) for ln in lines if ln.strip()]
    if len(lengths) < 4:
        return text
    width = statistics.quantiles(lengths, n=10)[8]  # the 90th percentile: a full line
    if not WRAP_WIDTHS[0] <= width <= WRAP_WIDTHS[1]:
        return text
    near = sum(1 for n in lengths if width - 15 <= n <= width + 2)
    continued = sum(1 for a, b in zip(lines, lines[1:], strict=False) if a.strip() and b.strip())
    if near < WRAPPED_SHARE * continued or continued < WRAPPED_SHARE * len(lengths):
        return text
    out = list(text)
    at = 0
    for a, b in zip(lines, lines[1:], strict=False):
        at += len(a)
        # A line is continued when it was full and the next starts no list item or indent.
        if a.strip() and b.strip() and len(a.rstrip()) >= width - 25 and \
                not _LIST_ITEM.match(b) and not b.startswith(("    ", "\t")):
            out[at] = " "
        at += 1
    return "".join(out)


def split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    import frontmatter

    if not text.startswith("---"):
        return {}, text
    try:
        meta, body = frontmatter.parse(text)
    except Exception as e:  # yaml raises many kinds; all mean the same to a user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.warning("%s: front matter is not valid YAML (%s); indexing the whole file as text",
                    path, first)
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return dict(meta), body


def iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _url(value: Any) -> str | None:
    return str(value) if value else None


def jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(meta, default=str))
