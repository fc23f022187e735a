"""PDF with a text layer, through pypdfium2 (PDFium: about 800 pages/s here, nine times
pypdf, and no doubled spaces in justified text). Lines wrapped by the layout are joined back
into paragraphs, words hyphenated at a line end are mended, a line that repeats at the top or
bottom of many pages (a running header, "Page 3", a book's alternating headers) is dropped,
and a symbol font's private-use characters are the marks they show (✓, →) or dropped. A page
without a text layer (a scan) is read by Tesseract from a 300 dpi rendering, when it is
installed and `ocr` is on."""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections import Counter

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import title_like, visible
from rag.ingest.formats.limits import Budget

EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be headers or footers
# Share of pages an edge line must appear on to count as a running header: a book's left and
# right pages carry different ones, each on half the pages; at least 3 pages (all of 2 or 3).
REPEATS = 0.4
SHORT_LINE = 0.7  # a line shorter than this share of the page's typical line ends a paragraph


log = logging.getLogger("rag")
OCR_DPI = 300
OCR_TIMEOUT = 120  # seconds for Tesseract to read one page
OCR_MIN_CHARS = 20  # a page with fewer characters of text than this is a scan
_warned = threading.Event()  # the missing-Tesseract warning is given once per process

SOFT_HYPHENS = ("\ufffe", "\u00ad")  # PDFium's mark for a hyphen the layout added; Unicode's
_NO_SOFT_HYPHENS = str.maketrans("", "", "".join(SOFT_HYPHENS))


def extract_pdf(raw: bytes, ocr: bool = True, budget: Budget | None = None) -> Extracted:
    import pypdfium2 as pdfium

    budget = budget or Budget()
    if b"%PDF-" not in raw[:1024]:
        raise Unreadable("not a PDF (no %PDF header), though named .pdf")
    try:
        doc = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise Unreadable("encrypted PDF (needs a password)") from None
        raise Unreadable(f"damaged PDF ({e})") from None
    scanned: list[int] = []
    try:
        budget.check(len(doc))  # each page a block
        pages = []
        for i in range(len(doc)):
            text = doc[i].get_textpage().get_text_range()
            budget.spend(1, len(text))
            pages.append(_lines(visible(text, soft_hyphens=False)))
        scanned = [i for i, lines in enumerate(pages)
                   if len("".join("".join(lines).split())) < OCR_MIN_CHARS]
        if scanned and ocr and _tesseract():
            for i in scanned:
                text = _ocr(doc[i], budget)
                budget.spend(0, len(text))
                pages[i] = _lines(visible(text, soft_hyphens=False))
        else:
            scanned = []
        title = " ".join(visible(doc.get_metadata_value("Title") or "").split())
        if not title_like(title):
            title = _largest_line(doc[0]) if len(doc) else ""
        created = _pdf_date(doc.get_metadata_value("CreationDate") or "")
        author = (doc.get_metadata_value("Author") or "").strip()
    finally:
        doc.close()
    pages = _drop_running_lines(pages)
    texts = [_paragraphs(lines) for lines in pages]
    if not any(t.strip() for t in texts):
        if not ocr:
            raise Unreadable("no text layer (scanned?); OCR is off (setting ocr)")
        if not _tesseract():
            raise Unreadable("no text layer (scanned?); install Tesseract (Debian: "
                             "tesseract-ocr tesseract-ocr-eng) to read it")
        raise Unreadable("no text layer, and OCR found no text")
    starts, parts, at = [], [], 0
    for t in texts:
        starts.append(at)
        parts.append(t)
        at += len(t) + 2
    meta: dict[str, object] = {"author": author} if author else {}
    if scanned:
        meta["ocr_pages"] = len(scanned)
    return Extracted("\n\n".join(parts), "pdf", title=title, date=created, meta=meta,
                     pages=tuple(starts))


def _tesseract() -> bool:
    """Whether Tesseract is installed; says once how to install it when it is not."""
    if shutil.which("tesseract"):
        return True
    if not _warned.is_set():
        _warned.set()
        log.warning("scanned PDF pages are skipped: Tesseract is not installed (Debian: "
                    "apt-get install tesseract-ocr tesseract-ocr-eng)")
    return False


def _ocr(page, budget: Budget) -> str:
    """A scanned page's text; Tesseract stops when the file's time is up, and so does the
    file (a PDF of blank pages would otherwise cost a third of a second each, unbounded)."""
    import pytesseract

    budget.check()
    image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil()
    try:
        return pytesseract.image_to_string(image, lang="eng",
                                           timeout=max(1, min(OCR_TIMEOUT, budget.left())))
    except (RuntimeError, pytesseract.TesseractError) as e:
        budget.check()  # a timeout because the file's time is up skips the file
        log.warning("OCR failed on a page (%s); it is indexed without text",
                    str(e).splitlines()[0][:120] if str(e) else type(e).__name__)
        return ""


def _largest_line(page) -> str:
    """The line set in the largest type among the first lines of a page (a paper's title):
    PDFium's characters with their height as set (the font's box, not the font size, which a
    scaled text matrix leaves at 1), cut into lines at its line breaks."""
    import ctypes

    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    n = min(raw.FPDFText_CountChars(textpage), 3000)
    lines: list[tuple[float, str]] = []
    chars: list[str] = []
    size = 0.0
    box = raw.FS_RECTF()
    for i in range(n):
        ch = chr(raw.FPDFText_GetUnicode(textpage, i))
        if ch in "\r\n":
            if chars:
                lines.append((size, "".join(chars)))
            chars, size = [], 0.0
            continue
        chars.append(ch)
        if not ch.isspace() and raw.FPDFText_GetLooseCharBox(textpage, i, ctypes.byref(box)):
            size = max(size, round(box.top - box.bottom, 1))
    if chars:
        lines.append((size, "".join(chars)))
    lines = [(sz, " ".join(t.split())) for sz, t in lines[:40] if t.strip()]
    if not lines:
        return ""
    top = max(sz for sz, _ in lines)
    if sum(1 for sz, _ in lines if sz >= top - 0.5) > 4:  # body text only: no title line
        return ""
    # The title may wrap over lines of the same size.
    first = next(i for i, (sz, _) in enumerate(lines) if sz >= top - 0.5)
    words = []
    for sz, text in lines[first:first + 3]:
        if sz < top - 0.5:
            break
        words.append(visible(text).translate(_NO_SOFT_HYPHENS))
    title = " ".join(" ".join(words).split())
    return title if len(title) <= 200 and sum(ch.isalpha() for ch in title) >= 3 else ""


def _lines(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop lines at the page edges that repeat (digits aside) on most pages."""
    if len(pages) < 2:
        return pages

    def edges(lines: list[str]) -> set[int]:
        filled = [i for i, ln in enumerate(lines) if ln.strip()]
        return set(filled[:EDGE_LINES] + filled[-EDGE_LINES:])

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split()).lower())

    at_edges = [edges(lines) for lines in pages]
    seen = Counter(k for lines, idx in zip(pages, at_edges, strict=True)
                   for k in {key(lines[i]) for i in idx})
    least = len(pages) if len(pages) <= 3 else max(3, REPEATS * len(pages))
    running = {k for k, n in seen.items() if n >= least}
    return [[ln for i, ln in enumerate(lines) if not (i in idx and key(ln) in running)]
            for lines, idx in zip(pages, at_edges, strict=True)]


def _paragraphs(lines: list[str]) -> str:
    """Join lines the layout wrapped; keep a break after a short line (a paragraph's last
    line, a heading, a table row) and at blank lines; mend words hyphenated at a line end."""
    filled = sorted(len(ln.strip()) for ln in lines if ln.strip())
    if not filled:
        return ""
    full = filled[int(len(filled) * 0.8)]  # the length of a line the layout filled
    out: list[str] = []  # finished lines
    line = ""
    for ln in (x.strip() for x in lines):
        if not ln:
            if line:
                out.append(line)
                line = ""
            continue
        if line.endswith(SOFT_HYPHENS) or \
                (line.endswith("-") and line[-2:-1].isalpha() and ln[:1].islower()):
            line = line[:-1] + ln
        else:
            line = f"{line} {ln}" if line else ln
        if len(ln) < SHORT_LINE * full and not ln.endswith(SOFT_HYPHENS):
            out.append(line)
            line = ""
    if line:
        out.append(line)
    # A soft hyphen left inside a line (not at its end) is invisible to a reader: drop it.
    return "\n".join(out).translate(_NO_SOFT_HYPHENS)


def _pdf_date(value: str) -> str | None:
    """PDF's "D:20240702103000+12'00'" as "2024-07-02"; None without a whole day (a year
    alone is no day) or for one that is no date."""
    import datetime as dt

    m = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", value.strip())
    if not m or int(m.group(1)) < 1980:  # before PDF; a placeholder
        return None
    try:
        return dt.date(*map(int, m.groups())).isoformat()
    except ValueError:
        return None
