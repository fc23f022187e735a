"""`rag bench` end to end on the seed corpus (real model, real processes), and int8 indexes."""

import json
import subprocess
import sys

import pytest

from rag.config import Settings

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow


def test_bench_measures_every_path_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "bench", "--corpus", str(SEEDS), "--runs", "1",
         "--max-questions", "10", "--scale", "12000", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    ingest = r["ingest"]
    assert (ingest["documents"], ingest["chunks"]) == (2, ingest["chunks_embedded"])
    assert set(ingest["phases_s"]) == {"load", "chunk", "embed", "sentences", "bm25", "write"}
    assert ingest["peak_rss_mb"] > 50 and ingest["tokens"] > 2000
    assert r["resync"]["changed"].endswith(".txt")
    assert 0 < r["resync"]["chunks_embedded"] < ingest["chunks"]  # only the edited document
    assert r["questions"]["n"] == 10
    for part in ("retrieve_ms", "generate_ms", "total_ms"):
        w = r["warm"][part]
        assert 0 < w["p50"] <= w["p95"] <= w["max"]
    assert r["cold"]["ask_s"]["n"] == 1 and r["cold"]["chat_serving_s"]["n"] == 3
    assert r["reference"]["chunks_per_s"] > 0 and r["ratios"]["warm_total_p50"] > 0
    assert r["reference"]["cold_s"]["n"] == 1 and r["ratios"]["cold_ask_p50"] > 0
    for kind in ("flat", "hnsw", "ivfpq"):
        assert r["scale"][kind]["recall@10"] >= 0.9
    grow = r["scale"]["grow"]  # 12,000 chunks re-synced: one document, then a tenth
    assert grow["resync_tenth_changed"] == 120 and grow["segments"] >= 3
    assert grow["after"]["recall@10"] >= 0.95 and 0 < grow["resync_one_s"]["p50"] < 30
    assert "re-sync, 1 document changed" in done.stdout and "cold `rag ask`" in done.stdout
    assert not (SEEDS / "0-seeds").exists()  # the corpus was copied, never edited
    assert sorted(p.name for p in SEEDS.iterdir()) == sorted(
        p.name for p in (ROOT / "seeds").iterdir())


def test_an_int8_index_answers_and_refuses_an_fp32_reader(tmp_path):
    from rag.errors import IndexMismatchError
    from rag.pipeline import RAG, build

    s = Settings(index_dir=str(tmp_path / "ix"), embed_precision="int8")
    build([SEEDS], settings=s)
    ans = RAG.load(settings=s).answer("When does the NATO summit start?")
    assert not ans.abstained and ans.citations
    with pytest.raises(IndexMismatchError, match="all-MiniLM-L6-v2@int8"):
        RAG.load(settings=s.with_(embed_precision="fp32"))
