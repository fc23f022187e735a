"""Saved web pages: the main content only (navigation, scripts, styles, footers dropped)
through trafilatura's XML, written as plain text with its headings and tables; inside a block
element whitespace is a space and entities are decoded once, as a browser shows them. The
title from the page's metadata (`<title>`, `og:title`) or its first heading; the date from the
page's own metadata, never from the links it holds."""

from __future__ import annotations

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks
from rag.ingest.formats.limits import Budget
from rag.ingest.formats.text import decode

BLOCKS = {"p", "head", "list", "item", "table", "code", "quote", "div", "main", "doc"}


def extract_html(raw: bytes, budget: Budget | None = None) -> Extracted:
    html = decode(raw)
    if "<" not in html[:4096]:
        raise Unreadable("not HTML (no tags), though named .html")
    b = html_blocks(html, Blocks(budget=budget or Budget()))
    if not b.text().strip():
        raise Unreadable("no main text found in the page")
    import trafilatura

    # Not the extensive date search: it guesses from the dates in outbound links' URLs.
    meta = trafilatura.extract_metadata(html, extensive=False)
    title = (meta.title if meta and meta.title else "") or \
        (b.sections[0][1] if b.sections else "")
    extra = {k: v for k, v in {"author": meta and meta.author,
                               "sitename": meta and meta.sitename}.items() if v}
    return Extracted(b.text(), "html", title=title.strip(), date=meta.date if meta else None,
                     url=meta.url if meta else None, meta=extra, sections=tuple(b.sections),
                     tables=tuple(b.tables))


def html_blocks(html: str, out: Blocks | None = None) -> Blocks:
    """The main content of a web page as blocks."""
    import trafilatura
    from lxml import etree

    out = out if out is not None else Blocks()
    xml = trafilatura.extract(html, output_format="xml", include_tables=True,
                              include_links=False, include_images=False,
                              include_comments=False, favor_precision=True)
    if not xml:
        return out
    root = etree.fromstring(xml.encode("utf-8"))
    main = root.find("main")
    _walk(main if main is not None else root, out)
    return out


SKIP_TAGS = {"script", "style", "nav", "head", "template", "noscript", "svg", "math"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
LEAVES = {"p", "li", "dt", "dd", "caption", "figcaption", "blockquote", "address"}


def page_blocks(html: str, out: Blocks) -> Blocks:
    """All of a clean page (an e-book's chapter: no boilerplate to drop) as blocks, read
    straight from its elements: headings, paragraphs, lists, code and tables."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(html.encode("utf-8"))
    except (ValueError, lxml.etree.ParserError):
        return out
    body = root.find("body")
    _elements(body if body is not None else root, out)
    return out


def _elements(el, out: Blocks) -> None:
    for child in el:
        out.budget.check()
        tag = child.tag if isinstance(child.tag, str) else ""
        tag = tag.rsplit("}", 1)[-1].lower()
        if not tag or tag in SKIP_TAGS:
            continue
        if tag in HEADINGS:
            out.heading(int(tag[1]), child.text_content())
        elif tag == "pre":
            out.code(child.text_content())
        elif tag == "table":
            rows = []
            for tr in child.iter("tr"):
                out.budget.check(len(rows))
                rows.append([c.text_content() for c in tr if c.tag in ("td", "th")])
            heads = sum(1 for tr in child.iter("tr")
                        if len(tr) and all(c.tag == "th" for c in tr if c.tag in ("td", "th")))
            out.table(rows, min(heads, 1) or 1)
        elif tag in LEAVES and not any(
                isinstance(c.tag, str) and c.tag.lower() in LEAVES | HEADINGS | {"ul", "ol",
                                                                               "table", "pre"}
                for c in child):
            out.paragraph(_text(child, br="br"))
        else:
            if child.text and child.text.strip():
                out.paragraph(child.text)
            _elements(child, out)
        if child.tail and child.tail.strip() and el.tag not in ("ul", "ol", "table", "tr"):
            out.paragraph(child.tail)


def _walk(el, out: Blocks) -> None:
    for child in el:
        out.budget.check()
        tag = child.tag
        if tag == "head":
            rend = child.get("rend") or "h2"
            level = int(rend[1]) if rend[:1] == "h" and rend[1:2].isdigit() else 2
            out.heading(level, _text(child))
        elif tag == "code":
            out.code("".join(child.itertext()))
        elif tag == "table":
            rows = []
            for row in child.iter("row"):
                out.budget.check(len(rows))
                rows.append([_text(c) for c in row.iter("cell")])
            heads = 0
            for row in child.iter("row"):
                cells = list(row.iter("cell"))
                if cells and all(c.get("role") == "head" for c in cells):
                    heads += 1
                else:
                    break
            out.table(rows, heads)
        elif tag in ("list", "quote", "div") or any(c.tag in BLOCKS for c in child):
            if child.text and child.text.strip():
                out.paragraph(child.text)
            _walk(child, out)
        else:  # p, item, and any inline run
            out.paragraph(_text(child))


def _text(el, br: str = "lb") -> str:
    """An element's text as shown: whitespace a space (source line ends too), a `br` element
    (trafilatura's `<lb/>`, HTML's `<br>`) a line break; comments are not text."""
    return "\n".join(ln.strip() for ln in " ".join(_runs(el, br).split()).split("\x00")
                     if ln.strip())


def _runs(el, br: str) -> str:
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            parts.append("\x00" if child.tag == br else _runs(child, br))
        parts.append(child.tail or "")
    return "".join(parts)
