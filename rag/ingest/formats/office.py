"""Slides, workbooks and comma- or tab-separated tables, written by the block writer.

PowerPoint (python-pptx): each slide a section "Slide 3: its title", then its text frames,
paragraph by paragraph as running text, tables by rows with their header row, and the speaker
notes. Excel (openpyxl, the cached values of formulas) and CSV/TSV (stdlib `csv`): each sheet a
section, its rows a table whose first non-empty row is the header, with every row's number in
the sheet kept for citations. An Office file's title, author and date are those its own core
properties state (`properties`)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import (
    Blocks,
    heading_like,
    soft_breaks,
    symbol_text,
    title_like,
    visible,
)
from rag.ingest.formats.limits import Budget, check_archive
from rag.ingest.formats.text import decode

MAX_CELLS = 2_000_000  # a workbook bigger than this is a database, not a document


@dataclass(frozen=True)
class Properties:
    """What an Office package's core properties state; `date` when it was last modified,
    else created."""

    title: str = ""
    author: str = ""
    subject: str = ""
    date: str | None = None


_DC = "http://purl.org/dc/elements/1.1/"
_DCTERMS = "http://purl.org/dc/terms/"
# The timestamps in python-docx's and python-pptx's own templates: a file made from one that
# never set its dates states none.
TEMPLATE_DATES = {"2013-12-23T23:15:00Z", "2013-01-27T09:14:16Z", "2013-01-27T09:15:58Z"}
FIRST_YEAR = 1980  # before it, an Office date is a placeholder (Word's empty date is 1601)


def properties(raw: bytes) -> Properties:
    """The core properties (title, author, subject, date) an Office package states, read
    from its own core part: for a package without one python-docx and python-pptx make up a
    title and today's date, and openpyxl the time it is read; here there are none."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            rels = etree.fromstring(z.read("_rels/.rels"), parser)
            target = next((r.get("Target", "") for r in rels
                           if r.get("Type", "").endswith("/metadata/core-properties")), "")
            if not target:
                return Properties()
            core = etree.fromstring(z.read(target.lstrip("/")), parser)
    except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
        return Properties()

    def value(ns: str, name: str) -> str:
        el = core.find(f"{{{ns}}}{name}")
        return " ".join(visible(el.text or "").split()) if el is not None else ""

    return Properties(value(_DC, "title"), value(_DC, "creator"), value(_DC, "subject"),
                      _date(value(_DCTERMS, "modified")) or _date(value(_DCTERMS, "created")))


def _date(value: str) -> str | None:
    """A W3CDTF timestamp's day ("2024-07-02T10:00:00Z" is 2024-07-02); None for a template's
    or a placeholder."""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)", value)
    if not m or value in TEMPLATE_DATES or int(m.group(1)) < FIRST_YEAR:
        return None
    try:
        return dt.date(*map(int, m.groups())).isoformat()
    except ValueError:
        return None


def _package(raw: bytes, what: str, budget: Budget) -> None:
    """Office files are zip packages (whose directory must be within the limits); an
    encrypted one is an OLE file instead."""
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise Unreadable(f"encrypted or legacy binary {what} (save it as an unprotected "
                         f".{'pptx' if what == 'presentation' else 'xlsx'} to index it)")
    if not raw.startswith(b"PK"):
        raise Unreadable(f"not a {what} (not a zip package)")
    check_archive(raw, budget.limits, what)


def extract_pptx(raw: bytes, budget: Budget | None = None) -> Extracted:
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    out = Blocks(budget=budget or Budget())
    _package(raw, "presentation", out.budget)
    try:
        deck = Presentation(io.BytesIO(raw))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise Unreadable(f"not a readable presentation ({e})") from None
    first_title = ""
    for n, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        title = " ".join(visible(title_shape.text_frame.text).split()) \
            if title_shape is not None and title_shape.has_text_frame else ""
        if n == 1:
            first_title = title
        out.heading(1, f"Slide {n}: {title}" if title else f"Slide {n}")
        for shape in _shapes(slide.shapes):
            out.budget.check()
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame:
                for para in shape.text_frame.paragraphs:
                    out.paragraph(soft_breaks(_slide_text(para)))
            elif getattr(shape, "has_table", False) and shape.has_table:
                rows = []
                for row in shape.table.rows:
                    out.budget.check(len(rows))
                    rows.append(["\n".join(_slide_text(para) for para in
                                           c.text_frame.paragraphs) for c in row.cells])
                out.table(rows)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            for para in slide.notes_slide.notes_text_frame.paragraphs:
                out.paragraph(soft_breaks(_slide_text(para)))
    if not out.text().strip():
        raise Unreadable("no text")
    props = properties(raw)
    meta = {"author": props.author} if props.author else {}
    title = props.title if title_like(props.title) else first_title  # else the first slide's
    return Extracted(out.text(), "pptx", title=title, date=props.date, meta=meta,
                     sections=tuple(out.sections), tables=tuple(out.tables))


# A run set in a symbol font (its glyphs are not the letters stored).
_SYMBOL_RUN = ("./a:r[a:rPr/*[self::a:latin or self::a:sym or self::a:cs]"
               "[starts-with(@typeface, 'Wingdings') or @typeface = 'Symbol']]")


def _slide_text(para) -> str:
    """A slide paragraph's text, a line break as a vertical tab (python-pptx's `text`), with
    what a symbol font's characters show."""
    p = para._p
    if not p.xpath(_SYMBOL_RUN):
        return para.text
    parts = []
    for child in p.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "br":
            parts.append("\v")
        elif tag in ("r", "fld"):
            text = "".join(t.text or "" for t in child.iterchildren() if
                           t.tag.endswith("}t"))
            fonts = [f.get("typeface", "") for f in child.xpath("./a:rPr/a:sym | "
                                                                "./a:rPr/a:latin")]
            symbol = next((f for f in fonts if f.startswith("Wingdings") or f == "Symbol"),
                          "")
            parts.append(symbol_text(text, symbol) if symbol else text)
    return "".join(parts)


def _shapes(shapes):
    """Every shape in reading order, groups opened (top to bottom, then left to right)."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    ordered = sorted(shapes, key=lambda s: ((s.top or 0), (s.left or 0)))
    for shape in ordered:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def extract_xlsx(raw: bytes, budget: Budget | None = None) -> Extracted:
    import openpyxl

    out, cells = Blocks(budget=budget or Budget()), 0
    _package(raw, "workbook", out.budget)
    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise Unreadable(f"not a readable workbook ({e})") from None
    try:
        for sheet in book.worksheets:
            rows: list[tuple[int, list[str]]] = []
            for n, row in enumerate(sheet.iter_rows(values_only=True), 1):
                out.budget.check(len(rows))  # the rows kept are spent when written
                cells += len(row)
                if cells > MAX_CELLS:
                    raise Unreadable(f"over the {MAX_CELLS:,}-cell limit (export the rows to "
                                     f"index as CSV in parts)")
                values = ["" if v is None else _cell(v) for v in row]
                if any(v.strip() for v in values):
                    rows.append((n, values))
                else:
                    out.budget.spend()  # an empty row is read, never written
            _sheet(out, sheet.title, rows)
    finally:
        book.close()
    if not out.text().strip():
        raise Unreadable("no text")
    props = properties(raw)  # openpyxl's say "now" for a workbook that states no date
    return Extracted(out.text(), "xlsx", title=props.title, date=props.date,
                     meta={"author": props.author} if props.author else {},
                     sections=tuple(out.sections), tables=tuple(out.tables),
                     rows=tuple(out.rows))


def _cell(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        return v.isoformat().removesuffix("T00:00:00")
    return str(v)


def extract_csv(raw: bytes, tab: bool, budget: Budget | None = None) -> Extracted:
    out = Blocks(budget=budget or Budget())
    text = decode(raw)
    if tab:
        dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    rows: list[tuple[int, list[str]]] = []
    try:
        for n, row in enumerate(csv.reader(io.StringIO(text), dialect), 1):
            out.budget.check(len(rows))  # the rows kept are spent when written
            if any(c.strip() for c in row):
                rows.append((n, row))
            else:
                out.budget.spend()  # an empty row is read, never written
    except csv.Error as e:
        raise Unreadable(f"not a readable CSV file ({e})") from None
    _sheet(out, "", rows)
    if not out.text().strip():
        raise Unreadable("no text")
    return Extracted(out.text(), "tsv" if tab else "csv", title=_comment_title(rows),
                     sections=tuple(out.sections), tables=tuple(out.tables),
                     rows=tuple(out.rows))


def _comment_title(rows: list[tuple[int, list[str]]]) -> str:
    """The title a table's file states in a leading comment line ("# ISO 3166 alpha-2 country
    codes", as tz's tables do); the header row never is one."""
    cells = [c for c in rows[0][1] if c.strip()] if rows else []
    if len(cells) != 1 or not cells[0].lstrip().startswith("#"):
        return ""
    line = " ".join(visible(cells[0]).lstrip().lstrip("#").split())
    return line if heading_like(line, first_line=True) else ""


def _sheet(out: Blocks, name: str, rows: list[tuple[int, list[str]]]) -> None:
    """A sheet: its name as a section, its first row the header of the rest."""
    if name:
        out.heading(1, name)
    if rows:
        out.table([r for _, r in rows], 1, numbers=[n for n, _ in rows])
