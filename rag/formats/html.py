"""Saved web pages: the main content only (navigation, scripts, styles, footers dropped) as
Markdown with its headings and tables, through trafilatura; the title from the page's
metadata (`<title>`, `og:title`) or its first `<h1>`."""

from __future__ import annotations

from rag.formats import Extracted, Unreadable
from rag.formats.text import decode


def extract_html(raw: bytes) -> Extracted:
    import trafilatura

    html = decode(raw)
    if "<" not in html[:4096]:
        raise Unreadable("not HTML (no tags), though named .html")
    text = trafilatura.extract(html, output_format="markdown", include_tables=True,
                               include_links=False, include_images=False,
                               include_comments=False, favor_precision=True) or ""
    if not text.strip():
        raise Unreadable("no main text found in the page")
    meta = trafilatura.extract_metadata(html)
    title = (meta.title if meta and meta.title else "") or _first_heading(text)
    extra = {k: v for k, v in {"author": meta and meta.author,
                               "sitename": meta and meta.sitename}.items() if v}
    return Extracted(text, "html", title=title.strip(), date=meta.date if meta else None,
                     url=meta.url if meta else None, meta=extra)


def _first_heading(markdown: str) -> str:
    return next((ln.lstrip("#").strip() for ln in markdown.splitlines() if ln.startswith("#")),
                "")
