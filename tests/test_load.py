import logging
from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest.load import load_documents

from .conftest import SEEDS


def test_front_matter_becomes_metadata_and_leaves_the_text(corpus: Path):
    docs = {d.doc_id: d for d in load_documents([corpus])}
    apples = docs["apples.md"]
    assert apples.title == "Apples"
    assert apples.date == "2024-05-01"
    assert apples.url == "https://example.org/apples"
    assert "---" not in apples.text and apples.text.startswith("Apples grow")


def test_title_from_first_line_and_nested_ids(corpus: Path):
    docs = {d.doc_id: d for d in load_documents([corpus])}
    assert set(docs) == {"apples.md", "rivers.txt", "sub/bees.txt"}
    assert docs["rivers.txt"].title == "Rivers of the South Island"
    assert docs["rivers.txt"].date is None


def test_seed_documents_load_with_their_metadata():
    docs = {d.doc_id: d for d in load_documents([SEEDS])}
    beehive = docs["beehive-pm-heads-to-us-for-nato.txt"]
    assert beehive.title == "Prime Minister heads to United States for NATO"
    assert beehive.date == "2024-07-02"
    assert beehive.meta["portfolios"] == ["Prime Minister"]
    rnz = docs["rnz-luxon-nato-summit-analysis.txt"]
    # Its first line is a sentence, not a title: the file's name is.
    assert rnz.title == "Rnz luxon nato summit analysis"


def test_bad_files_are_skipped_with_a_warning_naming_them(corpus: Path, caplog):
    (corpus / "empty.txt").write_text("  \n", encoding="utf-8")
    (corpus / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (corpus / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus / "image.png").write_bytes(b"\x89PNG")
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_documents([corpus])
    assert {d.doc_id for d in docs} == {"apples.md", "rivers.txt", "sub/bees.txt"}
    text = caplog.text
    assert "empty.txt: no text" in text
    assert "latin1.txt: not UTF-8" in text
    assert "blob.txt: binary" in text


def test_malformed_front_matter_warns_and_indexes_the_text(tmp_path: Path, caplog):
    (tmp_path / "bad.md").write_text("---\ntitle: [unclosed\n---\nBody text here.\n",
                                     encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag"):
        (doc,) = load_documents([tmp_path])
    assert "front matter is not valid YAML" in caplog.text
    assert "Body text here." in doc.text


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path: Path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_documents([tmp_path / "nope"])
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    with pytest.raises(CorpusError, match="no document files"):
        load_documents([tmp_path])


def test_folder_of_only_unreadable_files(tmp_path: Path):
    (tmp_path / "e.txt").write_text("", encoding="utf-8")
    with pytest.raises(CorpusError, match="no readable documents"):
        load_documents([tmp_path])


def test_links_leaving_the_corpus_are_skipped_with_a_warning(corpus, tmp_path, caplog):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to(secret)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "private.md").write_text("Private notes.\n", encoding="utf-8")
    (corpus / "linked").symlink_to(outside, target_is_directory=True)
    (corpus / "alias.txt").symlink_to(corpus / "rivers.txt")  # inside: fine
    ids = {d.doc_id for d in load_documents([corpus])}
    assert "passwd.txt" not in ids and not any(i.startswith("linked/") for i in ids)
    assert "alias.txt" in ids
    assert "outside the corpus" in caplog.text and "passwd.txt" in caplog.text


def test_utf16_files_are_read_and_an_unreadable_file_is_skipped(corpus, caplog, monkeypatch):
    (corpus / "wide.txt").write_text("Wide text about kiwi birds.\n", encoding="utf-16")
    locked = corpus / "locked.txt"
    locked.write_text("Secret.\n", encoding="utf-8")
    read = Path.read_bytes

    def read_bytes(self):  # as for a file without read permission (tests may run as root)
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    docs = {d.doc_id: d for d in load_documents([corpus])}
    assert docs["wide.txt"].text.startswith("Wide text about kiwi")
    assert "locked.txt" not in docs and "rivers.txt" in docs
    assert "cannot read it (Permission denied)" in caplog.text


def test_titles_skip_html_comments_and_heading_attributes(tmp_path: Path):
    # The shape of real Markdown guides: a licence comment first, Pandoc/kramdown `{#id}`s.
    (tmp_path / "guide.md").write_text(
        "<!--\nCopyright notice\n-->\n\n## Introduction {#intro}\n\nA code review is a "
        "process.\n", encoding="utf-8")
    (tmp_path / "inline.md").write_text("<!-- note --> The Real Title\n\nBody text.\n",
                                        encoding="utf-8")
    titles = {d.doc_id: d.title for d in load_documents([tmp_path])}
    assert titles == {"guide.md": "Introduction", "inline.md": "The Real Title"}


def test_a_dateline_in_the_text_dates_a_document_without_metadata(tmp_path: Path):
    (tmp_path / "release.md").write_text(
        "# Council cuts irrigation\n\nWELLINGTON, 2 July 2024 — The council asked farmers "
        "to cut irrigation.\n")
    (tmp_path / "notes.txt").write_text(
        "Meeting notes\nThe meeting on 2 July 2024 agreed to cut irrigation by a fifth.\n")
    (tmp_path / "dated.md").write_text("---\ndate: 2023-01-05\n---\nPublished: July 2, 2024\n")
    docs = {d.doc_id: d for d in load_documents([tmp_path])}
    assert docs["release.md"].date == "2024-07-02"
    assert docs["notes.txt"].date is None  # a date in running text is no dateline
    assert docs["dated.md"].date == "2023-01-05"  # front matter comes first
