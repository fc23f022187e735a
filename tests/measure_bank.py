"""The real-document question bank (`evals/bank/`), per corpus and per split:

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.measure_bank [--split report] [--only NAME]

Each corpus (`evals/bank/NAME/docs`, its split in `SOURCE.json`) is built into its own index
under `~/.cache/rag-bank/NAME` (or `$RAG_BANK_CACHE/NAME`; incrementally: a second run reads
nothing again), and its questions (`evals/bank/NAME.jsonl`) are answered by the pipeline as
configured. Printed per corpus, then pooled per split: hit@5 of retrieval, answer_correct,
answerable questions abstained and in the answer band, unanswerable questions abstained and
in the answer band, and the table questions answered right. `--json FILE` keeps the
per-corpus figures."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

BANK = Path(__file__).resolve().parent.parent / "evals" / "bank"
CACHE = Path(os.environ.get("RAG_BANK_CACHE", Path.home() / ".cache" / "rag-bank"))
COLUMNS = ("n", "hit@5", "correct", "ans_abstained", "ans_band", "unans_abstained",
           "unans_band", "table_right")


def corpora(bank: Path = BANK) -> list[dict]:
    """Every corpus of the bank with its split, in name order."""
    out = []
    for source in sorted(bank.glob("*/SOURCE.json")):
        meta = json.loads(source.read_text(encoding="utf-8"))
        meta["name"] = source.parent.name
        meta["set"] = bank / f"{source.parent.name}.jsonl"
        if meta["set"].is_file():
            out.append(meta)
    return out


def figures(results, kinds: dict[str, str]) -> dict[str, float]:
    """The bank's figures over some item results (None where no item applies)."""
    answerable = [r for r in results if r.item.answerable]
    unanswerable = [r for r in results if not r.item.answerable]
    table = [r for r in answerable if kinds.get(r.item.id) == "table"]

    def mean(rows, value):
        return round(sum(map(value, rows)) / len(rows), 3) if rows else None

    return {"n": len(results),
            "hit@5": mean([r for r in answerable if "hit@5" in r.scores],
                          lambda r: r.scores["hit@5"]),
            "correct": mean(answerable, lambda r: r.scores.get("answer_correct", 0.0)),
            "ans_abstained": mean(answerable, lambda r: r.answer.abstained),
            "ans_band": mean(answerable, lambda r: r.answer.band == "answer"),
            "unans_abstained": mean(unanswerable, lambda r: r.answer.abstained),
            "unans_band": mean(unanswerable, lambda r: r.answer.band == "answer"),
            "table_right": mean(table, lambda r: r.scores.get("answer_correct", 0.0))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("fit", "choose", "report"))
    ap.add_argument("--only", action="append", default=[], metavar="NAME")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    from rag.config import Settings
    from rag.eval.runner import load_set, run_pipeline
    from rag.pipeline import RAG, build

    rows: dict[str, dict] = {}
    pooled: dict[str, list] = {}
    kinds_all: dict[str, str] = {}
    for meta in corpora():
        if (args.split and meta["split"] != args.split) or \
                (args.only and meta["name"] not in args.only):
            continue
        s = Settings.load().with_(index_dir=str(CACHE / meta["name"]),
                                  corpus=(str(BANK / meta["name"] / "docs"),))
        build([BANK / meta["name"] / "docs"], settings=s)
        rag = RAG.load(settings=s)
        kinds = {json.loads(line)["id"]: json.loads(line).get("kind", "")
                 for line in meta["set"].read_text(encoding="utf-8").splitlines()
                 if line.strip()}
        kinds_all.update(kinds)
        results = run_pipeline(rag, load_set(meta["set"]))
        rows[meta["name"]] = {"split": meta["split"], **figures(results, kinds)}
        pooled.setdefault(meta["split"], []).extend(results)
        print(_line(meta["name"], meta["split"], rows[meta["name"]]), flush=True)
    print()
    for split, results in sorted(pooled.items()):
        print(_line(f"all {split}", split, figures(results, kinds_all)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def _line(name: str, split: str, f: dict) -> str:
    cells = " ".join(f"{c}={f[c]}" for c in COLUMNS)
    return f"{name:32s} {split:7s} {cells}"


if __name__ == "__main__":
    main()
