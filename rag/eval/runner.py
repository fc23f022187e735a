"""Run evaluation sets: read JSONL items, answer each through an answer function, score what
came back. The runner knows nothing of the pipeline: `answer_fn` and `retrieve_fn` are plain
functions (`pipeline_functions` makes them from a loaded `RAG`), so a retrieval figure always
describes the search the answer was given, follow-up rewrite included."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.eval.metrics import DEPTH, EvalItem, ItemResult, is_right, score_item
from rag.types import Answer, Passage

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

# The answer to an item; the float, when not None, overrides the abstention threshold (0 always
# answers: how the runner learns whether an abstention would have been right).
AnswerFn = Callable[[EvalItem, float | None], Answer]
# The passages the search behind an answer returns, to a depth (for hit@k, MRR, nDCG).
RetrieveFn = Callable[[EvalItem, Answer, int], Sequence[Passage]]


def load_set(path: str | Path) -> list[EvalItem]:
    """Read one JSONL evaluation set; a bad line is an error naming the file and line, a
    repeated id a warning."""
    items: list[EvalItem] = []
    p = Path(path)
    if p.is_dir():
        raise RagError(f"evaluation set {p} is a folder; name a JSONL file")
    if not p.is_file():
        raise RagError(f"evaluation set {p} does not exist")
    seen: dict[str, int] = {}
    try:
        with open(p, encoding="utf-8-sig") as fh:  # a byte order mark is no error
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    item = _item(json.loads(line), f"{p.stem}-{n}", p.stem)
                except json.JSONDecodeError as e:
                    raise RagError(f"{p}:{n}: invalid JSON ({e.msg} at column {e.pos + 1})"
                                   ) from None
                except ValueError as e:
                    raise RagError(f"{p}:{n}: not an evaluation item ({e})") from None
                if item.id in seen:
                    log.warning("%s:%d: id %r repeats line %d", p, n, item.id, seen[item.id])
                seen.setdefault(item.id, n)
                items.append(item)
    except UnicodeDecodeError:
        raise RagError(f"{p} is not UTF-8 text; save the evaluation set as UTF-8") from None
    if not items:
        raise RagError(f"evaluation set {p} holds no items")
    return items


def _item(o: Any, default_id: str, set_name: str) -> EvalItem:
    """One checked line: the types the format promises, or ValueError saying which is wrong."""
    if not isinstance(o, dict):
        raise ValueError("a line must be a JSON object")

    def strings(key: str) -> tuple[str, ...]:
        v = o.get(key) or []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValueError(f'"{key}" must be a list of strings (got {json.dumps(v)[:60]})')
        return tuple(v)

    question = o.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('"question" must be a non-empty string')
    answerable = o.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ValueError('"answerable" must be true or false')
    relevance = o.get("relevance") or {}
    if not isinstance(relevance, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in relevance.values()):
        raise ValueError('"relevance" must map source stems to numbers')
    return EvalItem(id=str(o.get("id", default_id)), question=question,
                    answers=strings("answers"), sources=strings("sources"),
                    answerable=answerable, history=strings("history"),
                    relevance={str(k): float(v) for k, v in relevance.items()}, set=set_name)


def run(items: Sequence[EvalItem], answer_fn: AnswerFn, retrieve_fn: RetrieveFn | None = None,
        k: int = 5, progress: bool = False) -> list[ItemResult]:
    """Answer and score every item. `k` is the number of passages an answer is given (scored
    as `hit@k`); without `retrieve_fn` the retrieval metrics read the answer's own passages."""
    from tqdm import tqdm

    out = []
    for it in tqdm(items, desc="evaluating", unit="q", disable=not progress, leave=False):
        ans = answer_fn(it, None)
        deep = retrieve_fn(it, ans, max(DEPTH, k)) if retrieve_fn else ans.passages
        r = score_item(it, ans, deep, k)
        if ans.abstained and it.answerable:
            r.right_if_answered = is_right(it, answer_fn(it, 0.0))
        out.append(r)
    return out


def pipeline_functions(rag: RAG, k: int | None = None, generator: str | None = None
                       ) -> tuple[AnswerFn, RetrieveFn]:
    """The answer and retrieval functions of a loaded pipeline, as the chat page calls it."""

    def answer_fn(it: EvalItem, threshold: float | None) -> Answer:
        return rag.answer(it.question, list(it.history), k=k, generator=generator,
                          threshold=threshold)

    def retrieve_fn(it: EvalItem, ans: Answer, depth: int) -> Sequence[Passage]:
        return rag.search(it.question, list(it.history), k=depth, rewritten=ans.rewritten)

    return answer_fn, retrieve_fn


def run_pipeline(rag: RAG, items: Sequence[EvalItem], k: int | None = None,
                 generator: str | None = None, progress: bool = False) -> list[ItemResult]:
    """`run` through a loaded pipeline (its model loaded before anything is timed)."""
    rag.embedder.encode_query("warm up")
    answer_fn, retrieve_fn = pipeline_functions(rag, k, generator)
    return run(items, answer_fn, retrieve_fn, k or rag.settings.k, progress)


__all__ = ["AnswerFn", "RetrieveFn", "load_set", "pipeline_functions", "run", "run_pipeline"]
