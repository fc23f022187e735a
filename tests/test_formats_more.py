"""reStructuredText, slides, workbooks, CSV/TSV, e-books and scanned PDFs: generated real
files through the real libraries (and Tesseract), each cited by its place; the bad ones named
in one line each."""

from __future__ import annotations

import logging
import re
import shutil
import zipfile

import pytest

from rag.ingest.chunk import Chunker
from rag.ingest.formats import Unreadable, extract
from rag.ingest.load import load_documents, load_file

from .documents import make_epub, make_pptx, make_scan, make_xlsx

RST = """\
PEP: 9999
Title: Naming Birds in Code
Author: A. Birder <a@example.org>
Created: 05-Jul-2001

Introduction
============

Bird names in code follow the local usage of the region
where the code is written, as :pep:`8` suggests for
:pep:`other matters <20>`.

.. code-block:: python

   kea = Bird("kea")

Tables
------

=====  ======
Bird   Weight
=====  ======
Kea    1 kg
Kiwi   3 kg
=====  ======
"""


def test_restructuredtext_sections_joined_lines_and_pep_header(tmp_path):
    path = tmp_path / "pep-9999.rst"
    path.write_text(RST, encoding="utf-8")
    doc = load_file(path, "pep-9999.rst")
    assert doc.kind == "rst" and doc.title == "Naming Birds in Code"
    assert doc.date == "2001-07-05" and doc.meta["pep"] == "9999"
    assert "the local usage of the region where the code is written, as PEP 8 suggests for " \
           "other matters." in doc.text  # wrapped lines joined, roles shown as text
    assert 'kea = Bird("kea")' in doc.text and ":pep:" not in doc.text and "==" not in doc.text
    assert [s for _, s in doc.sections] == ["Introduction", "Introduction › Tables"]
    assert doc.tables and doc.tables[0][2] == "Bird | Weight"
    assert doc.text[doc.tables[0][0]:doc.tables[0][1]] == "Kea | 1 kg\nKiwi | 3 kg"


def test_slides_titles_text_tables_and_notes(tmp_path):
    path = make_pptx(tmp_path / "deck.pptx", [
        {"title": "Kea survey", "bullets": ["Kea live in the Southern Alps.",
                                            "Counts fell by a third since 1990."]},
        {"title": "Counts by valley", "table": (["Valley", "Kea"], [["Arthur's Pass", "120"],
                                                                   ["Hollyford", "80"]]),
         "notes": "The Hollyford count was done in winter."}], title="Kea survey 2024")
    doc = load_file(path, "deck.pptx")
    assert doc.kind == "pptx" and doc.title == "Kea survey 2024"
    assert [s for _, s in doc.sections] == ["Slide 1: Kea survey", "Slide 2: Counts by valley"]
    assert "Counts fell by a third since 1990." in doc.text
    assert "The Hollyford count was done in winter." in doc.text
    chunks = Chunker(60, 8).split(doc)
    table = [c for c in chunks if c.header]
    assert table and table[0].header == "Valley | Kea" and "Hollyford | 80" in table[0].text
    assert table[0].section == "Slide 2: Counts by valley"
    winter = next(c for c in chunks if "winter" in c.text)
    assert winter.section == "Slide 2: Counts by valley"


def test_workbooks_and_csv_are_sheets_of_rows_cited_by_row_number(tmp_path):
    rows = [["Year", "Schools", "Universities"]] + \
        [[2000 + i, 1000 + 10 * i, 700.0 + i] for i in range(30)]
    book = make_xlsx(tmp_path / "funding.xlsx", {"Funding": rows, "Notes": [
        ["Note"], ["Figures are in millions of dollars."]]})
    doc = load_file(book, "funding.xlsx")
    assert doc.kind == "xlsx" and [s for _, s in doc.sections] == ["Funding", "Notes"]
    assert "\n2010 | 1100 | 710\n" in doc.text  # whole numbers shown as whole numbers
    chunks = [c for c in Chunker(40, 8).split(doc) if c.header]
    assert len(chunks) > 2 and all(c.header == "Year | Schools | Universities"
                                   for c in chunks[:-1])
    for c in chunks[:-1]:
        first, last = re.search(r"rows? (\d+)(?:–(\d+))?$", c.section).groups()
        years = [int(line.split(" | ")[0]) for line in c.text.splitlines()]
        assert int(first) == years[0] - 2000 + 2  # row 1 is the header
        assert int(last or first) == years[-1] - 2000 + 2
        assert c.section.startswith("Funding › row")
    (tmp_path / "birds.csv").write_text("bird,weight\nkea,1 kg\n\nkiwi,3 kg\n")
    (tmp_path / "birds.tsv").write_text("bird\tweight\nkea\t1 kg\n")
    csv_doc = load_file(tmp_path / "birds.csv", "birds.csv")
    assert csv_doc.text == "bird | weight\nkea | 1 kg\nkiwi | 3 kg"
    last = [c for c in Chunker(40, 8).split(csv_doc) if c.header][0]
    assert last.section == "rows 2–4"  # the blank line 3 is skipped, numbers kept
    assert load_file(tmp_path / "birds.tsv", "birds.tsv").text == "bird | weight\nkea | 1 kg"


def test_epub_chapters_in_reading_order(tmp_path):
    path = make_epub(tmp_path / "birds.epub", "Birds of the Islands", [
        ("The Kea", "The kea is an alpine parrot.\n\nIt is known for its curiosity."),
        ("The Kakapo", "The kakapo is a flightless, nocturnal parrot.")],
        author="A. Birder", date="2019-05-01")
    doc = load_file(path, "birds.epub")
    assert doc.kind == "epub" and doc.title == "Birds of the Islands" and doc.date == "2019-05-01"
    heads = [s for _, s in doc.sections]
    assert "The Kea" in heads and "The Kakapo" in heads
    assert doc.text.index("alpine parrot") < doc.text.index("nocturnal parrot")
    assert "<p>" not in doc.text


def test_broken_office_files_say_why_in_one_line(tmp_path):
    good = make_xlsx(tmp_path / "good.xlsx", {"S": [["a"], ["b"]]}).read_bytes()
    cases = {
        "cut.xlsx": (good[: len(good) // 2], "damaged workbook|not a readable"),
        "locked.pptx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "encrypted"),
        "text.pptx": (b"just words", "not a presentation"),
        "zip.epub": (_zip({"hello.txt": "hi"}), "not a readable EPUB"),
        "empty.csv": (b"", "empty file"),
        "blank.rst": (b"\n\n", "no text"),
        "binary.tsv": (b"\x00\x01\x02" * 100, "binary file"),
    }
    for name, (raw, why) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(Unreadable, match=why) as e:
            extract(tmp_path / name, raw)
        assert "\n" not in str(e.value)


def test_unsupported_files_are_counted_and_named(tmp_path, caplog):
    (tmp_path / "notes.txt").write_text("The tui sings.\n")
    for name in ("a.key", "b.key", "c.numbers", "d"):
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["notes.txt"]
    assert "skipped 4 files of unsupported types: .key (2), (no extension), .numbers" \
        in caplog.text


def _zip(files: dict[str, str]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


SCANNED = ["The kakapo is a flightless parrot of New Zealand. It is active at night and "
           "feeds on plants, seeds and fruit.\n\nFewer than three hundred birds live today, "
           "each one known to the rangers by name.",
           "Kakapo breed only in the years when rimu trees fruit heavily, about every two to "
           "four years.\n\nA female lays up to four eggs in a nest on the ground."]


def test_scanned_pages_are_read_by_ocr_page_by_page(tmp_path, caplog):
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract is missing: `make test` installs Debian's tesseract-ocr")
    path = make_scan(tmp_path / "scan.pdf", SCANNED,
                     text_page="A typed cover page about the kakapo recovery programme.")
    with caplog.at_level(logging.INFO, logger="rag"):
        docs = load_documents([tmp_path])
    (doc,) = docs
    assert doc.meta["ocr_pages"] == 2 and len(doc.pages) == 3
    assert "read 2 pages by OCR in 1 PDF" in caplog.text
    page3 = doc.text[doc.pages[2]:]
    assert "rimu trees fruit heavily" in page3 and "typed cover page" in doc.text[:doc.pages[1]]
    words = re.findall(r"\w+", " ".join(SCANNED).lower())
    got = set(re.findall(r"\w+", doc.text.lower()))
    assert sum(w in got for w in words) / len(words) >= 0.95  # word accuracy
    # Off, the scanned pages are empty and the typed page alone is read.
    only_typed = load_documents([tmp_path], ocr=False)[0]
    assert "rimu" not in only_typed.text and "typed cover page" in only_typed.text
    assert path.exists()


@pytest.mark.slow
def test_each_new_format_is_answered_from_the_right_file_and_place(tmp_path):
    """Through the real model: a question per format, answered with a quote cited to its file
    and its place (slide, sheet rows, section, page of a scan)."""
    from rag.config import Settings
    from rag.pipeline import RAG, build

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pep-9999.rst").write_text(RST, encoding="utf-8")
    make_pptx(docs / "deck.pptx", [
        {"title": "Kea survey", "bullets": ["Kea live in the Southern Alps."]},
        {"title": "Takahe", "bullets": ["The takahe was rediscovered in the Murchison "
                                        "Mountains in 1948."]}])
    make_xlsx(docs / "moths.xlsx", {"Moths": [["Species", "Wingspan (mm)"]] +
                                   [[f"Species {i}", 20 + i] for i in range(40)] +
                                   [["Puriri moth", 150]]})
    (docs / "lakes.csv").write_text("lake,depth\nTaupo,186 m\nHauroko,462 m\n")
    make_epub(docs / "book.epub", "Birds of the Islands", [
        ("The Tui", "The tui sings with two voice boxes at once.")])
    make_scan(docs / "scan.pdf", SCANNED)
    build([docs], settings=Settings(index_dir=str(tmp_path / "ix")))
    rag = RAG.load(tmp_path / "ix", settings=Settings())
    asked = [("When was the takahe rediscovered?", "deck.pptx", "1948", "Slide 2: Takahe"),
             ("What is the wingspan of the Puriri moth?", "moths.xlsx", "150", "Moths › row"),
             ("How deep is Lake Hauroko?", "lakes.csv", "462", "row"),
             ("How does the tui sing?", "book.epub", "two voice boxes", "The Tui"),
             ("How are bird names in code chosen?", "pep-9999.rst", "local usage",
              "Introduction"),
             ("How many eggs does a female kakapo lay?", "scan.pdf", "four", None)]
    for question, doc_id, contains, place in asked:
        ans = rag.answer(question)
        assert not ans.abstained and contains in ans.answer, (question, ans.answer)
        cite = ans.citations[0]
        assert cite.doc_id == doc_id, (question, cite)
        if doc_id in ("moths.xlsx", "lakes.csv"):  # a row is quoted under its column names
            header = {"moths.xlsx": "Species | Wingspan (mm)", "lakes.csv": "lake | depth"}
            assert cite.header == header[doc_id], cite
            assert {"moths.xlsx": "Wingspan (mm): 150", "lakes.csv": "depth: 462 m"}[doc_id] \
                in ans.sentences[0].text, ans.sentences
            assert cite.quote in cite.text and "|" in cite.quote  # the row itself, verbatim
        if place:
            assert place in (cite.section or ""), (question, cite.section)
            rows = re.search(r"rows? (\d+)(?:–(\d+))?$", cite.section or "")
            if rows:  # the quoted row lies in the cited range: Puriri is row 42, Hauroko 3
                lo, hi = int(rows.group(1)), int(rows.group(2) or rows.group(1))
                assert lo <= {"moths.xlsx": 42, "lakes.csv": 3}[doc_id] <= hi, cite.section
        else:
            assert cite.page == 2  # the second scanned page
