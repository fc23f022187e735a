"""The ONNX embedder against sentence-transformers, its cache, and a query path without torch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.embed import OnnxEmbedder, SentenceTransformerEmbedder, model_name

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow

TEXTS = [
    "Who is New Zealand's Foreign Minister?",
    "a",
    "Ünïcödé, emoji 🦜 and 中文 in one line.",
    "word " * 400,  # far past the 256 word pieces the model reads: truncated alike
    *(p.read_text(encoding="utf-8")[:1500] for p in sorted(SEEDS.glob("*.txt"))),
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return SentenceTransformerEmbedder().encode_documents(TEXTS)


def test_onnx_vectors_match_sentence_transformers(reference):
    onnx = OnnxEmbedder("fp32")
    docs = onnx.encode_documents(TEXTS)  # longest first in token-budget batches
    cos = (docs * reference).sum(axis=1)
    assert cos.min() >= 0.9999, cos
    one = np.vstack([onnx.encode_query(t) for t in TEXTS])  # one at a time, cached after
    assert ((one * reference).sum(axis=1) >= 0.9999).all()
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert onnx.name == SentenceTransformerEmbedder.name  # interchangeable: same index


def test_int8_is_close_but_named_apart(reference):
    int8 = OnnxEmbedder("int8")
    cos = (int8.encode_documents(TEXTS) * reference).sum(axis=1)
    assert cos.min() >= 0.97, cos
    assert int8.name == model_name("int8") != model_name("fp32")


def test_word_pieces_are_counted_as_the_model_counts_them():
    text = "Christopher Luxon's NATO summit, 9-11 July 2024."
    assert OnnxEmbedder().count_word_pieces(text) == \
        SentenceTransformerEmbedder().count_word_pieces(text)


def test_the_export_is_written_once_into_an_empty_cache(tmp_path):
    from rag.embed.export import exported, model_folder

    graph, tokenizer = exported("fp32", str(tmp_path))
    assert graph.parent == model_folder(str(tmp_path)) and tokenizer.is_file()
    assert [p.name for p in graph.parent.iterdir() if p.name.startswith(".")] == []
    stamp = graph.stat().st_mtime_ns
    assert exported("fp32", str(tmp_path))[0].stat().st_mtime_ns == stamp  # not redone


def test_an_unwritable_cache_is_named_in_one_line(tmp_path):
    from rag.embed.export import exported
    from rag.errors import RagError

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(RagError, match="set RAG_MODEL_CACHE to a writable folder"):
        exported("fp32", str(blocked / "cache"))


def test_answering_never_imports_torch(seed_index: Path):
    """The query path, from the Python API and the CLI, runs without torch or
    sentence-transformers (they take ~10 s to import)."""
    code = (
        "import sys\n"
        "from rag.pipeline import RAG\n"
        f"ans = RAG.load({str(seed_index)!r}).answer('When does the NATO summit start?')\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers')"
        " if m in sys.modules]\n"
        "print(heavy, ans.abstained)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "[] False"
    cli = subprocess.run([sys.executable, "-X", "importtime", "-m", "rag.cli", "ask",
                          "When does the NATO summit start?", "--index", str(seed_index),
                          "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert json.loads(cli.stdout)["citations"]
    imported = {line.split("|")[-1].strip() for line in cli.stderr.splitlines()}
    assert not {"torch", "sentence_transformers", "transformers"} & imported


def test_a_thread_limit_is_an_embedder_of_its_own_not_a_change_to_the_shared_one():
    """The chat page asks for one thread per request; a --watch build in the same process
    keeps every core (before, the page's limit was set on the shared embedder)."""
    from rag.config import Settings
    from rag.embed import embedder_for

    s = Settings()
    serving, building = embedder_for(s, threads=1), embedder_for(s)
    assert serving is not building and (serving.threads, building.threads) == (1, 0)
    assert embedder_for(s, threads=1) is serving  # still one per configuration
    q = "Who will join Luxon at the Indo-Pacific Four meeting?"
    assert float(serving.encode_query(q) @ building.encode_query(q)) > 0.9999
    assert building._load()[0].get_session_options().intra_op_num_threads == 0
    assert serving._load()[0].get_session_options().intra_op_num_threads == 1
