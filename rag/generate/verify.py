"""Does the passage a sentence cites support it? A written answer is checked, not trusted.

The rule (thresholds fitted by `rag train-verifier` on SQuAD training articles, measured on
held-out ones; `verifier.json` in the model bundle):

1. every name and number of the sentence (capitalised words inside it, numerals, number words
   such as "third" or "twelve") occurs in the cited passages: "20 July" is unsupported by a
   passage that says "9-12 July";
2. the IDF-weighted share of the sentence's content terms found in the cited passages is at
   least `min_coverage`;
3. no term the passages lack is rarer than `max_novel` (its IDF as a share of the IDF of a
   term the corpus has never seen): a paraphrase may add common words, not new facts;
4. the sentence's embedding is at least `min_cosine` similar to one sentence of the passages
   (the best one is the citation's quote).

A verbatim quote passes all four. It is a lexical and semantic test, not an entailment model:
a sentence that recombines true words into a false claim can pass (measured in
`evals/README.md`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ConfigError
from rag.query.answer_types import CARDINALS, ORDINALS, entities
from rag.text import sentence_spans, terms, words

# Number words are claims as much as numerals ("the third summit"); a few are mostly idiom.
UNSEEN = "\0never-indexed"  # a term no corpus has: the highest IDF
NUMBER_WORDS = frozenset(CARDINALS + ORDINALS) - {"one", "half", "couple", "quarter", "dozens"}


@dataclass(frozen=True)
class Support:
    """How well some passages support one sentence."""

    supported: bool
    coverage: float  # IDF-weighted share of the sentence's content terms in the passages
    novel: float  # IDF of its rarest term the passages lack, over an unseen term's (0: none)
    cosine: float  # similarity to the closest passage sentence
    missing: tuple[str, ...]  # names and numbers of the sentence the passages lack
    quotes: tuple[tuple[int, int], ...]  # per passage: the span of its closest sentence


@dataclass(frozen=True)
class Verifier:
    """Checks sentences against passage texts with the rule above."""

    encode: Callable[[Sequence[str]], np.ndarray]  # texts to unit vectors
    idf: Callable[[str], float]
    # The shipped thresholds (`verifier.json`, which `load_verifier` reads) as defaults.
    min_coverage: float = 0.6
    min_cosine: float = 0.0
    max_novel: float = 0.6

    def check(self, sentence: str, passages: Sequence[str]) -> Support:
        """Support of `sentence` by `passages` (the texts it cites) taken together."""
        if not passages:
            return Support(False, 0.0, 1.0, 0.0, (), ())
        cov, novel, missing = lexical_support(sentence, passages, self.idf)
        spans = [sentence_spans(p) or [(0, len(p))] for p in passages]
        texts = [p[s:e] for p, sp in zip(passages, spans, strict=True) for s, e in sp]
        vecs = self.encode([sentence, *texts])
        sims = vecs[1:] @ vecs[0]
        quotes, at = [], 0
        for sp in spans:
            best = int(np.argmax(sims[at:at + len(sp)]))
            quotes.append(sp[best])
            at += len(sp)
        cosine = float(sims.max())
        ok = (not missing and cov >= self.min_coverage and novel <= self.max_novel
              and cosine >= self.min_cosine)
        return Support(ok, cov, novel, cosine, missing, tuple(quotes))


def lexical_support(sentence: str, passages: Sequence[str], idf: Callable[[str], float]
                    ) -> tuple[float, float, tuple[str, ...]]:
    """(IDF-weighted coverage of the sentence's terms, the rarity of its rarest term not
    found, its names and numbers not found)."""
    evidence = " ".join(passages)
    have_terms, have_words = set(terms(evidence)), set(words(evidence))
    claim = set(terms(sentence))
    total = sum(idf(t) for t in claim)
    cov = sum(idf(t) for t in claim if t in have_terms) / total if total > 0 else 1.0
    novel = max((idf(t) for t in claim - have_terms), default=0.0) / idf(UNSEEN)
    # "3,724" or "U.S." must be there word by word; entities are lower-cased already; "17th"
    # or "9-12" count as numbers too.
    ws = words(sentence)
    claims = set(entities(sentence)) | {w for w in ws if w in NUMBER_WORDS} | \
        {w for w in ws if any(c.isdigit() for c in w)}
    missing = tuple(sorted(e for e in claims if not all(w in have_words for w in words(e))))
    return cov, novel, missing


def load_verifier(encode: Callable[[Sequence[str]], np.ndarray], idf: Callable[[str], float],
                  path: str | Path | None = None, models: str = "") -> Verifier:
    """The verifier with thresholds from `path`, else from the model bundle `models`'s
    `verifier.json` ("": the shipped bundle)."""
    if path:
        src = Path(path)
    else:
        from rag.models import bundle

        src = bundle(models).path("verifier.json")
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
        return Verifier(encode, idf, float(data["min_coverage"]), float(data["min_cosine"]),
                        float(data["max_novel"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"cannot read the verifier thresholds {src}: {e}") from None
