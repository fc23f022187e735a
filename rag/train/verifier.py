"""`rag train-verifier`: fit the citation verifier's two thresholds on SQuAD pairs and measure
them on held-out articles (split by article as in `rag train-selector`).

Pairs, for every answerable question whose answer lies inside one sentence of its paragraph
(the paragraph is the cited passage):

- quote: the gold sentence (supported) vs. the same sentence with its answer span swapped for
  another answer of the same article that the paragraph never mentions (unsupported);
- claim: the question with the answer put after it, a rough paraphrase as an LLM would write
  it (supported), vs. the question with the swapped answer (unsupported).

The three thresholds maximise balanced accuracy (the mean of the share of supported pairs passed and
of unsupported pairs flagged) on training articles; validation figures go into the JSON.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.files import atomic_write
from rag.generate.verify import Verifier
from rag.models import CANDIDATE, candidate, seal
from rag.store.base import bm25_idf
from rag.text import sentence_spans, terms
from rag.train.selector import split_articles

COVERAGE_GRID = np.round(np.arange(0.0, 1.0001, 0.05), 2)
COSINE_GRID = np.round(np.arange(0.0, 0.9001, 0.05), 2)
NOVEL_GRID = np.round(np.arange(0.5, 1.0001, 0.05), 2)  # 1.0: any new term allowed


@dataclass
class Pair:
    kind: str  # "quote" or "claim"
    supported: bool
    sentence: str
    passage: str
    coverage: float = 0.0
    novel: float = 0.0
    cosine: float = 0.0
    missing: bool = False


def squad_pairs(articles: Sequence[dict[str, Any]], rng: random.Random,
                max_questions: int | None = None) -> list[Pair]:
    """Supported and swapped pairs of both kinds from SQuAD articles."""
    pairs: list[Pair] = []
    questions = 0
    for article in articles:
        pool = sorted({a["text"].strip() for p in article["paragraphs"] for qa in p["qas"]
                       for a in qa.get("answers", []) if a["text"].strip()})
        for para in article["paragraphs"]:
            ctx = para["context"]
            spans = sentence_spans(ctx)
            for qa in para["qas"]:
                if not qa.get("answers") or (max_questions and questions >= max_questions):
                    continue
                gold = qa["answers"][0]
                a, at = gold["text"].strip(), int(gold["answer_start"])
                sent = next(((s, e) for s, e in spans if s <= at and at + len(a) <= e), None)
                absent = [b for b in pool if b.lower() not in ctx.lower()]
                others = [b for b in absent if _same_shape(a, b)] or absent
                if sent is None or not a or not others:
                    continue
                questions += 1
                b = rng.choice(others)
                s, e = sent
                quote = ctx[s:e]
                swapped = ctx[s:at] + b + ctx[at + len(a):e]
                claim = re.sub(r"\s*\?+\s*$", "", qa["question"].strip())
                pairs += [Pair("quote", True, quote, ctx), Pair("quote", False, swapped, ctx),
                          Pair("claim", True, f"{claim} {a}.", ctx),
                          Pair("claim", False, f"{claim} {b}.", ctx)]
    return pairs


def _same_shape(a: str, b: str) -> bool:
    """Swap a number for a number and a name for a name, so the swap reads naturally."""
    return (any(c.isdigit() for c in a) == any(c.isdigit() for c in b)
            and a[:1].isupper() == b[:1].isupper())


def measure(pairs: Sequence[Pair], verifier: Verifier) -> None:
    """Fill each pair's measurements (the verifier's thresholds are not used)."""
    for p in pairs:
        s = verifier.check(p.sentence, [p.passage])
        p.coverage, p.novel, p.cosine, p.missing = s.coverage, s.novel, s.cosine, bool(s.missing)


def passes(pairs: Sequence[Pair], thresholds: tuple[float, float, float]) -> np.ndarray:
    """Which pairs the rule passes with (min_coverage, min_cosine, max_novel)."""
    cov, cos, novel = thresholds
    return np.array([not p.missing and p.coverage >= cov and p.cosine >= cos
                     and p.novel <= novel for p in pairs], dtype=bool)


def rates(pairs: Sequence[Pair], thresholds: tuple[float, float, float]) -> dict[str, Any]:
    """Per kind: share of supported pairs passed, share of unsupported pairs flagged."""
    ok = passes(pairs, thresholds)
    supported = np.array([p.supported for p in pairs], dtype=bool)
    out: dict[str, Any] = {}
    for kind in ("quote", "claim", "all"):
        sel = np.array([kind in ("all", p.kind) for p in pairs], dtype=bool)
        pos, neg = ok[sel & supported], ~ok[sel & ~supported]
        out[kind] = {"n": int(sel.sum()),
                     "supported_passed": round(float(pos.mean()), 4) if pos.size else None,
                     "unsupported_flagged": round(float(neg.mean()), 4) if neg.size else None}
    a = out["all"]
    out["balanced_accuracy"] = round(
        ((a["supported_passed"] or 0) + (a["unsupported_flagged"] or 0)) / 2, 4)
    return out


def fit_thresholds(pairs: Sequence[Pair]) -> tuple[float, float, float]:
    """The grid point with the best balanced accuracy (ties: the most lenient)."""
    cov = np.array([p.coverage for p in pairs])[:, None, None, None]
    cos = np.array([p.cosine for p in pairs])[:, None, None, None]
    nov = np.array([p.novel for p in pairs])[:, None, None, None]
    ok = (~np.array([p.missing for p in pairs]))[:, None, None, None] \
        & (cov >= COVERAGE_GRID[None, :, None, None]) & (cos >= COSINE_GRID[None, None, :, None]) \
        & (nov <= NOVEL_GRID[None, None, None, :])
    y = np.array([p.supported for p in pairs], dtype=bool)
    score = ok[y].mean(axis=0) + (~ok[~y]).mean(axis=0)
    # Lenient first: iterate from the lowest coverage/cosine and the highest novelty bound.
    best, choice = -1.0, (0.0, 0.0, 1.0)
    for i, c in enumerate(COVERAGE_GRID):
        for j, s in enumerate(COSINE_GRID):
            for k in reversed(range(len(NOVEL_GRID))):
                if score[i, j, k] > best + 1e-9:
                    best, choice = float(score[i, j, k]), (float(c), float(s),
                                                           float(NOVEL_GRID[k]))
    return choice


def _vectors(texts: Sequence[str], embedder: Any, work: Path) -> np.ndarray:
    """Every text embedded once, in batches, and kept in `work` for the next fit of the same
    texts (refitting the rule then takes seconds, not minutes)."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    cache = work / f"vectors-{key[:16]}.npy"
    if cache.is_file():
        return np.load(cache)
    vecs = embedder.encode_documents(texts)
    work.mkdir(parents=True, exist_ok=True)
    np.save(cache, vecs)
    return vecs


def paragraph_idf(articles: Sequence[dict[str, Any]]):
    """BM25-style IDF over paragraphs (as the index computes it over chunks)."""
    df: Counter[str] = Counter()
    n = 0
    for article in articles:
        for para in article["paragraphs"]:
            df.update(set(terms(para["context"])))
            n += 1
    return lambda t: bm25_idf(n, df.get(t, 0))


@dataclass
class VerifierReport:
    path: Path
    thresholds: tuple[float, float, float]  # min_coverage, min_cosine, max_novel
    train: dict[str, Any]
    validation: dict[str, Any]


def train_verifier(squad_file: str | Path, bundle: str | Path = CANDIDATE,
                   max_questions: int | None = None, seed: int = 0,
                   embedder: Any = None, work: str | Path = "build/verifier") -> VerifierReport:
    """Build pairs, measure them with the real embedder, fit on training articles, and write
    `verifier.json` into the candidate model bundle `bundle`."""
    from rag.embed import default_embedder

    src = Path(squad_file)
    if not src.is_file():
        raise RagError(f"SQuAD file {src} does not exist")
    raw = src.read_bytes()
    try:
        articles = json.loads(raw)["data"]
        titles = [str(a.get("title", i)) for i, a in enumerate(articles)]
    except (ValueError, KeyError, TypeError) as e:
        raise RagError(f"{src} is not a SQuAD JSON file ({e})") from None
    train_t, val_t = split_articles(titles)
    rng = random.Random(seed)
    by_title = list(zip(articles, titles, strict=True))
    train = squad_pairs([a for a, t in by_title if t in train_t], rng, max_questions)
    val = squad_pairs([a for a, t in by_title if t in val_t], rng, max_questions)
    if not train or not val:
        raise RagError(f"{src} gives no sentence pairs on both sides of the article split")
    emb = embedder or default_embedder(precision="fp32")  # as the shipped thresholds were
    texts = sorted({p.sentence for p in train + val} | {
        p.passage[s:e] for p in train + val for s, e in sentence_spans(p.passage)})
    vecs = dict(zip(texts, _vectors(texts, emb, Path(work)), strict=True))
    probe = Verifier(lambda ts: np.vstack([vecs[t] for t in ts]), paragraph_idf(articles))
    measure(train + val, probe)
    chosen = fit_thresholds(train)
    report = VerifierReport(candidate(bundle) / "verifier.json", chosen,
                            rates(train, chosen), rates(val, chosen))
    data = {"min_coverage": chosen[0], "min_cosine": chosen[1], "max_novel": chosen[2],
            "fitted_on": src.name, "data_sha256": hashlib.sha256(raw).hexdigest(),
            "seed": seed, "max_questions": max_questions,
            "rule": "balanced accuracy on training-article pairs, grid by 0.05 of "
                    f"coverage {COVERAGE_GRID[0]}..{COVERAGE_GRID[-1]} x cosine "
                    f"{COSINE_GRID[0]}..{COSINE_GRID[-1]} x novel "
                    f"{NOVEL_GRID[0]}..{NOVEL_GRID[-1]}",
            "training_articles": train_t, "validation_articles": val_t,
            "train": report.train, "validation": report.validation}
    atomic_write(report.path, json.dumps(data, indent=1) + "\n")
    seal(report.path.parent)
    return report
