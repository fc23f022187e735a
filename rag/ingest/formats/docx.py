"""Word documents through python-docx: paragraphs, headings (the sections) and tables (by
rows, the first row their header) in document order, written by the block writer; the core
properties give title, author and date."""

from __future__ import annotations

import io
import re

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks
from rag.ingest.formats.limits import Budget, check_archive


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
    # A style's name costs a scan of every style (a millisecond): once per style, and not
    # for an empty paragraph, or a million of them take a quarter of an hour.
    levels: dict[str | None, int] = {}
    for item in d.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text
            if not text.strip():
                out.budget.spend()
                continue
            style = item._p.style  # the style's id
            if style not in levels:
                levels[style] = _heading_level(item.style.name if item.style is not None
                                               else "")
            if levels[style]:
                out.heading(levels[style], text)
            else:
                out.paragraph(text)
        elif isinstance(item, Table):
            rows = []
            for row in item.rows:
                out.budget.check(len(rows))
                rows.append([c.text for c in row.cells])
            out.table(rows)
    text = out.text()
    if not text.strip():
        raise Unreadable("no text")
    props = d.core_properties
    created = props.created.date().isoformat() if props.created else None
    meta = {k: v for k, v in {"author": props.author, "subject": props.subject}.items() if v}
    return Extracted(text, "docx", title=(props.title or "").strip(), date=created, meta=meta,
                     sections=tuple(out.sections), tables=tuple(out.tables))


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.fullmatch(r"Heading (\d)", style)
    return min(int(m.group(1)), 6) if m else 0
