"""Enter to first streamed characters on the chat page, in Chromium:

    .venv/bin/python tests/measure_chat.py --index index [--questions 8]

Starts `python -m rag.cli chat` from the current folder on a free loopback port (run it from
another checkout to measure that version), opens the page in Debian's Chromium, lets the page
finish loading (2 s), then asks each question, waiting for each answer to end. The browser
itself stamps the moment Enter goes down and the moment the new answer bubble first holds text
(a MutationObserver), so the figure has no polling in it. Prints each time, the median, and
for the first question the requests the page made meanwhile (where the time goes)."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTIONS = ["Who will join Luxon at the Indo-Pacific Four meeting?",
             "When does the NATO summit start?", "How many countries belong to NATO?",
             "What did Patman say about China?", "Where is the summit held?",
             "Who is the Foreign Minister?", "What will Luxon do in Washington?",
             "Why does New Zealand attend NATO summits?"]
SETTLE = 2.0  # seconds
DONE = """() => { const bots = document.querySelectorAll("[data-testid='bot']");
  const last = bots.length ? bots[bots.length - 1].innerText : "";
  return last.includes("Sources") || last.includes("don't say"); }"""
STAMP = """() => { window.__t = {}; let before = 1e9;
  document.querySelector('#question textarea').addEventListener('keydown', e => {
    if (e.key === 'Enter') { window.__t.enter = performance.now();
      before = document.querySelectorAll("[data-testid='bot']").length; } }, true);
  new MutationObserver(() => { const bots = document.querySelectorAll("[data-testid='bot']");
    if (bots.length > before && bots[bots.length - 1].innerText.trim() && !window.__t.first)
      window.__t.first = performance.now(); })
  .observe(document.querySelector('#chat'), {subtree: true, childList: true,
                                              characterData: true}); }"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser()
    p.add_argument("--index", required=True)
    p.add_argument("--questions", type=int, default=len(QUESTIONS))
    args = p.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "chat", "--index", args.index,
                               "--port", str(port), "--no-upload"],
                              env={**os.environ, "HF_HUB_OFFLINE": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page()
            requests: list[tuple[float, str]] = []
            page.on("request", lambda r: requests.append((time.perf_counter(), r.url)))
            page.goto(url)
            box = page.locator("#question textarea")
            box.wait_for(timeout=60_000)
            time.sleep(SETTLE)  # let the page finish loading: that is not the answer's time
            times = []
            for n, question in enumerate(QUESTIONS[:args.questions]):
                page.evaluate(STAMP)
                requests.clear()
                box.fill(question)
                t0 = time.perf_counter()
                box.press("Enter")
                page.wait_for_function("() => window.__t.first", timeout=60_000)
                t = page.evaluate("() => window.__t")
                times.append(t["first"] - t["enter"])
                print(f"{times[-1]:6.0f} ms  {question}")
                if n == 0:
                    for at, where in requests:
                        print(f"         request at {1000 * (at - t0):5.0f} ms: "
                              f"{where.replace(url, '/')[:60]}")
                page.wait_for_function(DONE, timeout=60_000)
                time.sleep(SETTLE / 4)
            browser.close()
        print(f"median {statistics.median(times):.0f} ms over {len(times)} questions")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
