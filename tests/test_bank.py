"""The real-document question bank keeps its rules (evals/bank/README.md): every set loads,
names documents its corpus holds, has unanswerable questions; a corpus is in one split, and one
repository in one split only; none comes from a repository reserved for outside evaluation."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from rag.eval.metrics import doc_stem
from rag.eval.runner import load_set
from rag.ingest.load import SUFFIXES

from .measure_bank import BANK, corpora

RESERVED = {"google/eng-practices", "google/styleguide", "papers-we-love/papers-we-love",
            "msoulier/tftpy", "quantumtea/coffeepotprotocol", "rodrigodelama/atdate_aptel",
            "fikafusik/learning_space", "excitement-engineer/graphql-iso-date",
            "okfn/opendatahandbook", "project-open-data/project-open-data.github.io",
            "chhsdata/opendatahandbook", "lukesmithxyz/based.cooking", "basecamp/handbook",
            "restic/restic", "owasp/top10", "fivethirtyeight/data", "w3c/wcag"}
BANKED = corpora()


def test_the_bank_has_corpora_in_every_split():
    assert {c["split"] for c in BANKED} == {"fit", "choose", "report"}


@pytest.mark.parametrize("corpus", BANKED, ids=[c["name"] for c in BANKED])
def test_each_set_names_documents_its_corpus_holds(corpus):
    docs = BANK / corpus["name"] / "docs"
    stems = {doc_stem(p.name) for p in docs.rglob("*") if p.suffix.lower() in SUFFIXES}
    items = load_set(corpus["set"])
    assert len({i.id for i in items}) == len(items)
    for item in items:
        assert set(item.sources) <= stems, (item.id, item.sources)
        assert item.answerable == bool(item.answers), item.id
    unanswerable = sum(not i.answerable for i in items)
    assert unanswerable >= 0.25 * len(items)
    assert corpus["license"] and len(corpus["commit"]) == 40


def test_a_repository_is_in_one_split_and_none_is_reserved():
    splits: dict[str, set[str]] = defaultdict(set)
    for c in BANKED:
        splits[c["repo"].lower()].add(c["split"])
    assert {repo: s for repo, s in splits.items() if len(s) > 1} == {}
    assert not set(splits) & RESERVED
    kinds = [json.loads(line).get("kind") for c in BANKED
             for line in Path(c["set"]).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert kinds.count("table") >= 200 and kinds.count("follow-up") >= 50
