"""File formats to text: each extractor turns a file's bytes into `Extracted` — the text all
offsets point into, its metadata, and its page starts — or raises `Unreadable` saying why.

The extension picks the extractor, and the bytes must agree: a `.pdf` that is not a PDF is
reported, not parsed. Structured formats are written as plain text by one block writer
(`blocks.py`), which records the sections and tables as it writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".pdf": "pdf",
         ".html": "html", ".htm": "html", ".xhtml": "html", ".docx": "docx", ".rst": "rst",
         ".pptx": "pptx", ".xlsx": "xlsx", ".xlsm": "xlsx", ".csv": "csv", ".tsv": "tsv",
         ".tab": "tsv", ".epub": "epub"}


class Unreadable(Exception):
    """A file that cannot be indexed; the message says why, for the warning that names it."""


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: str
    title: str = ""
    date: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    pages: tuple[int, ...] = ()  # offset in `text` where each page starts (PDF); page 1 first
    sections: tuple[tuple[int, str], ...] = ()  # (offset, heading path) in text order
    tables: tuple[tuple[int, int, str], ...] = ()  # (body start, body end, header rows)
    rows: tuple[tuple[int, ...], ...] = ()  # per table: each body line's row in its sheet


def kind_of(path: Path) -> str | None:
    """The format a file's name claims, None for files that are not indexed."""
    return KINDS.get(path.suffix.lower())


def extract(path: Path, raw: bytes, ocr: bool = True) -> Extracted:
    """The text and metadata of one file, or Unreadable; `ocr` reads scanned PDF pages."""
    kind = kind_of(path)
    if not raw:
        raise Unreadable("empty file")
    if kind == "pdf":
        from rag.ingest.formats.pdf import extract_pdf

        return extract_pdf(raw, ocr=ocr)
    if kind == "rst":
        from rag.ingest.formats.rst import extract_rst

        return extract_rst(raw)
    if kind == "pptx":
        from rag.ingest.formats.office import extract_pptx

        return extract_pptx(raw)
    if kind == "xlsx":
        from rag.ingest.formats.office import extract_xlsx

        return extract_xlsx(raw)
    if kind in ("csv", "tsv"):
        from rag.ingest.formats.office import extract_csv

        return extract_csv(raw, tab=kind == "tsv")
    if kind == "epub":
        from rag.ingest.formats.epub import extract_epub

        return extract_epub(raw)
    if kind == "html":
        from rag.ingest.formats.html import extract_html

        return extract_html(raw)
    if kind == "docx":
        from rag.ingest.formats.docx import extract_docx

        return extract_docx(raw)
    from rag.ingest.formats.text import extract_text

    return extract_text(raw, path, markdown=kind == "markdown")
