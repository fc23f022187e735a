"""Load on a real `rag chat`: many clients at once, each answer right for its own question,
latency and memory reported. Reduced here; the full size is

    RAG_LOAD=50x20 pytest -s tests/test_load_chat.py
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import rag_chat

pytestmark = pytest.mark.slow

CLIENTS, QUESTIONS = (int(n) for n in os.environ.get("RAG_LOAD", "10x5").split("x"))
# Each question with a phrase only its own answer holds: an answer crossing to another
# client's question would miss it.
ASKS = [("How many countries belong to the NATO alliance?", "32"),
        ("How old was Patricia McKay?", "68"),
        ("Which anniversary is NATO marking this year?", "75th"),
        ("On what dates will the Prime Minister visit the United States?", "9-12 July"),
        ("Where did Patricia McKay die?", "Newport Beach"),
        ("How many seats did Labour win in the UK election?", None)]  # the documents don't say


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_many_clients_at_once_each_get_their_own_right_answer(seed_index: Path, tmp_path):
    from gradio_client import Client

    with rag_chat(tmp_path, seed_index) as served:
        clients = [Client(served.url, verbose=False) for _ in range(CLIENTS)]
        latencies: list[float] = []
        wrong: list[str] = []
        memory: dict[int, float] = {}
        done = 0
        deadline = time.monotonic() + 30 * 60  # bounded: it stops by itself

        def session(c: int) -> None:
            nonlocal done
            for i in range(QUESTIONS):
                if time.monotonic() > deadline:
                    wrong.append("deadline passed")
                    return
                question, expected = ASKS[(c + i) % len(ASKS)]
                t0 = time.perf_counter()
                ans = clients[c].predict(question=question, api_name="/answer")
                latencies.append(time.perf_counter() - t0)
                ok = ans["question"] == question and (
                    ans["abstained"] if expected is None else expected in ans["answer"])
                if not ok:
                    wrong.append(f"{question!r} -> {ans['answer']!r}")
                done += 1
                # Memory once a tenth of the questions are answered, after 1,000, and at the
                # end.
                if done in (max(1, CLIENTS * QUESTIONS // 10), 1000):
                    memory[done] = _rss_mb(served.proc.pid)

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(session, range(CLIENTS)))  # re-raises any client error
        wall = time.monotonic() - t0
        memory[done] = _rss_mb(served.proc.pid)
    assert not wrong, wrong[:5]
    assert done == CLIENTS * QUESTIONS
    q = statistics.quantiles(latencies, n=20)
    first, last = min(memory), max(memory)
    print(f"\n{CLIENTS} clients x {QUESTIONS} questions: {done} answers in {wall:.1f} s "
          f"({done / wall:.1f}/s), latency p50 {statistics.median(latencies) * 1e3:.0f} ms, "
          f"p95 {q[18] * 1e3:.0f} ms, max {max(latencies) * 1e3:.0f} ms; server RSS "
          + ", ".join(f"{mb:.0f} MB after {n}" for n, mb in sorted(memory.items())))
    assert memory[last] <= 1.10 * memory[first], memory
