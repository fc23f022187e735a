"""Slides, workbooks and comma- or tab-separated tables, written by the block writer.

PowerPoint (python-pptx): each slide a section "Slide 3: its title", then its text frames,
tables by rows with their header row, and the speaker notes. Excel (openpyxl, the cached values
of formulas) and CSV/TSV (stdlib `csv`): each sheet a section, its rows a table whose first
non-empty row is the header, with every row's number in the sheet kept for citations."""

from __future__ import annotations

import csv
import io
import zipfile

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks
from rag.ingest.formats.limits import Budget, check_archive
from rag.ingest.formats.text import decode

MAX_CELLS = 2_000_000  # a workbook bigger than this is a database, not a document


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
    for n, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None \
            and title_shape.has_text_frame else ""
        out.heading(1, f"Slide {n}: {title}" if title else f"Slide {n}")
        for shape in _shapes(slide.shapes):
            out.budget.check()
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame:
                for para in shape.text_frame.paragraphs:
                    out.paragraph("".join(r.text for r in para.runs) or para.text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                rows = []
                for row in shape.table.rows:
                    out.budget.check(len(rows))
                    rows.append([c.text for c in row.cells])
                out.table(rows)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            for para in slide.notes_slide.notes_text_frame.paragraphs:
                out.paragraph(para.text)
    if not out.text().strip():
        raise Unreadable("no text")
    props = deck.core_properties
    created = props.created.date().isoformat() if props.created else None
    meta = {"author": props.author} if props.author else {}
    return Extracted(out.text(), "pptx", title=(props.title or "").strip(), date=created,
                     meta=meta, sections=tuple(out.sections), tables=tuple(out.tables))


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
        props = book.properties
    finally:
        book.close()
    if not out.text().strip():
        raise Unreadable("no text")
    created = props.created.date().isoformat() if props.created else None
    return Extracted(out.text(), "xlsx", title=(props.title or "").strip(), date=created,
                     meta={"author": props.creator} if props.creator else {},
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
    return Extracted(out.text(), "tsv" if tab else "csv", sections=tuple(out.sections),
                     tables=tuple(out.tables), rows=tuple(out.rows))


def _sheet(out: Blocks, name: str, rows: list[tuple[int, list[str]]]) -> None:
    """A sheet: its name as a section, its first row the header of the rest."""
    if name:
        out.heading(1, name)
    if rows:
        out.table([r for _, r in rows], 1, numbers=[n for n, _ in rows])
