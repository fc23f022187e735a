"""The title and date each real document gets, to be checked by eye:

    .venv/bin/python -m tests.measure_titles [--kinds csv,xlsx,...] [--json FILE]

Reads every CSV, TSV, workbook, Word, PowerPoint, text, HTML and PDF file of the question bank
(`evals/bank/*/docs`) and the seed corpus (a file held twice is read once) and prints one line
each: file, title, date. `--json` also writes the rows, to compare two runs."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from rag.ingest.load import load_file

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("csv", "tsv", "tab", "xlsx", "docx", "pptx", "txt", "html", "pdf")


def real_files(kinds: tuple[str, ...] = KINDS) -> list[Path]:
    """The real documents of these kinds, each once (the first of identical copies)."""
    seen: set[str] = set()
    out = []
    candidates = sorted((ROOT / "evals" / "bank").glob("*/docs/**/*")) + \
        sorted((ROOT / "seeds").glob("*"))
    for path in candidates:
        if not path.is_file() or path.suffix.lower().lstrip(".") not in kinds:
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(path)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    rows = []
    for path in real_files(tuple(args.kinds.split(","))):
        doc = load_file(path, path.name, ocr=False)
        rel = path.relative_to(ROOT).as_posix()
        rows.append({"file": rel, "title": doc.title if doc else "(skipped)",
                     "date": doc.date if doc else None})
    width = max(len(Path(r["file"]).name) for r in rows)
    for r in rows:
        print(f"{Path(r['file']).name:<{width}}  {r['date'] or '-':<10}  {r['title']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False),
                                   encoding="utf-8")


if __name__ == "__main__":
    main()
