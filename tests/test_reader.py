"""The shipped reader through ONNX Runtime, on SQuAD development paragraphs it never saw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.generate.reader import FOLDER, load_reader
from rag.text import sentence_spans

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1-dev-public.json"


def test_the_reader_ships_as_small_int8_onnx_with_its_model_card():
    graph = Path(str(FOLDER / "reader.onnx"))
    assert graph.is_file() and graph.stat().st_size <= 30_000_000
    card = json.loads(Path(str(FOLDER / "reader.json")).read_text(encoding="utf-8"))
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
