"""Per-item scores and means: pure functions of an evaluation item, the `Answer` it got and the
passages its search returned (`rag.eval.runner` produces those, `rag.eval.report` writes files).
Rules (also in evals/README.md):

- retrieval: the rank of the first passage from a listed source that contains an accepted
  answer (`hit@k`, `mrr`), and of the first passage from a listed source at all
  (`source_hit@k`, `source_mrr`); `ndcg@10` over documents when the item grades them;
- answer: `answer_contains` (an accepted string in the answer), `answer_correct` (that, and a
  listed source cited), SQuAD `em`/`f1` against the generator's core span if it marked one,
  else the whole answer without markers;
- citations: a citation *supports* its sentence when at least half of the sentence's content
  terms occur in the quoted span; `citation_precision` is the share of citations that support
  their sentence and come from a listed source, `citation_recall` the share of answer
  sentences with at least one supporting citation (answered, answerable items only);
- abstention: `abstain_correct` on unanswerable items, `abstain_wrong` on answerable ones.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from rag.generate.cite import evidence, strip_markers, support
from rag.text import fold
from rag.types import BANDS, Answer, Passage

SUPPORT_MIN = 0.5  # share of a sentence's content terms its citation must contain
DEPTH = 10  # passages retrieved for the retrieval metrics (nDCG@10, the hit@k curve)


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    answerable: bool = True
    history: tuple[str, ...] = ()
    relevance: dict[str, float] = field(default_factory=dict)  # graded sources (BEIR qrels)
    set: str = ""


# -- pure metrics -----------------------------------------------------------------------------

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


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """The official SQuAD normalisation: lower case, no punctuation, no a/an/the, one space."""
    text = "".join(ch for ch in fold(text).lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    p = squad_normalize(prediction)
    return float(any(p == squad_normalize(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1, the maximum over the accepted answers."""
    pred = squad_normalize(prediction).split()
    best = 0.0
    for g in golds:
        gold = squad_normalize(g).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold:
            best = max(best, float(pred == gold))
        elif common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def citation_scores(ans: Answer, sources: Sequence[str]) -> tuple[float, float] | None:
    """(precision, recall) of an answer's citations; None when there is nothing to score."""
    if ans.abstained or not ans.sentences:
        return None
    by_n = {c.n: c for c in ans.citations}
    sentences = [(s.text, [by_n[n] for n in s.citations if n in by_n]) for s in ans.sentences]
    wanted = set(sources)
    good = total = supported = 0
    for text, cited in sentences:
        ok = [c for c in cited if support(text, evidence(c)) >= SUPPORT_MIN]
        supported += bool(ok)
        total += len(cited)
        good += sum(1 for c in ok if not wanted or doc_stem(c.doc_id) in wanted)
    return (good / total if total else 0.0), supported / len(sentences)


def first_rank(passages: Sequence[Passage], hit: Callable[[Passage], bool]) -> int | None:
    return next((i for i, p in enumerate(passages, 1) if hit(p)), None)


def ndcg(doc_ranking: Sequence[str], relevance: dict[str, float], k: int = 10) -> float:
    """nDCG@k with gains 2^rel - 1 over the first k distinct documents."""
    dcg = sum((2 ** relevance.get(d, 0.0) - 1) / math.log2(i + 1)
              for i, d in enumerate(doc_ranking[:k], 1))
    ideal = sorted(relevance.values(), reverse=True)[:k]
    idcg = sum((2 ** r - 1) / math.log2(i + 1) for i, r in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


# -- per item and overall ---------------------------------------------------------------------

@dataclass
class ItemResult:
    item: EvalItem
    answer: Answer
    ranks: dict[str, int | None] = field(default_factory=dict)  # "answer" and "source"
    scores: dict[str, float] = field(default_factory=dict)
    # Would the answer be right if the generator had to answer? (An abstention on an
    # answerable item is asked again with threshold 0; any answer to an unanswerable is wrong.)
    right_if_answered: bool = False

    def correct(self) -> bool:
        if not self.item.answerable:
            return self.answer.abstained
        return bool(self.scores.get("answer_correct", float(not self.answer.abstained)))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.item.id, "set": self.item.set, "question": self.item.question,
                "history": list(self.item.history), "expected": list(self.item.answers),
                "sources": list(self.item.sources), "answerable": self.item.answerable,
                "correct": self.correct(), "confidence": round(self.answer.confidence, 4),
                "core": self.answer.core, "ranks": self.ranks, "scores": self.scores,
                "answer": self.answer.to_dict()}


def score_item(item: EvalItem, ans: Answer, deep: Sequence[Passage], k: int = 5) -> ItemResult:
    """Every metric that applies to one item; `deep` is retrieval to depth DEPTH, `k` the
    number of passages the answer was given (reported as `hit@k`)."""
    r = ItemResult(item, ans)
    s = r.scores
    wanted = set(item.sources)

    def from_source(p: Passage) -> bool:
        return doc_stem(p.chunk.doc_id) in wanted

    if item.sources:
        r.ranks["source"] = first_rank(deep, from_source)
        s["source_mrr"] = 1.0 / r.ranks["source"] if r.ranks["source"] else 0.0
    if item.answers and item.answerable:
        r.ranks["answer"] = first_rank(deep, lambda p: (not wanted or from_source(p))
                                       and contains_answer(p.chunk.text, item.answers))
        s["mrr"] = 1.0 / r.ranks["answer"] if r.ranks["answer"] else 0.0
    for name, key in (("hit", "answer"), ("source_hit", "source")):
        if key in r.ranks:
            rank = r.ranks[key]
            for depth, label in ((1, 1), (3, 3), (5, 5), (DEPTH, DEPTH), (k, "k")):
                s[f"{name}@{label}"] = float(rank is not None and rank <= depth)
    if item.relevance:
        ranking = list(dict.fromkeys(doc_stem(p.chunk.doc_id) for p in deep))
        s["ndcg@10"] = ndcg(ranking, item.relevance, 10)
    s["fallback"] = float(ans.fallback is not None)  # an LLM was asked and could not answer
    if ans.sentences:  # share of answer sentences no cited passage supports
        s["flagged"] = sum(not x.supported for x in ans.sentences) / len(ans.sentences)
    for band in BANDS:
        s[f"band_{band}"] = float(ans.band == band)
    if not item.answerable:
        s["abstain_correct"] = float(ans.abstained)
        s["not_answered"] = float(ans.band != "answer")  # abstained or only tentative
        return r
    r.right_if_answered = is_right(item, ans)
    s["abstain_wrong"] = float(ans.abstained)
    s["answer_band_right"] = float(ans.band == "answer" and r.right_if_answered)
    if item.answers:
        contains = not ans.abstained and contains_answer(ans.answer, item.answers)
        s["answer_contains"] = float(contains)
        s["answer_correct"] = float(contains and (not wanted or cites_source(ans, item.sources)))
        prediction = "" if ans.abstained else (ans.core or strip_markers(ans.answer))
        s["em"] = exact_match(prediction, item.answers)
        s["f1"] = token_f1(prediction, item.answers)
    cites = citation_scores(ans, item.sources)
    if cites is not None:
        s["citation_precision"], s["citation_recall"] = cites
    return r


def is_right(item: EvalItem, ans: Answer) -> bool:
    """An answer holds an accepted string and cites a listed source (no answers: any answer)."""
    if ans.abstained:
        return False
    if not item.answers:
        return True
    return contains_answer(ans.answer, item.answers) and \
        (not item.sources or cites_source(ans, item.sources))


def summarize(results: Sequence[ItemResult]) -> dict[str, float]:
    """Flat means over the items each metric applies to, plus counts and latency percentiles."""
    summary: dict[str, float] = {
        "n": len(results),
        "n_answerable": sum(r.item.answerable for r in results),
        "n_unanswerable": sum(not r.item.answerable for r in results)}
    keys = sorted({k for r in results for k in r.scores})
    for key in keys:
        vals = [r.scores[key] for r in results if key in r.scores]
        summary[key] = sum(vals) / len(vals)
    confident = [r for r in results if r.answer.band == "answer"]
    if confident:  # how often an answer given without a hedge is right
        summary["answer_band_precision"] = sum(
            r.item.answerable and r.right_if_answered for r in confident) / len(confident)
    for part, prefix in (("total", "latency_ms"), ("retrieve", "retrieve_ms"),
                         ("generate", "generate_ms")):
        vals = [r.answer.timings_ms.get(part, 0.0) for r in results]
        summary[f"{prefix}_p50"] = percentile(vals, 50)
        summary[f"{prefix}_p95"] = percentile(vals, 95)
        summary[f"{prefix}_max"] = max(vals, default=0.0)
    return summary


def abstention_curve(results: Sequence[ItemResult], steps: int = 101) -> list[dict[str, float]]:
    """Abstention rates if the threshold were t: each answer's confidence against t."""
    ans = [r.answer.confidence for r in results if r.item.answerable]
    una = [r.answer.confidence for r in results if not r.item.answerable]
    curve = []
    for t in np.linspace(0.0, 1.0, steps):
        curve.append({"threshold": round(float(t), 4),
                      "abstain_correct": sum(c < t for c in una) / len(una) if una else 0.0,
                      "abstain_wrong": sum(c < t for c in ans) / len(ans) if ans else 0.0})
    return curve


def risk_coverage(confidence: Sequence[float], right: Sequence[bool], points: int = 20
                  ) -> list[dict[str, float]]:
    """Answer only the most confident 1/points, 2/points, ... of the items: the share answered
    (coverage), the share of those answers that are wrong (risk), and the threshold doing it."""
    if not len(confidence):
        return []
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(right, dtype=bool)
    order = np.argsort(-conf, kind="stable")
    wrong = np.cumsum(~ok[order])
    out = []
    for cov in np.linspace(1.0 / points, 1.0, points):
        n = max(1, int(round(cov * len(conf))))
        out.append({"coverage": round(n / len(conf), 4),
                    "risk": round(float(wrong[n - 1] / n), 4),
                    "threshold": round(float(conf[order[n - 1]]), 4)})
    return out


def item_risk_coverage(results: Sequence[ItemResult]) -> list[dict[str, float]]:
    return risk_coverage([r.answer.confidence for r in results],
                         [r.right_if_answered for r in results])


def hit_curve(results: Sequence[ItemResult], key: str = "answer") -> list[float]:
    """Share of items whose first hit is at rank <= k, for k = 1..DEPTH."""
    ranks = [r.ranks[key] for r in results if key in r.ranks]
    if not ranks:
        return []
    return [sum(1 for x in ranks if x is not None and x <= k) / len(ranks)
            for k in range(1, DEPTH + 1)]
