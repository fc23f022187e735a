"""Training the answer selector: adversarial twins, the split, and the command end to end."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from rag.cli import main
from rag.evaluate import risk_coverage
from rag.generate.selector import Selector, load_selector
from rag.train import choose_threshold, entity_pool, perturb, split_articles

ARTICLES = {
    "Clutha River": [
        ("The Clutha River is the longest river in the South Island of New Zealand. It flows "
         "for 338 kilometres from Lake Wanaka to the Pacific Ocean near Balclutha.",
         [("How long is the Clutha River?", "338 kilometres"),
          ("Where does the Clutha River start?", "Lake Wanaka")]),
        ("Gold was found on the Clutha in 1862 by Horatio Hartley and Christopher Reilly. "
         "The rush brought thousands of miners to Otago.",
         [("When was gold found on the Clutha?", "1862"),
          ("Who found gold on the Clutha with Horatio Hartley?", "Christopher Reilly")]),
    ],
    "Kakapo": [
        ("The kakapo is a large flightless parrot that lives only in New Zealand. Adults weigh "
         "up to 4 kilograms and are active at night.",
         [("How much can an adult kakapo weigh?", "4 kilograms"),
          ("When is the kakapo active?", "at night")]),
        ("In 1995 the Kakapo Recovery programme began under the Department of Conservation. "
         "Every bird now lives on predator-free islands such as Whenua Hou.",
         [("In what year did the Kakapo Recovery programme begin?", "1995"),
          ("Which island is named as home to kakapo?", "Whenua Hou")]),
    ],
    "Aoraki": [
        ("Aoraki is the highest mountain in New Zealand at 3,724 metres. Edmund Hillary "
         "climbed it in 1948 before his ascent of Everest.",
         [("How high is Aoraki?", "3,724 metres"),
          ("Who climbed Aoraki in 1948?", "Edmund Hillary")]),
        ("The mountain lies in the Southern Alps within Aoraki National Park, created in 1953.",
         [("In which range does Aoraki lie?", "Southern Alps"),
          ("When was Aoraki National Park created?", "1953")]),
    ],
    "Pavlova": [
        ("The pavlova is a meringue dessert named after the Russian ballerina Anna Pavlova, "
         "who toured New Zealand and Australia in 1926.",
         [("Who is the pavlova named after?", "Anna Pavlova"),
          ("When did Anna Pavlova tour New Zealand?", "1926")]),
        ("A pavlova has a crisp crust and a soft centre and is usually topped with cream and "
         "kiwifruit or berries.",
         [("What is a pavlova usually topped with?", "cream and kiwifruit"),
          ("What kind of crust does a pavlova have?", "crisp")]),
    ],
}


@pytest.fixture
def tiny_squad(tmp_path):
    data = {"version": "1.1", "data": [
        {"title": title.replace(" ", "_"), "paragraphs": [
            {"context": ctx, "qas": [
                {"id": f"{title[:3]}{p}{q}", "question": question,
                 "answers": [{"text": ans, "answer_start": ctx.index(ans)}]}
                for q, (question, ans) in enumerate(qas)]}
            for p, (ctx, qas) in enumerate(paras)]}
        for title, paras in ARTICLES.items()]}
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


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
