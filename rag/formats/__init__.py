"""File formats to text: each extractor turns a file's bytes into `Extracted` — the text all
offsets point into, its metadata, and its page starts — or raises `Unreadable` saying why.

The extension picks the extractor, and the bytes must agree: a `.pdf` that is not a PDF is
reported, not parsed. HTML and Word documents come out as Markdown (headings `#`, tables as
pipe rows), so one outline reader (`outline.py`) finds sections and tables in all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".pdf": "pdf",
         ".html": "html", ".htm": "html", ".docx": "docx"}


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


def kind_of(path: Path) -> str | None:
    """The format a file's name claims, None for files that are not indexed."""
    return KINDS.get(path.suffix.lower())


def extract(path: Path, raw: bytes) -> Extracted:
    """The text and metadata of one file, or Unreadable."""
    kind = kind_of(path)
    if kind == "pdf":
        from rag.formats.pdf import extract_pdf

        return extract_pdf(raw)
    if kind == "html":
        from rag.formats.html import extract_html

        return extract_html(raw)
    if kind == "docx":
        from rag.formats.docx import extract_docx

        return extract_docx(raw)
    from rag.formats.text import extract_text

    return extract_text(raw, path, markdown=kind == "markdown")
