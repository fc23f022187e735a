"""Training the answer selector: adversarial twins, the split, and the command end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.cli import main
from rag.config import Settings
from rag.eval.metrics import doc_stem, risk_coverage, summarize
from rag.eval.runner import load_set, run_pipeline
from rag.generate.selector import Selector, load_selector
from rag.train.adversarial import distractor, entity_pool, perturb
from rag.train.selector import choose_threshold, split_articles

from .conftest import ARTICLES, tiny_bank


def test_articles_are_split_by_position():
    train, val = split_articles([f"a{i}" for i in range(8)])
    assert val == ["a3", "a7"] and train == ["a0", "a1", "a2", "a4", "a5", "a6"]


def test_adversarial_twins_swap_in_something_the_paragraph_never_mentions():
    paragraphs = [ctx for ctx, _ in ARTICLES["Clutha River"]]
    pool = entity_pool(paragraphs)
    assert "1862" in pool["number"] and "Horatio Hartley" in pool["name"]
    rng = random.Random(0)
    kinds = set()
    for _ in range(30):
        twin = perturb("When was gold found on the Clutha?", paragraphs[1], pool, rng)
        assert twin and twin != "When was gold found on the Clutha?"
        if " not " in twin:
            kinds.add("negated")
        else:  # "Clutha" swapped for a name the paragraph lacks
            swapped = twin.replace("When was gold found on the ", "").rstrip("?")
            assert swapped.lower() not in paragraphs[1].lower()
            kinds.add("swapped")
    assert kinds == {"negated", "swapped"}  # never re-asked: the paragraph has dates and numbers
    none: dict[str, list[str]] = {"name": [], "number": []}
    dateless = "Gold brought miners to Otago."
    assert perturb("Who brought miners to Otago?", dateless, none, random.Random(1)) in {
        "How many brought miners to Otago?", "When brought miners to Otago?"}
    assert perturb("Why was gold found?", paragraphs[1], none, rng) == "Why was not gold found?"
    assert perturb("why gold?", paragraphs[1], none, rng) is None


def test_a_distractor_restates_the_question_with_a_swapped_name_and_a_wrong_answer():
    gold = ARTICLES["Clutha River"][1][0]  # "Gold was found on the Clutha in 1862 by ..."
    pool = {"name": ["Clutha", "Kawarau", "Shotover", "Horatio Hartley", "Lastly"],
            "number": ["338", "1861", "1862", "1863"]}
    for seed in range(10):
        line = distractor("When was gold found on the Clutha?", ["1862"], gold, pool,
                          random.Random(seed), lower={"lastly"})
        assert line and line.startswith("Gold was found on the ") and line.endswith(".")
        river, year = line.removeprefix("Gold was found on the ").rstrip(".").split(" in ")
        assert river in ("Kawarau", "Shotover")  # a name the paragraph never mentions
        assert year in ("1861", "1863")  # a wrong answer, and a year for a date
    line = distractor("Who found gold on the Clutha?", ["Horatio Hartley"], gold, pool,
                      random.Random(0), lower={"lastly"})
    assert line and line.split(" found gold on the ")[1] in ("Kawarau.", "Shotover.")
    assert line.split(" found gold on the ")[0] in ("Clutha", "Kawarau", "Shotover")
    line = distractor("How many kilometres does the Clutha flow?", ["338 kilometres"], gold,
                      pool, random.Random(0))
    assert line and line.split()[:3] in (["The", "Kawarau", "flow"], ["The", "Shotover", "flow"])
    assert line.split()[3] in ("1861", "1862", "1863") and line.endswith(" kilometres.")
    # no wh-word, nothing to swap, or no wrong answer of the kind: no distractor
    assert distractor("Is gold found on the Clutha?", ["yes"], gold, pool, random.Random(0)) \
        is None
    assert distractor("When was gold found?", ["1862"], gold, pool, random.Random(0)) is None
    assert distractor("When was gold found on the Clutha?", ["1862"], gold,
                      {"name": pool["name"], "number": ["1862"]}, random.Random(0)) is None


def test_the_threshold_rule_abstains_on_at_most_the_allowed_share_of_answerable():
    answerable = np.linspace(0.0, 0.95, 25)
    t = choose_threshold(answerable)
    assert sum(answerable < t) == 2  # 8% of 25
    assert answerable[1] < t <= answerable[2]


def test_risk_coverage_by_hand():
    conf = np.array([0.9, 0.8, 0.3, 0.1])
    right = np.array([True, False, True, False])
    curve = risk_coverage(conf, right, points=4)
    assert curve[-1] == {"coverage": 1.0, "risk": 0.5, "threshold": 0.1}
    assert curve[1]["coverage"] == 0.5 and curve[1]["risk"] == 0.5


@pytest.mark.slow
def test_train_selector_command_writes_a_selector_that_round_trips(tiny_squad, tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "100")  # the trainer uses the defaults, not these
    out = tmp_path / "bundle" / "selector.json"
    assert main(["train-selector", str(tiny_squad), "--bundle", str(out.parent),
                 "--work", str(tmp_path / "work")]) == 0
    printed = capsys.readouterr().out
    assert "threshold" in printed and str(out) in printed
    sel = load_selector(models=str(out.parent))  # as answering loads it: checked, then read
    assert sel == load_selector(str(out))
    assert Selector.from_json(sel.to_json()) == sel
    assert sel.meta["validation_articles"] == ["pavlova"]
    assert sel.meta["counts"]["train"]["answerable"] == 12
    assert sel.meta["validation"]["answerable"]["n"] == 4
    assert sel.meta["data_sha256"] and 0.0 <= sel.threshold <= 1.0
    assert sel.meta["settings"]["chunk_tokens"] == 160 and sel.meta["settings"]["k"] == 5
    # the distractor check: every document again, a distractor at the end of each asked one
    work = tmp_path / "work"
    docs = sorted(p.name for p in (work / "squad" / "docs").iterdir())
    assert sorted(p.name for p in (work / "docs-distractor").iterdir()) == docs
    lines = (work / "eval" / "validation-distractor.jsonl").read_text().splitlines()
    for item in map(json.loads, lines):
        text = (work / "docs-distractor" / f"{item['sources'][0]}.md").read_text()
        assert text.rstrip().endswith(" " + item["distractor"]) and item["answers"]
    # a second run reuses the work folder (the index is kept, the import is redone)
    assert main(["train-selector", str(tiny_squad), "--bundle", str(out.parent),
                 "--work", str(tmp_path / "work")]) == 0


@pytest.mark.slow
def test_the_bank_joins_training_and_the_choice_of_thresholds(tiny_squad, tmp_path):
    from rag.train.selector import train_selector

    bank = tiny_bank(tmp_path / "bank")
    r = train_selector(tiny_squad, tmp_path / "bundle", tmp_path / "work",
                       bank=bank, use_reader=True)
    meta = r.selector.meta["bank"]
    assert meta["fit_corpora"] == ["fit-lakes"] and meta["choose_corpora"] == ["choose-birds"]
    # 4 written, and 2 the sheet makes whose answer is in one row alone ("What is the region of
    # Taupo?" and of Wakatipu; not of Hauroko or Manapouri, which share "Southland")
    assert meta["counts"]["fit"]["answerable"] == 6 and meta["counts"]["fit"]["written"] == 1
    assert meta["counts"]["choose"]["answerable"] == 2 and meta["counts"]["choose"]["written"] == 1
    assert set(meta["per_choose_corpus"]) == {"choose-birds"}
    assert meta["choose"]["answerable"]["n"] == 2 and meta["choose"]["written"]["n"] == 1
    assert len(meta["fit_sha256"]) == 64 and meta["fit_sha256"] != meta["choose_sha256"]
    # the selector reads the reader's no-answer margin by name, and round-trips
    assert "span_margin" in r.selector.reader_features
    assert Selector.from_json(r.selector.to_json()) == r.selector


DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1-dev-public.json"


@pytest.mark.slow
@pytest.mark.skipif(not DEV.is_file(), reason="the public SQuAD development file is absent")
def test_distractors_on_held_out_squad_articles_rarely_take_the_answer(tmp_path):
    """The distractor check in miniature, through the real model: the first two validation
    articles of the answer selector's split (never trained on by it or by the reader), each
    asked paragraph with a distractor at its end. A guard at the figure measured with the
    shipped models (evals/README.md), a few items of slack."""
    from rag.eval.importers import import_squad, slug
    from rag.ingest.load import load_documents
    from rag.pipeline import RAG, build
    from rag.train.selector import squad_examples, write_distractor_set

    data = json.loads(DEV.read_text(encoding="utf-8"))["data"]
    _, val = split_articles([slug(a["title"].replace("_", " ")) for a in data])
    picked = [a for a in data if slug(a["title"].replace("_", " ")) in val[:2]]
    src = tmp_path / "two.json"
    src.write_text(json.dumps({"data": picked}), encoding="utf-8")
    imported = import_squad(src, tmp_path / "squad")
    texts = {doc_stem(d.doc_id): d.text for d in load_documents([imported.out / "docs"])}
    examples = squad_examples(texts, imported.out / "eval.jsonl", set(val[:2]), 0, None)
    (tmp_path / "eval").mkdir()
    n = write_distractor_set(tmp_path, examples, texts, imported.out / "docs", 0)
    assert n >= 40
    build([tmp_path / "docs-distractor"], settings=Settings(index_dir=str(tmp_path / "ix")))
    rag = RAG.load(tmp_path / "ix", settings=Settings())
    s = summarize(run_pipeline(rag, load_set(tmp_path / "eval" / "validation-distractor.jsonl")))
    assert s["answer_contains"] >= GUARD_DISTRACTOR, s


GUARD_DISTRACTOR = 0.31  # 41/120 measured (0.342), three items of slack
