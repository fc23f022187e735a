"""Word documents through python-docx: paragraphs, headings (the sections) and tables (by
rows, the first row their header) in document order, written by the block writer; the core
properties give title, author and date."""

from __future__ import annotations

import io
import re

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks


def extract_docx(raw: bytes) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if not raw.startswith(b"PK"):
        raise Unreadable("not a Word document (not a zip package), though named .docx")
    try:
        d = docx.Document(io.BytesIO(raw))
    except (PackageNotFoundError, KeyError, ValueError) as e:
        raise Unreadable(f"not a readable Word document ({e})") from None
    out = Blocks()
    for item in d.iter_inner_content():
        if isinstance(item, Paragraph):
            level = _heading_level(item.style.name if item.style is not None else "")
            if level:
                out.heading(level, item.text)
            else:
                out.paragraph(item.text)
        elif isinstance(item, Table):
            out.table([[c.text for c in row.cells] for row in item.rows])
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

