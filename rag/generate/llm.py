"""A language model writes the answer; every sentence's citation is then checked.

1. Gate: the learned selector's calibrated confidence that the passages hold the answer (the
   extractive generator's) must reach the answer band, or the model is not asked: below the
   abstention threshold the answer is an abstention, in the tentative band the extractive
   generator quotes the closest passage. So an LLM answer abstains exactly as often as a
   quoted one, and never writes prose over evidence the selector doubts.
2. The model streams its answer to a budgeted prompt (`prompt.py`).
3. Each sentence's `[n]` markers are parsed; markers naming no passage are dropped. The
   sentence is verified against the passages it cites (`verify.py`); when they do not support
   it (or it cites none), the other prompt passages are tried, and one that does support it
   becomes its citation. A sentence no passage supports stays, flagged `supported: false`.
4. When no sentence is supported, or the model fails (unreachable, timeout, error), the
   extractive generator answers instead and the draft says why (`fallback`): a verbatim,
   calibrated quote is worth more than an answer nothing backs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from rag.errors import LLMError
from rag.generate.base import Draft, stream_words
from rag.generate.cite import citation
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.prompt import build_prompt, is_abstention, parse_reply, rewrite_messages
from rag.generate.scoring import Scored
from rag.generate.verify import Support, Verifier
from rag.query import Query
from rag.types import Citation, Passage, Sentence

REWRITE_TOKENS = 64
UNSUPPORTED = "no sentence of the model's answer was supported by the passages"
TENTATIVE = "the confidence is in the tentative band, so the closest passage is quoted"


class ChatModel(Protocol):
    """A chat-completions endpoint that streams its reply (`openai.py`, `llamacpp.py`)."""

    model: str

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int,
               temperature: float) -> Iterator[str]:
        """Reply pieces; raises LLMError when the model cannot answer."""
        ...


class LLMGenerator:
    """Answers written by `chat` from the retrieved passages, with verified citations."""

    def __init__(self, name: str, chat: ChatModel, extractive: ExtractiveGenerator,
                 verifier: Verifier, *, context: int, reply_tokens: int,
                 temperature: float = 0.0, max_sentences: int = 3,
                 rewrite_follow_ups: bool = True) -> None:
        self.name = name
        self.chat = chat
        self.extractive = extractive
        self.verifier = verifier
        self.context = context
        self.reply_tokens = reply_tokens
        self.temperature = temperature
        self.max_sentences = max_sentences
        self.rewrite_follow_ups = rewrite_follow_ups

    def generate(self, query: Query, passages: Sequence[Passage],
                 threshold: float | None = None) -> Draft:
        *_, draft = self.stream(query, passages, threshold)
        assert isinstance(draft, Draft)
        return draft

    def stream(self, query: Query, passages: Sequence[Passage],
               threshold: float | None = None) -> Iterator[str | Draft]:
        scored = self.extractive.score(query, passages)
        confidence = scored.confidence
        band = self.extractive.band(confidence, threshold)
        if not scored.candidates or band == "abstain":
            yield from stream_words(Draft.abstain(confidence))
            return
        if band == "tentative":
            yield from self._fall_back(query, scored, threshold, TENTATIVE)
            return
        prompt = build_prompt(query, passages, context=self.context,
                              reply_tokens=self.reply_tokens, max_sentences=self.max_sentences)
        reply: list[str] = []
        try:
            for piece in self.chat.stream(prompt.messages, self.reply_tokens, self.temperature):
                reply.append(piece)
                yield piece
        except LLMError as e:
            yield from self._fall_back(query, scored, threshold, str(e))
            return
        draft = self.verify("".join(reply), prompt.passages, confidence)
        if draft is None:
            yield from self._fall_back(query, scored, threshold, UNSUPPORTED)
            return
        yield draft

    def verify(self, reply: str, passages: Sequence[Passage], confidence: float
               ) -> Draft | None:
        """The reply as a draft of checked sentences; None when no sentence is supported."""
        said = [s for s in parse_reply(reply) if not is_abstention(s.text)]
        if not said:
            return Draft.abstain(confidence)  # the model's fixed "not in the passages" reply
        citations: list[Citation] = []
        numbers: dict[tuple[str, int, int], int] = {}  # (chunk, quote span) -> citation n
        sentences = []
        for s in said:
            cited = [n for n in s.cited if 1 <= n <= len(passages)]
            support = self.verifier.check(s.text, [passages[n - 1].chunk.text for n in cited]) \
                if cited else None
            if support is None or not support.supported:
                better = self._best_support(s.text, passages)
                if better is not None:
                    cited, support = [better[0]], better[1]
            ns: list[int] = []
            for n, (qs, qe) in zip(cited, support.quotes if support else (), strict=False):
                key = (passages[n - 1].chunk.chunk_id, qs, qe)
                if key not in numbers:
                    numbers[key] = len(citations) + 1
                    citations.append(citation(numbers[key], passages[n - 1], qs, qe))
                ns.append(numbers[key])
            sentences.append(Sentence(s.text, tuple(dict.fromkeys(ns)),
                                      bool(support and support.supported)))
        if not any(s.supported for s in sentences):
            return None
        return Draft(tuple(sentences), tuple(citations), False, confidence)

    def _best_support(self, text: str, passages: Sequence[Passage]
                      ) -> tuple[int, Support] | None:
        """The passage (1-based) that best supports `text` on its own, if any does."""
        checks = [(n, self.verifier.check(text, [p.chunk.text]))
                  for n, p in enumerate(passages, 1)]
        good = [(n, s) for n, s in checks if s.supported]
        return max(good, key=lambda c: (c[1].coverage, c[1].cosine)) if good else None

    def _fall_back(self, query: Query, scored: Scored, threshold: float | None,
                   reason: str) -> Iterator[str | Draft]:
        draft = self.extractive.compose(query, scored, threshold)  # the gate's scores
        yield from stream_words(draft.handed_over(self.extractive.name, f"{self.name}: {reason}"))

    def rewrite(self, query: Query) -> str | None:
        """A follow-up rewritten by the model into a standalone question (None: keep the
        history-aware search text, also when the model fails or replies with nonsense)."""
        if not (self.rewrite_follow_ups and query.follow_up):
            return None
        try:
            reply = "".join(self.chat.stream(rewrite_messages(query), REWRITE_TOKENS, 0.0))
        except LLMError:
            return None
        line = next((x.strip() for x in reply.splitlines() if x.strip()), "")
        line = line.removeprefix("Rewritten question:").strip().strip('"“”').strip()
        return line if 3 <= len(line) <= 400 else None
