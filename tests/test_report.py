import json

import pytest

from rag.errors import RagError
from rag.eval.metrics import EvalItem, score_item
from rag.eval.report import compare, gate_failures, parse_gates, write_report
from rag.types import Answer, Chunk, Citation, Passage, Sentence


def _results():
    text = "It was 32 countries."
    p = Passage(Chunk("a.txt#0", "a.txt", 0, text, 0, len(text)), 0.5, 1)
    cite = Citation(1, "a.txt", "t", None, None, "a.txt#0", text, 0, len(text), text, 0.5)
    good = Answer("How many?", f"{text} [1]", False, (cite,), (p,), {"total": 12.0}, 0.7,
                  sentences=(Sentence(text, (1,)),))
    miss = Answer("Who?", "The documents don't say.", True, (), (p,), {"total": 8.0}, 0.2)
    return [score_item(EvalItem("1", "How many?", ("32",), ("a",)), good, [p]),
            score_item(EvalItem("2", "Who?", ("Bob",), ("a",)), miss, [p])]


def test_report_files_and_markdown(tmp_path):
    results = _results()
    summary = {"n": 2, "answer_correct": 0.5}
    paths = write_report(results, summary, tmp_path / "r", threshold=0.44)
    names = {p.name for p in paths}
    assert {"results.jsonl", "summary.json", "report.md", "hit_at_k.png", "abstention.png",
            "latency.png", "abstention_curve.json", "risk_coverage.json",
            "risk_coverage.png"} <= names
    rc = json.loads((tmp_path / "r" / "risk_coverage.json").read_text())
    # the confident answer is right, the abstention (not re-asked here) counts as wrong
    assert rc[-1] == {"coverage": 1.0, "risk": 0.5, "threshold": 0.2}
    assert all(p.stat().st_size > 0 for p in paths)
    assert (tmp_path / "r" / "hit_at_k.png").read_bytes()[:4] == b"\x89PNG"
    lines = (tmp_path / "r" / "results.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["correct"] is True and json.loads(lines[1])["correct"] is False
    md = (tmp_path / "r" / "report.md").read_text()
    assert "| answer_correct | 0.500 |" in md
    assert "## Failures (1)" in md and "| 2 | Who? | Bob | The documents don't say. |" in md
    assert "| a | 2 |" in md  # by source
    assert json.loads((tmp_path / "r" / "summary.json").read_text()) == summary


def test_gates_and_comparison():
    assert parse_gates(["hit@5=0.9", "f1 = 0.5"]) == {"hit@5": 0.9, "f1": 0.5}
    with pytest.raises(RagError, match="METRIC=VALUE"):
        parse_gates(["hit@5"])
    summary = {"hit@5": 0.8, "latency_ms_p95": 40.0}
    assert gate_failures(summary, {"hit@5": 0.8}) == []
    assert gate_failures(summary, {"hit@5": 0.81}) == ["hit@5 = 0.8000 is below the minimum 0.81"]
    assert "above the maximum" in gate_failures(summary, {}, {"latency_ms_p95": 30})[0]
    assert "not in this run's summary" in gate_failures(summary, {"ndcg@10": 0.1})[0]
    table = compare({"hit@5": 0.8, "old_only": 1.0}, {"hit@5": 0.85, "new_only": 2.0})
    assert "hit@5" in table and "+0.050" in table and "old_only" in table and "new_only" in table
