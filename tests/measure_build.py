"""Chunks and build time of one folder, and each document's share of the chunks and the text:

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.measure_build FOLDER [--runs 3]

Each run builds a fresh index of FOLDER in a temporary directory with the default settings;
printed: the chunk count, the build seconds of every run and their median, and per document
its share of the text and of the chunks (a big sheet should take about its share)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from rag.config import Settings
    from rag.ingest.chunk import Chunker
    from rag.ingest.load import load_documents
    from rag.pipeline import build

    folder = Path(args.folder).resolve()
    times, chunks = [], 0
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            s = Settings().with_(index_dir=str(Path(tmp) / "ix"), corpus=(str(folder),))
            t = time.perf_counter()
            chunks = build([folder], settings=s).chunks_total
            times.append(time.perf_counter() - t)
    print(f"{folder.name}: {chunks} chunks; build {', '.join(f'{t:.1f}' for t in times)} s "
          f"(median {statistics.median(times):.1f} s)")
    s = Settings()
    chunker = Chunker(s.chunk_tokens, s.chunk_overlap, s.chunk_headers)
    docs = load_documents([folder])
    counts = {d.doc_id: len(chunker.split(d)) for d in docs}
    text, total = sum(len(d.text) for d in docs), sum(counts.values())
    for d in docs:
        print(f"  {d.doc_id[:50]:50s} text {len(d.text) / text:6.1%}  "
              f"chunks {counts[d.doc_id] / total:6.1%} ({counts[d.doc_id]})")


if __name__ == "__main__":
    main()
