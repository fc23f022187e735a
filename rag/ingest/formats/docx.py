"""Word documents through python-docx: paragraphs (a line break inside a sentence a space),
headings (the sections), tables (by rows, the first row their header) and text boxes in
document order, written by the block writer; characters set in a symbol font (Wingdings'
check marks, Symbol's arrows) as what they show. The core properties give title, author and
date; without a title there, the lines set in Word's Title style are the title."""

from __future__ import annotations

import io
import re

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks, soft_breaks, symbol_text, title_like
from rag.ingest.formats.limits import Budget, check_archive
from rag.ingest.formats.office import properties

_ANY_SYMBOL = ("boolean(.//w:sym | .//w:rFonts[starts-with(@w:ascii, 'Wingdings') or "
               "@w:ascii = 'Symbol' or starts-with(@w:hAnsi, 'Wingdings') or "
               "@w:hAnsi = 'Symbol'])")
# A text box's paragraphs; Word saves each box twice, the second for older readers.
_TEXT_BOXES = ".//w:txbxContent[not(ancestor::*[local-name() = 'Fallback'])]/w:p"


def extract_docx(raw: bytes, budget: Budget | None = None) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if not raw.startswith(b"PK"):
        raise Unreadable("not a Word document (not a zip package), though named .docx")
    out = Blocks(budget=budget or Budget())
    check_archive(raw, out.budget.limits, "Word document")
    try:
        d = docx.Document(io.BytesIO(raw))
    except (PackageNotFoundError, KeyError, ValueError) as e:
        raise Unreadable(f"not a readable Word document ({e})") from None
    body = d.element.body
    symbols = body.xpath(_ANY_SYMBOL)  # looked for once, not in every paragraph
    boxes = body.xpath("boolean(.//w:txbxContent)")
    # A style's name costs a scan of every style (a millisecond): once per style, and not
    # for an empty paragraph, or a million of them take a quarter of an hour.
    levels: dict[str | None, tuple[int, bool]] = {}  # (heading level, Word's Title style)
    title: list[str] = []  # the first lines set in the Title style, before any other heading
    title_done = False
    for item in d.iter_inner_content():
        if isinstance(item, Paragraph):
            text = _text(item._p) if symbols else item.text
            inside = [Paragraph(p, item._parent) for p in item._p.xpath(_TEXT_BOXES)] \
                if boxes else []
            if not text.strip():
                out.budget.spend()
                for box in inside:
                    out.paragraph(soft_breaks(_text(box._p) if symbols else box.text))
                continue
            style = item._p.style  # the style's id
            if style not in levels:
                name = item.style.name if item.style is not None else ""
                levels[style] = (_heading_level(name), name == "Title")
            level, is_title = levels[style]
            if is_title and not title_done:
                title.append(text)
            elif title or level:
                title_done = True
            if level:
                out.heading(level, text)
            else:
                out.paragraph(soft_breaks(text))
            for box in inside:
                out.paragraph(soft_breaks(_text(box._p) if symbols else box.text))
        elif isinstance(item, Table):
            rows = []
            for row in item.rows:
                out.budget.check(len(rows))
                rows.append([c.text if not symbols else
                             "\n".join(_text(para._p) for para in c.paragraphs)
                             for c in row.cells])
            out.table(rows)
            title_done = title_done or bool(title)
    text = out.text()
    if not text.strip():
        raise Unreadable("no text")
    props = properties(raw)
    meta = {k: v for k, v in {"author": props.author, "subject": props.subject}.items() if v}
    return Extracted(text, "docx", date=props.date, meta=meta,
                     title=props.title if title_like(props.title) else " ".join(title),
                     sections=tuple(out.sections), tables=tuple(out.tables))


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.fullmatch(r"Heading (\d)", style)
    return min(int(m.group(1)), 6) if m else 0


def _text(p) -> str:
    """A paragraph's text as python-docx reads it (runs and links), with what a symbol font
    shows: a run set in Wingdings or Symbol, and a `w:sym` character."""
    from docx.oxml.ns import qn

    parts = []
    for r in p.xpath("w:r | w:hyperlink/w:r"):
        fonts = r.xpath("w:rPr/w:rFonts")
        font = next((f.get(qn(a)) for f in fonts for a in ("w:ascii", "w:hAnsi")
                     if (f.get(qn(a)) or "").startswith(("Wingdings", "Symbol"))), "")
        for e in r.xpath("w:br | w:cr | w:noBreakHyphen | w:ptab | w:t | w:tab | w:sym"):
            if e.tag == qn("w:sym"):
                char = int(e.get(qn("w:char"), "0"), 16)
                parts.append(symbol_text(chr(char), e.get(qn("w:font"), "")))
            elif e.tag == qn("w:t") and font:
                parts.append(symbol_text(str(e), font))
            else:
                parts.append(str(e))
    return "".join(parts)
