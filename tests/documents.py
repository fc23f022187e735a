"""Test documents made on the spot: PDF (fpdf2), DOCX (python-docx) and HTML, from text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def _font(style: str = "") -> str:
    """A Unicode TTF that ships with matplotlib (PDF core fonts are Latin-1 only)."""
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if style == "B" else "DejaVuSans.ttf"
    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name)


def make_pdf(path: Path, pages: Sequence[str], *, title: str = "", running_header: str = "",
             table: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None) -> Path:
    """One page per text (a page break where a text says so), with a running header and a page
    number footer on every page, and an optional table on the last page."""
    from fpdf import FPDF

    class Pdf(FPDF):
        def header(self) -> None:
            if running_header:
                self.set_font("dejavu", size=8)
                self.cell(0, 6, running_header, new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("dejavu", size=8)
            self.cell(0, 6, f"Page {self.page_no()}", align="C")

    pdf = Pdf()
    pdf.add_font("dejavu", fname=_font())
    pdf.add_font("dejavu", style="B", fname=_font("B"))
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.set_font("dejavu", size=11)
        for para in text.split("\n\n"):
            pdf.multi_cell(0, 6, para.strip(), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    if table:
        head, rows = table
        pdf.set_font("dejavu", size=10)
        with pdf.table() as t:
            for row in [head, *rows]:
                r = t.row()
                for cell in row:
                    r.cell(cell)
    pdf.output(str(path))
    return path


def make_docx(path: Path, blocks: Sequence[tuple[str, object]], *, title: str = "",
              author: str = "") -> Path:
    """Blocks: ("h1".."h3", text), ("p", text), ("table", (header, rows))."""
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.core_properties.author = author
    for kind, value in blocks:
        if kind.startswith("h"):
            d.add_heading(str(value), level=int(kind[1:]))
        elif kind == "p":
            d.add_paragraph(str(value))
        else:
            head, rows = value  # type: ignore[misc]
            t = d.add_table(rows=1 + len(rows), cols=len(head))
            for i, row in enumerate([head, *rows]):
                for j, cell in enumerate(row):
                    t.cell(i, j).text = cell
    d.save(str(path))
    return path


def make_html(path: Path, title: str, body_html: str) -> Path:
    """A page with navigation, a script, a style and a footer around the article."""
    path.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: sans-serif; }}</style>
<script>window.tracking = "do not index this script";</script></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul></nav>
<header><p>Subscribe to our newsletter for the latest updates</p></header>
<main><article>
<h1>{title}</h1>
{body_html}
</article></main>
<footer><p>Copyright 2024 Example News. All rights reserved. Privacy policy. Contact us.</p>
</footer></body></html>
""", encoding="utf-8")
    return path


def make_scan(path: Path, pages: Sequence[str], *, text_page: str = "") -> Path:
    """A scanned PDF: each text set in a 300 dpi greyscale image, no text layer; with
    `text_page`, a first page with a text layer (a PDF that mixes both)."""
    import textwrap

    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(_font(), 42)  # 10 pt at 300 dpi
    pdf = FPDF(unit="pt", format="A4")
    if text_page:
        pdf.add_font("dejavu", fname=_font())
        pdf.add_page()
        pdf.set_font("dejavu", size=11)
        pdf.multi_cell(0, 14, text_page)
    for n, text in enumerate(pages):
        image = Image.new("L", (2480, 3508), 255)  # A4 at 300 dpi
        draw = ImageDraw.Draw(image)
        y = 240
        for para in text.split("\n\n"):
            for line in textwrap.wrap(para, 78):
                draw.text((200, y), line, fill=0, font=font)
                y += 60
            y += 40
        png = path.with_suffix(f".{n}.png")
        image.save(png)
        pdf.add_page()
        pdf.image(str(png), x=0, y=0, w=pdf.w, h=pdf.h)
        png.unlink()
    pdf.output(str(path))
    return path


def make_pptx(path: Path, slides: Sequence[dict], *, title: str = "") -> Path:
    """Slides: {"title", "bullets": [...], "table": (header, rows), "notes"}."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    if title:
        deck.core_properties.title = title
    for spec in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = spec["title"]
        body = slide.placeholders[1].text_frame
        for i, line in enumerate(spec.get("bullets", [])):
            para = body.paragraphs[0] if i == 0 else body.add_paragraph()
            para.text = line
        if "table" in spec:
            head, rows = spec["table"]
            shape = slide.shapes.add_table(len(rows) + 1, len(head), Inches(1), Inches(5),
                                           Inches(8), Inches(2))
            for r, row in enumerate([head, *rows]):
                for c, cell in enumerate(row):
                    shape.table.cell(r, c).text = cell
        if "notes" in spec:
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    deck.save(str(path))
    return path


def make_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]], *, title: str = ""
              ) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    if title:
        book.properties.title = title
    book.save(str(path))
    return path


def make_epub(path: Path, title: str, chapters: Sequence[tuple[str, str]], *,
              author: str = "", date: str = "") -> Path:
    """Chapters: (heading, body paragraphs separated by blank lines)."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title(title)
    book.set_language("en")
    if author:
        book.add_author(author)
    if date:
        book.add_metadata("DC", "date", date)
    items = []
    for n, (heading, body) in enumerate(chapters, 1):
        ch = epub.EpubHtml(title=heading, file_name=f"chap{n}.xhtml", lang="en")
        paras = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
        ch.content = f"<html><body><h1>{heading}</h1>{paras}</body></html>"
        book.add_item(ch)
        items.append(ch)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path
