"""The shipped reader through ONNX Runtime, on SQuAD development paragraphs it never saw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.generate.reader import load_reader, table_row
from rag.models import SHIPPED as FOLDER
from rag.text import sentence_spans

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1-dev-public.json"


def test_the_reader_ships_as_small_int8_onnx_with_its_model_card():
    graph = FOLDER / "reader.onnx"
    assert graph.is_file() and graph.stat().st_size <= 30_000_000
    card = json.loads((FOLDER / "reader.json").read_text(encoding="utf-8"))
    for key in ("base_model", "data_sha256", "split", "command", "steps", "validation"):
        assert card[key], key
    assert card["validation"]["top_sentence_in_paragraph"] > 0.5
    assert load_reader() is not None


@pytest.mark.skipif(not DEV.is_file(), reason="the public SQuAD development file is absent")
def test_the_sentence_holding_the_answer_outscores_the_rest_of_its_paragraph():
    reader = load_reader()
    assert reader is not None
    article = json.loads(DEV.read_text(encoding="utf-8"))["data"][1]  # never trained on
    tried = top = inside = 0
    for para in article["paragraphs"][:12]:
        ctx = para["context"]
        spans = sentence_spans(ctx)
        sents = [ctx[s:e] for s, e in spans]
        prev = [""] + sents[:-1]
        for qa in para["qas"][:3]:
            at = qa["answers"][0]["answer_start"]
            gold = next((i for i, (s, e) in enumerate(spans) if s <= at < e), None)
            if gold is None or len(sents) < 2:
                continue
            reading = reader.read(qa["question"], sents, [article["title"]] * len(sents), prev)
            best = int(reading.scores.argmax())
            tried += 1
            top += best == gold
            lo, hi = reading.spans[best]
            inside += 0 <= lo < hi <= len(sents[best])
    assert tried >= 20
    assert top / tried >= 0.6, f"{top}/{tried}"
    assert inside == tried  # every span lies inside the sentence it was read in


V2 = DEV.with_name("squad-v2.0-dev-public.json")


@pytest.mark.skipif(not V2.is_file(), reason="the public SQuAD 2.0 development file is absent")
def test_the_second_phase_reads_only_articles_the_answer_selector_trains_on():
    from rag.eval.importers import slug
    from rag.train.reader import read_v2
    from rag.train.selector import split_articles

    v2 = read_v2(V2, DEV)
    order = [slug(a["title"].replace("_", " "))
             for a in json.loads(DEV.read_text(encoding="utf-8"))["data"]]
    train, val = split_articles(order)
    assert {slug(t) for t in v2.val_titles} <= set(val)
    assert {slug(t) for t in v2.train_titles} <= set(train)
    assert v2.val_titles and v2.train_titles
    held = {v2.paragraphs[pi].title for _, pi, _ in v2.val}
    assert held == set(v2.val_titles)
    assert not held & {v2.paragraphs[pi].title for _, pi, _ in v2.train}
    for part in (v2.train, v2.val):  # both kinds on both sides
        assert sum(g is None for _, _, g in part) > 100
        assert sum(g is not None for _, _, g in part) > 100
    answers = {qa["question"]: qa["answers"][0]["text"]
               for art in json.loads(V2.read_text(encoding="utf-8"))["data"]
               for para in art["paragraphs"] for qa in para["qas"] if qa["answers"]}
    for q, pi, gold in v2.train[:300]:  # a gold sentence holds its question's answer
        assert gold is None or answers[q] in v2.paragraphs[pi].sentence(gold)


def test_the_second_phase_reads_small_sources_a_few_times_not_once_per_turn():
    import random
    from collections import Counter

    from rag.train.reader import Pair, _alternate

    squad2 = [[Pair(f"u{i}", "s", 0.0)] * 2 for i in range(30)]
    bank = [[Pair(f"b{i}", "s", 1.0)] * 3 for i in range(2)]
    fresh = iter([[Pair(f"f{i}", "s", 1.0)] * 32 for i in range(100)])
    out = list(_alternate([squad2, bank], [1, 3], fresh, random.Random(0)))
    firsts = [g[0].question for g in out]
    assert all(q.startswith("f") for q in firsts[1::2])  # fresh pairs after every group
    assert [len(g) for g in out[1::2]] == [2] * 100
    mix = Counter(firsts[0:72:2])  # the first round: SQuAD 2.0's once, the bank's 3 times
    assert {q for q in mix if q.startswith("u")} == {f"u{i}" for i in range(30)}
    assert all(mix[q] == 1 for q in mix if q.startswith("u"))
    assert mix["b0"] == mix["b1"] == 3
    assert len(out) == 201 and firsts[-2].startswith("f")  # ends when the fresh pairs do


def test_the_trainer_keeps_its_checkpoints_outside_the_work_tree(monkeypatch, tmp_path):
    from rag.train.reader import default_work

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_work() == tmp_path / "rag-train" / "reader"
    monkeypatch.delenv("XDG_CACHE_HOME")
    repo = Path(__file__).resolve().parents[1]
    assert not default_work().resolve().is_relative_to(repo)


def test_a_table_row_is_read_with_its_column_names():
    assert table_row("lake | depth", "Taupo | 186 m") == "lake: Taupo; depth: 186 m"
    # the last header row names the columns; empty cells and unnamed columns stay plain
    assert table_row("Lakes\nlake |  | depth", "Taupo | x | ") == "lake: Taupo; x"
    assert table_row("lake | depth", "Taupo") == "Taupo"  # cells that do not line up
    assert table_row("", "Taupo | 186 m") == "Taupo | 186 m"


def test_the_reader_reads_as_many_word_pieces_as_its_card_says(tmp_path):
    import shutil

    for name in ("reader.onnx", "reader-tokenizer.json"):
        shutil.copyfile(FOLDER / name, tmp_path / name)
    card = json.loads((FOLDER / "reader.json").read_text(encoding="utf-8"))
    (tmp_path / "reader.json").write_text(json.dumps({**card, "max_length": 20}))
    short = load_reader(str(tmp_path / "reader.onnx"))
    assert short is not None and short.max_length == 20
    shipped = load_reader()
    assert shipped is not None and shipped.max_length == card["max_length"]
    q = "How deep is Lake Hauroko, the deepest lake of New Zealand?"
    long = "Lake Hauroko " + "in Fiordland National Park " * 10 + "is 462 m deep."
    # cut at 20 word pieces the pair loses the sentence's end, and so reads differently
    assert short.read(q, [long], [""], [""]).scores[0] != \
        shipped.read(q, [long], [""], [""]).scores[0]
    (tmp_path / "reader.json").write_text("{not json")
    load_reader.cache_clear()
    with pytest.raises(Exception, match="model card"):
        load_reader(str(tmp_path / "reader.onnx"))
    load_reader.cache_clear()


def test_the_no_answer_margin_is_lower_where_the_sentence_lacks_the_answer():
    reader = load_reader()
    assert reader is not None
    q = "How many eggs does a female kakapo lay?"
    sents = ["A female kakapo lays up to four eggs in a nest on the ground.",
             "The kakapo is a large, flightless parrot of New Zealand."]
    reading = reader.read(q, sents, ["Kakapo"] * 2, ["", sents[0]])
    assert reading.margins.shape == (2,)
    assert reading.margins[0] > reading.margins[1]
    lo, hi = reading.spans[0]
    assert "four" in sents[0][lo:hi]


@pytest.mark.slow
def test_train_reader_end_to_end_in_miniature(tiny_squad, tmp_path, monkeypatch, caplog):
    """Both phases, the bank, the export and the model card, on four tiny articles and one
    step each: what a three-hour run does, so it cannot fail at its end."""
    import logging

    import rag.train.reader as trainer

    from .conftest import tiny_bank

    monkeypatch.setattr(trainer, "VALIDATION_EVERY", 2)  # articles 1 and 3 held out
    monkeypatch.setattr(trainer, "VALIDATION_QUESTIONS", 6)
    squad = json.loads(tiny_squad.read_text(encoding="utf-8"))
    for art in squad["data"]:  # SQuAD 2.0: the same articles with an unanswerable question each
        for n, para in enumerate(art["paragraphs"]):
            para["qas"].append({"id": f"{art['title']}-{n}-x", "is_impossible": True,
                                "question": f"What colour is the {art['title']}'s flag?",
                                "answers": []})
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps(squad), encoding="utf-8")
    bank = tiny_bank(tmp_path / "bank")
    out, work = tmp_path / "out", tmp_path / "work"
    with caplog.at_level(logging.INFO, logger="rag"):
        r = trainer.train_reader(tiny_squad, out, work, steps=1, unanswerable=v2,
                                 split_by=tiny_squad, tune_steps=1, bank=bank)
    card = r.card
    assert card["layers"] == 6 and card["max_length"] == 96 and card["steps"] == 1
    assert card["second_phase"]["steps"] == 1
    assert card["second_phase"]["bank"]["fit_corpora"] == ["fit-lakes"]
    assert card["second_phase"]["bank"]["groups"]["written"] == 5
    assert card["second_phase"]["bank"]["choose_after"]["answerable_with_a_unit_in_20"] == 2
    assert "--bank" in card["command"]
    assert json.loads((out / "reader.json").read_text()) == card
    # a whole candidate bundle, sealed; only the selector, fitted on the shipped reader's
    # logits, no longer fits it (`make selector` is the next step)
    from rag.models import bundle

    problems = bundle(out).problems()
    assert len(problems) == 1 and "another reader" in problems[0], problems
    reader = load_reader(str(out / "reader.onnx"))
    assert reader is not None and reader.max_length == 96
    reading = reader.read("How deep is Lake Hauroko?", ["lake: Hauroko; depth: 462 m"], [""],
                          [""])
    assert reading.scores.shape == reading.margins.shape == (1,)
    assert (work / "checkpoint.pt").is_file() and (work / "tune.pt").is_file()
    # run again: both phases resume from their checkpoints, at their end
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rag"):
        trainer.train_reader(tiny_squad, out, work, steps=1, unanswerable=v2,
                             split_by=tiny_squad, tune_steps=1, bank=bank)
    assert "resuming at step 1 of 1" in caplog.text
    assert "second phase resuming at step 1 of 1" in caplog.text


def test_a_selector_fitted_on_another_reader_is_refused():
    from dataclasses import replace

    from rag.errors import ConfigError
    from rag.generate.scoring import reader_for
    from rag.generate.selector import load_selector

    shipped = load_selector()
    assert shipped.reading is not None and reader_for(shipped) is not None  # they match
    other = replace(shipped, meta={**shipped.meta, "reader_sha256": "0" * 64})
    with pytest.raises(ConfigError, match="fitted with another reader"):
        reader_for(other)
