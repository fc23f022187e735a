"""Candidate answer sentences and their features: general signals the selector weighs.

Every distinct sentence of the retrieved passages is a candidate. Its features say how well it
matches the question (embedding similarity, BM25, IDF-weighted coverage in the sentence, the one
before it and the rest of its passage, shared phrases), whether it holds the kind of answer asked
for and the names and numbers the question is about, and where it sits (its passage's similarity,
position, length; whether it is a table row, and how much of the question its column names
cover). Relative features (`*_rel`) compare a sentence with the best candidate of the same
question, so a pointwise model can still rank. A selector reads the features it was fitted
with, by name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.cache import LRU, Memo
from rag.embed import Embedder
from rag.generate.reader import table_row
from rag.query import Query
from rag.query.answer_types import has_type, locate_core, negated
from rag.text import is_stopword, sentence_spans, stem, terms_of, words
from rag.types import Chunk, Passage

# An indexed chunk's sentence spans and unit vectors, or None (`Index.sentences_of`).
SentenceSource = Callable[[Chunk], tuple[np.ndarray, np.ndarray] | None]

FEATURES = (
    "sem", "sem_ctx", "sem_rel", "bm25", "bm25_rel", "cov", "cov_rel", "cov_prev", "cov_near",
    "phrase", "typed", "typed_new", "span_near", "phrase_near", "untyped", "speaker_miss",
    "ent_sent", "ent_passage", "no_ent", "ent_any", "neg_mismatch", "unseen", "q_terms",
    "passage_sem", "length", "first", "position", "follow_up", "row", "cov_header",
)
MEMO_SIZE = 50_000  # sentences (and passages) whose analysis an extractor remembers
HISTORY_CREDIT = 0.25  # weight factor of earlier-turn terms in a follow-up
BM25_K1, BM25_B, SENTENCE_TERMS = 1.2, 0.75, 20.0  # BM25 over sentences of ~20 terms


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage; `start`/`end` index `passage.chunk.text`."""

    passage: Passage
    start: int
    end: int
    text: str
    vec: np.ndarray

    @property
    def shown(self) -> str:
        """What the reader reads and an answer quotes: the sentence, or a table row with its
        cells after their column names."""
        header = self.passage.chunk.header
        return table_row(header, self.text) if header else self.text


class FeatureExtractor:
    """Turns a query and its passages into candidates and a feature matrix (rows: candidates,
    columns: `FEATURES`). Sentence spans and vectors come from the index where it stores them
    (`sentences`); otherwise they are computed and cached, as the same passages come back."""

    def __init__(self, embedder: Embedder, idf: Callable[[str], float],
                 cache_size: int = 20_000, sentences: SentenceSource | None = None) -> None:
        self.embedder = embedder
        self.idf = idf
        self.sentences = sentences
        self.unseen_idf = idf("\0never-indexed")  # the weight of a term the corpus lacks
        self._vecs: LRU[str, np.ndarray] = LRU(cache_size)
        # Text analysis of the sentences that come back question after question, owned here
        # (one extractor per loaded index), so it goes when the index does.
        self._spans = Memo(_sentences, MEMO_SIZE)
        self._analysed = Memo(_analysed, MEMO_SIZE)
        self._has_type = Memo(has_type, MEMO_SIZE)
        self._memos: dict[Callable[..., Any], Memo] = {}

    def _memo(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)`, remembered per function (for `locate_core`)."""
        memo = self._memos.get(fn)
        if memo is None:
            memo = self._memos.setdefault(fn, Memo(fn, MEMO_SIZE))
        return memo(*args)

    def extract(self, query: Query, passages: Sequence[Passage]
                ) -> tuple[list[Candidate], np.ndarray]:
        spans: list[tuple[Passage, int, int, int, int]] = []  # passage, start, end, i, n
        seen: set[tuple[str, int]] = set()
        stored: list[np.ndarray | None] = []
        for p in passages:
            known = self.sentences(p.chunk) if self.sentences else None
            sents = [tuple(map(int, se)) for se in known[0]] if known else \
                self._spans(p.chunk.text, bool(p.chunk.header))
            for i, (s, e) in enumerate(sents):
                key = (p.chunk.doc_id, p.chunk.start + s)
                if key not in seen:  # overlapping chunks repeat sentences
                    seen.add(key)
                    spans.append((p, s, e, i, len(sents)))
                    stored.append(known[1][i] if known else None)
        if not spans:
            return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
        texts = [p.chunk.text[s:e] for p, s, e, _, _ in spans]
        vecs = self._vectors(texts, stored)
        sem = vecs @ self.embedder.encode_query(query.question)
        sem_ctx = vecs @ self.embedder.encode_query(query.text) if query.follow_up else sem
        weights = self._term_weights(query)
        total = sum(weights.values()) or 1.0
        unseen = sum(w for t, w in weights.items() if self.idf(t) >= self.unseen_idf) / total
        q_pairs = _pairs(query.terms)
        passage_words = {id(p): self._analysed(p.chunk.text) for p in passages}
        need = query.answer_type
        n_ent = len(query.entities)
        cols: dict[str, list[float]] = {name: [] for name in FEATURES}

        def put(**values: float) -> None:
            for name, value in values.items():
                cols[name].append(float(value))

        prev_terms: frozenset[str] = frozenset()
        prev_passage = None
        for (p, _s, _e, i, n), text in zip(spans, texts, strict=True):
            sent_words_set, seq, own = self._analysed(text)
            if p is not prev_passage:
                prev_terms, prev_passage = frozenset(), p
            near = passage_words[id(p)][2]
            # A table row: the question's words among its column names (not in the row).
            head = self._analysed(p.chunk.header)[2] if p.chunk.header else frozenset()
            typed = bool(need) and self._has_type(need, text)
            span_near = phrase_near = 0.0
            if need == "speech":
                typed_new = typed and query.speaker <= own | prev_terms
            else:
                core = locate_core(text, need, query.question, self._memo) if need else None
                typed_new = core is not None
                if core:
                    span_near = 1.0 / (1.0 + core[1] / 8.0)
                    phrase_near = 1.0 / (1.0 + core[2] / 8.0)
            put(bm25=_bm25(weights, seq),
                cov=sum(w for t, w in weights.items() if t in own) / total,
                cov_prev=sum(w for t, w in weights.items()
                             if t not in own and t in prev_terms) / total,
                cov_near=sum(w for t, w in weights.items()
                             if t not in own and t not in prev_terms and t in near) / total,
                phrase=len(q_pairs & _pairs(seq)) / len(q_pairs) if q_pairs else 0.0,
                typed=typed, typed_new=typed_new, span_near=span_near, phrase_near=phrase_near,
                untyped=need is None,
                speaker_miss=need == "speech" and not query.speaker <= own | prev_terms,
                ent_sent=len(query.entities & sent_words_set) / n_ent if n_ent else 1.0,
                ent_passage=len(query.entities & passage_words[id(p)][0]) / n_ent
                if n_ent else 1.0,
                no_ent=n_ent == 0, neg_mismatch=query.negated and not negated(text),
                unseen=unseen, q_terms=math.log1p(len(weights)), passage_sem=p.score,
                length=math.log1p(len(seq)), first=i == 0, position=i / max(n - 1, 1),
                follow_up=query.follow_up, row=bool(p.chunk.header),
                cov_header=sum(w for t, w in weights.items()
                               if t not in own and t in head) / total)
            prev_terms = own
        n = len(spans)
        x = np.column_stack([np.asarray(cols[name] or [0.0] * n, dtype=np.float32)
                             for name in FEATURES])  # the columns filled below are still empty
        col = {name: i for i, name in enumerate(FEATURES)}
        x[:, col["sem"]], x[:, col["sem_ctx"]] = sem, sem_ctx
        for src in ("sem", "bm25", "cov"):
            x[:, col[f"{src}_rel"]] = x[:, col[src]] - x[:, col[src]].max()
        # Does any passage hold all the question's names and numbers? (a question-level fact)
        x[:, col["ent_any"]] = x[:, col["ent_passage"]].max()
        cands = [Candidate(p, s, e, t, v)
                 for (p, s, e, _, _), t, v in zip(spans, texts, vecs, strict=True)]
        return cands, x

    def unseen_share(self, query: Query) -> float:
        """The share of the question's content terms the documents never use (0..1), counted,
        not weighted: an unseen term weighs the most, so one rare word would tip a weight."""
        weights = self._term_weights(query)
        unseen = sum(self.idf(t) >= self.unseen_idf for t in weights)
        return unseen / len(weights) if weights else 0.0

    def _term_weights(self, query: Query) -> dict[str, float]:
        """IDF weight of each content stem of the question; earlier-turn stems count less.

        A word the corpus never uses keeps the highest weight: a question about something the
        documents never mention must not look covered.
        """
        weights: dict[str, float] = {}
        for w in words(query.question):
            if not is_stopword(w) and len(w) > 1 and w not in query.cue:
                weights[stem(w)] = self.idf(stem(w))
        if query.follow_up:
            for w in words(query.history[-1]):
                t = stem(w)
                if not is_stopword(w) and len(w) > 1 and t not in weights:
                    weights[t] = HISTORY_CREDIT * self.idf(t)
        return weights

    def _vectors(self, texts: Sequence[str], stored: Sequence[np.ndarray | None]) -> np.ndarray:
        """Stored vectors where the index has them, the rest encoded."""
        missing = [t for t, v in zip(texts, stored, strict=True) if v is None]
        fresh = iter(self.encode(missing)) if missing else iter(())
        return np.vstack([np.asarray(v, dtype=np.float32) if v is not None else next(fresh)
                          for v in stored])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of sentences, from the cache where it has them."""
        found = {t: v for t in dict.fromkeys(texts) if (v := self._vecs.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for t, v in zip(missing, self.embedder.encode_documents(missing), strict=True):
                self._vecs.put(t, v)
                found[t] = v
        return np.vstack([found[t] for t in texts])


def _sentences(text: str, rows: bool = False) -> tuple[tuple[int, int], ...]:
    """Sentence spans of a passage, or its lines when it is a table's rows (as the chunker
    cuts them); splitting costs more than all the features together: the extractor
    remembers them."""
    if rows:
        return tuple((m.start(), m.end()) for m in re.finditer(r"[^\n]*\S[^\n]*", text))
    return tuple(sentence_spans(text))


def _analysed(text: str) -> tuple[frozenset[str], tuple[str, ...], frozenset[str]]:
    """A sentence's (or passage's) words, its terms in order, and the set of them."""
    ws = words(text)
    seq = tuple(terms_of(ws))
    return frozenset(ws), seq, frozenset(seq)


def _bm25(weights: dict[str, float], seq: Sequence[str]) -> float:
    """BM25 of a sentence against the weighted question terms, scaled to 0..1."""
    if not weights or not seq:
        return 0.0
    tf: dict[str, int] = {}
    for t in seq:
        tf[t] = tf.get(t, 0) + 1
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(seq) / SENTENCE_TERMS)
    score = sum(w * tf[t] * (BM25_K1 + 1) / (tf[t] + norm) for t, w in weights.items() if t in tf)
    return score / (sum(weights.values()) * (BM25_K1 + 1))


def _pairs(seq: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent content stems (from `terms`): the phrases of a text."""
    return set(zip(seq, seq[1:], strict=False))
