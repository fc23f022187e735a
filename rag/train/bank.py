"""The real-document question bank (`evals/bank/`) as training data.

Each corpus `NAME/` holds its documents (`docs/`) and says its split in `SOURCE.json`: `fit`
corpora train the reader's second phase and fit the selector, `choose` corpora choose the
selector's thresholds, `report` corpora are never read here. Questions are in `NAME.jsonl`
(the evaluation format). Documents are read and cut exactly as the product reads and cuts them
(`load_documents`, `Chunker.segment`), so a table row is a unit with its column names.

Besides the written questions, tables yield questions made by rule: "What is the {column} of
{row key}?" answered by the cell, for a key column whose values name their rows.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError
from rag.eval.metrics import EvalItem
from rag.generate.reader import CONTEXT_WORDS, table_row
from rag.ingest.formats.blocks import CELL

SPLITS = ("fit", "choose", "report")
MADE_PER_TABLE = 12  # rule-made questions per table: many tables, none dominating
MAX_KEY_CHARS = 60


@dataclass(frozen=True)
class Corpus:
    name: str
    split: str
    docs: Path
    questions: Path


@dataclass(frozen=True)
class Unit:
    """A sentence or a table row of a corpus, as the reader reads it."""

    doc_id: str
    title: str
    text: str  # `Candidate.shown`: a row under its column names
    previous: str  # the words before it in its chunk (none for a row)
    row: bool
    cells: tuple[tuple[str, str], ...] = ()  # a row's (column name, value), when they line up


def corpora(bank: str | Path, split: str) -> list[Corpus]:
    """The bank's corpora of one split, in name order."""
    if split not in SPLITS:
        raise RagError(f"unknown split {split!r}: one of {', '.join(SPLITS)}")
    root = Path(bank)
    if not root.is_dir():
        raise RagError(f"question bank {root} does not exist")
    out = []
    for source in sorted(root.glob("*/SOURCE.json")):
        meta = json.loads(source.read_text(encoding="utf-8"))
        name = source.parent.name
        questions = root / f"{name}.jsonl"
        if meta.get("split") == split and questions.is_file():
            out.append(Corpus(name, split, source.parent / "docs", questions))
    return out


def units(corpus: Corpus) -> list[Unit]:
    """Every sentence and table row of a corpus's documents, each once."""
    from rag.ingest.chunk import Chunker
    from rag.ingest.load import load_documents

    out: list[Unit] = []
    seen: set[tuple[str, int]] = set()
    chunker = Chunker()
    for doc in load_documents([corpus.docs]):
        if doc.doc_id.endswith("LICENSE"):
            continue
        for chunk, spans in chunker.segment(doc):
            for s, e in spans:
                if (doc.doc_id, chunk.start + s) in seen:
                    continue
                seen.add((doc.doc_id, chunk.start + s))
                text = chunk.text[s:e]
                row = bool(chunk.header)
                before = "" if row else " ".join(chunk.text[:s].split()[-CONTEXT_WORDS:])
                names = chunk.header.rsplit("\n", 1)[-1].split(CELL) if row else []
                values = text.split(CELL)
                cells = tuple((n.strip(), v.strip()) for n, v in zip(names, values, strict=True)
                              ) if row and len(names) == len(values) else ()
                out.append(Unit(doc.doc_id, doc.title, table_row(chunk.header, text) if row
                                else " ".join(text.split()), before, row, cells))
    return out


def questions(corpus: Corpus) -> list[EvalItem]:
    from rag.eval.runner import load_set

    return load_set(corpus.questions)


@dataclass(frozen=True)
class Made:
    """A question made from a table row: its answer is `answer`, a cell of `unit`."""

    question: str
    answer: str
    unit: Unit


def table_questions(rows: Sequence[Unit], seed: int) -> list[Made]:
    """Up to `MADE_PER_TABLE` questions per table (rows grouped by document and column
    names): the key column is the first whose values are distinct, short and not numbers."""
    rng = random.Random(seed)
    tables: dict[tuple[str, tuple[str, ...]], list[Unit]] = {}
    for u in rows:
        if u.row and len(u.cells) >= 2:
            tables.setdefault((u.doc_id, tuple(n for n, _ in u.cells)), []).append(u)
    out: list[Made] = []
    for (_, names), body in sorted(tables.items()):
        key = _key_column(names, [u.cells for u in body])
        if key is None:
            continue
        for u in rng.sample(body, min(MADE_PER_TABLE, len(body))):
            k = u.cells[key][1]
            others = [(n, v) for i, (n, v) in enumerate(u.cells) if i != key and n and v]
            if others:
                name, value = rng.choice(others)
                out.append(Made(f"What is the {name} of {k}?", value, u))
    return out


def _key_column(names: Sequence[str], body: Sequence[Sequence[tuple[str, str]]]) -> int | None:
    for i, name in enumerate(names):
        values = [c[i][1] for c in body]
        if len(body) >= 3 and len(set(values)) == len(values) and all(
                v and len(v) <= MAX_KEY_CHARS and not re.fullmatch(r"[\d.,%$\s-]+", v)
                for v in values) and name:
            return i
    return None


def cell_span(text: str, answer: str) -> tuple[int, int] | None:
    """Where `answer` first occurs in `text` (case folded), or None."""
    at = text.lower().find(answer.lower())
    return (at, at + len(answer)) if at >= 0 and answer else None

