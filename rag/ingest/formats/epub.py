"""E-books (EPUB 2 and 3) through ebooklib: the chapters in reading order (the spine), each
read whole from its XHTML elements (the table of contents skipped), so a chapter's headings
are its sections; title, author and date
from the book's Dublin Core metadata."""

from __future__ import annotations

import io
import zipfile

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks
from rag.ingest.formats.limits import Budget, check_archive


def extract_epub(raw: bytes, budget: Budget | None = None) -> Extracted:
    import ebooklib
    from ebooklib import epub

    if not raw.startswith(b"PK"):
        raise Unreadable("not an EPUB (not a zip package)")
    out = Blocks(budget=budget or Budget())
    check_archive(raw, out.budget.limits, "EPUB")
    try:
        book = epub.read_epub(io.BytesIO(raw), options={"ignore_ncx": True})
    except (zipfile.BadZipFile, KeyError, ValueError, AttributeError, OSError,
            epub.EpubException) as e:
        raise Unreadable(f"not a readable EPUB ({str(e)[:120]})") from None
    if any(i.file_name == "META-INF/encryption.xml" for i in book.get_items()):
        raise Unreadable("encrypted EPUB (DRM)")
    from rag.ingest.formats.html import page_blocks

    for idref, _linear in book.spine:
        out.budget.check()
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        page_blocks(item.get_content().decode("utf-8", "replace"), out)
    if not out.text().strip():
        raise Unreadable("no text")

    def first(name: str) -> str:
        values = book.get_metadata("DC", name)
        return str(values[0][0]).strip() if values else ""

    meta = {"author": first("creator")} if first("creator") else {}
    return Extracted(out.text(), "epub", title=first("title"), date=first("date")[:10] or None,
                     meta=meta, sections=tuple(out.sections), tables=tuple(out.tables))
