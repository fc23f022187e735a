"""The seed set and 300 SQuAD questions through every store, in one run:

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.measure_milvus [--work build/milvus-bench]

Stores: the local index, Milvus 2.3.5's own standalone server (PyPI's `milvus` package: the C++
engine; BM25 scored by the product) and Milvus Lite 3's server (the engine's BM25 and fusion),
both on loopback. Each builds the seed corpus and the SQuAD sample with the real model and
runs `rag eval`; printed: hit@5, MRR, answer_contains and warm p50 / p95 per store and set,
and how many answers differ from the local store's, item by item."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad-v1.1-dev-public.json"
RAG = str(Path(sys.executable).parent / "rag")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="build/milvus-bench")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    squad = work / "squad"
    subprocess.run([RAG, "import", "squad", str(SQUAD), "--out", str(squad), "--sample", "300",
                    "--seed", "1"], check=True)
    sets = {"seed": (ROOT / "seeds", ROOT / "evals" / "seed.jsonl"),
            "squad": (squad / "docs", squad / "eval.jsonl")}

    from .conftest import free_port
    from .milvus_server import start

    server = start(work / "milvus-server")
    lite_port = free_port()
    lite = subprocess.Popen([str(Path(sys.executable).parent / "milvus-lite"), "server",
                             "--data-dir", str(work / "lite"), "--host", "127.0.0.1", "--port",
                             str(lite_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(5)
    stores = {"local": {},
              "milvus 2.3.5": {"RAG_STORE": "milvus",
                               "RAG_MILVUS_URI": f"http://127.0.0.1:{server.listen_port}"},
              "milvus-lite 3.2.2": {"RAG_STORE": "milvus",
                                    "RAG_MILVUS_URI": f"http://127.0.0.1:{lite_port}"}}
    rows, answers = [], {}
    try:
        for store, env in stores.items():
            for name, (docs, questions) in sets.items():
                e = {**os.environ, **env, "RAG_MILVUS_COLLECTION": name.replace("-", "_")}
                index = work / f"ix-{store.split()[0]}-{name}"
                out = work / f"report-{store.split()[0]}-{name}"
                t = time.perf_counter()
                subprocess.run([RAG, "build", str(docs), "--index", str(index)], env=e,
                               check=True, stdout=subprocess.DEVNULL)
                built = time.perf_counter() - t
                subprocess.run([RAG, "eval", str(questions), "--index", str(index), "--out",
                                str(out)], env=e, check=True, stdout=subprocess.DEVNULL)
                m = json.loads((out / "summary.json").read_text())
                answers[store, name] = [json.loads(line) for line in
                                        (out / "results.jsonl").read_text().splitlines()]
                rows.append((store, name, m, built))
                print(store, name, "done", flush=True)
    finally:
        server.stop()
        lite.terminate()
    print("| store | set | hit@5 | MRR | answer_contains | warm p50 / p95 | build | "
          "answers unlike the local store's |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for store, name, m, built in rows:
        base = answers["local", name]
        mine = answers[store, name]
        differ = sum(_said(a) != _said(b) for a, b in zip(base, mine, strict=True))
        print(f"| {store} | {name} | {m['hit@5']:.3f} | {m['mrr']:.3f} | "
              f"{m['answer_contains']:.3f} | {m['latency_ms_p50']:.0f} / "
              f"{m['latency_ms_p95']:.0f} ms | {built:.0f} s | {differ} of {len(base)} |")


def _said(result: dict) -> tuple:
    """An item's answer, its citations and its passages."""
    a = result["answer"]
    return (a["answer"], [c["chunk_id"] for c in a["citations"]],
            [p["chunk_id"] for p in a["passages"]])


if __name__ == "__main__":
    main()
