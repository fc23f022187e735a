"""One hostile file costs bounded time and memory, never the build or the server: zip bombs
refused from the directory alone, and characters, blocks and seconds spent while reading, each
refusal one line naming its limit. Real files of the same kinds still load under the defaults.
The hostile files are made here from real python-docx, openpyxl, python-pptx and ebooklib
files; the time bounds are guards against minutes, not benchmarks."""

from __future__ import annotations

import io
import logging
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import ConfigError
from rag.ingest.formats import Unreadable, extract
from rag.ingest.formats.limits import check_archive
from rag.ingest.load import load_documents, load_file
from rag.types import Limits

from .documents import make_docx, make_epub, make_pdf, make_pptx, make_xlsx

MB = 1_000_000
SLOW = 20.0  # seconds: every refusal here takes well under one
W = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
SHEET = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'


def _swap(raw: bytes, part: str, data: bytes) -> bytes:
    """The package `raw` with `part` replaced by `data`, every part deflated."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        assert part in src.namelist()
        for info in src.infolist():
            dst.writestr(info.filename, data if info.filename == part else src.read(info))
    return out.getvalue()


def _docx(tmp_path: Path, body: bytes) -> bytes:
    """A real Word document whose body is `body` (`<w:p>` elements)."""
    base = make_docx(tmp_path / "base.docx", [("p", "The kea is an alpine parrot.")])
    return _swap(base.read_bytes(), "word/document.xml",
                 W + body + b"</w:body></w:document>")


def _refused(path: Path, raw: bytes, why: str, limits: Limits | None = None) -> float:
    """Seconds `extract` took to refuse the file in one line matching `why`."""
    t = time.perf_counter()
    with pytest.raises(Unreadable, match=why) as e:
        extract(path, raw, limits=limits)
    took = time.perf_counter() - t
    assert "\n" not in str(e.value) and str(e.value).startswith("over the ")
    assert took < SLOW
    return took


def _no_parsing(monkeypatch) -> None:
    """From here on, opening a package fails the test: the refusal must come first."""
    import docx
    import ebooklib.epub
    import openpyxl
    import pptx

    def boom(*_a, **_k):
        raise AssertionError("the package was parsed")

    for module, name in ((docx, "Document"), (pptx, "Presentation"),
                         (openpyxl, "load_workbook"), (ebooklib.epub, "read_epub")):
        monkeypatch.setattr(module, name, boom)


# -- zip packages: the directory alone ---------------------------------------------------------

def test_a_docx_that_unpacks_to_100_mb_is_refused_before_parsing(tmp_path, monkeypatch):
    # One text run of 100 MB: it once reached lxml, which raised XMLSyntaxError (huge text node).
    raw = _docx(tmp_path, b"<w:p><w:r><w:t>" + b"A" * (100 * MB) + b"</w:t></w:r></w:p>")
    _no_parsing(monkeypatch)
    assert len(raw) < 200_000
    took = _refused(Path("bomb.docx"), raw, r"over the 100x compression-ratio limit "
                    r"\(word/document\.xml unpacks 1,0\d\dx, to 100 MB: a zip bomb\?\)")
    assert took < 2
    # The size limits hold on their own, for a part and for the package.
    _refused(Path("bomb.docx"), raw, r"over the 50 MB part limit \(word/document\.xml",
             Limits(ratio=10_000, part_mb=50))
    _refused(Path("bomb.docx"), raw, r"over the 64 MB unpacked limit \(10\d MB unpacked; "
             r"setting max_unpacked_mb\)", Limits(ratio=10_000, unpacked_mb=64))


def test_three_million_empty_paragraphs_are_refused_at_once(tmp_path, monkeypatch):
    raw = _docx(tmp_path, b"<w:p/>" * 3_000_000)  # 18 MB of XML
    _no_parsing(monkeypatch)
    assert len(raw) < 100_000
    took = _refused(Path("empty.docx"), raw, r"over the 100x compression-ratio limit "
                    r"\(word/document\.xml unpacks \d{3}x, to 18 MB")
    assert took < 2


def test_empty_paragraphs_past_the_ratio_check_stop_within_the_budget(tmp_path):
    # Packed loosely enough to pass the ratio check, a million empty paragraphs would still
    # be read one by one (a quarter of an hour before); the clock and the block count stop it.
    raw = _docx(tmp_path, b"<w:p/>" * 1_000_000)
    loose = Limits(ratio=10_000, seconds=1)
    took = _refused(Path("empty.docx"), raw, r"over the 1-second limit \(still reading; "
                    r"setting max_file_seconds\)", loose)
    assert took < SLOW
    _refused(Path("empty.docx"), raw, r"over the 10,000-block limit \(paragraphs, rows, "
             r"slides or pages; setting max_file_blocks\)", Limits(ratio=10_000, blocks=10_000))


def test_a_workbook_of_a_huge_number_of_rows_is_refused(tmp_path):
    base = make_xlsx(tmp_path / "base.xlsx", {"Birds": [["bird", "weight"], ["kea", 1]]})
    sheet = "xl/worksheets/sheet1.xml"

    def rows(n: int, cell: bool) -> bytes:
        row = (b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>r%d</t></is></c></row>' if cell
               else b'<row r="%d"/>')
        return SHEET + b"".join(row % ((i,) * row.count(b"%d")) for i in range(1, n + 1)) + \
            b"</sheetData></worksheet>"

    # Identical rows pack like a bomb; numbered ones pack 7-10x and are counted as read.
    bomb = _swap(base.read_bytes(), sheet, SHEET + b"<row/>" * 5_000_000 +
                 b"</sheetData></worksheet>")
    _refused(Path("rows.xlsx"), bomb, r"compression-ratio limit \(xl/worksheets/sheet1\.xml")
    few = Limits(blocks=20_000)
    _refused(Path("empty-rows.xlsx"), _swap(base.read_bytes(), sheet, rows(50_000, False)),
             r"over the 20,000-block limit", few)
    _refused(Path("rows.xlsx"), _swap(base.read_bytes(), sheet, rows(50_000, True)),
             r"over the 20,000-block limit", few)
    # Rows in the far corner would be a billion empty cells: the cell limit stops them.
    corner = _swap(base.read_bytes(), sheet, SHEET.replace(
        b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>') +
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row><row r="1048576">'
        b'<c r="XFD1048576" t="inlineStr"><is><t>z</t></is></c></row></sheetData></worksheet>')
    _refused(Path("corner.xlsx"), corner, r"over the 2,000,000-cell limit")


def test_presentation_and_epub_bombs_are_refused_before_parsing(tmp_path, monkeypatch):
    deck = make_pptx(tmp_path / "base.pptx", [{"title": "Kea", "bullets": ["An alpine parrot."]}])
    slides = _swap(deck.read_bytes(), "ppt/slides/slide1.xml", b"<p:sld>" + b" " * 50 * MB)
    book = make_epub(tmp_path / "base.epub", "Birds", [("Kea", "An alpine parrot.")])
    chapters = _swap(book.read_bytes(), "EPUB/chap1.xhtml",
                     b"<html><body>" + b"<p></p>" * 10 * MB)
    _no_parsing(monkeypatch)
    _refused(Path("bomb.pptx"), slides, r"compression-ratio limit \(ppt/slides/slide1\.xml")
    _refused(Path("bomb.epub"), chapters, r"compression-ratio limit \(EPUB/chap1\.xhtml")


def test_too_many_parts_are_refused_from_the_end_record(monkeypatch):
    def package(n: int) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for i in range(n):
                z.writestr(f"p{i}.xml", "<p/>")
        return buf.getvalue()

    few, zip64 = package(101), package(70_000)  # past 65,535 parts the count is 64-bit
    # The count comes from the zip's end record, before zipfile makes a record per part.
    monkeypatch.setattr(zipfile, "ZipFile", None)
    for name in ("many.docx", "many.pptx", "many.xlsx", "many.epub"):
        _refused(Path(name), few, r"over the 100-part limit \(101 parts in the package\)",
                 Limits(parts=100))
    _refused(Path("many.docx"), zip64, r"over the 10,000-part limit \(70,000 parts")


def test_a_cut_package_is_damaged_not_a_trace():
    with pytest.raises(Unreadable, match="damaged Word document"):
        check_archive(b"PK\x03\x04" + bytes(100), Limits(), "Word document")


# -- characters, blocks and any parser error -------------------------------------------------

def test_files_over_the_character_limit_are_skipped_never_cut(tmp_path):
    small = Limits(chars=1_000)
    words = "The kea is an alpine parrot of the South Island. " * 40  # 2,000 characters
    docx = make_docx(tmp_path / "long.docx", [("p", words)])
    pdf = make_pdf(tmp_path / "long.pdf", [words])
    for path, raw in ((Path("long.txt"), words.encode()), (Path("long.md"), words.encode()),
                      (Path("long.rst"), words.encode()), (Path("long.csv"), words.encode()),
                      (docx, docx.read_bytes()), (pdf, pdf.read_bytes())):
        _refused(path, raw, r"over the 1,000-character limit \(setting max_file_chars\)", small)
        assert extract(path, raw).text  # the default limits read it
    # Text longer than four bytes a character could hold is refused before it is decoded.
    _refused(Path("huge.txt"), b"a" * 4_001, r"over the 1,000-character limit \(4,001 bytes",
             small)


def test_lines_and_rows_count_as_blocks(tmp_path):
    few = Limits(blocks=100)
    _refused(Path("lines.txt"), b"a kea\n" * 200, "over the 100-block limit", few)
    _refused(Path("lines.md"), b"a kea\n\n" * 200, "over the 100-block limit", few)
    _refused(Path("rows.csv"), b"bird,weight\n" + b"kea,1\n" * 200, "over the 100-block limit",
             few)
    _refused(Path("blank.csv"), b"bird,weight\n" + b",\n" * 200, "over the 100-block limit",
             few)
    pdf = make_pdf(tmp_path / "pages.pdf", [f"Page {i} of kea notes." for i in range(5)])
    _refused(pdf, pdf.read_bytes(), "over the 3-block limit", Limits(blocks=3))


def test_ocr_of_blank_pages_stops_when_the_time_is_up(tmp_path):
    # Blank pages are cheap to make and each costs Tesseract a third of a second: OCR runs on
    # the file's clock, and Tesseract is given only the time left.
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract is missing: `make test` installs Debian's tesseract-ocr")
    pdf = make_pdf(tmp_path / "blank.pdf", [""] * 30)
    took = _refused(pdf, pdf.read_bytes(), r"over the 2-second limit", Limits(seconds=2))
    assert took < SLOW


def test_any_parser_error_is_one_unreadable_line(tmp_path, monkeypatch):
    raw = _docx(tmp_path, b"<w:p><w:r><w:t>unclosed")
    with pytest.raises(Unreadable, match=r"^could not read it as docx \(XMLSyntaxError: ") as e:
        extract(Path("broken.docx"), raw)
    assert "\n" not in str(e.value)
    import rag.ingest.formats.html as html

    for error in (RecursionError("maximum recursion depth exceeded"), MemoryError(),
                  zipfile.BadZipFile("Bad magic number for file header")):
        def fail(*_a, error=error, **_k):
            raise error

        monkeypatch.setattr(html, "extract_html", fail)
        why = rf"^could not read it as html \({type(error).__name__}"
        with pytest.raises(Unreadable, match=why):
            extract(Path("page.html"), b"<p>kea</p>")


# -- real files and the loader ----------------------------------------------------------------

def test_real_office_files_load_under_the_default_limits(tmp_path):
    paras = [("h1", "Field manual")] + [
        item for n in range(400) for item in (
            ("h2", f"Section {n}"),
            ("p", f"Section {n} says how the kea of valley {n} feeds and nests. " * 6))]
    paras.append(("table", (["bird", "weight"], [[f"kea {i}", f"{i} g"] for i in range(200)])))
    docx = make_docx(tmp_path / "manual.docx", paras, title="Field manual")
    sheet = [["id", "date", "site", "count"]] + [
        [i, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", f"site {i % 50}", i % 7]
        for i in range(20_000)]
    xlsx = make_xlsx(tmp_path / "counts.xlsx", {"Counts": sheet})
    pptx = make_pptx(tmp_path / "talk.pptx", [
        {"title": f"Slide {i}", "bullets": [f"Point {j} of slide {i}" for j in range(5)],
         "notes": "Say it slowly."} for i in range(60)])
    epub = make_epub(tmp_path / "book.epub", "Birds", [
        (f"Chapter {i}", "\n\n".join(f"Paragraph {j} of chapter {i}." for j in range(50)))
        for i in range(30)])
    texts = {}
    for path in (docx, xlsx, pptx, epub):
        check_archive(path.read_bytes(), Limits(), path.suffix)
        t = time.perf_counter()
        doc = load_file(path, path.name)
        assert doc is not None and doc.text, path
        assert time.perf_counter() - t < SLOW
        texts[path.suffix] = doc.text
    assert "kea 199 | 199 g" in texts[".docx"] and "Section 399" in texts[".docx"]
    assert "19999 | 2024-" in texts[".xlsx"] and "Slide 59" in texts[".pptx"]


def test_a_folder_with_a_bomb_indexes_the_good_file_and_names_the_bomb(tmp_path, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bomb.docx").write_bytes(_docx(tmp_path, b"<w:p/>" * 3_000_000))
    make_docx(corpus / "good.docx", [("p", "The kea is an alpine parrot.")])
    (corpus / "big.txt").write_bytes(b"The kea. " * 300_000)  # 2.7 MB
    t = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_documents([corpus], limits=Limits(unpacked_mb=1))
    assert time.perf_counter() - t < SLOW
    assert [d.doc_id for d in docs] == ["good.docx"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("\n" not in w for w in warnings)
    assert any(w.startswith(f"skipped {corpus / 'bomb.docx'}: over the 100x compression-ratio "
                            f"limit") for w in warnings)
    assert any(w.startswith(f"skipped {corpus / 'big.txt'}: over the 1 MB size limit (3 MB; "
                            f"setting max_unpacked_mb)") for w in warnings)


def test_settings_give_the_limits_and_refuse_nonsense(monkeypatch):
    assert Settings().limits == Limits()
    s = Settings(max_file_chars=10, max_file_blocks=20, max_file_seconds=1.5,
                 max_unpacked_mb=30)
    assert s.limits == Limits(chars=10, blocks=20, seconds=1.5, unpacked_mb=30)
    monkeypatch.setenv("RAG_MAX_FILE_SECONDS", "2.5")
    assert Settings.load("missing.toml").limits.seconds == 2.5
    for name in ("max_file_chars", "max_file_blocks", "max_file_seconds", "max_unpacked_mb"):
        with pytest.raises(ConfigError, match=f"{name} must be positive"):
            Settings(**{name: 0})
    with pytest.raises(ValueError, match="the ratio limit must be positive"):
        Limits(ratio=0)
