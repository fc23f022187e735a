"""Evaluation results to files: results.jsonl, summary.json, report.md and PNG charts.

Also comparing two report folders and checking regression gates.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rag.errors import RagError
from rag.eval.metrics import DEPTH, ItemResult, abstention_curve, hit_curve, item_risk_coverage
from rag.types import BANDS

FAILURES_SHOWN = 40


def write_report(results: Sequence[ItemResult], summary: dict[str, float], out: str | Path,
                 threshold: float | None = None) -> list[Path]:
    """Write every report file into `out`; return their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results.jsonl", "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    curve = abstention_curve(results)
    (folder / "abstention_curve.json").write_text(json.dumps(curve) + "\n", encoding="utf-8")
    rc = item_risk_coverage(results)
    (folder / "risk_coverage.json").write_text(json.dumps(rc) + "\n", encoding="utf-8")
    charts = _charts(results, curve, rc, folder, threshold)
    (folder / "report.md").write_text(markdown(results, summary, charts), encoding="utf-8")
    return [folder / n for n in ("results.jsonl", "summary.json", "abstention_curve.json",
                                 "risk_coverage.json", "report.md")] + charts


def markdown(results: Sequence[ItemResult], summary: dict[str, float],
             charts: Sequence[Path] = ()) -> str:
    lines = ["# Evaluation report", "", "## Overall", "", "| metric | value |", "| --- | --- |"]
    for k, v in summary.items():
        lines.append(f"| {k} | {fmt(k, v)} |")
    lines += ["", "## By source", "",
              "| source | n | answer_correct | answer_contains | f1 | hit@5 | abstain_correct |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    groups: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        key = r.item.sources[0] if r.item.sources else (
            "(unanswerable)" if not r.item.answerable else "(no source)")
        groups[key].append(r)
    for key in sorted(groups):
        rs = groups[key]
        lines.append(f"| {_cell(key)} | {len(rs)} | " + " | ".join(
            _mean(rs, m) for m in ("answer_correct", "answer_contains", "f1", "hit@5",
                                   "abstain_correct")) + " |")
    lines += ["", "## Bands", "",
              "Questions by the band of their answer: `answer` is given without a hedge, "
              "`tentative` shows the closest quote under one, `abstain` says the documents "
              "don't say. `right` counts answers holding an accepted answer from a listed "
              "source.", "", "| questions | answer (right) | tentative (right) | abstain |",
              "| --- | --- | --- | --- |"]
    for label, rs in (("answerable", [r for r in results if r.item.answerable]),
                      ("unanswerable", [r for r in results if not r.item.answerable])):
        if rs:
            cells = []
            for band in BANDS:
                inside = [r for r in rs if r.answer.band == band]
                right = sum(r.right_if_answered for r in inside)
                cells.append(f"{len(inside)} ({right})" if band != "abstain" and
                             label == "answerable" else str(len(inside)))
            lines.append(f"| {label} ({len(rs)}) | " + " | ".join(cells) + " |")
    failures = [r for r in results if not r.correct()]
    lines += ["", f"## Failures ({len(failures)})", "",
              "| id | question | expected | got |", "| --- | --- | --- | --- |"]
    for r in failures[:FAILURES_SHOWN]:
        expected = "(abstain)" if not r.item.answerable else " / ".join(r.item.answers) or "—"
        lines.append(f"| {_cell(r.item.id)} | {_cell(r.item.question)} | {_cell(expected)} | "
                     f"{_cell(r.answer.answer[:200])} |")
    if len(failures) > FAILURES_SHOWN:
        lines.append(f"\n…and {len(failures) - FAILURES_SHOWN} more in results.jsonl.")
    if charts:
        lines += ["", "## Charts", ""] + [f"![{p.stem}]({p.name})" for p in charts]
    return "\n".join(lines) + "\n"


def fmt(key: str, v: float) -> str:
    if key.startswith("n") and float(v).is_integer():
        return str(int(v))
    return f"{v:.1f}" if "_ms" in key else f"{v:.3f}"


def _mean(rs: Sequence[ItemResult], metric: str) -> str:
    vals = [r.scores[metric] for r in rs if metric in r.scores]
    return f"{sum(vals) / len(vals):.3f}" if vals else "—"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _charts(results: Sequence[ItemResult], curve: list[dict[str, float]],
            rc: list[dict[str, float]], folder: Path, threshold: float | None) -> list[Path]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    ks = list(range(1, DEPTH + 1))
    for key, label in (("answer", "passage with an accepted answer"),
                       ("source", "passage from a listed source")):
        ys = hit_curve(results, key)
        if ys:
            ax.plot(ks, ys, marker="o", label=label)
    ax.set(xlabel="k (passages retrieved)", ylabel="hit@k", ylim=(0, 1.02), title="Retrieval hit@k")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    paths.append(_save(fig, folder / "hit_at_k.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ts = [c["threshold"] for c in curve]
    ax.plot(ts, [c["abstain_correct"] for c in curve], label="unanswerable abstained (want high)")
    ax.plot(ts, [c["abstain_wrong"] for c in curve], label="answerable abstained (want low)")
    if threshold is not None:
        ax.axvline(threshold, color="grey", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set(xlabel="abstention threshold", ylabel="share of items", ylim=(0, 1.02),
           title="Abstention trade-off")
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
    paths.append(_save(fig, folder / "abstention.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([c["coverage"] for c in rc], [c["risk"] for c in rc], marker="o")
    if threshold is not None and results:
        answered = sum(r.answer.confidence >= threshold for r in results) / len(results)
        ax.axvline(answered, color="grey", linestyle="--", label=f"threshold {threshold:.2f}")
        ax.legend(loc="upper left", fontsize=8)
    ax.set(xlabel="coverage (share of questions answered, most confident first)",
           ylabel="risk (share of answers wrong)", xlim=(0, 1.02), ylim=(0, 1.02),
           title="Risk-coverage")
    ax.grid(alpha=0.3)
    paths.append(_save(fig, folder / "risk_coverage.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    totals = [r.answer.timings_ms.get("total", 0.0) for r in results]
    ax.hist(totals, bins=min(40, max(5, len(totals) // 3)), color="#4c78a8")
    ax.set(xlabel="time per question (ms)", ylabel="questions", title="Latency")
    paths.append(_save(fig, folder / "latency.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def load_summary(folder: str | Path) -> dict[str, float]:
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise RagError(f"no summary.json in {folder}; run `rag eval ... --out {folder}` first")
    return json.loads(path.read_text(encoding="utf-8"))


def compare(old: dict[str, float], new: dict[str, float]) -> str:
    """A table of every metric in either summary: old, new and the change."""
    rows = [f"{'metric':<24} {'old':>10} {'new':>10} {'delta':>10}"]
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        delta = f"{n - o:+10.3f}" if o is not None and n is not None else f"{'—':>10}"
        rows.append(f"{key:<24} {_num(o):>10} {_num(n):>10} {delta}")
    return "\n".join(rows)


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def parse_gates(specs: Sequence[str]) -> dict[str, float]:
    """`["hit@5=0.9", ...]` to `{"hit@5": 0.9}`; a malformed spec is a usage error."""
    gates = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            gates[name.strip()] = float(value)
        except ValueError:
            raise RagError(f"a gate must look like METRIC=VALUE (got {spec!r})") from None
    return gates


def gate_failures(summary: dict[str, float], minimums: dict[str, float],
                  maximums: dict[str, float] | None = None) -> list[str]:
    """One message per gate the summary fails; a gate on an unknown metric fails too."""
    out = []
    for bounds, below in ((minimums, True), (maximums or {}, False)):
        for name, bound in bounds.items():
            if name not in summary:
                out.append(f"{name} is not in this run's summary (known: "
                           f"{', '.join(sorted(summary))})")
            elif (summary[name] < bound) if below else (summary[name] > bound):
                word = "below the minimum" if below else "above the maximum"
                out.append(f"{name} = {summary[name]:.4f} is {word} {bound}")
    return out
