"""The trained reader: a cross-encoder that reads a question together with one candidate
sentence (and the sentence before it, and its document's title).

The bi-encoder embeds the question and the sentence apart, so a sentence that shares the
question's words but not its fact looks as good as the answer. The reader attends across both
at once. It is all-MiniLM-L6-v2 fine-tuned by `rag train-reader` (`rag/train/reader.py`) and
shipped in the model bundle as int8 ONNX (`rag/models/reader.onnx`, with its model card
`reader.json`, which also says how many word pieces it reads): answering needs ONNX Runtime
and `tokenizers`, never torch.

Heads: `score`, a logit that the sentence states the answer to the question; and
`start`/`end`, logits over the word pieces for the answer span inside the sentence, where
position 0 ([CLS]) means "no answer here" (SQuAD 2.0's convention). A table row is read as its
cells after their column names (`table_row`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.cache import LRU
from rag.errors import ConfigError
from rag.ingest.formats.blocks import CELL

MAX_LENGTH = 48  # word pieces of a pair, unless the model card says; context is cut first
MAX_SPAN = 24  # word pieces of an answer span
BATCH = 16  # pairs per ONNX call, of similar lengths
CONTEXT_WORDS = 12  # of the sentence before, counted from its end: enough for a pronoun's name


def pair_text(sentence: str, title: str, previous: str) -> str:
    """The second segment the reader reads: the sentence first (so truncation cuts context,
    not the sentence), then the title and the end of the sentence before it."""
    tail = " ".join(previous.split()[-CONTEXT_WORDS:])
    return f"{' '.join(sentence.split())} [SEP] {title.strip()}: {tail}"


def table_row(header: str, row: str) -> str:
    """A table row with each cell after its column's name ("Code: FR; Name: France"), from the
    last of the table's header rows; the row as it is when the cells do not line up."""
    names = header.rsplit("\n", 1)[-1].split(CELL)
    cells = row.split(CELL)
    if not header.strip() or len(names) != len(cells):
        return row
    return "; ".join(f"{n.strip()}: {c.strip()}" if n.strip() else c.strip()
                     for n, c in zip(names, cells, strict=True) if c.strip())


@dataclass(frozen=True)
class Reading:
    """The reader's view of candidate sentences: one logit each, the best answer span
    (character offsets into each sentence as given; (0, 0) where none was found), and how far
    that span's start+end logits beat the no-answer position's (`margins`)."""

    scores: np.ndarray
    spans: tuple[tuple[int, int], ...]
    margins: np.ndarray


class Reader:
    """Scores (question, sentence) pairs with the shipped ONNX graph."""

    def __init__(self, graph: str | Path, tokenizer: str | Path, threads: int = 0,
                 max_length: int = MAX_LENGTH) -> None:
        self.graph, self.tokenizer_path, self.threads = Path(graph), Path(tokenizer), threads
        self.max_length = max_length
        self._session: Any = None
        self._tok: Any = None
        self._lock = threading.Lock()
        # Questions come and go; the same sentences come back for a conversation's turns.
        self._cache: LRU[tuple[str, str], tuple[float, tuple[int, int], float]] = LRU(50_000)

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.log_severity_level = 3
                self._tok = tokenizer(self.tokenizer_path, self.max_length)
                self._session = ort.InferenceSession(str(self.graph), opts,
                                                     providers=["CPUExecutionProvider"])
            return self._session, self._tok

    def read(self, question: str, sentences: Sequence[str], titles: Sequence[str],
             previous: Sequence[str]) -> Reading:
        """Scores and answer spans of each sentence for `question`."""
        session, tok = self._load()
        texts = [pair_text(s, t, p) for s, t, p in zip(sentences, titles, previous, strict=True)]
        scores = np.zeros(len(texts), dtype=np.float32)
        margins = np.zeros(len(texts), dtype=np.float32)
        spans: list[tuple[int, int]] = [(0, 0)] * len(texts)
        todo = []
        for i, text in enumerate(texts):
            hit = self._cache.get((question, text))
            if hit is None:
                todo.append(i)
            else:
                scores[i], spans[i], margins[i] = hit
        todo.sort(key=lambda i: len(texts[i]))  # batches of like lengths pad little
        for at in range(0, len(todo), BATCH):
            idx = todo[at:at + BATCH]
            encs = tok.encode_batch([(question, texts[i]) for i in idx])
            width = max(len(e.ids) for e in encs)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for r, e in enumerate(encs):
                n = len(e.ids)
                ids[r, :n], mask[r, :n], types[r, :n] = e.ids, e.attention_mask, e.type_ids
            score, start, end = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                                   "token_type_ids": types})
            for r, (i, e) in enumerate(zip(idx, encs, strict=True)):
                (lo, hi), best = span_of(start[r], end[r], e.sequence_ids, e.offsets,
                                         len(" ".join(sentences[i].split())))
                scores[i], spans[i] = float(score[r]), _unfold(sentences[i], (lo, hi))
                margins[i] = best - float(start[r][0] + end[r][0])
                self._cache.put((question, texts[i]), (scores[i], spans[i], margins[i]))
        return Reading(scores, tuple(spans), margins)


def best_span(start: np.ndarray, end: np.ndarray, sequence_ids: Sequence[int | None],
              offsets: Sequence[tuple[int, int]], limit: int) -> tuple[int, int]:
    """Character offsets (in the second segment) of the highest start+end pair inside the
    sentence part (offsets below `limit`), at most `MAX_SPAN` word pieces long."""
    return span_of(start, end, sequence_ids, offsets, limit)[0]


def span_of(start: np.ndarray, end: np.ndarray, sequence_ids: Sequence[int | None],
            offsets: Sequence[tuple[int, int]], limit: int) -> tuple[tuple[int, int], float]:
    """`best_span` and its start+end logit (-inf when the sentence part is empty)."""
    inside = [j for j, s in enumerate(sequence_ids) if s == 1 and offsets[j][1] <= limit]
    if not inside:
        return (0, 0), float("-inf")
    lo, hi = inside[0], inside[-1]
    s = start[lo:hi + 1]
    e = end[lo:hi + 1]
    n = len(s)
    # All pairs i <= j < i + MAX_SPAN at once: a band of the outer sum.
    total = s[:, None] + e[None, :]
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_SPAN)
    total = np.where(band, total, -np.inf)
    i, j = np.unravel_index(int(np.argmax(total)), total.shape)
    return (offsets[lo + i][0], offsets[lo + j][1]), float(total[i, j])


def _unfold(sentence: str, span: tuple[int, int]) -> tuple[int, int]:
    """Offsets in the whitespace-folded sentence mapped back to `sentence` itself."""
    if span == (0, 0):
        return span
    folded_to_raw = []
    prev_space = True
    for k, ch in enumerate(sentence):
        if ch.isspace():
            if not prev_space:
                folded_to_raw.append(k)
            prev_space = True
        else:
            folded_to_raw.append(k)
            prev_space = False
    if not folded_to_raw:
        return (0, 0)
    lo = folded_to_raw[min(span[0], len(folded_to_raw) - 1)]
    hi = folded_to_raw[min(span[1], len(folded_to_raw)) - 1] + 1
    return lo, hi


def tokenizer(path: str | Path, max_length: int = MAX_LENGTH) -> Any:
    """The model's word-piece tokenizer set for pairs: longest segment cut first."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length, strategy="longest_first")
    tok.no_padding()
    return tok


@lru_cache(maxsize=4)
def load_reader(graph: str | None = None, threads: int = 0, models: str = "") -> Reader | None:
    """The reader of the model bundle `models` ("": the shipped one), its files checked
    against the bundle's manifest; or the graph `graph` with its tokenizer and card beside it
    (None when there is no such file). It reads as many word pieces as its card says."""
    if graph:
        g = Path(graph)
        if not g.is_file():
            return None
        tok, card = g.with_name("reader-tokenizer.json"), g.with_name("reader.json")
        if not tok.is_file():
            raise ConfigError(f"the reader {g} has no tokenizer beside it ({tok.name})")
    else:
        from rag.models import bundle

        b = bundle(models)
        g, tok, card = b.path("reader.onnx"), b.path("reader-tokenizer.json"), \
            b.path("reader.json")
    try:
        length = int(json.loads(card.read_text(encoding="utf-8")).get("max_length", MAX_LENGTH))
    except FileNotFoundError:
        length = MAX_LENGTH
    except (ValueError, TypeError, AttributeError) as e:
        raise ConfigError(f"the reader's model card {card} is damaged ({e})") from None
    return Reader(g, tok, threads, length)
