"""`rag train-selector`: learn the answer selector's weights from SQuAD, choose its threshold
on held-out articles, and write `selector.json`.

Data (all built from a SQuAD v1.1/v2.0 JSON file, split by article, never by question):

- answerable: each question against the whole index; a candidate sentence is positive when it
  comes from the gold paragraph and contains a gold answer;
- source removed: the same question with its article's paragraphs filtered out of retrieval
  ("on topic, but the documents don't hold it");
- adversarial: the question with one name or number swapped for another of the same article
  that the gold paragraph does not mention, re-asked for a kind of answer the paragraph lacks,
  or negated ("What was not ..."), the way SQuAD 2.0's unanswerable questions were written;
- human (with a SQuAD 2.0 file, `--unanswerable`): the questions people wrote to look
  answerable from a paragraph that does not answer them, on the same articles;
- the question bank (`--bank`, `rag.train.bank`): real documents of every kind the product
  reads, each corpus in its own index, with the team's written questions (answerable, and
  `written` unanswerable ones); `fit` corpora join the training questions, `choose` corpora
  the choice of the thresholds, where each rule must hold on them and on SQuAD's validation
  articles apart.

The first sentence scorer is fitted on training articles' answerable questions (softmax over
the candidate sentences of the passages retrieved to the re-ranking depth: the re-ranker's
view); with the reader, the second scorer on the same questions' `READ` best sentences of the
first; the confidence model on training articles' questions of every kind, as the generator
sees them (the k passages the re-ranker keeps); the two thresholds on validation articles'
answerable, source-removed and adversarial questions by the rules in `THRESHOLD_RULE` and
`ANSWER_RULE`. The human-written questions of validation articles are used for nothing but
the figures, which go into the JSON beside the weights.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.errors import RagError
from rag.eval.metrics import contains_answer, doc_stem, risk_coverage
from rag.eval.runner import load_set
from rag.files import atomic_write
from rag.generate.features import FEATURES, Candidate, FeatureExtractor
from rag.generate.reader import load_reader
from rag.generate.rerank import Reranker
from rag.generate.scoring import Scorer
from rag.generate.selector import (
    CONFIDENCE_INPUTS,
    READER_FEATURES,
    Linear,
    Selector,
    confidence_inputs,
)
from rag.models import CANDIDATE, candidate, seal
from rag.query import Query
from rag.train.adversarial import distractor, entity_pool, lower_words, perturb
from rag.train.fit import fit_logistic, fit_softmax, standardize
from rag.types import Filters, Passage

VALIDATION_EVERY = 4  # articles 3, 7, 11, ... (0-based, file order) are validation
MAX_WRONG_ABSTAIN = 0.08  # share of answerable validation questions allowed to abstain
THRESHOLD_RULE = (f"the highest threshold at which at most {MAX_WRONG_ABSTAIN:.0%} of the "
                  f"answerable validation questions abstain")
MAX_ANSWER_RISK = 0.10  # share of wrong answers allowed in the answer band
ANSWER_RULE = (f"the lowest threshold at which at most {MAX_ANSWER_RISK:.0%} of the validation "
               f"questions answered in the answer band (answerable, source-removed and "
               f"adversarial together) are wrong")
READ = 8  # sentences the reader reads per question (the first scorer's best)
# The settings whose values the fitted weights depend on, recorded in the selector's file.
FITTED_UNDER = ("chunk_tokens", "chunk_overlap", "chunk_headers", "k", "candidates", "rrf_k",
                "dense_weight", "bm25_weight", "mmr", "rerank_depth", "embed_backend",
                "embed_precision", "vector_index", "sentence_vectors")
L2 = 1.0
# human: SQuAD 2.0's unanswerable questions; written: the question bank's (`rag.train.bank`)
QUESTION_KINDS = ("answerable", "removed", "adversarial", "human", "written")


@dataclass
class Example:
    """One question to learn from: its kind, and (after `featurize`) its candidates' rows."""

    kind: str
    article: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    history: tuple[str, ...] = ()
    query: Query | None = None
    passages: list[Passage] | None = None  # retrieved to the re-ranking depth, fused order
    pool_x: np.ndarray | None = None  # features of every candidate of `passages`
    pool_y: np.ndarray | None = None  # per candidate: holds a gold answer of the gold paragraph
    read_x: np.ndarray | None = None  # with the reader's columns: the pool's read sentences
    read_y: np.ndarray | None = None
    x: np.ndarray | None = None  # the rows of the k passages the generator reads
    y: np.ndarray | None = None
    logits: np.ndarray | None = None  # their final logits

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


def human_examples(v2_file: Path, texts: dict[str, str], articles: set[str]
                   ) -> list[Example]:
    """SQuAD 2.0's human-written unanswerable questions on paragraphs of `articles`, matched
    to the imported documents by paragraph text."""
    by_text = {" ".join(t.split()): stem_ for stem_, t in texts.items()}
    out = []
    for art in json.loads(v2_file.read_text(encoding="utf-8"))["data"]:
        for para in art["paragraphs"]:
            stem_ = by_text.get(" ".join(para["context"].split()))
            if stem_ is None or article_of(stem_) not in articles:
                continue
            out.extend(Example("human", article_of(stem_), qa["question"], (), (stem_,))
                       for qa in para["qas"] if qa.get("is_impossible"))
    return out


def bank_examples(bank: Path, split: str, settings: Settings, work: Path,
                  progress: bool = False) -> list[tuple[Any, list[Example]]]:
    """Per corpus of one split of the question bank: its index (built in `work/bank/NAME`,
    read in fused order) and its written questions, answerable or not (`written`); a `fit`
    corpus adds the questions its tables make (`table_questions`) whose answer is in one row
    of its table alone, so a row holding it is the row asked about."""
    from rag.pipeline import RAG, build
    from rag.train.bank import corpora, questions, table_questions, units

    out = []
    for corpus in corpora(bank, split):
        s = settings.with_(index_dir=str(work / "bank" / corpus.name),
                           corpus=(str(corpus.docs),))
        build(settings=s, progress=progress)
        exs = [Example("answerable" if it.answerable else "written", corpus.name, it.question,
                       it.answers, it.sources, it.history) for it in questions(corpus)]
        if split == "fit":
            rows = [u for u in units(corpus) if u.row]
            for m in table_questions(rows, 0):
                same = [u for u in rows if u.doc_id == m.unit.doc_id
                        and contains_answer(u.text, [m.answer])]
                if len(same) == 1:
                    exs.append(Example("answerable", corpus.name, m.question, (m.answer,),
                                       (doc_stem(m.unit.doc_id),)))
        out.append((RAG.load(settings=s.with_(rerank_depth=0)), exs))
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
        ex.query = rag.query(ex.question, list(ex.history))
        ex.passages = rag.retriever.search(ex.query, k=depth, filters=filters)
        ex.pool_x, ex.pool_y = _features(rag.features, ex, ex.passages)


def view(scorer: Scorer, examples: Sequence[Example], k: int, rerank: bool,
         progress: bool = False) -> None:
    """What the generator reads: each example's passages, re-ranked by `scorer` when
    `rerank`, cut to `k`, and their rows, logits and labels (`x`, `logits`, `y`)."""
    from tqdm import tqdm

    reranker = Reranker(scorer)
    for ex in tqdm(examples, desc="re-ranked", unit="q", disable=not progress, leave=False):
        assert ex.query is not None and ex.passages is not None  # filled by `featurize`
        top = reranker(ex.query, ex.passages, k) if rerank else ex.passages[:k]
        scored = scorer(ex.query, top)
        ex.x, ex.logits, ex.y = scored.x, scored.logits, _labels(ex, scored.candidates)


def read_pool(scorer: Scorer, examples: Sequence[Example], progress: bool = False) -> None:
    """The second scorer's training rows: each answerable example's pool as the reader sees
    it, its `READ` best first-stage sentences only (`read_x`, `read_y`)."""
    from tqdm import tqdm

    for ex in tqdm([e for e in examples if e.answerable], desc="read", unit="q",
                   disable=not progress, leave=False):
        assert ex.query is not None and ex.passages is not None
        cands, x = scorer.extract(ex.query, ex.passages)
        if not cands:
            continue
        x2, read, _ = scorer.read(ex.query, cands, x, scorer.selector.sentence(x))
        ex.read_x, ex.read_y = x2[read], _labels(ex, cands)[read]


def _features(extractor: FeatureExtractor, ex: Example, passages: Sequence[Passage]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Candidates' features, and whether each comes from the gold paragraph and holds a gold
    answer."""
    assert ex.query is not None
    cands, x = extractor.extract(ex.query, passages)
    return x, _labels(ex, cands)


def _labels(ex: Example, cands: Sequence[Candidate]) -> np.ndarray:
    return np.array([ex.answerable and doc_stem(c.passage.chunk.doc_id) in ex.sources
                     and contains_answer(c.text, ex.answers) for c in cands], dtype=float)


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
    return Selector(FEATURES, sentence, _blank(len(CONFIDENCE_INPUTS)), 0.5)


def fit_reading(sel: Selector, train: Sequence[Example]) -> Selector:
    """The second scorer: softmax over each answerable training question's read sentences
    (after `read_pool`), the reader's columns beside the features."""
    rows = [e.read_x for e in train if e.read_x is not None and len(e.read_x)]
    if not rows:
        raise RagError("the reader read no training sentence")
    mean, scale = standardize(np.vstack(rows).astype(np.float64))
    groups = [((e.read_x - mean) / scale, e.read_y) for e in train
              if e.read_x is not None and e.read_y is not None and e.read_y.any()]
    w = fit_softmax(groups, l2=L2)
    reading = Linear(tuple(mean.tolist()), tuple(scale.tolist()), tuple(w.tolist()), 0.0)
    return replace(sel, reading=reading,
                   confidence_model=_blank(2 + len(FEATURES) + len(sel.reader_features)))


def _blank(n: int) -> Linear:
    return Linear((0.0,) * n, (1.0,) * n, (0.0,) * n)


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
        if e.x is None or e.y is None or e.logits is None or not len(e.x):
            continue
        qx.append(confidence_inputs(e.x, e.logits))
        qy.append(float(e.y[int(np.argmax(e.logits))]))
    return np.array(qx, dtype=np.float64), np.array(qy)


def confidences(sel: Selector, examples: Sequence[Example]) -> np.ndarray:
    return np.array([sel.confidence(e.x, e.logits)
                     if e.x is not None and e.logits is not None and len(e.x) else 0.0
                     for e in examples])


def top_right(examples: Sequence[Example]) -> np.ndarray:
    """Per example: does its best-scored sentence hold the answer?"""
    return np.array([bool(e.y[int(np.argmax(e.logits))])
                     if e.y is not None and e.logits is not None and len(e.y) else False
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


def choose_answer_threshold(conf: np.ndarray, right: np.ndarray, floor: float) -> float:
    """The rule in `ANSWER_RULE`, given validation confidences and whether each answer would
    be right (unanswerable questions never are); never below the abstention threshold
    `floor`. With no such threshold, the highest confidence (an answer band of one)."""
    order = np.argsort(-np.asarray(conf, dtype=np.float64), kind="stable")
    c = np.asarray(conf, dtype=np.float64)[order]
    wrong = np.cumsum(~np.asarray(right, dtype=bool)[order])
    risk = wrong / np.arange(1, len(c) + 1)
    # A threshold t answers every question with confidence >= t: the prefixes ending where the
    # next confidence is lower.
    ends = [i for i in range(len(c)) if i == len(c) - 1 or c[i + 1] < c[i]]
    good = [i for i in ends if risk[i] <= MAX_ANSWER_RISK]
    return max(float(c[max(good)]) if good else float(c[0]), floor)


def figures(sel: Selector, examples: Sequence[Example], threshold: float,
            answer_threshold: float) -> dict[str, Any]:
    """Validation figures at the two thresholds, and risk-coverage curves per unanswerable
    kind."""
    conf = confidences(sel, examples)
    right = top_right(examples)
    out: dict[str, Any] = {}
    for kind in QUESTION_KINDS:
        idx = [i for i, e in enumerate(examples) if e.kind == kind]
        if not idx:
            continue
        answered = conf[idx] >= threshold
        confident = conf[idx] >= answer_threshold
        out[kind] = {"n": len(idx), "answered": round(float(answered.mean()), 4),
                     "answer_band": round(float(confident.mean()), 4)}
        if kind == "answerable":
            out[kind]["top_sentence_correct"] = round(float(right[idx].mean()), 4)
            out[kind]["answered_correct"] = round(float((answered & right[idx]).mean()), 4)
            out[kind]["answer_band_correct"] = round(
                float((confident & right[idx]).sum() / max(1, confident.sum())), 4)
    ans = [i for i, e in enumerate(examples) if e.kind == "answerable"]
    for kind in ("removed", "adversarial", "human", "written"):
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


def train_selector(squad_file: str | Path, bundle: str | Path = CANDIDATE,
                   work: str | Path = "build/selector", limit_articles: int | None = None,
                   max_questions: int | None = None, seed: int = 0,
                   progress: bool = False, unanswerable: str | Path | None = None,
                   reader: str | None = None, use_reader: bool = True,
                   bank: str | Path | None = None) -> TrainReport:
    """Import SQuAD, index it, featurize, fit, choose the thresholds, and write
    `selector.json` into the candidate model bundle `bundle` (`rag models promote` ships it).

    `unanswerable`: a SQuAD 2.0 file on the same articles, whose human-written unanswerable
    questions join the confidence's training data (training articles) and the figures
    (validation articles). `reader`: the reader graph (default: the bundle's); without
    one, or with `use_reader` false, the selector has the first stage alone. `bank`: the
    question bank's folder; its fit corpora join the training questions and its choose
    corpora the choice of the thresholds (each rule must hold on them apart)."""
    from rag.eval.importers import import_squad
    from rag.ingest.load import load_documents
    from rag.pipeline import RAG, build

    src = Path(squad_file)
    if not src.is_file():
        raise RagError(f"SQuAD file {src} does not exist")
    data_hash = hashlib.sha256(src.read_bytes()).hexdigest()
    work = Path(work)
    shutil.rmtree(work / "squad", ignore_errors=True)  # ours; the index beside it is reused
    imported = import_squad(src, work / "squad", limit_articles=limit_articles)
    folder = candidate(bundle)
    # The defaults, never a rag.toml or RAG_* variables that happen to be around: the selector
    # is fitted under the settings it ships for, and its file records them. The embedder and
    # the reader are the candidate bundle's, which the selector will ship with.
    settings = Settings(models=str(folder)).with_(index_dir=str(work / "index"),
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
    v2 = Path(unanswerable) if unanswerable else None
    if v2 is not None:
        if not v2.is_file():
            raise RagError(f"SQuAD 2.0 file {v2} does not exist")
        rng = random.Random(seed + 2)
        for part, arts in ((train, train_arts), (val, val_arts)):
            human = human_examples(v2, texts, set(arts))
            rng.shuffle(human)
            part += human[:max_questions] if max_questions else human
    # Each index with its questions: SQuAD's, then the bank's fit corpora (training) and
    # choose corpora (choosing the thresholds beside SQuAD's validation articles).
    fit = bank_examples(Path(bank), "fit", settings, work, progress) if bank else []
    choose = bank_examples(Path(bank), "choose", settings, work, progress) if bank else []
    bank_train = [e for _, exs in fit for e in exs]
    bank_val = [e for _, exs in choose for e in exs]
    parts = [(rag, train + val), *fit, *choose]
    depth = max(settings.k, settings.rerank_depth)
    for r, exs in parts:
        featurize(r, exs, depth, progress=progress)
    train_all = train + bank_train
    sel = fit_scorer(train_all)
    graph = load_reader(reader, models=str(folder)) if use_reader else None
    if reader and graph is None:
        raise RagError(f"no reader at {reader}")
    if graph is not None:
        sel = replace(sel, read=READ, reader_features=READER_FEATURES)
        learn = {id(e) for e in train_all}
        for r, exs in parts:
            read_pool(Scorer(r.features, sel, graph), [e for e in exs if id(e) in learn],
                      progress=progress)
        sel = fit_reading(sel, train_all)
    for r, exs in parts:
        view(Scorer(r.features, sel, graph), exs, settings.k, settings.rerank_depth > 0,
             progress=progress)
    sel = fit_confidence(sel, train_all)
    # Both rules hold on SQuAD's validation articles and, apart, on the bank's choose corpora.
    chosen = [val, bank_val] if bank_val else [val]
    threshold = min(choose_threshold(confidences(sel, [e for e in v if e.kind == "answerable"]))
                    for v in chosen)
    answer_threshold = max(
        choose_answer_threshold(confidences(sel, on), top_right(on), threshold)
        for on in ([e for e in v if e.kind != "human"] for v in chosen))  # human: figures only
    meta = {
        "trained_on": src.name, "data_sha256": data_hash,
        "unanswerable_from": v2.name if v2 else None,
        "unanswerable_sha256": hashlib.sha256(v2.read_bytes()).hexdigest() if v2 else None,
        "reader_sha256": hashlib.sha256(graph.graph.read_bytes()).hexdigest() if graph else None,
        "seed": seed, "max_questions": max_questions, "l2": L2,
        "settings": {name: getattr(settings, name) for name in FITTED_UNDER},
        "threshold_rule": THRESHOLD_RULE, "answer_rule": ANSWER_RULE,
        "training_articles": train_arts, "validation_articles": val_arts,
        "counts": {"train": _count(train), "validation": _count(val)},
        "validation": figures(sel, val, threshold, answer_threshold),
    }
    if bank:
        from rag.train.reader import bank_hash

        meta["bank"] = {
            "fit_corpora": [exs[0].article for _, exs in fit if exs],
            "choose_corpora": [exs[0].article for _, exs in choose if exs],
            "fit_sha256": bank_hash(Path(bank), "fit"),
            "choose_sha256": bank_hash(Path(bank), "choose"),
            "counts": {"fit": _count(bank_train), "choose": _count(bank_val)},
            "choose": figures(sel, bank_val, threshold, answer_threshold),
            "per_choose_corpus": {exs[0].article: figures(sel, exs, threshold, answer_threshold)
                                  for _, exs in choose if exs}}
    sel = replace(sel, threshold=round(threshold, 6),
                  answer_threshold=round(answer_threshold, 6), meta=meta)
    write_validation_sets(work, val, imported.out / "docs", set(train_arts))
    write_distractor_set(work, val, texts, imported.out / "docs", seed)
    path = folder / "selector.json"
    atomic_write(path, sel.to_json())
    seal(folder)
    return TrainReport(sel, path, _count(train), _count(val))


def write_validation_sets(work: Path, val: Sequence[Example], docs: Path,
                          train_articles: set[str]) -> None:
    """Validation questions as evaluation sets for `rag eval`, and the training articles'
    documents alone (`docs-train/`), to ask the source-removed questions of an index that
    lacks their articles."""
    folder = work / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    for kind, name in (("answerable", "validation"), ("removed", "validation-removed"),
                       ("adversarial", "validation-adversarial"),
                       ("human", "validation-unanswerable")):
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


def write_distractor_set(work: Path, val: Sequence[Example], texts: dict[str, str], docs: Path,
                         seed: int) -> int:
    """The distractor check: every document again (`docs-distractor/`), where each gold
    paragraph of a validation question gets one `distractor` sentence at its end, and that
    question (one per paragraph) in `eval/validation-distractor.jsonl`. Returns the count."""
    rng = random.Random(seed + 5)
    by_article: dict[str, list[str]] = {}
    for stem_, text in texts.items():
        by_article.setdefault(article_of(stem_), []).append(text)
    pools, lowers = {}, {}
    for art in {e.article for e in val}:
        pools[art] = entity_pool(by_article.get(art, []))
        lowers[art] = lower_words(by_article.get(art, []))
    added: dict[str, tuple[Example, str]] = {}
    for e in val:
        stem_ = e.sources[0] if e.sources else ""
        if e.kind != "answerable" or stem_ in added or stem_ not in texts:
            continue
        line = distractor(e.question, e.answers, texts[stem_], pools[e.article], rng,
                          lowers[e.article])
        if line:
            added[stem_] = (e, line)
    out = work / "docs-distractor"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(docs, out)
    with open(work / "eval" / "validation-distractor.jsonl", "w", encoding="utf-8") as fh:
        for n, (stem_, (e, line)) in enumerate(sorted(added.items())):
            doc = out / f"{stem_}.md"
            doc.write_text(doc.read_text(encoding="utf-8").rstrip() + " " + line + "\n",
                           encoding="utf-8")
            fh.write(json.dumps({"id": f"validation-distractor-{n}", "question": e.question,
                                 "answers": list(e.answers), "sources": [stem_],
                                 "answerable": True, "distractor": line},
                                ensure_ascii=False) + "\n")
    return len(added)


def _count(examples: Sequence[Example]) -> dict[str, int]:
    return {k: sum(e.kind == k for e in examples) for k in QUESTION_KINDS}


def _article_order(src: Path) -> dict[str, int]:
    """Article slugs in file order (the split is by position in the file)."""
    from rag.eval.importers import slug

    data = json.loads(src.read_text(encoding="utf-8"))
    return {slug(str(a.get("title", i)).replace("_", " ")): i
            for i, a in enumerate(data.get("data", []))}
