"""Public QA data sets to a corpus folder (`DIR/docs/`) and an evaluation set (`DIR/eval.jsonl`).

SQuAD becomes one document per paragraph, because SQuAD annotates each answer in one paragraph:
the paragraph is the source a retriever should find, and `sources` can name it exactly. The
article title goes into the front matter. Both importers stream their input, so files of tens of
megabytes need little memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError


@dataclass
class ImportReport:
    documents: int = 0
    questions: int = 0
    unanswerable: int = 0
    out: Path = Path()


def import_squad(file: str | Path, out: str | Path, limit_articles: int | None = None,
                 sample: int | None = None, seed: int = 0) -> ImportReport:
    """SQuAD v1.1 or v2.0 JSON to documents (one per paragraph) and an evaluation set.

    `sample` keeps a seeded uniform sample of the questions (reservoir sampling, so the file
    is still read once, front to back); every paragraph of the imported articles is kept.
    """
    import ijson

    src = Path(file)
    if not src.is_file():
        raise RagError(f"SQuAD file {src} does not exist")
    docs, report = _prepare(out)
    rng = random.Random(seed)
    kept: list[dict[str, Any]] = []
    seen = 0
    with open(src, "rb") as fh, open(report.out / "eval.jsonl", "w", encoding="utf-8") as ev:
        try:
            for a, article in enumerate(ijson.items(fh, "data.item")):
                if limit_articles is not None and a >= limit_articles:
                    break
                title = str(article.get("title", f"article {a}")).replace("_", " ")
                for p, para in enumerate(article.get("paragraphs", [])):
                    stem = f"{slug(title)}-{p:03d}"
                    _write_doc(docs / f"{stem}.md", para["context"], title=title, paragraph=p,
                               source="SQuAD", license="CC BY-SA 4.0")
                    report.documents += 1
                    for qa in para.get("qas", []):
                        item = _squad_item(qa, stem)
                        seen += 1
                        if sample is None:
                            ev.write(json.dumps(item, ensure_ascii=False) + "\n")
                        elif len(kept) < sample:
                            kept.append(item)
                        elif (j := rng.randrange(seen)) < sample:
                            kept[j] = item
        except (ijson.JSONError, KeyError, TypeError) as e:
            raise RagError(f"{src} is not a SQuAD JSON file ({e})") from None
        for item in kept:
            ev.write(json.dumps(item, ensure_ascii=False) + "\n")
    report.questions = len(kept) if sample is not None else seen
    report.unanswerable = _count_unanswerable(report.out / "eval.jsonl")
    if report.documents == 0:
        raise RagError(f"{src} holds no SQuAD articles")
    return report


def _squad_item(qa: dict[str, Any], stem: str) -> dict[str, Any]:
    impossible = bool(qa.get("is_impossible", False))
    answers = [] if impossible else list(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
    return {"id": str(qa["id"]), "question": qa["question"].strip(), "answers": answers,
            "sources": [] if impossible else [stem], "answerable": not impossible}


def import_beir(folder: str | Path, out: str | Path, split: str = "test") -> ImportReport:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) to documents and a
    retrieval evaluation set whose `relevance` carries the qrels grades."""
    root = Path(folder)
    paths = [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"]
    for p in paths:
        if not p.is_file():
            raise RagError(f"{p} is missing; a BEIR folder has corpus.jsonl, queries.jsonl "
                           f"and qrels/{split}.tsv")
    docs, report = _prepare(out)
    qrels: dict[str, dict[str, float]] = {}
    with open(paths[2], encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for _, o in _jsonl(paths[0]):
        doc_id = str(o["_id"])
        stem = stems[doc_id] = _safe_stem(doc_id, taken)
        taken.add(stem)
        _write_doc(docs / f"{stem}.md", o.get("text", ""), title=o.get("title") or doc_id,
                   beir_id=doc_id)
        report.documents += 1
    with open(report.out / "eval.jsonl", "w", encoding="utf-8") as ev:
        for _, o in _jsonl(paths[1]):
            graded = qrels.get(str(o["_id"]))
            if not graded:
                continue
            relevance = {stems[d]: g for d, g in graded.items() if d in stems and g > 0}
            ev.write(json.dumps({"id": str(o["_id"]), "question": o["text"], "answers": [],
                                 "sources": sorted(relevance, key=lambda s: -relevance[s]),
                                 "answerable": True, "relevance": relevance},
                                ensure_ascii=False) + "\n")
            report.questions += 1
    return report


def _prepare(out: str | Path) -> tuple[Path, ImportReport]:
    folder = Path(out)
    docs = folder / "docs"
    if docs.exists() and any(docs.iterdir()):
        raise RagError(f"{docs} already holds files; import into an empty folder")
    docs.mkdir(parents=True, exist_ok=True)
    return docs, ImportReport(out=folder)


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as e:
                    raise RagError(f"{path}:{n}: not JSON ({e})") from None


def _write_doc(path: Path, text: str, **meta: Any) -> None:
    import frontmatter

    path.write_text(frontmatter.dumps(frontmatter.Post(text.strip(), **meta)) + "\n",
                    encoding="utf-8")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "doc"


def _safe_stem(doc_id: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", doc_id).strip("._")[:80] or "doc"
    if stem in taken:
        stem = f"{stem}-{hashlib.sha1(doc_id.encode()).hexdigest()[:8]}"
    return stem


def _count_unanswerable(path: Path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if '"answerable": false' in line)
