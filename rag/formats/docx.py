"""Word documents through python-docx: paragraphs, headings (as Markdown `#`) and tables (as
pipe rows) in document order; the core properties give title, author and date."""

from __future__ import annotations

import io
import re

from rag.formats import Extracted, Unreadable


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
    blocks: list[str] = []
    for item in d.iter_inner_content():
        if isinstance(item, Paragraph):
            text = " ".join(item.text.split())
            if not text:
                continue
            level = _heading_level(item.style.name if item.style is not None else "")
            blocks.append(f"{'#' * level} {text}" if level else text)
        elif isinstance(item, Table):
            blocks.append(_table(item))
    text = "\n\n".join(b for b in blocks if b)
    if not text.strip():
        raise Unreadable("no text")
    props = d.core_properties
    created = props.created.date().isoformat() if props.created else None
    meta = {k: v for k, v in {"author": props.author, "subject": props.subject}.items() if v}
    return Extracted(text, "docx", title=(props.title or "").strip(), date=created, meta=meta)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.fullmatch(r"Heading (\d)", style)
    return min(int(m.group(1)), 6) if m else 0


def _table(table) -> str:
    rows = [[" ".join(c.text.split()).replace("|", "/") for c in row.cells]
            for row in table.rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    lines = [f"| {' | '.join(rows[0])} |", "|" + "---|" * len(rows[0])]
    lines += [f"| {' | '.join(r)} |" for r in rows[1:]]
    return "\n".join(lines)
