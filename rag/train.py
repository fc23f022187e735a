"""`rag train-selector`: learn the answer selector's weights from SQuAD, choose its threshold
on held-out articles, and write `selector.json`.

Data (all built from a SQuAD v1.1/v2.0 JSON file, split by article, never by question):

- answerable: each question against the whole index; a candidate sentence is positive when it
  comes from the gold paragraph and contains a gold answer;
- source removed: the same question with its article's paragraphs filtered out of retrieval
  ("on topic, but the documents don't hold it");
- adversarial: the question with one name or number swapped for another of the same article
  that the gold paragraph does not mention, re-asked for a kind of answer the paragraph lacks,
  or negated ("What was not ..."), the way SQuAD 2.0's unanswerable questions were written.

The sentence scorer is fitted on training articles' answerable questions (softmax over the
candidate sentences of the passages retrieved to the re-ranking depth: the re-ranker's view);
the confidence model on training articles' questions of all three kinds, as the generator sees
them (the k passages the re-ranker keeps); the threshold on validation articles by the rule in
`THRESHOLD_RULE`. Validation figures go into the JSON beside the weights.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer_types import answer_type, has_type
from rag.config import Settings
from rag.errors import RagError
from rag.evaluate import contains_answer, doc_stem, load_set, risk_coverage
from rag.generate.features import FEATURES, FeatureExtractor
from rag.generate.selector import (
    CONFIDENCE_INPUTS,
    DEFAULT_PATH,
    Linear,
    Selector,
    confidence_inputs,
    fit_logistic,
    fit_softmax,
    standardize,
)
from rag.query import Query
from rag.rerank import Reranker
from rag.retrieve import Filters
from rag.types import Passage

VALIDATION_EVERY = 4  # articles 3, 7, 11, ... (0-based, file order) are validation
MAX_WRONG_ABSTAIN = 0.08  # share of answerable validation questions allowed to abstain
THRESHOLD_RULE = (f"the highest threshold at which at most {MAX_WRONG_ABSTAIN:.0%} of the "
                  f"answerable validation questions abstain")
L2 = 1.0
KINDS = ("answerable", "removed", "adversarial")


@dataclass
class Example:
    """One question to learn from: its kind, and (after `featurize`) its candidates' rows."""

    kind: str
    article: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    query: Query | None = None
    passages: list[Passage] | None = None  # retrieved to the re-ranking depth, fused order
    pool_x: np.ndarray | None = None  # features of every candidate of `passages`
    pool_y: np.ndarray | None = None  # per candidate: holds a gold answer of the gold paragraph
    x: np.ndarray | None = None  # the same for the k passages the generator reads
    y: np.ndarray | None = None

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def article_of(stem: str) -> str:
    """Imported SQuAD documents are named `{article-slug}-{paragraph:03d}`."""
    return stem.rsplit("-", 1)[0]


def split_articles(articles: Sequence[str], every: int = VALIDATION_EVERY
                   ) -> tuple[list[str], list[str]]:
    """(training, validation) article slugs: every `every`-th article is held out."""
    val = [a for i, a in enumerate(articles) if i % every == every - 1]
    return [a for a in articles if a not in val], val


# -- adversarial questions --------------------------------------------------------------------

_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
# A run of capitalised words (not starting the text, not a leading "The").
_NAME = re.compile(r"(?<=\S )(?!The\b)[A-Z][\w'-]+(?:\s+(?:of\s+|the\s+)?[A-Z][\w'-]+)*")
_AUX = re.compile(r"^(\w+(?:\s+\w+)?\s+)(is|are|was|were|did|does|do|has|have|had|can|could|"
                  r"will|would|should|must)\b", re.I)


def entity_pool(paragraphs: Sequence[str]) -> dict[str, list[str]]:
    """Names and numbers of an article, for swapping into its questions."""
    pool: dict[str, set[str]] = {"name": set(), "number": set()}
    for text in paragraphs:
        pool["name"].update(m.group() for m in _NAME.finditer(text))
        pool["number"].update(m.group() for m in _NUMBER.finditer(text))
    return {k: sorted(v) for k, v in pool.items()}


def perturb(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
            ) -> str | None:
    """An unanswerable twin of an answerable question, made one of three ways (picked at
    random among those that apply): a name or number swapped for one of the article's that the
    gold paragraph never mentions; the question re-asked for a kind of answer the paragraph
    lacks ("When ...?" of a paragraph without dates); or a negation. None when none applies."""
    makers = [_swapped, _retyped, _negated]
    rng.shuffle(makers)
    for make in makers:
        twin = make(question, paragraph, pool, rng)
        if twin:
            return twin
    return None


def _swapped(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
             ) -> str | None:
    spots = [("number", m) for m in _NUMBER.finditer(question)] + \
            [("name", m) for m in _NAME.finditer(question)]
    rng.shuffle(spots)
    low = paragraph.lower()
    for kind, m in spots:
        options = [e for e in pool[kind] if e.lower() not in low and e != m.group()]
        if options:
            return question[:m.start()] + rng.choice(options) + question[m.end():]
    return None


_WH = re.compile(r"^\s*(how (many|much|long|old|far|big|large)|(in )?(what|which) year|when|"
                 r"who|whom|where|what|which)\b", re.I)
_ASK = {"number": "How many", "date": "When"}  # kinds a paragraph can visibly lack


def _retyped(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
             ) -> str | None:
    wh = _WH.match(question)
    if not wh:
        return None
    need = answer_type(question)[0]
    options = [kind for kind in _ASK if kind != need and not has_type(kind, paragraph)]
    return _ASK[rng.choice(options)] + question[wh.end():] if options else None


def _negated(question: str, paragraph: str, pool: dict[str, list[str]], rng: random.Random
             ) -> str | None:
    aux = _AUX.match(question)
    if aux and " not " not in question and "n't" not in question:
        return question[:aux.end()] + " not" + question[aux.end():]
    return None


# -- data ---------------------------------------------------------------------------------------

def squad_examples(texts: dict[str, str], eval_file: Path, articles: set[str], seed: int,
                   max_questions: int | None) -> list[Example]:
    """Answerable, source-removed and adversarial examples of some articles; `texts` maps
    document stems to paragraph text."""
    rng = random.Random(seed)
    paragraphs: dict[str, list[str]] = {}
    items = [it for it in load_set(eval_file)
             if it.answerable and it.sources and article_of(it.sources[0]) in articles]
    rng.shuffle(items)
    items = items[:max_questions] if max_questions else items
    for stem_, text in texts.items():
        paragraphs.setdefault(article_of(stem_), []).append(text)
    pools = {a: entity_pool(ps) for a, ps in paragraphs.items()}
    out: list[Example] = []
    for it in items:
        art = article_of(it.sources[0])
        out.append(Example("answerable", art, it.question, it.answers, it.sources))
        out.append(Example("removed", art, it.question, it.answers, it.sources))
        twin = perturb(it.question, texts[it.sources[0]], pools[art], rng)
        if twin:
            out.append(Example("adversarial", art, twin, (), it.sources))
    return out


def featurize(rag: Any, examples: Sequence[Example], depth: int, progress: bool = False
              ) -> None:
    """Retrieve `depth` passages for every example, in fused order (`rag` does not re-rank),
    without its article when `removed`, and fill `pool_x` and `pool_y`: what the sentence
    scorer learns from, and what the re-ranker scores."""
    from tqdm import tqdm

    # Each question is embedded alone, as when answering: int8 vectors of a padded batch
    # differ (cosine about 0.99), enough to move confidences across the threshold.
    all_docs = list(rag.index.documents)
    without: dict[str, Filters] = {}
    for ex in tqdm(examples, desc="features", unit="q", disable=not progress, leave=False):
        filters = None
        if ex.kind == "removed":
            if ex.article not in without:
                without[ex.article] = Filters(doc_ids=tuple(
                    d for d in all_docs if article_of(doc_stem(d)) != ex.article))
            filters = without[ex.article]
        ex.query = rag.query(ex.question)
        ex.passages = rag.retriever.search(ex.query, k=depth, filters=filters)
        ex.pool_x, ex.pool_y = _features(rag.features, ex, ex.passages)


def view(features: FeatureExtractor, sel: Selector, examples: Sequence[Example], k: int,
         rerank: bool, progress: bool = False) -> None:
    """What the generator reads: each example's passages, re-ranked by `sel` when `rerank`,
    cut to `k`, and their features (`x`, `y`)."""
    from tqdm import tqdm

    reranker = Reranker(features, sel)
    for ex in tqdm(examples, desc="re-ranked", unit="q", disable=not progress, leave=False):
        assert ex.query is not None and ex.passages is not None  # filled by `featurize`
        top = reranker(ex.query, ex.passages, k) if rerank else ex.passages[:k]
        ex.x, ex.y = _features(features, ex, top)


def _features(extractor: FeatureExtractor, ex: Example, passages: Sequence[Passage]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Candidates' features, and whether each comes from the gold paragraph and holds a gold
    answer."""
    assert ex.query is not None
    cands, x = extractor.extract(ex.query, passages)
    y = np.array([ex.answerable and doc_stem(c.passage.chunk.doc_id) in ex.sources
                  and contains_answer(c.text, ex.answers) for c in cands], dtype=float)
    return x, y


# -- fitting ------------------------------------------------------------------------------------

def fit_scorer(train: Sequence[Example]) -> Selector:
    """The sentence scorer: softmax over each answerable training question's candidates in
    its whole retrieved pool (the re-ranker's view). The confidence model is left blank."""
    rows = [e.pool_x for e in train if e.pool_x is not None and len(e.pool_x)]
    if not rows:
        raise RagError("no training question retrieved any sentence")
    mean, scale = standardize(np.vstack(rows).astype(np.float64))
    groups = [((e.pool_x - mean) / scale, e.pool_y) for e in train if e.answerable
              and e.pool_x is not None and e.pool_y is not None and e.pool_y.any()]
    if not groups:
        raise RagError("no training question has a retrieved sentence holding its answer")
    w = fit_softmax(groups, l2=L2)
    sentence = Linear(tuple(mean.tolist()), tuple(scale.tolist()), tuple(w.tolist()), 0.0)
    blank = Linear((0.0,) * len(CONFIDENCE_INPUTS), (1.0,) * len(CONFIDENCE_INPUTS),
                   (0.0,) * len(CONFIDENCE_INPUTS))
    return Selector(FEATURES, sentence, blank, 0.5)


def fit_confidence(sel: Selector, train: Sequence[Example]) -> Selector:
    """The confidence model on training questions of every kind, as the generator sees them
    (after `view`)."""
    qx, qy = question_table(sel, train)
    q_mean, q_scale = standardize(qx)
    cw, cb = fit_logistic((qx - q_mean) / q_scale, qy, l2=L2)
    return replace(sel, confidence_model=Linear(tuple(q_mean.tolist()), tuple(q_scale.tolist()),
                                                tuple(cw.tolist()), cb))


def question_table(sel: Selector, examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Per question with candidates: the confidence model's inputs, and whether the best
    sentence holds the answer."""
    qx, qy = [], []
    for e in examples:
        if e.x is None or e.y is None or not len(e.x):
            continue
        logits = sel.logits(e.x)
        qx.append(confidence_inputs(e.x, logits))
        qy.append(float(e.y[int(np.argmax(logits))]))
    return np.array(qx, dtype=np.float64), np.array(qy)


def confidences(sel: Selector, examples: Sequence[Example]) -> np.ndarray:
    return np.array([sel.confidence(e.x, sel.logits(e.x))
                     if e.x is not None and len(e.x) else 0.0 for e in examples])


def top_right(sel: Selector, examples: Sequence[Example]) -> np.ndarray:
    """Per example: does its best-scored sentence hold the answer?"""
    return np.array([bool(e.y[int(np.argmax(sel.logits(e.x)))])
                     if e.x is not None and e.y is not None and len(e.x) else False
                     for e in examples])


def choose_threshold(answerable_confidences: np.ndarray) -> float:
    """The rule in `THRESHOLD_RULE`, given the answerable validation questions' confidences:
    abstain on as many unanswerable questions as that error budget allows."""
    conf = np.sort(np.asarray(answerable_confidences, dtype=np.float64))
    if not len(conf):
        raise RagError("no answerable validation questions to choose a threshold on")
    allowed = int(np.floor(MAX_WRONG_ABSTAIN * len(conf)))
    # Abstaining means confidence < threshold: the (allowed+1)-th lowest still answers.
    return float(conf[allowed])


def figures(sel: Selector, examples: Sequence[Example], threshold: float) -> dict[str, Any]:
    """Validation figures at `threshold`, and risk-coverage curves per unanswerable kind."""
    conf = confidences(sel, examples)
    right = top_right(sel, examples)
    out: dict[str, Any] = {}
    for kind in KINDS:
        idx = [i for i, e in enumerate(examples) if e.kind == kind]
        if not idx:
            continue
        answered = conf[idx] >= threshold
        out[kind] = {"n": len(idx), "answered": round(float(answered.mean()), 4)}
        if kind == "answerable":
            out[kind]["top_sentence_correct"] = round(float(right[idx].mean()), 4)
            out[kind]["answered_correct"] = round(float((answered & right[idx]).mean()), 4)
    ans = [i for i, e in enumerate(examples) if e.kind == "answerable"]
    for kind in ("removed", "adversarial"):
        una = [i for i, e in enumerate(examples) if e.kind == kind]
        if ans and una:
            out[f"risk_coverage_{kind}"] = risk_coverage(
                np.concatenate([conf[ans], conf[una]]),
                np.concatenate([right[ans], np.zeros(len(una), dtype=bool)]))
    return out


# -- the command -------------------------------------------------------------------------------

@dataclass
class TrainReport:
    selector: Selector
    path: Path
    n_train: dict[str, int]
    n_val: dict[str, int]


def train_selector(squad_file: str | Path, out: str | Path | None = None,
                   work: str | Path = "build/selector", limit_articles: int | None = None,
                   max_questions: int | None = None, seed: int = 0,
                   progress: bool = False) -> TrainReport:
    """Import SQuAD, index it, featurize, fit, choose the threshold, write the JSON."""
    from rag.importers import import_squad
    from rag.load import load_documents
    from rag.pipeline import RAG, build

    src = Path(squad_file)
    if not src.is_file():
        raise RagError(f"SQuAD file {src} does not exist")
    data_hash = hashlib.sha256(src.read_bytes()).hexdigest()
    work = Path(work)
    shutil.rmtree(work / "squad", ignore_errors=True)  # ours; the index beside it is reused
    imported = import_squad(src, work / "squad", limit_articles=limit_articles)
    settings = Settings.load().with_(index_dir=str(work / "index"),
                                     corpus=(str(imported.out / "docs"),))
    build(settings=settings, progress=progress)
    rag = RAG.load(settings=settings.with_(rerank_depth=0))  # fused order; no selector yet
    texts = {doc_stem(d.doc_id): d.text for d in load_documents([imported.out / "docs"])}
    order = _article_order(src)
    articles = sorted({article_of(s) for s in texts}, key=lambda a: (order.get(a, 0), a))
    train_arts, val_arts = split_articles(articles)
    eval_file = imported.out / "eval.jsonl"
    train = squad_examples(texts, eval_file, set(train_arts), seed, max_questions)
    val = squad_examples(texts, eval_file, set(val_arts), seed + 1, max_questions)
    featurize(rag, train + val, max(settings.k, settings.rerank_depth), progress=progress)
    sel = fit_scorer(train)
    view(rag.features, sel, train + val, settings.k, settings.rerank_depth > 0,
         progress=progress)
    sel = fit_confidence(sel, train)
    threshold = choose_threshold(confidences(sel, [e for e in val if e.kind == "answerable"]))
    meta = {
        "trained_on": src.name, "data_sha256": data_hash, "seed": seed,
        "max_questions": max_questions, "l2": L2, "threshold_rule": THRESHOLD_RULE,
        "training_articles": train_arts, "validation_articles": val_arts,
        "counts": {"train": _count(train), "validation": _count(val)},
        "validation": figures(sel, val, threshold),
    }
    sel = replace(sel, threshold=round(threshold, 6), meta=meta)
    write_validation_sets(work, val, imported.out / "docs", set(train_arts))
    path = Path(out) if out else DEFAULT_PATH
    tmp = path.with_suffix(".tmp")
    tmp.write_text(sel.to_json(), encoding="utf-8")
    tmp.replace(path)
    return TrainReport(sel, path, _count(train), _count(val))


def write_validation_sets(work: Path, val: Sequence[Example], docs: Path,
                          train_articles: set[str]) -> None:
    """Validation questions as evaluation sets for `rag eval`, and the training articles'
    documents alone (`docs-train/`), to ask the source-removed questions of an index that
    lacks their articles."""
    folder = work / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    for kind, name in (("answerable", "validation"), ("removed", "validation-removed"),
                       ("adversarial", "validation-adversarial")):
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for n, e in enumerate(ex for ex in val if ex.kind == kind):
                item = {"id": f"{name}-{n}", "question": e.question, "answers": list(e.answers),
                        "sources": list(e.sources) if kind == "answerable" else [],
                        "answerable": kind == "answerable"}
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    train_docs = work / "docs-train"
    shutil.rmtree(train_docs, ignore_errors=True)
    train_docs.mkdir(parents=True)
    for f in docs.iterdir():
        if article_of(f.stem) in train_articles:
            shutil.copy2(f, train_docs / f.name)


def _count(examples: Sequence[Example]) -> dict[str, int]:
    return {k: sum(e.kind == k for e in examples) for k in KINDS}


def _article_order(src: Path) -> dict[str, int]:
    """Article slugs in file order (the split is by position in the file)."""
    from rag.importers import slug

    data = json.loads(src.read_text(encoding="utf-8"))
    return {slug(str(a.get("title", i)).replace("_", " ")): i
            for i, a in enumerate(data.get("data", []))}
