"""Training the answer selector: adversarial twins, the split, and the command end to end."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rag.cli import main
from rag.evaluate import risk_coverage
from rag.generate.selector import Selector, load_selector
from rag.train import choose_threshold, entity_pool, perturb, split_articles

from .conftest import ARTICLES


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
def test_train_selector_command_writes_a_selector_that_round_trips(tiny_squad, tmp_path, capsys):
    out = tmp_path / "selector.json"
    assert main(["train-selector", str(tiny_squad), "--out", str(out),
                 "--work", str(tmp_path / "work")]) == 0
    printed = capsys.readouterr().out
    assert "threshold" in printed and str(out) in printed
    sel = load_selector(str(out))
    assert Selector.from_json(sel.to_json()) == sel
    assert sel.meta["validation_articles"] == ["pavlova"]
    assert sel.meta["counts"]["train"]["answerable"] == 12
    assert sel.meta["validation"]["answerable"]["n"] == 4
    assert sel.meta["data_sha256"] and 0.0 <= sel.threshold <= 1.0
    # a second run reuses the work folder (the index is kept, the import is redone)
    assert main(["train-selector", str(tiny_squad), "--out", str(out),
                 "--work", str(tmp_path / "work")]) == 0
