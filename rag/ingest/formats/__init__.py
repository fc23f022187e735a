"""File formats to text: each extractor turns a file's bytes into `Extracted` — the text all
offsets point into, its metadata, and its page starts — or raises `Unreadable` saying why.

The extension picks the extractor, and the bytes must agree: a `.pdf` that is not a PDF is
reported, not parsed. Structured formats are written as plain text by one block writer
(`blocks.py`), which records the sections and tables as it writes. What one file may cost
(`limits.py`: a zip package's directory, characters, blocks, seconds) is checked before and
while it is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.types import Limits

if TYPE_CHECKING:
    from rag.ingest.formats.limits import Budget

KINDS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".pdf": "pdf",
         ".html": "html", ".htm": "html", ".xhtml": "html", ".docx": "docx", ".rst": "rst",
         ".pptx": "pptx", ".xlsx": "xlsx", ".xlsm": "xlsx", ".csv": "csv", ".tsv": "tsv",
         ".tab": "tsv", ".epub": "epub"}
TEXT_KINDS = {"text", "markdown", "rst", "html", "csv", "tsv"}  # read whole as text


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


def extract(path: Path, raw: bytes, ocr: bool = True, limits: Limits | None = None
            ) -> Extracted:
    """The text and metadata of one file, or Unreadable; `ocr` reads scanned PDF pages.
    `limits` (default: `Limits()`) bound what the file may cost; past one it is Unreadable.
    Any other error of a parser on an odd file is Unreadable too, in one line."""
    from rag.ingest.formats.limits import Budget, check_size

    kind = kind_of(path)
    if not raw:
        raise Unreadable("empty file")
    budget = Budget(limits)
    check_size(len(raw), budget.limits)
    if kind in TEXT_KINDS and len(raw) > 4 * budget.limits.chars:  # UTF-8: 4 bytes at most
        raise Unreadable(f"over the {budget.limits.chars:,}-character limit ({len(raw):,} "
                         f"bytes of text; setting max_file_chars)")
    try:
        return _extract(kind, path, raw, ocr, budget)
    except Unreadable:
        raise
    except Exception as e:  # lxml, zipfile, a RecursionError, MemoryError: one line, no trace
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        raise Unreadable(f"could not read it as {kind} ({type(e).__name__}"
                         f"{': ' + first if first else ''})") from None


def _extract(kind: str | None, path: Path, raw: bytes, ocr: bool, budget: Budget
             ) -> Extracted:
    if kind == "pdf":
        from rag.ingest.formats.pdf import extract_pdf

        return extract_pdf(raw, ocr=ocr, budget=budget)
    if kind == "rst":
        from rag.ingest.formats.rst import extract_rst

        return extract_rst(raw, budget)
    if kind == "pptx":
        from rag.ingest.formats.office import extract_pptx

        return extract_pptx(raw, budget)
    if kind == "xlsx":
        from rag.ingest.formats.office import extract_xlsx

        return extract_xlsx(raw, budget)
    if kind in ("csv", "tsv"):
        from rag.ingest.formats.office import extract_csv

        return extract_csv(raw, tab=kind == "tsv", budget=budget)
    if kind == "epub":
        from rag.ingest.formats.epub import extract_epub

        return extract_epub(raw, budget)
    if kind == "html":
        from rag.ingest.formats.html import extract_html

        return extract_html(raw, budget)
    if kind == "docx":
        from rag.ingest.formats.docx import extract_docx

        return extract_docx(raw, budget)
    from rag.ingest.formats.text import extract_text

    return extract_text(raw, path, markdown=kind == "markdown", budget=budget)
