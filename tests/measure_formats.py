"""Extraction speed per format and a mixed-folder ingest, on generated documents:

    .venv/bin/python -m tests.measure_formats [--runs 5] [--ocr-only]

With Tesseract installed, also OCR: word accuracy (words of the source text found, in order,
in what OCR read) and pages/s on generated 300 dpi scans.

Prints pages/s for a 100-page PDF (PDFium through rag.ingest.formats, and pypdf when installed, as a
reference in the same run), files/s for Word, HTML, Markdown and text, and the time of a full
`rag build` of a 200-file mixed folder (with its progress lines)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag.ingest.formats import extract
from tests.documents import make_docx, make_html, make_pdf

PARAGRAPH = ("The regional council measured river flows at {n} stations this season. Flows "
             "were {p} percent below the long-term average, and the council asked farmers to "
             "cut irrigation by a fifth until the autumn rains arrive.")


def _median_rate(paths: list[Path], runs: int, unit: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for p in paths:
            extract(p, p.read_bytes())
        times.append(time.perf_counter() - t0)
    return unit / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ocr-only", action="store_true")
    args = ap.parse_args()
    runs = args.runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _ocr(root, min(runs, 3))
        if args.ocr_only:
            return
        pages = ["\n\n".join(PARAGRAPH.format(n=i + j, p=j % 30) for j in range(6))
                 for i in range(100)]
        pdf = make_pdf(root / "hundred.pdf", pages, title="River flows",
                       running_header="Regional Council — Annual Report")
        print(f"PDF, 100 pages: {_median_rate([pdf], runs, 100):,.0f} pages/s "
              f"(median of {runs})")
        try:
            import pypdf

            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                [p.extract_text() for p in pypdf.PdfReader(pdf).pages]
                times.append(time.perf_counter() - t0)
            print(f"  reference pypdf: {100 / statistics.median(times):,.0f} pages/s")
        except ImportError:
            pass
        mixed = root / "mixed"
        mixed.mkdir()
        for i in range(200):
            text = [PARAGRAPH.format(n=i, p=k) for k in range(4)]
            kind = ("pdf", "docx", "html", "md", "txt")[i % 5]
            name = mixed / f"report-{i:03d}.{kind}"
            if kind == "pdf":
                make_pdf(name, ["\n\n".join(text[:2]), "\n\n".join(text[2:])])
            elif kind == "docx":
                make_docx(name, [("h1", f"Report {i}")] + [("p", t) for t in text])
            elif kind == "html":
                make_html(name, f"Report {i}", "".join(f"<p>{t}</p>" for t in text))
            elif kind == "md":
                name.write_text(f"# Report {i}\n\n" + "\n\n".join(text) + "\n")
            else:
                name.write_text("\n".join(text) + "\n")
        for kind in ("pdf", "docx", "html", "md", "txt"):
            files = sorted(mixed.glob(f"*.{kind}"))
            print(f"{kind:>4}: {_median_rate(files, runs, len(files)):,.0f} files/s")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rag", "build", str(mixed), "--index",
                        str(root / "ix")], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        print(f"rag build of 200 mixed files (process start included): "
              f"{time.perf_counter() - t0:.1f} s")


def _ocr(root: Path, runs: int) -> None:
    import difflib
    import re
    import shutil

    from tests.documents import make_scan

    if not shutil.which("tesseract"):
        print("OCR: tesseract is not installed")
        return
    # Real prose (the code review guide's paragraphs), four different pages: generated
    # repeats would look like running headers and be dropped.
    from rag.ingest.load import load_documents

    guide = Path(__file__).resolve().parent.parent / "evals" / "docs" / "eng-practices"
    paras = [p for d in load_documents([guide]) for p in d.text.split("\n\n")
             if len(p) > 200 and "\n" not in p][:16]
    pages = ["\n\n".join(paras[i * 4:(i + 1) * 4]) for i in range(4)]
    scan = make_scan(root / "scan.pdf", pages)
    times, got = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        got = extract(scan, scan.read_bytes()).text
        times.append(time.perf_counter() - t0)
    truth = re.findall(r"\w+", " ".join(pages).lower())
    read = re.findall(r"\w+", got.lower())
    matched = sum(b.size for b in difflib.SequenceMatcher(None, truth, read,
                                                          autojunk=False).get_matching_blocks())
    print(f"OCR, {len(pages)} scanned pages at 300 dpi: word accuracy {matched / len(truth):.1%} "
          f"({matched} of {len(truth)} words), {len(pages) / statistics.median(times):.2f} "
          f"pages/s (median of {runs})")


if __name__ == "__main__":
    main()
