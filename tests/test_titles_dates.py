"""True titles, true dates and clean text on the reading step: generated files of every kind
and the real documents of the question bank (`evals/bank/*/docs`, listed with their titles and
dates by `tests/measure_titles.py`).

A title is the document's own (its properties', its first heading, its first line when that
reads as one, else its file's name made readable): never a table's header row, never a
sentence. A date is one the document states, never the day it is read. Private-use symbol
glyphs are the marks they show or gone, invisible format characters are gone, and offsets
stay exact."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from rag.ingest.chunk import Chunker
from rag.ingest.formats import extract
from rag.ingest.formats.blocks import soft_breaks, symbol_text, visible
from rag.ingest.formats.office import properties
from rag.ingest.formats.pdf import _pdf_date
from rag.ingest.load import SHEETS, load_file
from rag.text import sentence_spans

from .documents import make_docx, make_pdf, make_pptx, make_xlsx
from .measure_titles import ROOT, real_files

WORDS = "fly climb call nest feed sleep preen play roam watch forage".split()
HIDDEN = re.compile("[\ue000-\uf8ff\u200b-\u200d\u2060\ufeff\u00ad]")
SENTENCE_END = (".", "!", ",", ";", ":")


# -- the real documents ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    """Every real CSV, TSV, workbook, Word, PowerPoint, text, HTML and PDF file, read once."""
    docs = {}
    for path in real_files():
        doc = load_file(path, path.name, ocr=False)
        assert doc is not None, path
        docs[path] = doc
    assert len(docs) >= 30 and {d.kind for d in docs.values()} >= \
        {"csv", "tsv", "xlsx", "docx", "pptx", "text", "html", "pdf"}
    return docs


def test_real_titles_are_never_a_header_row_or_a_sentence(real):
    for path, doc in real.items():
        title = doc.title
        assert title and title == " ".join(title.split()), path
        assert not title.endswith(SENTENCE_END), (path, title)
        headers = {h for _, _, h in doc.tables} | {ln for h in (t[2] for t in doc.tables)
                                                   for ln in h.splitlines()}
        if doc.kind in SHEETS:
            headers.add(doc.text.split("\n", 1)[0])
        assert title not in headers and " | " not in title, (path, title)
        assert title.lower() not in {"word document", "powerpoint presentation", "sheet1"}


# Checked by eye (the full list: `python -m tests.measure_titles`).
TITLES = {
    "Artificial-Intelligence-System-Bill-of-Materials-Compliance-Management-Guide-Version1.docx":
        "Artificial Intelligence System Bill of Materials",  # two lines set in Word's Title
    "Include-License-Info-Specification-1.0.docx":  # first a date, then "Introduction"
        "Include License Info Specification 1.0",
    "OpenChain-Onboarding-Process-Guide-OpenChain-1.1-(Pre-ISO-IEC-5230).docx":
        "Onboarding Process for [company] Limited",
    "OpenChain-Onboarding-Handout-Generic-1.0.docx": "On-Boarding",  # no properties at all
    "REUSE.software-3.0.docx": "REUSE Specification – Version 3.0",
    "V15 - Business Logic Flaws.xlsx": "V15 - Business Logic Flaws",  # its sheet: "Sheet1"
    "FedRAMP_OSCAL_Registry.xlsx": "FedRAMP OSCAL Registry",  # its first sheet: INFORMATION
    "country-codes.csv": "Country codes",
    "co2-mm-mlo.csv": "Co2 mm mlo",
    "iso3166.tab": "ISO 3166 alpha-2 country codes",  # its leading comment line
    "Pythonlearn-06-Strings.pptx": "Strings",
    "board_minutes_2015_01_21.txt": "The Apache Software Foundation Board of Directors "
                                    "Meeting Minutes",  # centred on two lines
    "Pythonlearn-11-Regex-Handout.txt": "Python Regular Expression Quick Guide",
    "rnz-luxon-nato-summit-analysis.txt": "Rnz luxon nato summit analysis",  # a sentence first
    "18F-Method-Cards-Print-at-Home.pdf": "Method Cards",
}
DATES = {
    "Pythonlearn-02-Expressions.pptx": "2024-08-19",  # modified; it states no creation
    "Artificial-Intelligence-System-Bill-of-Materials-Compliance-Management-Guide-Version1.docx":
        "2025-11-06",  # modified, not created (2025-10-20)
    "Assessment-Of-OS-Practices-In-Merger-and-Acquisition.docx": None,  # no properties
    "ASVS-excel-v3.0.1.xlsx": "2016-10-25",
    "co2-mm-mlo.csv": None,  # its rows start with dates: none is the document's
    "board_minutes_2015_01_21.txt": "2015-01-21",  # its dateline
    "rnz-luxon-nato-summit-analysis.txt": None,
    "beehive-pm-heads-to-us-for-nato.txt": "2024-07-02",  # front matter
}


def test_real_titles_and_dates_checked_by_eye(real):
    by_name = {p.name: d for p, d in real.items()}
    assert {n: by_name[n].title for n in TITLES} == TITLES
    assert {n: by_name[n].date for n in DATES} == DATES


def test_real_dates_are_only_those_the_documents_state(real):
    for path, doc in real.items():
        if doc.date is None or doc.kind == "html":  # HTML's are html.py's (tests/test_html.py)
            continue
        raw = path.read_bytes()
        if doc.kind in ("docx", "pptx", "xlsx"):
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                assert doc.date in z.read("docProps/core.xml").decode(), path
        elif doc.kind == "pdf":
            assert f"D:{doc.date.replace('-', '')}" in raw.decode("latin-1"), path
        else:
            assert doc.kind == "text" and doc.date[:4] in raw[:3000].decode(), path
    assert not [p for p, d in real.items() if d.kind in ("csv", "tsv") and d.date]


def test_real_text_has_no_private_use_or_invisible_characters(real):
    for path, doc in real.items():
        bad = HIDDEN.search(doc.text)
        assert bad is None, (path, doc.text[max(0, bad.start() - 40):bad.end() + 40])
        assert not HIDDEN.search(doc.title), path


def test_real_chunks_and_sentences_point_into_the_text(real):
    chunker = Chunker(200, 20)
    for path, doc in real.items():
        if len(doc.text) > 400_000:  # the two big budget sheets: rows like any other sheet's
            continue
        for c in chunker.split(doc):
            assert doc.text[c.start:c.end] == c.text, path
        for s, e in sentence_spans(doc.text[:50_000]):
            assert doc.text[s:e].strip() == doc.text[s:e]


def test_real_slides_split_into_sentences_at_soft_line_breaks(real):
    strings = next(d for p, d in real.items() if p.name == "Pythonlearn-02-Expressions.pptx")
    # A line break the author set inside a sentence is a space, not a sentence's end.
    assert "An assignment statement consists of an expression on the right-hand side and a " \
           "variable to store the result" in strings.text
    five = next(d for p, d in real.items() if p.name == "Pythonlearn-05-Iterations.pptx")
    # Runs on two lines are not glued into one word ("JosephHappy").
    assert "Joseph\nHappy New Year: Glenn" in five.text and "JosephHappy" not in five.text


# -- titles of generated files ---------------------------------------------------------------

def test_csv_and_tsv_are_named_by_their_file_never_their_header(tmp_path):
    path = tmp_path / "airline-safety.csv"
    path.write_text("2014-01-01,airline,incidents\n2014-02-01,Aer Lingus,2\n")
    doc = load_file(path, path.name)
    assert doc.title == "Airline safety" and doc.date is None  # a row's date dates nothing
    tab = tmp_path / "zones_now.tsv"
    tab.write_text("# Time zones in use today\ncode\tzone\nNZ\tPacific/Auckland\n")
    assert load_file(tab, tab.name).title == "Time zones in use today"  # its comment line
    plain = tmp_path / "birds.tsv"
    plain.write_text("# kea and kiwi, as counted in 2024.\nbird\tcount\nkea\t5\n")
    assert load_file(plain, plain.name).title == "Birds"  # a sentence: not a title


def test_workbooks_are_named_by_their_properties_or_file_never_a_sheet(tmp_path):
    rows = [["Year", "Count"], [2020, 5], [2021, 7]]
    book = make_xlsx(tmp_path / "kea_counts.xlsx", {"Sheet1": rows, "Notes": [["n"], ["x"]]})
    assert load_file(book, book.name).title == "Kea counts"
    titled = make_xlsx(tmp_path / "k.xlsx", {"Data": rows}, title="Kea counts 2020-2021")
    assert load_file(titled, titled.name).title == "Kea counts 2020-2021"


def test_word_titles(tmp_path):
    table = ("table", (["Version", "Author"], [["1.2", "Policy team"]]))
    only_table = make_docx(tmp_path / "travel-policy.docx", [
        table, ("p", "Staff book travel through the portal. Receipts are kept for a year.")])
    assert load_file(only_table, "a").title == "Travel policy"  # never "Version | Author"
    headed = make_docx(tmp_path / "t.docx", [table, ("h1", "Travel policy"), ("p", "Text.")])
    assert load_file(headed, "b").title == "Travel policy"  # a control box first: no text
    stated = make_docx(tmp_path / "s.docx", [table, ("h1", "Travel")], title="Travel 2025")
    assert load_file(stated, "c").title == "Travel 2025"

    import docx

    d = docx.Document()
    d.add_paragraph("Artificial Intelligence", style="Title")
    d.add_paragraph("System Bill of Materials", style="Title")
    d.add_paragraph("A guide for the supply chain.", style="Subtitle")
    d.add_heading("Introduction", 1)
    d.add_paragraph("This guide explains the bill of materials.")
    d.save(tmp_path / "g.docx")
    assert load_file(tmp_path / "g.docx", "g").title == \
        "Artificial Intelligence System Bill of Materials"
    intro = make_docx(tmp_path / "data-sharing-rules.docx", [
        ("p", "2017-09-27"), ("h1", "Introduction"), ("p", "Share data with care.")])
    assert load_file(intro, "i").title == "Data sharing rules"  # a date; then a section


def test_slides_are_named_by_their_properties_or_first_slide(tmp_path):
    slides = [{"title": "Kea survey", "bullets": ["Kea live in the Southern Alps."]},
              {"title": "Counts", "bullets": ["Counts fell."]}]
    assert load_file(make_pptx(tmp_path / "deck.pptx", slides), "d").title == "Kea survey"
    stated = make_pptx(tmp_path / "s.pptx", slides, title="Kea survey 2024")
    assert load_file(stated, "s").title == "Kea survey 2024"


@pytest.mark.parametrize("first, title", [
    ("Rivers of the South Island", "Rivers of the South Island"),
    ("What is an incident?", "What is an incident?"),
    ("Dear colleagues", "Kea notes"),  # a salutation
    ("The council met on Tuesday and agreed to cut irrigation by a fifth.", "Kea notes"),
    ("Kea are curious and clever parrots of the alpine South Island and its valleys",
     "Kea notes"),  # 14 words: a sentence without its full stop
    ("Last reviewed: 2024-05-01\nOwner: Policy team", "Kea notes"),  # fields, not a title
])
def test_plain_text_first_lines(tmp_path, first, title):
    path = tmp_path / "kea_notes.txt"
    path.write_text(f"{first}\n\nKea are parrots. They live in the mountains.\n")
    assert load_file(path, path.name).title == title


def test_markdown_headings_after_an_opening_paragraph_name_sections(tmp_path):
    path = tmp_path / "customer_liaison.md"
    path.write_text("So you want to be a Customer Liaison? Here is how.\n\n## Purpose\n\n"
                    "Tell customers.\n")
    assert load_file(path, path.name).title == "Customer liaison"
    path.write_text("(liaison)=\n\n# Customer Liaison\n\nTell customers.\n")  # a label first
    assert load_file(path, path.name).title == "Customer Liaison"


# -- dates of generated files ----------------------------------------------------------------

def _core(modified: str = "", created: str = "") -> bytes:
    stamp = '<dcterms:{0} xsi:type="dcterms:W3CDTF">{1}</dcterms:{0}>'
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>Kea</dc:title>'
            + (stamp.format("created", created) if created else "")
            + (stamp.format("modified", modified) if modified else "")
            + "</cp:coreProperties>").encode()


def _replace_core(path: Path, core: bytes | None) -> Path:
    """The package with its core properties part replaced, or removed (with its relation)."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    if core is None:
        del parts["docProps/core.xml"]
        parts["_rels/.rels"] = re.sub(rb"<Relationship [^>]*core-properties[^>]*/>", b"",
                                      parts["_rels/.rels"])
    else:
        parts["docProps/core.xml"] = core
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def test_generated_files_that_state_no_date_have_none(tmp_path):
    docx_path = make_docx(tmp_path / "a.docx", [("h1", "Kea"), ("p", "Kea are parrots.")])
    pptx_path = make_pptx(tmp_path / "b.pptx", [{"title": "Kea", "bullets": ["Parrots."]}])
    text = tmp_path / "c.txt"
    text.write_text("Kea\n\nThe kea was counted on 2 July 2024 in the park.\n")
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("date,count\n2024-07-02,5\n")
    md = tmp_path / "e.md"
    md.write_text("# Kea\n\nKea are parrots.\n")
    pdf = make_pdf(tmp_path / "f.pdf", ["Kea are parrots."])
    # python-docx's and python-pptx's templates carry their own 2013 dates: not these files'.
    for path in (docx_path, pptx_path, text, csv_path, md):
        assert load_file(path, path.name).date is None, path
    assert load_file(pdf, pdf.name).date is not None  # fpdf2 states when it wrote the file
    # Without core properties, python-docx would say "Word Document", written today.
    bare = _replace_core(make_docx(tmp_path / "g.docx", [("p", "Kea are parrots.")]), None)
    doc = load_file(bare, bare.name)
    assert (doc.date, doc.title) == (None, "G")  # its one line is a sentence: its name
    assert properties(bare.read_bytes()).date is None
    # openpyxl says "now" for a workbook without them.
    book = _replace_core(make_xlsx(tmp_path / "h.xlsx", {"S": [["a", "b"], [1, 2]]}), None)
    assert load_file(book, book.name).date is None


def test_office_dates_are_modified_else_created(tmp_path):
    both = _core(modified="2021-06-02T10:00:00Z", created="2019-03-01T09:00:00Z")
    for suffix, make in ((".docx", lambda p: make_docx(p, [("p", "Kea.")])),
                         (".pptx", lambda p: make_pptx(p, [{"title": "K", "bullets": ["K."]}])),
                         (".xlsx", lambda p: make_xlsx(p, {"S": [["a"], ["b"]]}))):
        for n, (core, date) in enumerate(((both, "2021-06-02"),
                                          (_core(created="2019-03-01T09:00:00Z"), "2019-03-01"),
                                          (_core(modified="1601-01-01T00:00:00Z"), None))):
            path = _replace_core(make(tmp_path / f"dated{n}{suffix}"), core)
            doc = load_file(path, path.name)
            assert (doc.date, doc.title) == (date, "Kea"), (suffix, n)


def test_pdf_dates_need_a_whole_day():
    assert _pdf_date("D:20240702103000+12'00'") == "2024-07-02"
    assert _pdf_date("D:2024") is None and _pdf_date("D:202407") is None  # no guessed day
    assert _pdf_date("D:20241302") is None and _pdf_date("D:00000101") is None


def test_no_reading_code_dates_a_document_by_the_clock_or_the_file():
    for path in (ROOT / "rag" / "ingest").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"\b(today|now|utcnow)\(\)|getmtime|st_ctime", source), path
        assert not re.search(r"date\s*=.*mtime", source), path


# -- glyphs and invisible characters ---------------------------------------------------------

def test_symbol_glyphs_and_invisible_characters():
    assert visible("Done \uf0fc, next \uf0e0 step \uf0e8 end \ue123.") == \
        "Done ✓, next → step → end ."
    assert visible("zero\u200bwidth\u200c\u200d joiner\u2060 bom\ufeff soft\u00adhyphen") == \
        "zerowidth joiner bom softhyphen"
    assert visible("soft\u00adhyphen", soft_hyphens=False) == "soft\u00adhyphen"
    assert visible("plain text") == "plain text"
    assert symbol_text("ü û \uf0e8", "Wingdings") == "✓ ✗ →"
    assert symbol_text("a®b3", "Symbol") == "α→β3"
    assert symbol_text("ü", "Calibri") == "ü"


def _wingdings_docx(path: Path) -> Path:
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    d = docx.Document()
    d.add_heading("Checklist", 1)
    p = d.add_paragraph("Backups tested ")
    p.add_run("ü").font.name = "Wingdings"  # python-docx sets w:rFonts ascii and hAnsi
    p.add_run(" and restores tested ")
    p._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:sym w:font="Wingdings" w:char="F0FB"/></w:r>'))
    p.add_run(". Next\u200b step \uf0e0 review\u00aded by the\ufeff team.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Check", "Done"
    table.cell(1, 0).text = "Restore drill"
    table.cell(1, 1).paragraphs[0].add_run("þ").font.name = "Wingdings"
    wrapped = d.add_paragraph("Our vision is a supply chain delivered with trusted and")
    wrapped.runs[0].add_break()
    wrapped.add_run("consistent process management information.")
    box = d.add_paragraph()
    box._p.append(parse_xml(
        '<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:v="urn:schemas-microsoft-com:vml"><w:pict><v:shape><v:textbox><w:txbxContent>'
        '<w:p><w:r><w:t>A text box says the audit is in May.</w:t></w:r></w:p>'
        '</w:txbxContent></v:textbox></v:shape></w:pict></w:r>'))
    d.save(path)
    return path


def test_word_symbol_fonts_soft_breaks_and_text_boxes(tmp_path):
    doc = load_file(_wingdings_docx(tmp_path / "checks.docx"), "checks.docx")
    assert "Backups tested ✓ and restores tested ✗. Next step → reviewed by the team." \
        in doc.text
    assert "delivered with trusted and consistent process management information." in doc.text
    assert "A text box says the audit is in May." in doc.text
    assert "Check | Done\nRestore drill | ☑" in doc.text and doc.tables[0][2] == "Check | Done"
    assert not HIDDEN.search(doc.text)
    for c in Chunker(30, 5).split(doc):
        assert doc.text[c.start:c.end] == c.text
    sentences = [doc.text[s:e] for s, e in sentence_spans(doc.text)]
    assert "Our vision is a supply chain delivered with trusted and consistent process " \
           "management information." in sentences


def test_slide_symbol_fonts_and_sentences(tmp_path):
    from pptx import Presentation

    long = ("Kea live in the Southern Alps of New Zealand and nowhere else in the world. They "
            "are curious, and they open bags,\vzips and car doors in the car parks of the "
            "national parks. Rangers count them each\vsummer in the valleys. The counts fell "
            "by a third since 1990 and the birds are now\vnationally endangered. Traps for "
            "stoats protect their nests in burrows under\vrocks and roots. Visitors are asked "
            "never to feed them. Food makes them bold\vand they learn to raid huts and "
            "tents. Each bird is banded\vso that it can be followed year by year.")
    path = make_pptx(tmp_path / "kea.pptx", [{"title": "Kea", "bullets": [long, "Counted"],
                                              "table": (["Valley", "Counted"],
                                                        [["Hollyford", "x"]])}])
    deck = Presentation(path)
    para = deck.slides[0].placeholders[1].text_frame.paragraphs[1]
    para.add_run().text = " ü"
    para.runs[-1].font.name = "Wingdings"
    cell = next(s for s in deck.slides[0].shapes if s.has_table).table.cell(1, 1)
    cell.text_frame.paragraphs[0].runs[0].text = "\uf0fb"  # stored as U+F0FB, set in Wingdings
    cell.text_frame.paragraphs[0].runs[0].font.name = "Wingdings"
    deck.save(path)
    doc = load_file(path, path.name)
    assert "Counted ✓" in doc.text and "ü" not in doc.text
    assert "Valley | Counted\nHollyford | ✗" in doc.text
    start = doc.text.index("Kea live")
    end = doc.text.index("year by year.") + len("year by year.")
    frame = doc.text[start:end]
    assert "\n" not in frame  # a soft break inside a sentence is a space
    spans = [doc.text[s:e] for s, e in sentence_spans(doc.text) if start <= s < end]
    assert len(spans) == 8 and all(len(s) < 130 for s in spans)
    assert spans[1] == ("They are curious, and they open bags, zips and car doors in the car "
                        "parks of the national parks.")


def test_soft_breaks():
    assert soft_breaks("an expression on the \vright-hand side") == \
        "an expression on the right-hand side"
    assert soft_breaks("Happy New Year: Joseph\vHappy New Year: Glenn") == \
        "Happy New Year: Joseph\nHappy New Year: Glenn"
    assert soft_breaks("import os\nimport sys") == "import os\nimport sys"  # short lines
    assert soft_breaks("Two-way decisions:\vif: and else:") == "Two-way decisions:\nif: and else:"


# -- PDF running headers and footers ---------------------------------------------------------

def test_pdf_running_headers_on_alternate_pages_are_dropped(tmp_path):
    from fpdf import FPDF

    from .documents import _font

    pdf = FPDF()
    pdf.add_font("dejavu", fname=_font())
    pdf.set_auto_page_break(False)
    for n in range(1, 11):
        pdf.add_page()
        pdf.set_font("dejavu", size=8)
        # A book's headers: its title on left pages, the chapter on right ones (half each);
        # and a note on 4 of the 10 pages.
        pdf.cell(0, 6, "Birds of the Islands" if n % 2 else "Chapter 2: Parrots",
                 new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("dejavu", size=11)
        for line in range(6):
            pdf.multi_cell(0, 6, f"Kea {WORDS[(n + line) % len(WORDS)]} in valley {n}, line "
                                 f"{line}, and {WORDS[(n * line) % len(WORDS)]} again.",
                           new_x="LMARGIN", new_y="NEXT")
        if n in (2, 5, 7, 9):
            pdf.set_y(-20)
            pdf.set_font("dejavu", size=8)
            pdf.cell(0, 6, "App. Specific Business ?")
    pdf.output(str(tmp_path / "book.pdf"))
    doc = extract(tmp_path / "book.pdf", (tmp_path / "book.pdf").read_bytes(), ocr=False)
    assert "Birds of the Islands" not in doc.text and "Chapter 2: Parrots" not in doc.text
    assert "App. Specific Business" not in doc.text
    assert all(f"in valley {n}, line {line}," in doc.text for n in range(1, 11)
               for line in range(6))


def test_real_pdf_furniture_is_dropped(real):
    by_name = {p.name: d.text for p, d in real.items()}
    cards = by_name["18F-Method-Cards-Print-at-Home.pdf"]
    assert "CUT FOLD" not in cards and "Learn more: methods.18f.gov" not in cards
    assert "TLF DRAFT" not in by_name[
        "jupyter_foundation_participation_agreement_draft-20240702.pdf"]
    fedramp = by_name["FedRAMP_Extensions.pdf"]
    assert "OSCAL Extensions Model [display]" not in fedramp and "file:///" not in fedramp
