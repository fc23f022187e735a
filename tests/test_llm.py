"""The LLM generator's logic with a scripted chat model (the real servers: test_llm_server.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from rag.errors import LLMError
from rag.generate.base import ABSTAIN_TEXT, Draft
from rag.generate.llm import TENTATIVE, UNSUPPORTED, LLMGenerator
from rag.generate.verify import Verifier
from rag.query import Query

from .conftest import DOC, FakeEmbedder, extractive_with, hand_selector, passages_of

BEES = "Bees pollinate apple blossoms in spring. Without bees the orchards would fail."
QUESTION = "How far does the Clutha flow to the sea?"


class ScriptedChat:
    """Replies with fixed text in small pieces, or fails after some pieces."""

    model = "scripted"

    def __init__(self, reply: str = "", fail_after: int | None = None) -> None:
        self.reply, self.fail_after, self.calls = reply, fail_after, []

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int,
               temperature: float) -> Iterator[str]:
        self.calls.append(messages)
        for i in range(0, len(self.reply), 7):
            if self.fail_after is not None and i // 7 >= self.fail_after:
                raise LLMError("http://127.0.0.1:9/v1 unreachable")
            yield self.reply[i:i + 7]
        if self.fail_after is not None and not self.reply:
            raise LLMError("http://127.0.0.1:9/v1 unreachable")


def _llm(chat: ScriptedChat, threshold: float = 0.5) -> LLMGenerator:
    extractive = extractive_with(hand_selector(threshold=threshold, cov=6.0), max_sentences=1)
    verifier = Verifier(FakeEmbedder().encode_queries, lambda t: 1.0, 0.6, 0.3, max_novel=1.0)
    return LLMGenerator("openai", chat, extractive, verifier, context=2048, reply_tokens=128)


def _run(gen: LLMGenerator, question: str = QUESTION, threshold: float | None = 0.0
         ) -> tuple[list[str], Draft]:
    *pieces, draft = gen.stream(Query.parse(question), passages_of(DOC, BEES), threshold)
    assert isinstance(draft, Draft)
    return pieces, draft


def test_a_supported_sentence_gets_a_citation_quoting_the_sentence_behind_it():
    pieces, draft = _run(_llm(ScriptedChat("The Clutha flows 338 kilometres to the sea [1].")))
    assert "".join(pieces) == "The Clutha flows 338 kilometres to the sea [1]."
    (s,) = draft.sentences
    assert s.supported and s.citations == (1,)
    assert draft.citations[0].quote == "It flows for 338 kilometres to the sea."
    assert draft.generator == "" and draft.fallback is None


def test_a_made_up_number_is_flagged_and_the_supported_sentence_kept():
    reply = "The Clutha flows 450 kilometres to the sea [1]. Bees pollinate apple blossoms [2]."
    _, draft = _run(_llm(ScriptedChat(reply)))
    assert [s.supported for s in draft.sentences] == [False, True]
    assert not draft.abstained


def test_markers_naming_no_passage_are_dropped_and_a_misattributed_citation_is_corrected():
    reply = "It flows for 338 kilometres to the sea [7]. Bees pollinate apple blossoms [1]."
    _, draft = _run(_llm(ScriptedChat(reply)))
    assert all(s.supported for s in draft.sentences)
    by_sentence = [draft.citations[s.citations[0] - 1].doc_id for s in draft.sentences]
    assert by_sentence == ["d1.txt", "d2.txt"]


def test_when_nothing_is_supported_the_extractive_answer_is_given_and_says_why():
    _, draft = _run(_llm(ScriptedChat("Penguins live in Antarctica [1].")))
    assert draft.generator == "extractive" and draft.fallback == f"openai: {UNSUPPORTED}"
    assert draft.sentences[0].text == "It flows for 338 kilometres to the sea."


def test_a_failing_server_falls_back_after_streaming_what_it_sent():
    pieces, draft = _run(_llm(ScriptedChat("The Clutha flows far [1].", fail_after=2)))
    assert "".join(pieces).startswith("The Clutha fl")
    assert draft.generator == "extractive" and "unreachable" in draft.fallback
    assert not draft.abstained


def test_the_fixed_reply_is_an_abstention():
    _, draft = _run(_llm(ScriptedChat(ABSTAIN_TEXT)))
    assert draft.abstained and draft.text == ABSTAIN_TEXT and draft.fallback is None


def test_below_the_calibrated_threshold_the_model_is_not_asked():
    chat = ScriptedChat("The Clutha flows 338 kilometres to the sea [1].")
    _, draft = _run(_llm(chat, threshold=0.999), threshold=None)
    assert draft.abstained and chat.calls == []


@pytest.mark.parametrize("reply, expected", [
    ("How far does the Clutha River flow?\nextra", "How far does the Clutha River flow?"),
    ('Rewritten question: "Who founded it?"', "Who founded it?"), ("", None)])
def test_follow_ups_are_rewritten_by_the_model(reply, expected):
    gen = _llm(ScriptedChat(reply))
    assert gen.rewrite(Query.parse("And how far does it flow?", ["Tell me about the Clutha"])) \
        == expected
    assert gen.rewrite(Query.parse("How far does the Clutha flow?")) is None  # not a follow-up


def test_a_failed_rewrite_keeps_the_history_aware_search():
    gen = _llm(ScriptedChat("", fail_after=0))
    assert gen.rewrite(Query.parse("And how far?", ["Tell me about the Clutha"])) is None


def test_in_the_tentative_band_the_model_is_not_asked_and_the_closest_quote_is_given():
    chat = ScriptedChat("The Clutha flows 338 kilometres to the sea [1].")
    gen = _llm(chat, threshold=0.0)
    gen.extractive.selector = replace(gen.extractive.selector, answer_threshold=0.999)
    gen.extractive.threshold = 0.0
    _, draft = _run(gen, threshold=None)
    assert draft.band == "tentative" and not draft.abstained and chat.calls == []
    assert draft.generator == "extractive" and draft.fallback == f"openai: {TENTATIVE}"


def test_a_new_llm_back_end_is_one_module_and_one_registration(monkeypatch, tmp_path):
    import sys

    from rag.config import Settings
    from rag.generate import BACKENDS, available, make_generator, names, register

    (tmp_path / "echo_backend.py").write_text(
        "from tests.test_llm import ScriptedChat\n"
        "def configured(s):\n    return s.llm_model == 'echo'\n"
        "def make_chat(s):\n"
        "    return ScriptedChat('The Clutha flows 338 kilometres to the sea [1].')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("rag.generate.BACKENDS", dict(BACKENDS))
    register("echo", "echo_backend")
    assert "echo" in names() and "echo" not in available(Settings())
    s = Settings(llm_model="echo")
    assert available(s)[-1] == "echo"
    gen = make_generator("echo", s, FakeEmbedder(), lambda t: 1.0,
                         extractive_with(hand_selector(cov=6.0), max_sentences=1))
    _, draft = _run(gen)
    assert gen.name == "echo" and draft.sentences[0].supported
    assert draft.citations[0].quote == "It flows for 338 kilometres to the sea."
    sys.modules.pop("echo_backend", None)
