"""Two people on one real `rag chat` server (real model, real page server, `gradio_client`,
Chromium): each signs in as themselves and nothing of a document their groups may not read
reaches them, through any door."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from rag.users import Users

from .conftest import HR_QUESTION, HR_TEXT, PASSWORDS, rag_chat, team_corpus
from .documents import make_pdf

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]



@pytest.fixture(scope="module")
def people_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The team's corpus (conftest) with a PDF in `hr/` as well."""
    return team_corpus(tmp_path_factory.mktemp("people"), lambda hr: make_pdf(
        hr / "porters.pdf", ["Porter rosters: night shifts rotate weekly."],
        title="Porter rosters"))


@pytest.fixture(scope="module")
def served(people_root: Path):
    with rag_chat(people_root, people_root / "ix",
                  RAG_USERS_FILE=str(people_root / "users.json")) as s:
        yield s


def _client(url: str, name: str):
    from gradio_client import Client

    return Client(url, auth=(name, PASSWORDS[name]), verbose=False)


def _session(url: str, name: str, password: str | None = None) -> urllib.request.OpenerDirector:
    """A signed-in cookie session, as a browser holds one."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    data = urllib.parse.urlencode({"username": name,
                                   "password": password or PASSWORDS[name]}).encode()
    try:
        opener.open(url + "login", data=data, timeout=30)
    except urllib.error.HTTPError as e:
        assert e.code == 401 and password, e  # a wrong password, on purpose
    return opener


def _status(opener, url: str) -> int:
    try:
        return opener.open(url, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code


def test_each_person_reads_only_what_their_groups_may_through_the_api(served):
    from gradio_client.exceptions import AuthenticationError

    with pytest.raises(AuthenticationError):
        from gradio_client import Client

        Client(served.url, verbose=False)
    hana = _client(served.url, "hana").predict(question=HR_QUESTION, history=[], k=8,
                                               api_name="/answer")
    assert "seven percent" in hana["answer"]
    assert any(c["doc_id"] == "hr/pay-memo.txt" for c in hana["citations"])
    fred = _client(served.url, "fred").predict(question=HR_QUESTION, history=[], k=8,
                                               api_name="/answer")
    dumped = json.dumps(fred)
    for secret in ("hr/", "seven percent", "porter raise", "Porter rosters", "Memo on pay"):
        assert secret not in dumped, secret
    assert len(fred["passages"]) == 8  # filled with what fred may read
    # Both still read the open documents.
    seed = _client(served.url, "fred").predict(
        question="On what dates will the Prime Minister visit the United States?",
        history=[], k=0, api_name="/answer")
    assert "9-12 July" in seed["answer"] or "9–12 July" in seed["answer"]


def test_the_document_route_hides_what_a_person_may_not_read(served):
    url = served.url + "document?id=" + urllib.parse.quote("hr/porters.pdf")
    assert _status(_session(served.url, "hana"), url) == 200
    assert _status(_session(served.url, "fred"), url) == 404  # as if it did not exist
    forged = urllib.request.build_opener()
    forged.addheaders = [("Cookie", "rag-session=not-a-session")]
    assert _status(forged, url) == 401


def test_logging_out_ends_the_session(served):
    hana = _session(served.url, "hana")
    info = served.url + "gradio_api/info"
    assert _status(hana, info) == 200
    hana.open(served.url + "logout", timeout=30)
    assert _status(hana, info) == 401


def test_the_page_lists_and_suggests_only_readable_documents(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for name, sees_hr in (("fred", False), ("hana", True)):
            page = browser.new_page()
            page.goto(served.url)
            page.get_by_label("User name").fill(name)
            page.get_by_label("Password").fill(PASSWORDS[name])
            page.get_by_role("button", name="Log in").click()
            page.get_by_text("Indexed documents").click()
            listing = page.locator("#documents")
            listing.get_by_text("beehive-pm-heads-to-us-for-nato.txt").wait_for(timeout=60_000)
            # the page fills in the signed-in person's view once loaded: wait for their count
            page.locator("#corpus").get_by_text(f"{4 if sees_hr else 2} documents").wait_for(
                timeout=60_000)
            assert ("hr/pay-memo.txt" in listing.inner_text()) == sees_hr
            corpus = page.locator("#corpus").inner_text()
            assert f"{4 if sees_hr else 2} documents" in corpus, corpus
            assert ("Pay memo" in page.content()) == sees_hr  # its title: none in the examples
            assert page.locator("#logout").is_visible()
            page.close()
        browser.close()


def test_a_removed_account_reads_nothing_more(people_root, served):
    from gradio_client.exceptions import AppError

    users = Users(people_root / "users.json")
    client = _client(served.url, "fred")
    users.add("temp", "temp-s3cret", ["hr"])
    from gradio_client import Client

    c = Client(served.url, auth=("temp", "temp-s3cret"), verbose=False)
    assert "seven percent" in c.predict(question=HR_QUESTION, api_name="/answer")["answer"]
    users.remove("temp")
    with pytest.raises(AppError, match="no longer exists"):
        c.predict(question=HR_QUESTION, api_name="/answer")
    assert client.predict(question="Who is Luxon?", api_name="/answer")["question"]


def test_repeated_failed_logins_are_slowed_down(people_root):
    with rag_chat(people_root, people_root / "ix",
                  RAG_USERS_FILE=str(people_root / "users.json")) as s:
        for _ in range(5):
            assert _status(_session(s.url, "hana", "wrong-guess"), s.url + "gradio_api/info") \
                == 401
        data = urllib.parse.urlencode({"username": "hana",
                                       "password": PASSWORDS["hana"]}).encode()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(s.url + "login", data=data, timeout=30)
        assert e.value.code == 429 and "too many failed logins" in e.value.read().decode().lower()
        assert int(e.value.headers["Retry-After"]) >= 14


def _login(browser, url: str, name: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    page.locator("#question textarea").wait_for(timeout=60_000)
    return page


def test_conversations_and_feedback_are_kept_per_person_across_a_restart(people_root):
    from playwright.sync_api import sync_playwright

    from rag.users.conversations import Conversations

    from .test_chat_server import _ask

    env = {"RAG_USERS_FILE": str(people_root / "users.json")}
    question = "How many countries belong to the NATO alliance?"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        with rag_chat(people_root, people_root / "ix", **env) as s:
            page = _login(browser, s.url, "hana")
            text, _ = _ask(page, question, 1)
            assert "32" in text
            listed = page.locator("#conversations")
            listed.get_by_text(question).wait_for(timeout=30_000)
            page.get_by_text("Feedback on the last answer").click()
            page.locator("#rating").get_by_text("wrong").click()
            page.locator("#correction textarea").fill("thirty-two")
            page.locator("#send-feedback").click()
            page.locator("#feedback-status").get_by_text("Thanks").wait_for(timeout=30_000)
        with rag_chat(people_root, people_root / "ix", **env) as s:
            page = _login(browser, s.url, "hana")
            page.locator("#conversations").get_by_text(question).click()
            page.locator("[data-testid='bot']").first.wait_for(timeout=30_000)
            assert "32" in page.locator("[data-testid='bot']").first.inner_text()
            follow, _ = _ask(page, "Which two countries will the Prime Minister visit on "
                                   "the way?", 2)
            assert follow.strip()
            other = _login(browser, s.url, "fred")
            other.wait_for_timeout(1000)
            assert question not in other.locator("#conversations").inner_text()
        browser.close()
    rows = Conversations(people_root / "ix" / "conversations.sqlite").feedback()
    assert [(r["user"], r["rating"], r["correction"]) for r in rows] == [
        ("hana", -1, "thirty-two")]
    assert rows[0]["question"] == question and rows[0]["answer"]["citations"]


def test_an_upload_never_names_a_document_the_uploader_may_not_read(people_root, served,
                                                                     tmp_path):
    from gradio_client import handle_file

    copy = tmp_path / "memo-copy.txt"
    copy.write_text(HR_TEXT)  # the bytes of hr/pay-memo.txt, which fred may not read
    result, _, _ = _client(served.url, "fred").predict(files=[handle_file(str(copy))],
                                                       api_name="/upload")
    assert "memo&#45;copy&#46;txt: indexed" in result and "hr/" not in result, result
    result, _, _ = _client(served.url, "hana").predict(files=[handle_file(str(copy))],
                                                       api_name="/upload")
    assert "already indexed as" in result  # hana may read both copies: she is told
