"""Fixtures: a deterministic fake embedder for fast tests, the real model on the seed corpus."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.text import terms

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EVAL_SET = ROOT / "evals" / "seed.jsonl"


class FakeEmbedder:
    """Hashed bag of stems: texts sharing words are similar. Counts what it embeds."""

    name = "fake-hash-embedder"
    dim = 64

    def __init__(self) -> None:
        self.embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for t in terms(text) or ["<empty>"]:
            v[int(hashlib.md5(t.encode()).hexdigest(), 16) % self.dim] += 1.0
        return v / np.linalg.norm(v)

    def encode_query(self, text: str) -> np.ndarray:
        return self._vec(text)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vec(t) for t in texts])

    def encode_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._vec(t) for t in texts])


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A tiny corpus of three documents, one with front matter."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "apples.md").write_text(
        "---\ntitle: Apples\ndate: 2024-05-01\nurl: https://example.org/apples\n---\n"
        "Apples grow on trees in orchards. The harvest starts in autumn.\n"
        "Farmers in Nelson picked 3,000 tonnes last year.\n", encoding="utf-8")
    (d / "rivers.txt").write_text(
        "Rivers of the South Island\nThe Clutha is the longest river in the South Island. "
        "It flows for 338 kilometres to the sea.\n", encoding="utf-8")
    (d / "sub").mkdir()
    (d / "sub" / "bees.txt").write_text(
        "Bees pollinate apple blossoms in spring. Without bees the orchards would fail.\n",
        encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed corpus indexed once per session with the real model."""
    from rag.pipeline import build

    folder = tmp_path_factory.mktemp("seed-index")
    build([SEEDS], settings=Settings(index_dir=str(folder)))
    return folder


@pytest.fixture(scope="session")
def seed_rag(seed_index: Path):
    from rag.pipeline import RAG

    return RAG.load(seed_index, settings=Settings())


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "seeds"
    shutil.copytree(SEEDS, dest)
    return dest


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    d = tmp_path / "beir"
    (d / "qrels").mkdir(parents=True)
    (d / "corpus.jsonl").write_text("\n".join(json.dumps(o) for o in [
        {"_id": "d1", "title": "Kiwi", "text": "The kiwi is a flightless bird."},
        {"_id": "d/2", "title": "Tui", "text": "The tui is a songbird."},
        {"_id": "d3", "title": "", "text": "Kakapo are parrots."}]) + "\n")
    (d / "queries.jsonl").write_text("\n".join(json.dumps(o) for o in [
        {"_id": "q1", "text": "flightless birds"}, {"_id": "q2", "text": "songbirds"},
        {"_id": "q3", "text": "not judged"}]) + "\n")
    (d / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t1\nq2\td/2\t1\nq2\td1\t0\n")
    return d
