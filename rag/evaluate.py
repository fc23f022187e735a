"""Evaluation sets (JSONL) in, per-item scores and means out; metrics are pure functions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from rag.errors import RagError
from rag.text import fold
from rag.types import Answer


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    answerable: bool = True
    history: tuple[str, ...] = ()


def load_set(path: str | Path) -> list[EvalItem]:
    """Read one JSONL evaluation set; a bad line is an error naming the file and line."""
    items: list[EvalItem] = []
    p = Path(path)
    if not p.is_file():
        raise RagError(f"evaluation set {p} does not exist")
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
            items.append(EvalItem(
                id=str(o.get("id", f"{p.stem}-{n}")), question=o["question"],
                answers=tuple(o.get("answers") or ()), sources=tuple(o.get("sources") or ()),
                answerable=bool(o.get("answerable", True)), history=tuple(o.get("history") or ())))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise RagError(f"{p}:{n}: not an evaluation item ({e})") from None
    return items


def doc_stem(doc_id: str) -> str:
    """`sources` name documents by file name stem: `news/a.txt` -> `a`."""
    return PurePosixPath(doc_id).stem


def _norm(text: str) -> str:
    return " ".join(fold(text).lower().split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Does the text contain one of the accepted answers (case, spacing, typography folded)?"""
    t = _norm(text)
    return any(_norm(a) and _norm(a) in t for a in answers)


def cites_source(answer: Answer, sources: Sequence[str]) -> bool:
    wanted = set(sources)
    return any(doc_stem(c.doc_id) in wanted for c in answer.citations)


@dataclass
class ItemResult:
    item: EvalItem
    answer: Answer
    scores: dict[str, float] = field(default_factory=dict)


def score_item(item: EvalItem, ans: Answer) -> dict[str, float]:
    """Per-item scores: answerable items score the answer, unanswerable ones the abstention."""
    if not item.answerable:
        return {"abstain_correct": float(ans.abstained)}
    correct = (not ans.abstained and contains_answer(ans.answer, item.answers)
               and (not item.sources or cites_source(ans, item.sources)))
    return {"answer_correct": float(correct), "answer_contains":
            float(not ans.abstained and contains_answer(ans.answer, item.answers)),
            "abstain_wrong": float(ans.abstained)}


def run(rag: Any, items: Sequence[EvalItem], **options: Any) -> list[ItemResult]:
    """Answer every item through the same pipeline the chat page uses."""
    out = []
    for it in items:
        ans = rag.answer(it.question, list(it.history), **options)
        out.append(ItemResult(it, ans, score_item(it, ans)))
    return out


def summarize(results: Sequence[ItemResult]) -> dict[str, float]:
    """Means of every per-item score over the items that have it."""
    keys = sorted({k for r in results for k in r.scores})
    summary: dict[str, float] = {"n": float(len(results))}
    for k in keys:
        vals = [r.scores[k] for r in results if k in r.scores]
        summary[k] = sum(vals) / len(vals)
    return summary
