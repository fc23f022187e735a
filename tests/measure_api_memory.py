"""Resident memory of `rag chat` under load through the OpenAI-compatible API:

    .venv/bin/python tests/measure_api_memory.py --index index [--clients 50] [--answers 1000]
        [--no-page]

Starts the server (with the page unless --no-page), sends `answers` questions from `clients`
threads to /v1/chat/completions (six seed questions in turn), and prints the server's RSS after
the 100th and 1,000th answer and at the end (RELIABILITY.md, "Load")."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ASKS = ["How many countries belong to the NATO alliance?", "How old was Patricia McKay?",
        "Which anniversary is NATO marking this year?", "Who is the Secretary-General of NATO?",
        "On what dates will the Prime Minister visit the United States?",
        "Where did Patricia McKay die?"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="index")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--answers", type=int, default=1000)
    ap.add_argument("--port", type=int, default=7996)
    ap.add_argument("--no-page", action="store_true")
    args = ap.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "rag", "chat", "--index", args.index,
                             "--port", str(args.port), *(["--no-page"] if args.no_page else [])],
                            env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}/v1"
    while True:
        try:
            httpx.get(f"{base}/models", timeout=2)
            break
        except httpx.HTTPError:
            if proc.poll() is not None:
                sys.exit("rag chat exited")
            time.sleep(0.5)

    def rss() -> float:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return next(int(line.split()[1]) / 1024 for line in status.splitlines()
                    if line.startswith("VmRSS:"))

    done, lock, memory = [0], threading.Lock(), {}
    per_client = args.answers // args.clients
    t0 = time.perf_counter()

    def client(i: int) -> None:
        with httpx.Client(timeout=300) as c:
            for j in range(per_client):
                r = c.post(f"{base}/chat/completions", json={
                    "model": "rag", "messages": [{"role": "user",
                                                  "content": ASKS[(i + j) % len(ASKS)]}]})
                r.raise_for_status()
                with lock:
                    done[0] += 1
                    if done[0] in (100, 1000):
                        memory[done[0]] = rss()

    try:
        with ThreadPoolExecutor(args.clients) as ex:
            list(ex.map(client, range(args.clients)))
        memory[done[0]] = rss()
    finally:
        proc.terminate()
    wall = time.perf_counter() - t0
    print(f"{done[0]} answers in {wall:.1f} s ({done[0] / wall:.1f}/s), "
          f"{'API alone' if args.no_page else 'page and API'}; server RSS: "
          + ", ".join(f"{mb:.0f} MB after {n}" for n, mb in sorted(memory.items())))


if __name__ == "__main__":
    main()
