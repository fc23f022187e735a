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
