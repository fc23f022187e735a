"""Saved web pages: every visible text block of the main content, in reading order, read with
lxml and written as plain text (inside a block whitespace is a space and entities are decoded
once, as a browser shows them): headings as sections, paragraphs, lists, definition lists,
notes and asides, figure captions, tables by rows, and preformatted text.

The main content is the page's `<main>` or `[role=main]` (the innermost), else its only
`<article>`, else its `<body>`, less what is not content: scripts and styles, navigation,
the page's own header and footer (an article's or a section's stay), forms and their
controls, hidden elements, and site chrome marked by its class (a sidebar, a cookie banner,
breadcrumbs).

The title comes from the page's metadata (`og:title`, `<title>`) or its first heading; the
date only from what the page states about itself (`<meta>` dates, JSON-LD, a `<time>` marked
as the publication date or in the main content's header), never from its text or links."""

from __future__ import annotations

import datetime as dt
import json
import re
from email.utils import parsedate_to_datetime

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks, title_like
from rag.ingest.formats.limits import Budget
from rag.ingest.formats.text import decode

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Elements whose content stands apart from the text around it (a paragraph break before and
# after); any other element is inline: its text runs on with its neighbours'.
BLOCKS = HEADINGS | {
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "header",
    "hgroup", "hr", "html", "legend", "li", "listing", "main", "menu", "ol", "p", "pre",
    "search", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    "xmp"}
PREFORMATTED = {"pre", "listing", "xmp", "plaintext"}
NEVER_TEXT = {"script", "style", "noscript", "template", "head", "title", "svg", "canvas",
              "iframe", "object", "embed", "audio", "video", "map", "meta", "link", "base"}
CHROME_TAGS = {"nav", "form", "button", "select", "textarea", "input", "dialog"}
CHROME_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar", "toolbar",
                "dialog", "alertdialog"}
# Words of a class that mark site chrome: "md-sidebar", "cookie-banner", "breadcrumbs" (not of
# an id: a heading's or a section's id is its title's words, as in `<h2 id="cookies">`).
CHROME_WORDS = {"sidebar", "cookie", "cookies", "consent", "gdpr", "breadcrumb",
                "breadcrumbs", "skiplink", "share", "sharing", "social", "newsletter",
                "advert", "advertisement", "adsbygoogle"}
SECTIONING = {"article", "aside", "main", "nav", "section"}  # their header/footer is content
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
BR = "\x00"  # a line break among inline text, until the block is written


def extract_html(raw: bytes, budget: Budget | None = None) -> Extracted:
    html = decode(raw)
    if "<" not in html[:4096]:
        raise Unreadable("not HTML (no tags), though named .html")
    root = _parse(html)
    if root is None:
        raise Unreadable("no main text found in the page")
    b = Blocks(budget=budget or Budget())
    _Walker(b, web=True).walk(main_element(root))
    if not b.text().strip():
        raise Unreadable("no main text found in the page")
    meta = _meta(root)
    ld = _json_ld(root)
    extra = {k: v for k, v in {"author": _author(meta, ld),
                               "sitename": meta.get("og:site_name")}.items() if v}
    return Extracted(b.text(), "html", title=page_title(root, meta, b),
                     date=page_date(root, meta, ld), url=_url(root, meta), meta=extra,
                     sections=tuple(b.sections), tables=tuple(b.tables))


def html_blocks(html: str, out: Blocks | None = None) -> Blocks:
    """The main content of a web page as blocks."""
    out = out if out is not None else Blocks()
    root = _parse(html)
    if root is not None:
        _Walker(out, web=True).walk(main_element(root))
    return out


def page_blocks(html: str, out: Blocks) -> Blocks:
    """All of a clean page (an e-book's chapter: no site chrome to drop) as blocks: its body
    read by the same rules, with only scripts, styles, navigation (a book's table of contents)
    and hidden elements left out."""
    root = _parse(html)
    if root is not None:
        body = root.find("body")
        _Walker(out, web=False).walk(body if body is not None else root)
    return out


def main_element(root):
    """The page's `<main>` or `[role=main]` (the innermost, where one holds another), else its
    only `<article>` (a page of several is a listing), else its `<body>`."""
    found = root.xpath("//main[not(@hidden)] | //*[@role='main']")  # in document order
    if found:
        region = found[0]
        for inner in found[1:]:
            if any(a is region for a in inner.iterancestors()):
                region = inner
        return region
    articles = root.xpath("//article")
    if len(articles) == 1:
        return articles[0]
    body = root.find("body")
    return body if body is not None else root


def _parse(html: str):
    import lxml.etree
    import lxml.html

    # Bytes with the encoding named: a str with an XML declaration is refused by lxml, and a
    # page's own `<meta charset>` must not re-decode what `decode` already decoded.
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        return lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)
    except (ValueError, lxml.etree.ParserError):  # an empty document
        return None


def _tag(el) -> str:
    """An element's name without its namespace; "" for a comment or an entity."""
    return el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""


def _hidden(el) -> bool:
    return (el.get("hidden") is not None
            or (el.get("aria-hidden") or "").strip().lower() == "true"
            or bool(HIDDEN_STYLE.search(el.get("style") or "")))


def _chrome(el, tag: str) -> bool:
    """Whether a web page's element is site chrome rather than content."""
    if tag in CHROME_TAGS or (el.get("role") or "").strip().lower() in CHROME_ROLES:
        return True
    if tag in ("header", "footer"):  # the page's banner or footer, not an article's own
        return not any(_tag(a) in SECTIONING for a in el.iterancestors())
    words = re.split(r"[^a-z0-9]+", (el.get("class") or "").lower())
    return not CHROME_WORDS.isdisjoint(words)


class _Walker:
    """Writes an element's content to `out` block by block, in document order: inline text is
    gathered until the next block element starts or ends, then written as one paragraph.
    `collect`: its blocks are gathered as lines of text instead (a heading's, a cell's)."""

    def __init__(self, out: Blocks, web: bool, collect: bool = False) -> None:
        self.out, self.web, self.collect = out, web, collect
        self.runs: list[str] = []
        self.lines: list[str] = []

    def walk(self, el) -> None:
        self._add(el.text)
        self._children(el)
        self._flush(always=True)

    def _add(self, text: str | None) -> None:
        if text:
            self.runs.append(text)

    def _flush(self, always: bool = False) -> None:
        """Write the gathered inline text as a paragraph; `always`: the end of a block, which
        is counted against the budget even when it held no text."""
        if self.runs or always:
            text, self.runs = _fold("".join(self.runs)), []
            if self.collect:
                self.lines.append(text)
            else:
                self.out.paragraph(text)

    def _skip(self, el, tag: str) -> bool:
        if not tag or tag in NEVER_TEXT or _hidden(el):
            return True
        return _chrome(el, tag) if self.web else tag == "nav"  # a book's table of contents

    def _children(self, el) -> None:
        for child in el:
            self.out.budget.check()
            tag = _tag(child)
            if not self._skip(child, tag):
                self._element(child, tag)
            self._add(child.tail)

    def _element(self, el, tag: str) -> None:
        if tag == "br":
            self.runs.append(BR)
        elif tag not in BLOCKS and tag not in PREFORMATTED:  # inline: runs on
            self._add(el.text)
            self._children(el)
        elif self.collect or (tag == "table" and _layout(el)):
            self._flush()
            self.walk(el)
        elif tag in HEADINGS:
            self._flush()
            self.out.heading(int(tag[1]), self._line(el))
        elif tag in PREFORMATTED:
            self._flush()
            self.out.code(self._preformatted(el))
        elif tag == "table":
            self._flush()
            self._table(el)
        else:  # a block holding text, inline elements and blocks, in any mix
            self._flush()
            self.walk(el)

    def _line(self, el) -> str:
        """An element's text on one line (a heading's, a table cell's), its blocks joined."""
        sub = _Walker(self.out, self.web, collect=True)
        sub.walk(el)
        return " ".join(" ".join(sub.lines).split())

    def _preformatted(self, el) -> str:
        """Preformatted text as it is, `<br>` a line break."""
        parts = [el.text or ""]
        for child in el:
            tag = _tag(child)
            if tag == "br":
                parts.append("\n")
            elif not self._skip(child, tag):
                parts.append(self._preformatted(child))
            parts.append(child.tail or "")
        return "".join(parts)

    def _table(self, table) -> None:
        caption = table.find("caption")
        if caption is not None and not self._skip(caption, "caption"):
            self.out.paragraph(self._line(caption))
        rows: list[list[str]] = []
        heads, body_started = 0, False
        for tr in _rows(table):
            self.out.budget.check(len(rows))
            cells = [c for c in tr if _tag(c) in ("td", "th") and not self._skip(c, _tag(c))]
            rows.append([self._line(c) for c in cells])
            head = _tag(tr.getparent()) == "thead" or (
                bool(cells) and all(_tag(c) == "th" for c in cells))
            if head and not body_started:
                heads += 1
            else:
                body_started = True
        self.out.table(rows, heads)


def _rows(table):
    """A table's own rows, in order (not those of a table inside one of its cells)."""
    for child in table:
        tag = _tag(child)
        if tag == "tr":
            yield child
        elif tag in ("thead", "tbody", "tfoot"):
            yield from (tr for tr in child if _tag(tr) == "tr")


def _layout(table) -> bool:
    """A table that lays a page out rather than holding data: read as blocks, not rows."""
    if (table.get("role") or "").lower() in ("presentation", "none"):
        return True
    return any(_tag(d) in HEADINGS or _tag(d) == "table" for d in table.iterdescendants())


def _fold(text: str) -> str:
    """Inline text as shown: runs of whitespace (source line ends too) a space, `<br>` a line
    break."""
    return "\n".join(" ".join(line.split()) for line in text.split(BR))


# -- metadata ---------------------------------------------------------------------------------

PUBLISHED = ("article:published_time", "datepublished", "date", "dc.date", "dc.date.issued",
             "dc.date.created", "dcterms.date", "dcterms.issued", "dcterms.created",
             "citation_publication_date", "citation_date", "citation_online_date", "pubdate",
             "publish-date", "publish_date", "publication_date", "sailthru.date",
             "parsely-pub-date")
MODIFIED = ("article:modified_time", "og:updated_time", "datemodified", "dc.date.modified",
            "dcterms.modified")


def _meta(root) -> dict[str, str]:
    """The page's `<meta>` values by their name, property or itemprop (lower case); the first
    of each name."""
    values: dict[str, str] = {}
    for m in root.iter("meta"):
        content = (m.get("content") or "").strip()
        for key in ("property", "name", "itemprop", "http-equiv"):
            name = (m.get(key) or "").strip().lower()
            if name and content:
                values.setdefault(name, content)
    return values


def _json_ld(root) -> list[dict]:
    """The page's own JSON-LD objects: each script's top-level objects and its `@graph`."""
    found: list[dict] = []
    for script in root.xpath("//script[@type='application/ld+json']"):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                graph = item.get("@graph")
                found += [item, *(graph if isinstance(graph, list) else [])]
    return [o for o in found if isinstance(o, dict)]


def page_date(root, meta: dict[str, str], ld: list[dict]) -> str | None:
    """The ISO date the page states for itself: published before modified, `<meta>` first,
    then JSON-LD, then a `<time>` marked as the publication date or in the main content's
    header. None when it states none: a date in its text or a link is never taken."""
    main = main_element(root)
    marked = [t for t in main.iter("time") if t.get("pubdate") is not None
              or t.get("itemprop") == "datePublished"
              or "dt-published" in (t.get("class") or "").split()]  # microformats' h-entry
    header = next((h for h in main.iter("header") if not _chrome(h, "header")), None)
    in_header = list(header.iter("time")) if header is not None else []
    published = [meta.get(k) for k in PUBLISHED] + [o.get("datePublished") for o in ld] + \
        [t.get("datetime") or t.text_content() for t in marked + in_header]
    modified = [meta.get(k) for k in MODIFIED] + [o.get("dateModified") for o in ld]
    for value in published + modified:
        day = _iso_date(value)
        if day:
            return day
    return None


def _iso_date(value) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    m = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)|(\d{4})(\d\d)(\d\d)(?:T|$)", value)
    try:
        if m:
            y, mo, d = (int(g) for g in (m.groups()[:3] if m.group(1) else m.groups()[3:]))
            return dt.date(y, mo, d).isoformat()
        return parsedate_to_datetime(value).date().isoformat()  # "Tue, 02 Jul 2024 10:00:00"
    except (ValueError, TypeError, IndexError):
        return None


def page_title(root, meta: dict[str, str], blocks: Blocks) -> str:
    """`og:title`, else `<title>`, less a site name after a separator ("Page | Site"); else
    the first heading."""
    first = blocks.sections[0][1] if blocks.sections else ""  # a first path is one heading
    title_el = root.find(".//title")
    for value in (meta.get("og:title"), title_el.text_content() if title_el is not None else ""):
        value = " ".join((value or "").split())
        if title_like(value):
            return _less_site(value, meta.get("og:site_name", ""), first)
    return first


def _less_site(title: str, site: str, heading: str) -> str:
    for sep in (" | ", " - ", " – ", " — ", " · ", " :: "):
        if site and title.endswith(sep + site) and len(title) > len(sep + site):
            return title[: -len(sep + site)]
        if heading and title.startswith(heading + sep):
            return heading
    return title


def _url(root, meta: dict[str, str]) -> str | None:
    canonical = root.xpath("//link[@rel='canonical']/@href")
    for value in [*canonical, meta.get("og:url")]:
        if value and value.strip().startswith(("http://", "https://")):
            return value.strip()
    return None


def _author(meta: dict[str, str], ld: list[dict]) -> str | None:
    if meta.get("author") or meta.get("dc.creator"):
        return meta.get("author") or meta.get("dc.creator")
    for obj in ld:
        author = obj.get("author")
        author = author[0] if isinstance(author, list) and author else author
        name = author.get("name") if isinstance(author, dict) else author
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None
