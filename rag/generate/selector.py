"""The learned answer selector: feature weights and a calibrated confidence, read from JSON.

Small logistic models, all fitted by `rag train-selector` on public training data:

1. the sentence scorer: a conditional (softmax) logistic model over the candidate sentences of
   one question, trained to put the sentence holding the answer first; `softmax(logits)` is the
   probability that each candidate is the one;
2. with the reader (`reader.py`), a second scorer of the same kind over the `read` sentences
   the first ranks highest: the features plus the reader's logit (`READER_FEATURES`);
3. the confidence: P(answering with the best sentence is right), a logistic model of the best
   sentence's logit, its margin over the runner-up and the best sentence's own columns,
   fitted on answerable and unanswerable training questions (so it is calibrated, as Platt
   scaling is, and also sees what marks a plausible-but-unanswerable question).

Two thresholds on the confidence make three bands: `answer` at or above `answer_threshold`,
`tentative` between it and `threshold` (the closest passage is shown, marked as possibly not
answering), `abstain` below `threshold`. `selector.json` beside this file holds the feature
names, the models, the thresholds and the rules that chose them, a hash of the training data
and the validation figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ConfigError
from rag.generate.features import FEATURES

# What the reader's stage can add to FEATURES: the reader's logit, the same relative to the best
# read sentence, the first stage's logit relative to its best, and how far the reader's best
# answer span beats its no-answer position. A selector names the ones it was fitted with.
READER_FEATURES = ("reader", "reader_rel", "first_rel", "span_margin")
FIRST_READER_FEATURES = READER_FEATURES[:3]  # a selector file that names none was fitted on these
CONFIDENCE_INPUTS = ("top", "margin") + FEATURES  # the confidence's inputs, before the reader


@dataclass(frozen=True)
class Linear:
    """`weights . (x - mean) / scale + bias`."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)
        return z @ np.asarray(self.weights, np.float32) + np.float32(self.bias)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Linear:
        return cls(tuple(d["mean"]), tuple(d["scale"]), tuple(d["weights"]), float(d["bias"]))


@dataclass(frozen=True)
class Selector:
    features: tuple[str, ...]
    sentence: Linear  # per-sentence logits
    confidence_model: Linear  # over CONFIDENCE_INPUTS
    threshold: float  # abstain below this confidence
    second_ratio: float = 0.5  # a second sentence needs this share of the best one's probability
    meta: dict[str, Any] = field(default_factory=dict)  # data hash, split, validation figures
    reading: Linear | None = None  # the second scorer, over FEATURES + READER_FEATURES
    read: int = 0  # how many of the first scorer's best sentences the reader reads
    answer_threshold: float | None = None  # the answer band's floor (None: no tentative band)
    reader_features: tuple[str, ...] = FIRST_READER_FEATURES  # the reader's columns it reads

    def __post_init__(self) -> None:
        if not set(self.features) <= set(FEATURES) or \
                not set(self.reader_features) <= set(READER_FEATURES) or \
                len(self.confidence_model.weights) != 2 + len(self.columns) or \
                (self.reading is not None and len(self.reading.weights) != len(self.columns)):
            raise ConfigError("the answer selector was trained on other features; "
                              "run `rag train-selector` to retrain it")

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of the feature rows the final logits and the confidence read."""
        own = tuple(self.features)
        return own + self.reader_features if self.reading is not None else own

    @property
    def feature_index(self) -> list[int]:
        """Where each of this selector's features sits in the extractor's rows (`FEATURES`):
        a selector fitted before a feature was added still reads the ones it knows, by name."""
        return [FEATURES.index(f) for f in self.features]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """First-stage per-sentence scores; higher means more likely the one holding the
        answer (`scoring.Scorer` adds the reader's stage)."""
        return self.sentence(x)

    def band(self, confidence: float, threshold: float | None = None) -> str:
        """`answer`, `tentative` or `abstain` for a confidence; `threshold` overrides the
        abstention threshold (and the answer band's floor never falls below it)."""
        floor = self.threshold if threshold is None else threshold
        if confidence < floor:
            return "abstain"
        answer = floor if self.answer_threshold is None else max(self.answer_threshold, floor)
        return "answer" if confidence >= answer else "tentative"

    def confidence(self, x: np.ndarray, logits: np.ndarray) -> float:
        """Calibrated probability that answering with the best sentence is right."""
        if len(logits) == 0:
            return 0.0
        return float(sigmoid(self.confidence_model(confidence_inputs(x, logits))))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Selector:
        d = json.loads(text)
        d["features"] = tuple(d["features"])
        d["reader_features"] = tuple(d.get("reader_features", FIRST_READER_FEATURES))
        d["sentence"] = Linear.from_dict(d["sentence"])
        d["confidence_model"] = Linear.from_dict(d["confidence_model"])
        if d.get("reading") is not None:
            d["reading"] = Linear.from_dict(d["reading"])
        return cls(**d)


@lru_cache(maxsize=4)
def load_selector(path: str | None = None, models: str = "") -> Selector:
    """The selector in `path`, else the one in the model bundle `models` ("": shipped)."""
    if path:
        p = Path(path)
    else:
        from rag.models import bundle

        p = bundle(models).path("selector.json")
    try:
        return Selector.from_json(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no answer selector at {p}; run `rag train-selector`") from None
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"{p} is not an answer selector ({e})") from None


def confidence_inputs(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The best logit, its margin over the second best (0 with one candidate), and the best
    sentence's features."""
    order = np.argsort(-logits, kind="stable")
    top = float(logits[order[0]])
    margin = top - float(logits[order[1]]) if len(order) > 1 else 0.0
    return np.concatenate([[top, margin], x[order[0]]]).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
