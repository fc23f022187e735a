"""Fixtures: a deterministic fake embedder for fast tests, the real model on the seed corpus."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embed.base import TextVectors
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.features import FEATURES
from rag.generate.selector import CONFIDENCE_INPUTS, Linear, Selector
from rag.text import terms
from rag.types import Chunk, Passage

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EVAL_SET = ROOT / "evals" / "seed.jsonl"


class FakeEmbedder(TextVectors):
    """Hashed bag of stems: texts sharing words are similar. Counts what it embeds."""

    name = "fake-hash-embedder"
    dim = 64

    def __init__(self) -> None:
        self.embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for t in terms(text) or ["<empty>"]:
            v[int(hashlib.md5(t.encode()).hexdigest(), 16) % self.dim] += 1.0
        return v / np.linalg.norm(v)

    def encode_documents(self, texts: Sequence[str], progress: bool = False,
                         unit: str = "chunks") -> np.ndarray:
        self.embedded += len(texts)
        return super().encode_documents(texts, progress, unit)


# Hand-made passages and a selector with hand-set weights, for the generators' unit tests.
DOC = ("The Clutha is the longest river in the South Island. It flows for 338 kilometres to "
       "the sea. Farmers in Otago use its water for irrigation.")


def passages_of(*texts: str) -> list[Passage]:
    out = []
    for rank, text in enumerate(texts, 1):
        doc = f"d{rank}.txt"
        out.append(Passage(Chunk(f"{doc}#0", doc, 0, text, 100, 100 + len(text)), 0.5, rank,
                           title=f"Doc {rank}"))
    return out


def hand_linear(weights: dict[str, float], names: tuple[str, ...], bias: float = 0.0
                ) -> Linear:
    n = len(names)
    return Linear((0.0,) * n, (1.0,) * n, tuple(weights.get(f, 0.0) for f in names), bias)


def hand_selector(threshold: float = 0.5, second_ratio: float = 0.5, **weights: float) -> Selector:
    """Hand-set weights on raw features; confidence = sigmoid(best logit - 2)."""
    return Selector(FEATURES, hand_linear(weights, FEATURES),
                    hand_linear({"top": 1.0}, CONFIDENCE_INPUTS, -2.0), threshold, second_ratio)


def flat_idf(term: str) -> float:
    """Every word is in the index alike; a never-indexed term (the extractor probes one with
    a leading NUL) weighs more, as in a real index."""
    return 5.0 if term.startswith("\0") else 1.0


def extractive_with(selector: Selector, threshold: float | None = None,
                    max_sentences: int = 2) -> ExtractiveGenerator:
    return ExtractiveGenerator(FakeEmbedder(), flat_idf, selector, threshold, max_sentences)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A tiny corpus of three documents, one with front matter."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "apples.md").write_text(
        "---\ntitle: Apples\ndate: 2024-05-01\nurl: https://example.org/apples\n---\n"
        "Apples grow on trees in orchards. The harvest starts in autumn.\n"
        "Farmers in Nelson picked 3,000 tonnes last year.\n", encoding="utf-8")
    (d / "rivers.txt").write_text(
        "Rivers of the South Island\nThe Clutha is the longest river in the South Island. "
        "It flows for 338 kilometres to the sea.\n", encoding="utf-8")
    (d / "sub").mkdir()
    (d / "sub" / "bees.txt").write_text(
        "Bees pollinate apple blossoms in spring. Without bees the orchards would fail.\n",
        encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed corpus indexed once per session with the real model."""
    from rag.pipeline import build

    folder = tmp_path_factory.mktemp("seed-index")
    build([SEEDS], settings=Settings(index_dir=str(folder)))
    return folder


@pytest.fixture(scope="session")
def seed_rag(seed_index: Path):
    from rag.pipeline import RAG

    return RAG.load(seed_index, settings=Settings())


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "seeds"
    shutil.copytree(SEEDS, dest)
    return dest


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    d = tmp_path / "beir"
    (d / "qrels").mkdir(parents=True)
    (d / "corpus.jsonl").write_text("\n".join(json.dumps(o) for o in [
        {"_id": "d1", "title": "Kiwi", "text": "The kiwi is a flightless bird."},
        {"_id": "d/2", "title": "Tui", "text": "The tui is a songbird."},
        {"_id": "d3", "title": "", "text": "Kakapo are parrots."}]) + "\n")
    (d / "queries.jsonl").write_text("\n".join(json.dumps(o) for o in [
        {"_id": "q1", "text": "flightless birds"}, {"_id": "q2", "text": "songbirds"},
        {"_id": "q3", "text": "not judged"}]) + "\n")
    (d / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t1\nq2\td/2\t1\nq2\td1\t0\n")
    return d


# A tiny SQuAD-format data set (four articles, general facts) for the importer and training.
ARTICLES = {
    "Clutha River": [
        ("The Clutha River is the longest river in the South Island of New Zealand. It flows "
         "for 338 kilometres from Lake Wanaka to the Pacific Ocean near Balclutha.",
         [("How long is the Clutha River?", "338 kilometres"),
          ("Where does the Clutha River start?", "Lake Wanaka")]),
        ("Gold was found on the Clutha in 1862 by Horatio Hartley and Christopher Reilly. "
         "The rush brought thousands of miners to Otago.",
         [("When was gold found on the Clutha?", "1862"),
          ("Who found gold on the Clutha with Horatio Hartley?", "Christopher Reilly")]),
    ],
    "Kakapo": [
        ("The kakapo is a large flightless parrot that lives only in New Zealand. Adults weigh "
         "up to 4 kilograms and are active at night.",
         [("How much can an adult kakapo weigh?", "4 kilograms"),
          ("When is the kakapo active?", "at night")]),
        ("In 1995 the Kakapo Recovery programme began under the Department of Conservation. "
         "Every bird now lives on predator-free islands such as Whenua Hou.",
         [("In what year did the Kakapo Recovery programme begin?", "1995"),
          ("Which island is named as home to kakapo?", "Whenua Hou")]),
    ],
    "Aoraki": [
        ("Aoraki is the highest mountain in New Zealand at 3,724 metres. Edmund Hillary "
         "climbed it in 1948 before his ascent of Everest.",
         [("How high is Aoraki?", "3,724 metres"),
          ("Who climbed Aoraki in 1948?", "Edmund Hillary")]),
        ("The mountain lies in the Southern Alps within Aoraki National Park, created in 1953.",
         [("In which range does Aoraki lie?", "Southern Alps"),
          ("When was Aoraki National Park created?", "1953")]),
    ],
    "Pavlova": [
        ("The pavlova is a meringue dessert named after the Russian ballerina Anna Pavlova, "
         "who toured New Zealand and Australia in 1926.",
         [("Who is the pavlova named after?", "Anna Pavlova"),
          ("When did Anna Pavlova tour New Zealand?", "1926")]),
        ("A pavlova has a crisp crust and a soft centre and is usually topped with cream and "
         "kiwifruit or berries.",
         [("What is a pavlova usually topped with?", "cream and kiwifruit"),
          ("What kind of crust does a pavlova have?", "crisp")]),
    ],
}


@pytest.fixture
def tiny_squad(tmp_path):
    data = {"version": "1.1", "data": [
        {"title": title.replace(" ", "_"), "paragraphs": [
            {"context": ctx, "qas": [
                {"id": f"{title[:3]}{p}{q}", "question": question,
                 "answers": [{"text": ans, "answer_start": ctx.index(ans)}]}
                for q, (question, ans) in enumerate(qas)]}
            for p, (ctx, qas) in enumerate(paras)]}
        for title, paras in ARTICLES.items()]}
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def tiny_bank(root: Path) -> Path:
    """A question bank of two corpora, one to fit on and one to choose on."""
    lakes = {"lakes.csv": "lake,depth,region\nTaupo,186 m,Waikato\nHauroko,462 m,Southland\n"
                          "Manapouri,444 m,Southland\nWakatipu,380 m,Otago\n",
             "notes.md": "# Lakes\n\nLake Taupo fills a caldera. Its outlet is the Waikato "
                         "River.\n\nLake Wakatipu has a seiche that raises it every 25 "
                         "minutes.\n"}
    birds = {"birds.md": "# Birds\n\nThe kea is an alpine parrot of the South Island. It "
                         "nests in burrows among rocks.\n\nThe takahe was rediscovered in "
                         "1948 in the Murchison Mountains.\n\nThe kakapo is nocturnal and "
                         "cannot fly.\n"}
    qs = {"fit-lakes": [("How deep is Lake Hauroko?", ["462 m"], ["lakes"]),
                        ("Which river leaves Lake Taupo?", ["Waikato River"], ["notes"]),
                        ("How often does Lake Wakatipu rise?", ["every 25 minutes"], ["notes"]),
                        ("Which region is Lake Manapouri in?", ["Southland"], ["lakes"]),
                        ("How old is Lake Taupo's caldera?", [], [])],
          "choose-birds": [("When was the takahe rediscovered?", ["1948"], ["birds"]),
                           ("Where does the kea nest?", ["in burrows"], ["birds"]),
                           ("How heavy is a kakapo?", [], [])]}
    for name, split, docs in (("fit-lakes", "fit", lakes), ("choose-birds", "choose", birds)):
        (root / name / "docs").mkdir(parents=True)
        for f, text in docs.items():
            (root / name / "docs" / f).write_text(text)
        (root / name / "SOURCE.json").write_text(json.dumps({"split": split}))
        (root / f"{name}.jsonl").write_text("".join(json.dumps(
            {"id": f"{name}-{n}", "question": q, "answers": a, "sources": src,
             "answerable": bool(a)}) + "\n" for n, (q, a, src) in enumerate(qs[name])))
    return root


class LlamaServer:
    """llama.cpp's OpenAI-compatible server (xllamacpp) with a bundled GGUF on a free loopback
    port: a real server for the LLM generators. `stop()` shuts it down."""

    def __init__(self, model: str = "smollm2", context: int = 4096) -> None:
        import xllamacpp as xlc

        from rag.generate.llamacpp import engine_params, model_file

        self.server = xlc.Server(engine_params(model_file(model), context))
        self.base_url = f"{self.server.listening_address}/v1"

    def stop(self) -> None:
        import gc

        self.server = None
        gc.collect()


@pytest.fixture(scope="session")
def llm_server():
    server = LlamaServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def confident_selector(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped selector with its answer band opened to every answer it gives: an LLM
    writes only in the answer band, and the LLM tests must reach the LLM on the seed
    questions, most of which the calibrated selector answers tentatively."""
    from dataclasses import replace

    from rag.generate.selector import load_selector

    path = tmp_path_factory.mktemp("selector") / "selector.json"
    path.write_text(replace(load_selector(), answer_threshold=0.0).to_json(), encoding="utf-8")
    return str(path)


@pytest.fixture
def llm_settings(llm_server, confident_selector) -> Settings:
    return Settings(generator="openai", llm_base_url=llm_server.base_url, llm_context=4096,
                    llm_max_tokens=128, selector=confident_selector)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    log: Path


@contextmanager
def rag_chat(root: Path, index: Path | None, *args: str, **env: str) -> Iterator[Served]:
    """Run `rag chat` on a free loopback port until the block ends (without `index`: the
    collections of `root`'s rag.toml)."""
    port = free_port()
    log_path = root / f"server-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "chat", *(["--index", str(index)] if index else []),
             "--port", str(port), *args], cwd=root, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **env})
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 180
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"rag chat exited: {log_path.read_text()}")
                try:
                    if urllib.request.urlopen(url, timeout=2).status == 200:
                        break
                except urllib.error.HTTPError:
                    break  # it answers (the API alone has no page at /)
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"rag chat did not start: {log_path.read_text()}")
                time.sleep(0.5)
            yield Served(url, proc, log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()



MILVUS = shutil.which("milvus-lite", path=str(Path(sys.executable).parent))


# The stores every store test runs on: the local folder, Milvus's own standalone server (2.3.5:
# the C++ engine, BM25 scored by the product) and Milvus Lite's (3.x: the engine's BM25 and
# fusion), each Milvus server in another process.
STORES = ["local", "milvus", "milvus-lite"]
MILVUS_SERVERS = ["milvus", "milvus-lite"]


def milvus_uri(request, kind: str) -> str:
    """The URI of the session's Milvus server of `kind` ("milvus" or "milvus-lite")."""
    return request.getfixturevalue({"milvus": "milvus_server_uri",
                                    "milvus-lite": "milvus_lite_uri"}[kind])


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory):
    """Milvus 2.3.5 standalone from PyPI's `milvus` package (tests/milvus_server.py)."""
    from .milvus_server import start

    server = start(tmp_path_factory.mktemp("milvus-server"))
    try:
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def milvus_lite_uri(tmp_path_factory):
    """Milvus Lite's gRPC server in another process."""
    if MILVUS is None:
        pytest.fail("milvus-lite is not installed (pip install -e '.[dev]')")
    port = free_port()
    data = tmp_path_factory.mktemp("milvus")
    proc = subprocess.Popen([MILVUS, "server", "--data-dir", str(data), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the Milvus Lite server did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


# A team's corpus: the seeds, open to everyone, and an `hr/` folder only group hr may read;
# hana is in hr, fred in finance.
HR_TEXT = ("Memo on pay. The salary review gives every hospital porter a raise of "
           "seven percent from March.\n")
HR_QUESTION = "What raise does every hospital porter get from the salary review?"
PASSWORDS = {"hana": "hana-s3cret", "fred": "fred-s3cret"}


def team_corpus(root: Path, extra=None) -> Path:
    """The team's corpus in `root/docs` (`extra(hr_folder)` adds files before the build),
    indexed into `root/ix` with the real model, and its users in `root/users.json`."""
    from rag.pipeline import build
    from rag.users import Users

    corpus = root / "docs"
    shutil.copytree(SEEDS, corpus)
    (corpus / "hr").mkdir()
    (corpus / "hr" / ".access.toml").write_text('groups = ["hr"]\n')
    (corpus / "hr" / "pay-memo.txt").write_text(HR_TEXT)
    if extra is not None:
        extra(corpus / "hr")
    build([corpus], settings=Settings(index_dir=str(root / "ix")))
    users = Users(root / "users.json")
    users.add("hana", PASSWORDS["hana"], ["hr"])
    users.add("fred", PASSWORDS["fred"], ["finance"])
    return root
