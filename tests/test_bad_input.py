"""Bad input, as a hostile or careless user gives it: each case gets an answer, an abstention
or one clear line, and nothing already indexed is lost. Random input (hypothesis) for the
loaders, the eval reader and the page's rendering."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.cli import main
from rag.errors import CorpusError, QuestionError, RagError
from rag.eval.runner import load_set
from rag.ingest.load import load_documents, load_file

ABSTAIN = "The documents don't say."


# -- questions, through the Python API with the real model -----------------------------------

@pytest.mark.parametrize("question, expect", [
    ("", "error: empty"),
    ("   \t\n ", "error: empty"),
    ("\u2003\u3000", "error: empty"),  # Unicode spaces only
    ("\x00\x07\x1b", "error: empty"),  # control characters only
    (None, "error: empty"),
    (123, "error: must be text, not int"),
    ("x" * 100_000, "error: 100,000 characters long"),
    ("xyzzy plugh?", "abstain"),  # no word of it in the documents
    ("新西兰总理是谁？", "abstain"),  # another script, another language
    ("من هو رئيس وزراء نيوزيلندا؟", "abstain"),  # right to left
    ("🦖🦖🦖?", "abstain"),
    ("How old was Patricia McKay?\x1b[31m\x07", "answer: 68"),  # controls dropped
    ("\u202eHow old was Patricia McKay?", "answer: 68"),  # a right-to-left override
    ("\ud800How old was Patricia McKay?", "answer: 68"),  # a lone surrogate
    ("🇳🇿 How many countries belong to the NATO alliance? 🎉", "answer: 32"),
    ("HOW MANY COUNTRIES BELONG TO THE NATO ALLIANCE", "answer: 32"),
])
def test_questions(seed_rag, question, expect):
    kind, _, detail = expect.partition(": ")
    if kind == "error":
        with pytest.raises(QuestionError, match=detail):
            seed_rag.answer(question)
        return
    ans = seed_rag.answer(question)
    if kind == "abstain":
        assert ans.abstained and ans.answer == ABSTAIN and not ans.citations
    else:
        assert not ans.abstained and detail in ans.answer


@pytest.mark.parametrize("history, why", [
    ("Who died?", "history must be a list"), ([1, 2], "history must be a list"),
    ([None], "history must be a list")])
def test_history_that_is_not_a_list_of_text(seed_rag, history, why):
    with pytest.raises(QuestionError, match=why):
        seed_rag.answer("How old was she?", history)


def test_blank_and_control_turns_in_history_are_ignored(seed_rag):
    ans = seed_rag.answer("How old was she?",
                          ["Who died outside a mall in Newport Beach?", "  ", "\x1b"])
    assert "68" in ans.answer


# -- the command line -------------------------------------------------------------------------

def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, code, message", [
    (["-k", "0"], 2, r"argument -k: must be at least 1 \(got 0\)"),
    (["-k", "-3"], 2, r"argument -k: must be at least 1 \(got -3\)"),
    (["-k", "1e9"], 2, "argument -k: must be a whole number"),
    (["-k", "99999"], 2, r"argument -k: at most 50 \(got 99999\)"),
    (["--generator", "nonsense"], 1, "error: unknown generator 'nonsense'"),
    (["--index", "{tmp}/missing"], 1, "error: no index in"),
    (["--index", "{tmp}/afile"], 1, "error: the index folder .* is a file"),
])
def test_ask_options(capsys, seed_index, tmp_path, argv, code, message):
    (tmp_path / "afile").write_text("not an index")
    argv = [a.format(tmp=tmp_path) for a in argv]
    got, out, err = _run(capsys, "ask", "How old was Patricia McKay?", "--index",
                         str(seed_index), *argv)
    assert got == code
    assert re.search(message, err), err
    if code == 1:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "missing").exists()  # a mistyped index is not built


def test_ask_with_a_huge_question_is_one_line(capsys, seed_index):
    code, out, err = _run(capsys, "ask", "why " * 50_000, "--index", str(seed_index))
    assert code == 1 and err.startswith("error: the question is 199,999 characters long")


# -- corpora -----------------------------------------------------------------------------------

BAD_FILES: dict[str, bytes] = {
    "empty.txt": b"",
    "blank.txt": b"  \n\n\t \n",
    "binary.txt": bytes(range(256)) * 20,
    "nul.txt": b"Kakapo are parrots.\x00\x00 More text.\n",
    "latin1.txt": "Café au lait about the takahe.\n".encode("latin-1"),
    "fm-only.md": b"---\ntitle: Nothing else\n---\n",
    "image.png": b"\x89PNG\r\n\x1a\n" + bytes(100),
}
GOOD_FILES: dict[str, bytes] = {
    "utf16.txt": "The kea is an alpine parrot of the South Island.\n".encode("utf-16"),
    "bom.txt": "\ufeffThe tui sings two notes at once.\n".encode(),
    "crlf.txt": b"Windows lines\r\nabout the weka, a flightless rail.\r\n",
    "fm-broken.md": b"---\ntitle: [unclosed\n---\nThe kiwi lays a very large egg.\n",
    "fm-list.md": b"---\n- a\n- b\n---\nThe morepork is a small owl.\n",
    "fm-unclosed.md": b"---\ntitle: x\nThe kereru is a wood pigeon.\n",
    "esc.txt": b"\x1b]0;pwned\x07\x1b[31mThe pukeko is a swamp hen.\x1b[0m\n",
    "it's \"quoted\" & spaced.txt": b"The tuatara is a reptile.\n",
    "ng\xc4\x81 manu.txt".encode().decode(): "The k\u0101k\u0101 is a forest parrot.\n".encode(),
    "rtl.txt": "العربية text about the hihi, a honeyeater.\n".encode(),
    "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/deep.md":
        b"# Deep\nThe moa were giant birds.\n",
    "long-token.txt": b"x" * 200_000 + b" The saddleback is a wattlebird.\n",
}


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory) -> tuple[Path, list[str], set[str]]:
    """One corpus of every awkward file, loaded once: (folder, warnings, indexed ids)."""
    root = tmp_path_factory.mktemp("bad-corpus")
    docs = root / "docs"
    for name, data in {**BAD_FILES, **GOOD_FILES}.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_bytes(data)
    outside = root / "secret.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (docs / "passwd.txt").symlink_to(outside)
    (docs / "loop-a.txt").symlink_to(docs / "loop-b.txt")
    (docs / "loop-b.txt").symlink_to(docs / "loop-a.txt")
    (docs / "broken.txt").symlink_to(docs / "nowhere.txt")
    (docs / "here").symlink_to(docs)  # a link to the corpus itself
    (docs / ".hidden.txt").write_text("hidden text\n")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    log = logging.getLogger("rag")
    handler = Keep(logging.WARNING)
    log.addHandler(handler)
    try:
        ids = {d.doc_id for d in load_documents([docs])}
    finally:
        log.removeHandler(handler)
    return docs, records, ids


@pytest.mark.parametrize("name, why", [
    ("empty.txt", "empty file"), ("blank.txt", "no text"), ("binary.txt", "binary file"),
    ("nul.txt", "binary file"), ("latin1.txt", r"not UTF-8 \(byte 3\); convert it"),
    ("fm-only.md", "no text"), ("passwd.txt", "outside the corpus"),
    ("loop-a.txt", "leads nowhere"), ("loop-b.txt", "leads nowhere"),
    ("broken.txt", "leads nowhere"),
])
def test_files_that_cannot_be_indexed_are_skipped_and_named(bad_corpus, name, why):
    docs, warnings, ids = bad_corpus
    assert name not in ids
    said = [w for w in warnings if f"{docs / name}:" in w or f"{docs / name} " in w]
    assert said and re.search(why, said[0]), warnings


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
def test_awkward_but_readable_files_are_indexed(bad_corpus, name):
    _, _, ids = bad_corpus
    assert name in ids


def test_nothing_else_is_indexed_or_followed(bad_corpus):
    _, warnings, ids = bad_corpus
    assert ids == set(GOOD_FILES)  # not image.png, .hidden.txt, nor here/… copies
    assert not any("root:x" in w for w in warnings)


def test_the_awkward_corpus_builds_and_answers_with_the_real_model(bad_corpus, tmp_path):
    from rag.config import Settings
    from rag.pipeline import RAG, build

    docs, _, _ = bad_corpus
    s = Settings(index_dir=str(tmp_path / "ix"))
    report = build([docs], settings=s)
    assert sorted(report.added) == sorted(GOOD_FILES)
    rag = RAG.load(settings=s)
    assert "alpine parrot" in rag.answer("Which parrot lives in the alpine South Island?").answer
    ans = rag.answer("What is the pukeko?")
    assert "swamp hen" in ans.answer
    assert rag.answer("What is the root password?").abstained


@pytest.mark.parametrize("make, why", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "no document files"),
    (lambda p: (p.mkdir(), (p / "a.png").write_bytes(b"x")), "no document files"),
    (lambda p: (p.mkdir(), (p / "a.txt").write_bytes(b"")), "no readable documents in"),
])
def test_corpus_paths_that_hold_nothing(tmp_path, make, why):
    target = tmp_path / "corpus"
    make(target)
    with pytest.raises(CorpusError, match=why):
        load_documents([target])


def test_ten_thousand_tiny_files(tmp_path, fake_embedder):
    from rag.config import Settings
    from rag.pipeline import RAG, chunker
    from rag.store.local import Index, sync

    docs = tmp_path / "docs"
    for i in range(10_000):
        folder = docs / f"{i // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note-{i}.txt").write_text(f"Note {i} records parcel p{i} in aisle a{i}.\n")
    s = Settings(index_dir=str(tmp_path / "ix"))
    report = sync(load_documents([docs]), s.index_dir, fake_embedder, chunker(s))
    assert report.chunks_total == 10_000
    rag = RAG(Index.load(s.index_dir, fake_embedder, chunker(s)), fake_embedder, s)
    ans = rag.answer("Which aisle holds parcel p4321?", threshold=0)
    assert ans.citations[0].doc_id == "08/note-4321.txt"


# -- evaluation sets --------------------------------------------------------------------------

@pytest.mark.parametrize("content, why", [
    (b'{"question": "A?"}\n{"question": "B?"}\n{"question": "C?",\n',
     r"set\.jsonl:3: invalid JSON \(Expecting property name .* at column 20\)"),
    (b'{"answers": ["x"]}\n', r"set\.jsonl:1: .*question"),
    (b'{"question": "A?", "answers": "Winston Peters"}\n', r"set\.jsonl:1: .*must be a list"),
    (b'{"question": 123}\n', r"set\.jsonl:1: .*non-empty string"),
    (b'{"question": ""}\n', r"set\.jsonl:1: .*non-empty string"),
    (b'{"question": "A?", "answers": [1, 2]}\n', r"set\.jsonl:1: .*must be a list"),
    (b'"just a string"\n', r"set\.jsonl:1: .*JSON object"),
    (b"null\n", r"set\.jsonl:1: .*JSON object"),
    (b"", "holds no items"),
    (b"\n\n   \n", "holds no items"),
    ('{"question": "Café?"}\n'.encode("latin-1"), "not UTF-8"),
    ('{"question": "Café?"}\n'.encode("utf-16"), "not UTF-8"),
])
def test_eval_files(tmp_path, content, why):
    p = tmp_path / "set.jsonl"
    p.write_bytes(content)
    with pytest.raises(RagError, match=why):
        load_set(p)


def test_eval_file_with_a_byte_order_mark_is_read(tmp_path):
    p = tmp_path / "set.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"question": "A?"}\n')
    assert [it.question for it in load_set(p)] == ["A?"]


@pytest.mark.parametrize("target, why", [("missing.jsonl", "no such file|does not exist|not found"),
                                         (".", "is a folder; name a JSONL file")])
def test_eval_paths_that_are_not_files(capsys, tmp_path, target, why):
    os.chdir(tmp_path)
    code, _, err = _run(capsys, "eval", target, "--index", str(tmp_path / "ix"))
    assert code == 1 and re.search(why, err, re.I), err
    assert len(err.strip().splitlines()) == 1


# -- random input -----------------------------------------------------------------------------

SLOW = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(data=st.binary(max_size=3000))
def test_any_bytes_load_as_a_document_or_a_warning(tmp_path, data):
    p = tmp_path / "random.txt"
    p.write_bytes(data)
    doc = load_file(p, "random.txt")
    if doc is not None:
        assert doc.text.strip() and "\x00" not in doc.text


@SLOW
@given(front=st.dictionaries(st.text(max_size=12), st.one_of(
    st.text(max_size=30), st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=3)),
    max_size=4), raw=st.text(max_size=80), body=st.text(min_size=1, max_size=200))
def test_any_front_matter_loads_or_warns(tmp_path, front, raw, body):
    import yaml

    for i, head in enumerate([yaml.safe_dump(front, allow_unicode=True), raw]):
        p = tmp_path / f"fm{i}.md"
        p.write_text(f"---\n{head}---\n{body}\n", encoding="utf-8", errors="replace")
        doc = load_file(p, p.name)
        if doc is not None:
            assert isinstance(doc.title, str) and isinstance(doc.meta, dict)
            json.dumps(doc.meta, default=str)


@SLOW
@given(lines=st.lists(st.one_of(
    st.text(max_size=40),
    st.dictionaries(st.sampled_from(["id", "question", "answers", "history", "sources",
                                     "answerable"]),
                    st.one_of(st.text(max_size=10), st.integers(), st.none(), st.booleans(),
                              st.lists(st.text(max_size=5), max_size=2)),
                    max_size=5).map(json.dumps)), max_size=6))
def test_the_eval_reader_takes_any_lines_or_names_the_bad_one(tmp_path, lines):
    p = tmp_path / "random.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="replace")
    try:
        items = load_set(p)
    except RagError as e:
        assert str(p) in str(e) and "\n" not in str(e)
    else:
        assert items and all(isinstance(it.question, str) and it.question for it in items)


def test_a_question_in_words_the_documents_never_use_says_why(seed_rag, seed_index, capsys):
    for q in ("xyzzy plugh?", "新西兰总理是谁？", "Wer ist der Premierminister von Neuseeland?"):
        ans = seed_rag.answer(q)
        assert ans.note and "another language" in ans.note, q
        assert ans.to_dict()["note"] == ans.note
    for q in ("How many countries belong to the NATO alliance?", "🦖🦖🦖?"):
        assert seed_rag.answer(q).note is None, q
    code, out, _ = _run(capsys, "ask", "Wer ist der Premierminister von Neuseeland?",
                        "--index", str(seed_index))
    assert code == 0 and out.strip().splitlines()[-1].startswith("(Few of the question's words")
