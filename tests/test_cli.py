"""The command line as a user runs it: real processes, real model, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SEEDS


def rag(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_ask_builds_the_missing_index_and_prints_json(tmp_path: Path, seeds_copy: Path):
    p = rag("ask", "On what dates will the Prime Minister visit the United States?", "--json",
            cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert "9-12 July" in d["answer"] and not d["abstained"]
    assert d["citations"][0]["doc_id"] == "beehive-pm-heads-to-us-for-nato.txt"
    assert (tmp_path / "index" / "CURRENT").is_file()
    # Human output: the answer, then numbered sources with title, date and url.
    p = rag("ask", "How many seats did Labour win in the UK election?", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == "The documents don't say."
    p = rag("ask", "How many NZDF personnel were sent to counter the Houthis?", cwd=tmp_path)
    assert "six NZDF personnel" in p.stdout and "Sources\n[1] " in p.stdout


@pytest.mark.slow
def test_build_reports_incremental_work(tmp_path: Path, seeds_copy: Path):
    first = rag("build", str(seeds_copy), "--index", "ix", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 added" in first.stdout
    again = rag("build", str(seeds_copy), "--index", "ix", cwd=tmp_path)
    assert "0 added, 0 changed, 0 removed, 0 renamed, 2 kept; embedded 0 of" in again.stdout


def test_user_errors_are_one_line_with_exit_1(tmp_path: Path, fake_index_dir: Path):
    p = rag("build", str(tmp_path / "missing"), "--index", "ix", cwd=tmp_path)
    assert p.returncode == 1 and p.stderr.strip().count("\n") == 0
    assert "does not exist" in p.stderr and "Traceback" not in p.stderr
    p = rag("ask", "anything", "--index", str(tmp_path / "elsewhere"), cwd=tmp_path)
    # a mistyped --index is not silently built from seeds/: it is named
    assert p.returncode == 1 and "no index in" in p.stderr and "--index" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "elsewhere").exists()
    p = rag("ask", "  ", "--index", str(fake_index_dir), cwd=tmp_path)
    assert p.returncode == 1 and "question is empty" in p.stderr
    p = rag("ask", "x" * 2500, "--index", str(fake_index_dir), cwd=tmp_path)
    assert p.returncode == 1 and "limit is 2,000" in p.stderr
    p = rag("ask", "q", "--index", str(fake_index_dir), cwd=tmp_path)
    assert p.returncode == 1 and "rag build --rebuild" in p.stderr  # built by another model


def test_a_first_run_without_index_or_documents_says_what_to_run(tmp_path: Path):
    for verb in (("ask", "What is in my documents?"), ("chat", "--port", "0")):
        p = rag(*verb, cwd=tmp_path)  # no index/, no seeds/
        assert p.returncode == 1 and p.stderr.strip().count("\n") == 0, p.stderr
        assert "no index in" in p.stderr and "rag build FOLDER" in p.stderr, p.stderr
        assert "--index DIR" in p.stderr and "Traceback" not in p.stderr
        assert not (tmp_path / "index").exists()


def test_usage_errors_exit_2(tmp_path: Path):
    assert rag("frobnicate", cwd=tmp_path).returncode == 2
    assert rag("ask", "q", "-k", "0", cwd=tmp_path).returncode == 2


def test_help_is_quick_and_lists_the_verbs(tmp_path: Path):
    p = rag("--help", cwd=tmp_path)
    assert p.returncode == 0 and "build" in p.stdout and "ask" in p.stdout


@pytest.fixture
def fake_index_dir(tmp_path: Path, fake_embedder) -> Path:
    """An index built by another (fake) model: loads of it must be refused."""
    from rag.config import Settings
    from rag.ingest.chunk import Chunker
    from rag.ingest.load import load_documents
    from rag.store.local import sync

    s = Settings()
    folder = tmp_path / "fake-ix"
    sync(load_documents([SEEDS]), folder, fake_embedder, Chunker(s.chunk_tokens, s.chunk_overlap))
    return folder


@pytest.mark.slow
def test_eval_writes_the_report_gates_and_compares(tmp_path: Path, seed_index: Path):
    from .conftest import EVAL_SET

    p = rag("eval", str(EVAL_SET), "--index", str(seed_index), "--out", "r1", "--json",
            "--min", "answer_correct=0.8", "--min", "abstain_correct=0.4", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    for key in ("n", "hit@1", "hit@3", "hit@5", "mrr", "answer_contains", "em", "f1",
                "citation_precision", "citation_recall", "abstain_correct", "abstain_wrong",
                "latency_ms_p50", "latency_ms_p95"):
        assert key in summary, key
    assert summary["n"] == 55
    for name in ("results.jsonl", "summary.json", "report.md", "hit_at_k.png",
                 "abstention.png", "latency.png"):
        assert (tmp_path / "r1" / name).stat().st_size > 0
    gated = rag("eval", str(EVAL_SET), "--index", str(seed_index), "--out", "r2",
                "--min", "answer_correct=1.01", cwd=tmp_path)
    assert gated.returncode == 1
    assert "gate failed: answer_correct" in gated.stderr and "report: r2/report.md" in gated.stdout
    cmp = rag("eval", "--compare", "r1", "r2", cwd=tmp_path)
    assert cmp.returncode == 0 and "answer_correct" in cmp.stdout and "+0.000" in cmp.stdout


@pytest.mark.slow
def test_import_squad_then_build_and_eval(tmp_path: Path, tiny_squad: Path):
    """A SQuAD file, two articles: import, index and evaluate through the CLI."""
    p = rag("import", "squad", str(tiny_squad), "--out", "sq", "--limit-articles", "2",
            "--sample", "6", "--seed", "1", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "4 documents" in p.stdout and "6 questions" in p.stdout
    assert rag("build", "sq/docs", "--index", "sq/index", cwd=tmp_path).returncode == 0
    e = rag("eval", "sq/eval.jsonl", "--index", "sq/index", "--out", "sq/report", "--json",
            cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    summary = json.loads(e.stdout)
    assert summary["n"] == 6 and summary["n_unanswerable"] == 0
    assert summary["source_hit@10"] > 0.5  # four paragraphs: the right one is usually found


def test_eval_usage_errors_are_one_line(tmp_path: Path):
    p = rag("eval", cwd=tmp_path)
    assert p.returncode == 1 and "name at least one evaluation set" in p.stderr
    p = rag("eval", "missing.jsonl", "--min", "f1", cwd=tmp_path)
    assert p.returncode == 1 and "METRIC=VALUE" in p.stderr
    p = rag("eval", "--compare", "a", "b", cwd=tmp_path)
    assert p.returncode == 1 and "no summary.json in a" in p.stderr


@pytest.mark.slow
def test_import_beir_then_eval_reports_ndcg(tmp_path: Path, beir_dir: Path):
    assert rag("import", "beir", str(beir_dir), "--out", "b", cwd=tmp_path).returncode == 0
    assert rag("build", "b/docs", "--index", "b/index", cwd=tmp_path).returncode == 0
    e = rag("eval", "b/eval.jsonl", "--index", "b/index", "--out", "b/report", "--json",
            cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    summary = json.loads(e.stdout)
    assert summary["n"] == 2 and 0.5 < summary["ndcg@10"] <= 1.0
    assert "answer_contains" not in summary  # no answers: retrieval metrics only


def test_terminal_rendering_flags_unsupported_sentences():
    from rag.app.render import answer_text
    from rag.types import Answer, Sentence

    ans = Answer("q", "a [1] b [2]", False, sentences=(Sentence("It rained.", (1,)),
                                                      Sentence("It snowed.", (2,), False)))
    assert answer_text(ans) == "It rained. [1] It snowed. [2] [unsupported]"


def test_document_control_sequences_never_reach_a_terminal(monkeypatch):
    from rag import cli

    hostile = ("Title\x1b]0;owned\x07 red\x1b[31m text\x9b2J\x1b[2J\ttab\nline"
               "\x1b]8;;http://e.example\x1b\\link\x1b]8;;\x1b\\\x1bc")
    for tty in (True, False):  # a pipe often ends in a terminal too (`| less -R`)
        monkeypatch.setattr(sys.stdout, "isatty", lambda tty=tty: tty)
        assert cli.inert(hostile) == "Title red text\ttab\nlinelink"


def test_rag_ask_prints_no_escape_sequence_from_a_document(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "kea.txt").write_text(
        "The kea\x1b]0;owned\x07 is an alpine parrot\x1b[2J of New Zealand.\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "rag", "build", "docs", "--index", "ix"],
                   cwd=tmp_path, env=env, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "rag", "ask", "What is the kea?", "--index",
                          "ix"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "alpine parrot" in out.stdout, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout


def test_a_bad_k_says_what_is_wrong(capsys):
    from rag.cli import main

    with pytest.raises(SystemExit) as e:
        main(["ask", "Why?", "-k", "abc"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "must be a whole number (got 'abc')" in err and "_positive" not in err


@pytest.mark.slow
def test_embedding_progress_reaches_a_log_that_is_not_a_terminal(monkeypatch, capsys):
    from rag import embed, progress

    monkeypatch.setattr(progress, "EVERY", 0.0)
    vecs = embed.SentenceTransformerEmbedder(batch_size=2).encode_documents(
        ["one", "two", "three"], progress=True)
    assert vecs.shape == (3, 384)
    err = capsys.readouterr().err
    assert "embedding: 2 of 3 chunks" in err and "embedding: 3 of 3 chunks" in err
