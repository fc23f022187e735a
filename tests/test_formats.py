"""PDF, HTML, Word and Markdown: text, metadata, pages and sections, tables chunked by rows,
and the files that cannot be read named with the reason."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from rag.ingest.chunk import Chunker
from rag.ingest.formats import Unreadable, extract
from rag.ingest.formats.pdf import _paragraphs
from rag.ingest.load import load_documents, load_file

from .documents import make_docx, make_html, make_pdf

PAGES = ["The kakapo is a flightless parrot. It lives only in New Zealand and is active at "
         "night. Adults weigh up to four kilograms.",
         "Kakapo breed only when the rimu trees fruit heavily, every two to four years. A "
         "female lays one to four eggs.",
         "In 1995 the Kakapo Recovery programme began. Every bird now lives on islands that "
         "are free of predators, such as Whenua Hou."]
BUDGET = [("h1", "Budget 2025"), ("p", "The budget was released on 22 May 2025."),
          ("h2", "Health"), ("p", "Health spending rises by 4 percent to fund more nurses."),
          ("h3", "Hospitals"), ("p", "Three new hospitals will open in Auckland by 2027."),
          ("h2", "Education"),
          ("table", (["Year", "Schools (NZ$m)", "Universities (NZ$m)"],
                     [["2022", "1,100", "780"], ["2023", "1,200", "800"],
                      ["2024", "1,350", "820"]]))]


def _chunks(doc, tokens=40, overlap=8):
    return Chunker(tokens, overlap, headers=True).split(doc)


# -- PDF ---------------------------------------------------------------------------------------

def test_pdf_pages_come_out_in_order_without_running_headers(tmp_path):
    path = make_pdf(tmp_path / "kakapo.pdf", PAGES, title="Kakapo facts",
                    running_header="Wildlife Quarterly — Spring 2024")
    doc = load_file(path, "kakapo.pdf")
    assert doc.kind == "pdf" and doc.title == "Kakapo facts" and len(doc.pages) == 3
    for n, page in enumerate(PAGES):
        start = doc.pages[n]
        end = doc.pages[n + 1] - 2 if n + 1 < len(doc.pages) else len(doc.text)
        assert " ".join(doc.text[start:end].split()) == page  # wrapped lines joined again
    assert "Wildlife Quarterly" not in doc.text and "Page 2" not in doc.text


def test_pdf_chunks_and_quotes_know_their_page(tmp_path):
    doc = load_file(make_pdf(tmp_path / "k.pdf", PAGES), "k.pdf")
    chunks = _chunks(doc, tokens=60, overlap=0)
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        for offset in (0, len(c.text) - 1):
            at = c.start + offset
            assert c.page_at(offset) == sum(1 for p in doc.pages if p <= at)
    assert {c.page_at(i) for c in chunks for i in range(len(c.text))} == {1, 2, 3}


def test_pdf_line_breaks_are_mended():
    lines = ["The programme protects every kakapo on islands free of preda-",
             "tors and it counts each egg and chick every single season so far,",
             "Short last line.", "", "A new paragraph here that is long enough to wrap over",
             "two lines."]
    assert _paragraphs(lines) == (
        "The programme protects every kakapo on islands free of predators and it counts each "
        "egg and chick every single season so far, Short last line.\n"
        "A new paragraph here that is long enough to wrap over two lines.")


def test_pdfium_soft_hyphens_are_mended_and_never_left_in_the_text():
    # PDFium reports a hyphen the layout inserted at a line end as U+FFFE.
    lines = ["Distributed sys\ufffe", "tems keep copies of the data on several machines so",
             "that a failed disk loses noth\u00ading; the copies agree through a protocol."]
    text = _paragraphs(lines)
    assert text == ("Distributed systems keep copies of the data on several machines so that a "
                    "failed disk loses nothing; the copies agree through a protocol.")
    assert "\ufffe" not in text and "\u00ad" not in text


def test_pdfs_that_cannot_be_read_say_why(tmp_path):
    from fpdf import FPDF

    scanned = FPDF()
    scanned.add_page()
    scanned.rect(20, 20, 100, 60, style="F")  # a picture, no text
    scanned.output(str(tmp_path / "scan.pdf"))
    locked = FPDF()
    locked.add_page()
    locked.set_font("helvetica", size=12)
    locked.cell(0, 10, "secret text")
    locked.set_encryption(owner_password="owner", user_password="reader")
    locked.output(str(tmp_path / "locked.pdf"))
    (tmp_path / "fake.pdf").write_text("just some text, not a PDF")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n" + bytes(200))
    for name, why in [("scan.pdf", r"no text layer \(scanned\?\); OCR is off"),
                      ("locked.pdf", "encrypted"), ("fake.pdf", "not a PDF"),
                      ("broken.pdf", "damaged PDF")]:
        path = tmp_path / name
        with pytest.raises(Unreadable, match=why):
            extract(path, path.read_bytes(), ocr=False)
    with pytest.raises(Unreadable, match="OCR found no text"):  # a picture of no words
        extract(tmp_path / "scan.pdf", (tmp_path / "scan.pdf").read_bytes())


# -- Word and HTML -------------------------------------------------------------------------------

def test_docx_headings_tables_and_properties(tmp_path):
    path = make_docx(tmp_path / "budget.docx", BUDGET, title="Budget 2025 explained",
                     author="The Treasury")
    doc = load_file(path, "budget.docx")
    assert doc.kind == "docx" and doc.title == "Budget 2025 explained"
    assert doc.meta["author"] == "The Treasury"
    assert [s for _, s in doc.sections] == [
        "Budget 2025", "Budget 2025 › Health", "Budget 2025 › Health › Hospitals",
        "Budget 2025 › Education"]
    hospitals = next(c for c in _chunks(doc) if "hospitals will open" in c.text)
    assert hospitals.section == "Budget 2025 › Health › Hospitals"
    assert "Health spending" not in hospitals.text  # no chunk straddles a heading


def test_table_rows_are_chunked_with_their_header(tmp_path):
    rows = [[str(2000 + i), f"{1000 + 10 * i:,}", str(700 + i)] for i in range(40)]
    blocks = [("h1", "Funding"), ("p", "Funding by year."),
              ("table", (["Year", "Schools (NZ$m)", "Universities (NZ$m)"], rows))]
    doc = load_file(make_docx(tmp_path / "t.docx", blocks), "t.docx")
    chunker = Chunker(40, 8, headers=True)
    table = [c for c in chunker.split(doc) if c.header]
    assert len(table) > 3  # 40 rows do not fit one chunk of 40 tokens
    for c in table:
        assert c.header == "Year | Schools (NZ$m) | Universities (NZ$m)"
        assert all(re.fullmatch(r"20\d\d \| [\d,]+ \| \d+", line)
                   for line in c.text.splitlines())  # whole rows, no markup
        assert chunker.index_text(c, doc.title).splitlines()[1].startswith("Year | ")
        assert doc.text[c.start:c.end] == c.text
    assert sum(c.text.count("\n") + 1 for c in table) >= 40  # every row in some chunk


def test_html_keeps_the_article_and_drops_the_clutter(tmp_path):
    path = make_html(tmp_path / "budget.html", "Budget 2025 explained",
                     "<p>The budget was released on 22 May 2025.</p><h2>Health</h2>"
                     "<p>Health spending rises by 4 percent to fund more nurses.</p>"
                     "<h2>Education</h2><table><tr><th>Year</th><th>Schools</th></tr>"
                     "<tr><td>2024</td><td>1,350</td></tr></table>")
    doc = load_file(path, "budget.html")
    assert doc.kind == "html" and doc.title == "Budget 2025 explained"
    assert "4 percent" in doc.text and "\n2024 | 1,350" in doc.text
    for clutter in ("Subscribe", "Copyright", "tracking", "font-family", "Weather"):
        assert clutter not in doc.text
    assert "Budget 2025 explained › Health" in [s for _, s in doc.sections]
    assert doc.tables and doc.tables[0][2] == "Year | Schools"


def test_markdown_headings_and_tables(tmp_path):
    (tmp_path / "notes.md").write_text(
        "# Birds\n\nNew Zealand has many birds.\n\n## Kea\n\nThe kea is an alpine parrot.\n\n"
        "```\n# not a heading\n```\n\n## Counts\n\n| Bird | Count |\n|---|---|\n| Kea | 5,000 |\n"
        "| Kakapo | 250 |\n", encoding="utf-8")
    doc = load_file(tmp_path / "notes.md", "notes.md")
    assert [s for _, s in doc.sections] == ["Birds", "Birds › Kea", "Birds › Counts"]
    kakapo = next(c for c in _chunks(doc) if "Kakapo" in c.text)
    assert kakapo.section == "Birds › Counts" and kakapo.header == "Bird | Count"


def test_a_mixed_folder_loads_every_format_and_names_what_it_skips(tmp_path, caplog):
    d = tmp_path / "docs"
    d.mkdir()
    make_pdf(d / "kakapo.pdf", PAGES)
    make_docx(d / "budget.docx", BUDGET)
    make_html(d / "page.html", "A page", "<p>The tui sings two notes at once.</p>")
    (d / "notes.md").write_text("# Notes\n\nThe weka is a rail.\n")
    (d / "plain.txt").write_text("The moa was a giant bird.\n")
    (d / "fake.docx").write_text("not a zip")
    (d / "fake.pdf").write_text("not a pdf")
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_documents([d])
    assert {x.doc_id: x.kind for x in docs} == {
        "kakapo.pdf": "pdf", "budget.docx": "docx", "page.html": "html",
        "notes.md": "markdown", "plain.txt": "text"}
    assert "fake.docx: not a Word document" in caplog.text
    assert "fake.pdf: not a PDF" in caplog.text


# -- through the real model ----------------------------------------------------------------------

def test_answers_cite_pages_and_sections_with_the_real_model(tmp_path):
    from rag.config import Settings
    from rag.pipeline import RAG, build

    d = tmp_path / "docs"
    d.mkdir()
    make_pdf(d / "kakapo.pdf", PAGES, title="Kakapo facts")
    make_docx(d / "budget.docx", BUDGET, title="Budget 2025 explained")
    s = Settings(index_dir=str(tmp_path / "ix"))
    build([d], settings=s)
    rag = RAG.load(settings=s)
    ans = rag.answer("When did the Kakapo Recovery programme begin?")
    assert "1995" in ans.answer
    c = ans.citations[0]
    assert (c.doc_id, c.page, c.section) == ("kakapo.pdf", 3, None)
    assert ans.to_dict()["citations"][0]["page"] == 3
    ans = rag.answer("How many new hospitals will open in Auckland?")
    assert "Three new hospitals" in ans.answer
    assert ans.citations[0].section == "Budget 2025 › Health › Hospitals"
    ans = rag.answer("What was the 2023 figure for universities?")
    assert ans.passages and "2023 | 1,200 | 800" in ans.passages[0].chunk.text



@pytest.mark.parametrize("kind", ["pdf", "docx", "html"])
def test_the_seed_articles_as_pdf_word_and_html_answer_as_the_text_does(kind, seed_rag,
                                                                        tmp_path):
    """The seed evaluation on the seed articles converted to another format: within one
    question of the text version, and citations say where (page or section)."""
    from html import escape as html_escape

    from rag.config import Settings
    from rag.eval.metrics import summarize
    from rag.eval.runner import load_set, run_pipeline
    from rag.pipeline import RAG, build

    from .conftest import EVAL_SET, SEEDS

    d = tmp_path / "docs"
    d.mkdir()
    for doc in load_documents([SEEDS]):
        paras = [p.strip() for p in doc.text.splitlines() if p.strip()]
        stem = Path(doc.doc_id).stem
        if kind == "pdf":
            half = len(paras) // 2
            make_pdf(d / f"{stem}.pdf", ["\n\n".join(paras[:half]), "\n\n".join(paras[half:])],
                     title=doc.title)
        elif kind == "docx":
            make_docx(d / f"{stem}.docx", [("h1", doc.title)] + [("p", p) for p in paras],
                      title=doc.title)
        else:
            make_html(d / f"{stem}.html", html_escape(doc.title),
                      "".join(f"<p>{html_escape(p)}</p>" for p in paras))
    s = Settings(index_dir=str(tmp_path / "ix"))
    build([d], settings=s)
    rag = RAG.load(settings=s)
    items = load_set(EVAL_SET)
    text = summarize(run_pipeline(seed_rag, items))
    other = summarize(run_pipeline(rag, items))
    answerable = sum(i.answerable for i in items)
    print(f"\n{kind}: answer_contains {other['answer_contains']:.3f} "
          f"(text {text['answer_contains']:.3f})")
    assert abs(other["answer_contains"] - text["answer_contains"]) * answerable <= 1 + 1e-9, \
        (kind, other["answer_contains"], text["answer_contains"])
    ans = rag.answer("How many countries belong to the NATO alliance?")
    c = ans.citations[0]
    assert c.page in (1, 2) if kind == "pdf" else c.section


# -- text as a reader sees it ----------------------------------------------------------------

WRAPPED_MD = """<!--
Licence notice
-->

# Reviewing code {#intro}

The main purpose of the review is to make sure that the overall **code health** of the
code base is improving over time, as described in [the standard](standard.md) and
`README.md`. A second sentence follows &amp; ends here.

*   A list item that wraps
    over two lines.
*   Another item.

Line with a hard break\\
and its rest.

```sh
# a comment, not a heading
make test
```
"""


def test_markdown_is_indexed_as_the_text_it_renders_to(tmp_path):
    (tmp_path / "guide.md").write_text(WRAPPED_MD, encoding="utf-8")
    doc = load_file(tmp_path / "guide.md", "guide.md")
    assert doc.title == "Reviewing code"
    assert "The main purpose of the review is to make sure that the overall code health of " \
           "the code base is improving over time, as described in the standard and README.md." \
           in doc.text
    assert "A second sentence follows & ends here." in doc.text
    assert "A list item that wraps over two lines." in doc.text
    assert "Line with a hard break\nand its rest." in doc.text
    assert "# a comment, not a heading\nmake test" in doc.text  # code stays as it is
    for mark in ("**", "](", "<!--", "{#", "Licence", "*   "):
        assert mark not in doc.text
    assert [s for _, s in doc.sections] == ["Reviewing code"]
    from rag.text import sentence_spans

    units = [doc.text[s:e] for s, e in sentence_spans(doc.text)]
    assert any(u.startswith("The main purpose") and u.endswith("README.md.") for u in units)
    for c in Chunker(40, 8).split(doc):
        assert doc.text[c.start:c.end] == c.text


def test_hard_wrapped_plain_text_is_joined_in_place_and_paragraph_lines_are_not(tmp_path):
    import textwrap

    paragraphs = [("The council measured river flows at twelve stations this season and found "
                   "them well below the long-term average for the time of year. " * 3).strip(),
                  ("Farmers were asked to cut irrigation by a fifth until the autumn rains "
                   "arrive, and most agreed to do so within the week. " * 2).strip()]
    wrapped = "\n\n".join(textwrap.fill(p, 72) for p in paragraphs) + "\n"
    (tmp_path / "wrapped.txt").write_text(wrapped)
    doc = load_file(tmp_path / "wrapped.txt", "wrapped.txt")
    assert len(doc.text) == len(wrapped)  # joined in place: every offset holds
    assert doc.text.split("\n\n")[0] == paragraphs[0]
    from .conftest import SEEDS

    # One-line paragraphs (the RNZ article) and front matter text are left as they are.
    rnz = SEEDS / "rnz-luxon-nato-summit-analysis.txt"
    assert load_file(rnz, rnz.name).text == rnz.read_text(encoding="utf-8")
    poem = "Short lines\nof a poem\nstay apart\nas written\n"
    (tmp_path / "poem.txt").write_text(poem)
    assert load_file(tmp_path / "poem.txt", "poem.txt").text == poem


def test_html_entities_are_decoded_once_and_links_never_date_a_page(tmp_path):
    path = make_html(tmp_path / "style.html", "Style guide",
                     "<p>Write &amp;lt; in HTML source to show a less-than sign, as the "
                     "<a href='https://example.org/2019/05/01/entities'>entity guide</a> "
                     "explains at length for every reader of this style guide.</p>"
                     "<p>Lines in\nthe source\nare one paragraph of text for the reader.</p>")
    doc = load_file(path, "style.html")
    assert "Write &lt; in HTML source" in doc.text  # what a browser shows
    assert "Lines in the source are one paragraph" in doc.text
    assert doc.date is None  # the link's URL holds a date; the page has none


def test_pdf_titles_skip_generator_metadata_for_the_largest_line(tmp_path):
    from fpdf import FPDF

    from .documents import _font

    pdf = FPDF()
    pdf.add_font("dejavu", fname=_font())
    pdf.set_title("Microsoft Word - paxos.doc")
    pdf.add_page()
    pdf.set_font("dejavu", size=9)
    pdf.cell(0, 6, "Proceedings of a Workshop, 2001", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", size=20)
    pdf.cell(0, 12, "Consensus Made Simple", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", size=11)
    pdf.multi_cell(0, 6, "The problem of consensus is to agree on one value. " * 10)
    pdf.output(str(tmp_path / "paper.pdf"))
    doc = load_file(tmp_path / "paper.pdf", "paper.pdf")
    assert doc.title == "Consensus Made Simple"
