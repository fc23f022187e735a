"""`rag chat` as users meet it: a real server on loopback, a real Chromium, a real API client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rag.config import Settings

from .conftest import SEEDS, rag_chat

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE = """---
title: "Zebra facts <script>window.__pwned = 'title'</script>"
---
Zebras are striped animals <script>window.__pwned = 'body'</script> of the African plains.
Zebras hide from lions <img src=x onerror="window.__pwned = 'img'"> in tall grass.
Zebras are described on [the zebra page](javascript:window.__pwned='link') in detail.
"""


@pytest.fixture(scope="module")
def chat_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds plus a hostile document, indexed with the real model."""
    from rag.pipeline import build

    root = tmp_path_factory.mktemp("chat")
    corpus = root / "docs"
    shutil.copytree(SEEDS, corpus)
    (corpus / "zebras.md").write_text(HOSTILE, encoding="utf-8")
    build([corpus], settings=Settings(index_dir=str(root / "ix")))
    return root


def _own_copy(chat_root: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the chat corpus with its own index (which records that copy as its corpus)."""
    from rag.pipeline import build

    corpus, index = tmp_path / "docs", tmp_path / "ix"
    shutil.copytree(chat_root / "docs", corpus)
    build([corpus], settings=Settings(index_dir=str(index)))
    return corpus, index


@pytest.fixture(scope="module")
def server(chat_root: Path):
    with rag_chat(chat_root, chat_root / "ix") as served:
        url = served.url
        yield url


@pytest.fixture
def page(server: str):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1300, "height": 1000})
        pg.goto(server)
        pg.locator("#question textarea").wait_for(timeout=60_000)
        yield pg
        browser.close()


def _ask(page, question: str, turn: int) -> tuple[str, float]:
    """Type a question, press Enter; return the final bot message and seconds to first text."""
    box = page.locator("#question textarea")
    box.fill(question)
    bots = page.locator("[data-testid='bot']")
    t0 = time.perf_counter()
    box.press("Enter")
    first = None
    deadline = t0 + 60
    while time.perf_counter() < deadline:
        if bots.count() >= turn and bots.nth(turn - 1).inner_text().strip():
            first = first or time.perf_counter() - t0
            text = bots.nth(turn - 1).inner_text()
            if "Sources" in text or "don't say" in text:
                return text, first
        time.sleep(0.02)
    chat = page.locator("#chat").inner_text()
    raise AssertionError(f"no complete answer to {question!r}: {chat}")


def test_chat_in_a_real_browser(page, tmp_path: Path):
    assert "3 documents" in page.locator("#corpus").inner_text()
    text, first_s = _ask(page, "Who died outside a mall in Newport Beach?", 1)
    assert "Patricia McKay" in text and "[1]" in text
    assert "Rnz luxon nato summit analysis" in text  # the source's title
    follow, _ = _ask(page, "How old was she?", 2)
    assert "68" in follow
    passages = page.locator("#passages").inner_text()
    assert "cosine" in passages and "rnz-luxon-nato-summit-analysis.txt#" in passages
    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"\nfirst streamed characters after {first_s * 1000:.0f} ms; screenshot {shot}")


def test_hostile_document_shows_as_text_and_runs_nothing(page):
    text, _ = _ask(page, "What are zebras?", 1)
    assert "Zebras" in text
    assert "<script>" in text or "<img" in text or "javascript:" in text  # shown literally
    assert page.evaluate("window.__pwned") is None
    active = "#chat script, #chat img[onerror], #chat a[href^='javascript']"
    assert page.locator(active).count() == 0
    page.locator("#chat details").first.click()  # opening the passage runs nothing either
    assert page.evaluate("window.__pwned") is None


def test_gradio_client_gets_a_cited_answer(server: str):
    from gradio_client import Client

    client = Client(server, verbose=False)
    html, passages = client.predict("How many countries belong to the NATO alliance?", 5,
                                    "extractive", api_name="/chat")
    assert "32 North Atlantic countries" in html and "<sup>[1]</sup>" in html
    assert "cosine" in passages
    ans = client.predict(question="How old was she?",
                         history=["Who died outside a mall in Newport Beach?"], api_name="/answer")
    assert "68" in ans["answer"] and not ans["abstained"]
    assert ans["citations"][0]["doc_id"] == "rnz-luxon-nato-summit-analysis.txt"
    from gradio_client.exceptions import AppError

    for bad, why in (({"k": -3}, "k must be"), ({"history": "abc"}, "history must be a list"),
                     ({"question": "x" * 5000}, "characters long")):
        with pytest.raises(AppError, match=why):
            client.predict(**{"question": "Why?", **bad}, api_name="/answer")


def test_concurrent_users_all_get_their_own_answers(server: str):
    """A bounded burst: 12 questions from 4 clients at once, each answered correctly."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    asks = [("How many countries belong to the NATO alliance?", "32"),
            ("How old was Patricia McKay?", "68"),
            ("Which anniversary is NATO marking this year?", "75th"),
            ("How many seats did Labour win in the UK election?", None)] * 3
    clients = [Client(server, verbose=False) for _ in range(4)]

    def one(i: int) -> tuple[dict, str | None]:
        question, expected = asks[i]
        return clients[i % 4].predict(question=question, api_name="/answer"), expected

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(len(asks)), timeout=120))
    for ans, expected in results:
        if expected is None:
            assert ans["abstained"]
        else:
            assert expected in ans["answer"], ans["answer"]


def test_login_required_when_rag_auth_is_set(chat_root: Path):
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    with rag_chat(chat_root, chat_root / "ix", RAG_AUTH="reader:s3cret") as served:
        url = served.url
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(url, verbose=False)
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(url + "gradio_api/info")
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(url + "document?id=zebras.md")
        client = Client(url, auth=("reader", "s3cret"), verbose=False)
        ans = client.predict(question="How old was Patricia McKay?", api_name="/answer")
        assert "68" in ans["answer"]


def test_the_page_offers_a_configured_llm_and_shows_its_checked_answer(chat_root: Path,
                                                                       llm_server):
    """`rag chat` with an OpenAI-compatible server configured (a real llama.cpp server): the
    generator is offered, the answer streams and ends checked (or with the fallback note), and
    the API key never reaches the page."""
    from playwright.sync_api import sync_playwright

    secret = "sk-page-secret-42"
    with rag_chat(chat_root, chat_root / "ix", OPENAI_BASE_URL=llm_server.base_url,
                   OPENAI_API_KEY=secret, RAG_GENERATOR="openai") as served, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(served.url)
        page.locator("#question textarea").wait_for(timeout=60_000)
        choice = page.get_by_label("Answer generator")
        assert choice.input_value() == "openai"
        choice.click()
        assert page.get_by_role("option", name="extractive").count() == 1
        page.keyboard.press("Escape")
        text, _ = _ask(page, "On what dates will the Prime Minister visit the United States?", 1)
        html = page.locator("[data-testid='bot']").first.inner_html()
        assert "could not answer" in text or "rag-answer" in html
        if "rag-unsupported" in html:
            assert "unsupported" in text
        assert secret not in page.content()
        browser.close()


TRAVERSALS = ["gradio_api/file=/etc/passwd", "file=/etc/passwd",
              "gradio_api/file=../../../../../../etc/passwd",
              "gradio_api/file=..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
              "gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
              "static/../../../../../../etc/passwd", "assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
              "gradio_api/file={root}/docs/zebras.md", "gradio_api/file={root}/ix/CURRENT",
              "gradio_api/file=docs/zebras.md", "gradio_api/file={root}/server.log",
              "favicon.ico/../../../etc/passwd", "gradio_api/file=//etc/passwd",
              "gradio_api/file=/proc/self/environ", "document?id=../../../../../etc/passwd",
              "document?id=/etc/passwd", "document?id=zebras.md",
              "document?id=%2E%2E%2F%2E%2E%2Fix%2FCURRENT", "document?id={root}/docs/zebras.md"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_a_file_outside_the_page(server: str, chat_root: Path, path: str):
    """The server serves no file by a path from the request: not the documents, not the
    index, not the system's."""
    import http.client

    host, port = server.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/" + path.format(root=chat_root))  # sent as is, not normalised
    resp = conn.getresponse()
    body = resp.read().decode("utf-8", "replace")
    conn.close()
    assert resp.status in (400, 403, 404, 405), (resp.status, body[:200])
    for secret in ("root:x:0:0", "Zebras are striped", "v-", "HF_HUB_OFFLINE"):
        assert secret not in body or resp.status != 200


def test_an_oversized_request_is_refused_before_it_is_read(server: str):
    import http.client

    host, port = server.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/gradio_api/call/answer")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "2000000")
    conn.endheaders()  # the body is never sent: the answer comes first
    resp = conn.getresponse()
    assert resp.status == 413 and b"over 1,000,000 bytes" in resp.read()
    conn.close()
    # A request of fair size still works.
    req = urllib.request.Request(server + "gradio_api/call/answer", data=json.dumps(
        {"data": ["How old was Patricia McKay?", [], 0, ""]}).encode(),
        headers={"Content-Type": "application/json"})
    assert "event_id" in json.loads(urllib.request.urlopen(req, timeout=30).read())


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], ["--host", "192.168.1.10"],
                                  ["--share"]])
def test_serving_beyond_this_machine_needs_a_login(tmp_path: Path, args: list[str]):
    env = {k: v for k, v in os.environ.items() if k != "RAG_AUTH"}
    proc = subprocess.run([sys.executable, "-m", "rag", "chat", "--index", str(tmp_path), *args],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: serving ") and "set RAG_AUTH" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_serving_page_answers_from_each_new_build(chat_root: Path, tmp_path: Path):
    """`rag build` while `rag chat` serves: questions keep being answered, and the new text
    is found without a restart."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    corpus, index = _own_copy(chat_root, tmp_path)
    with rag_chat(tmp_path, index) as served:
        client = Client(served.url, verbose=False)
        question = "How tall does the giant weta grow?"
        assert client.predict(question=question, api_name="/answer")["abstained"]
        (corpus / "weta.txt").write_text("The giant weta is an insect that grows up to 10 "
                                         "centimetres long and lives on Little Barrier Island.\n")

        def keep_asking() -> list[dict]:
            return [client.predict(question="How old was Patricia McKay?", api_name="/answer")
                    for _ in range(6)]

        with ThreadPoolExecutor(1) as pool:
            during = pool.submit(keep_asking)
            build = subprocess.run([sys.executable, "-m", "rag", "build", str(corpus),
                                    "--index", str(index)], capture_output=True, text=True,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
            answers = during.result(timeout=300)
        assert build.returncode == 0, build.stderr
        assert all("68" in a["answer"] for a in answers)
        ans = client.predict(question=question, api_name="/answer")
        assert "10 centimetres" in ans["answer"] and ans["citations"][0]["doc_id"] == "weta.txt"
        assert "Traceback" not in served.log.read_text()


def test_rag_chat_watch_picks_up_a_changed_file(chat_root: Path, tmp_path: Path):
    """`rag chat --watch`: a file changed on disk is answered from within seconds, and every
    answer meanwhile comes from the old text or the new."""
    from gradio_client import Client

    corpus, index = _own_copy(chat_root, tmp_path)
    with rag_chat(tmp_path, index, "--watch") as served:
        client = Client(served.url, verbose=False)
        question = "How old was Patricia McKay?"
        assert "68" in client.predict(question=question, api_name="/answer")["answer"]
        doc = corpus / "rnz-luxon-nato-summit-analysis.txt"
        doc.write_text(doc.read_text().replace("Patricia McKay, 68,", "Patricia McKay, 69,"))
        t0 = time.monotonic()
        while True:
            ans = client.predict(question=question, api_name="/answer")["answer"]
            assert ("68" in ans) != ("69" in ans), ans  # old or new, never neither or both
            if "69" in ans:
                break
            assert time.monotonic() - t0 < 60, "the change was not picked up"
            time.sleep(0.5)
        print(f"\nnew text answered {time.monotonic() - t0:.1f} s after the change")


def test_upload_from_the_page_is_indexed_and_answered(chat_root: Path, tmp_path: Path):
    """Files added on the running page (real Chromium, then the API): one result line each,
    and the new text answered right away."""
    from gradio_client import Client, handle_file
    from playwright.sync_api import sync_playwright

    from .documents import make_docx, make_pdf

    corpus, index = _own_copy(chat_root, tmp_path)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    make_pdf(incoming / "weta.pdf", ["The giant weta is an insect that lives on Little "
                                     "Barrier Island.", "A giant weta can weigh 70 grams."])
    (incoming / "empty.txt").write_bytes(b"")
    make_docx(incoming / "okapi.docx", [
        ("h1", "Okapi <script>window.__pwned = 'heading'</script>"),
        ("p", "Okapi live in the Ituri rainforest <img src=x onerror=\"window.__pwned = "
              "'img'\"> of the Congo."),
        ("p", "See [the okapi page](javascript:window.__pwned='link') for more.")])
    with rag_chat(tmp_path, index) as served, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(served.url)
        page.get_by_text("Add documents").click()
        page.locator("#upload input[type=file]").set_input_files(
            [str(incoming / "weta.pdf"), str(incoming / "empty.txt"),
             str(incoming / "okapi.docx")])
        status = page.locator("#upload-status")
        status.get_by_text("weta.pdf: indexed").wait_for(timeout=120_000)
        assert "empty.txt: skipped: empty file" in status.inner_text()
        assert "okapi.docx: indexed" in status.inner_text()
        assert "5 documents" in page.locator("#corpus").inner_text()
        # An uploaded Word document's markup is text on the page, and runs nothing.
        text, _ = _ask(page, "Where do okapi live?", 1)
        assert "Ituri rainforest" in text and "<img" in text
        page.locator("#chat details").first.click()
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#chat script, #chat img[onerror], #chat a[href^='javascript']"
                            ).count() == 0
        page.get_by_text("Indexed documents").click()
        listing = page.locator("#documents").inner_text()
        assert "uploads/weta.pdf" in listing and "pdf" in listing
        browser.close()
        assert (corpus / "uploads" / "weta.pdf").exists()
        client = Client(served.url, verbose=False)
        ans = client.predict(question="How much can a giant weta weigh?", api_name="/answer")
        assert "70 grams" in ans["answer"]
        assert ans["citations"][0]["doc_id"] == "uploads/weta.pdf"
        assert ans["citations"][0]["page"] == 2
        result, _, _ = client.predict(files=[handle_file(str(incoming / "weta.pdf"))],
                                   api_name="/upload")
        assert "weta&#46;pdf: already indexed as uploads/weta&#46;pdf" in result  # escaped
        # The citation opens the PDF at its page; the server finds it by its id.
        pdf = urllib.request.urlopen(served.url + "document?id=uploads%2Fweta.pdf", timeout=10)
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.read() == (incoming / "weta.pdf").read_bytes()
        html, _ = client.predict("How much can a giant weta weigh?", 5, "extractive",
                                 api_name="/chat")
        assert 'href="document?id=uploads/weta.pdf#page=2"' in html, html[:600]


def test_an_upload_from_elsewhere_adds_to_the_corpus_the_index_records(chat_root: Path,
                                                                      tmp_path: Path):
    """`rag build mine --index idx`, then `rag chat --index idx` started from a folder without
    `seeds/`: an upload through the page's API lands in the recorded corpus, and every
    original document is still answered after it, the upload too."""
    from gradio_client import Client, handle_file

    from rag.store.local import read_manifest

    from .documents import make_pdf

    corpus, index = _own_copy(chat_root, tmp_path)
    before = set(read_manifest(index)["documents"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_pdf(tmp_path / "weta.pdf", ["The giant weta is an insect of Little Barrier Island.",
                                     "A giant weta can weigh 70 grams."])
    with rag_chat(elsewhere, index) as served:
        client = Client(served.url, verbose=False)
        result, _, _ = client.predict(files=[handle_file(str(tmp_path / "weta.pdf"))],
                                      api_name="/upload")
        assert "weta&#46;pdf: indexed" in result, result
        after = read_manifest(index)["documents"]
        assert set(after) == before | {"uploads/weta.pdf"}
        assert (corpus / "uploads" / "weta.pdf").exists()
        assert sorted(p.name for p in elsewhere.iterdir() if not p.name.startswith("server-")) \
            == []  # nothing made in the working folder: no seeds/, no uploads/
        asked = {"beehive-pm-heads-to-us-for-nato.txt":
                 "On what dates will the Prime Minister visit the United States?",
                 "rnz-luxon-nato-summit-analysis.txt": "How old was Patricia McKay?",
                 "zebras.md": "Where do zebras hide from lions?",
                 "uploads/weta.pdf": "How much can a giant weta weigh?"}
        for doc_id, question in asked.items():
            ans = client.predict(question=question, api_name="/answer")
            assert not ans["abstained"] and ans["citations"][0]["doc_id"] == doc_id, (doc_id, ans)
    # A later bare build keeps the whole recorded corpus, the upload included.
    again = subprocess.run([sys.executable, "-m", "rag", "build", "--index", str(index)],
                           cwd=elsewhere, capture_output=True, text=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0, again.stderr
    assert "0 removed" in again.stdout and set(read_manifest(index)["documents"]) == set(after)
