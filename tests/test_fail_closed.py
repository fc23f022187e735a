"""Access fails closed on a real `rag chat` (real model, page and API): the users file
emptied, removed, damaged or half-written while people are signed in and keys are in use lets
nobody read a restricted passage; uploads keep their uploader's access; hostile requests get
one 4xx line, never a 500 or a traceback."""

from __future__ import annotations

import html
import json
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import httpx
import pytest

from rag.users import Users

from .conftest import HR_QUESTION, PASSWORDS, rag_chat, team_corpus
from .documents import make_pdf
from .test_api import _key

pytestmark = pytest.mark.slow

PDF = "hr/porters.pdf"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return team_corpus(tmp_path_factory.mktemp("closed"), lambda hr: make_pdf(
        hr / "porters.pdf", ["Porter rosters: night shifts rotate weekly."],
        title="Porter rosters"))


@pytest.fixture(scope="module")
def served(root: Path):
    keys = {name: _key(root, name) for name in ("hana", "fred")}
    with rag_chat(root, root / "ix", RAG_USERS_FILE=str(root / "users.json")) as s:
        yield s, keys


def _session(url: str, name: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    data = urllib.parse.urlencode({"username": name, "password": PASSWORDS[name]}).encode()
    opener.open(url + "login", data=data, timeout=30)
    return opener


def _status(opener, url: str) -> int:
    try:
        return opener.open(url, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code


def _chat(url: str, key: str | None, question: str = HR_QUESTION) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(url + "v1/chat/completions", headers=headers, timeout=120, json={
        "model": "rag", "messages": [{"role": "user", "content": question}]})


def _nothing_restricted_reaches_anyone(url: str, keys: dict[str, str], session, client,
                                       expected: set[int]) -> None:
    for key in (None, keys["hana"], "rag-not-a-key"):
        r = _chat(url, key)
        assert r.status_code in expected, (key, r.status_code, r.text)
        assert "seven percent" not in r.text and "error" in r.json()
        models = httpx.get(url + "v1/models",
                           headers={"Authorization": f"Bearer {key}"} if key else {})
        assert models.status_code in expected and "data" not in models.json()
        docs = httpx.get(url + "api/documents",
                         headers={"Authorization": f"Bearer {key}"} if key else {})
        assert docs.status_code in expected and "hr/" not in docs.text
    assert _status(session, url + f"document?id={PDF}") in (401, 404)
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError):  # hana signed in before: the page answers her nothing
        client.predict(question=HR_QUESTION, api_name="/answer")


def test_the_users_file_emptied_removed_damaged_or_half_written_lets_nobody_in(root, served):
    from gradio_client import Client

    s, keys = served
    url, path = s.url, root / "users.json"
    session = _session(url, "hana")
    client = Client(url, auth=("hana", PASSWORDS["hana"]), verbose=False)
    assert "seven percent" in _chat(url, keys["hana"]).text
    assert _status(session, url + f"document?id={PDF}") == 200
    original = path.read_bytes()

    def emptied() -> None:
        users = Users(path)
        for name in list(users.all()):
            users.remove(name)

    states = {"emptied": (emptied, {401}),
              "removed": (path.unlink, {401}),
              "damaged": (lambda: path.write_text("{not json"), {401, 503}),
              "half-written": (lambda: path.write_bytes(original[:len(original) // 2]), {401, 503}),
              "groups not a list": (lambda: path.write_text(json.dumps({"users": {
                  "hana": {**json.loads(original)["users"]["hana"], "groups": "hr"}}})),
                  {401, 503})}
    for name, (change, expected) in states.items():
        change()
        _nothing_restricted_reaches_anyone(url, keys, session, client, expected)
        path.write_bytes(original)  # restored: the same people are back, nobody else
        r = _chat(url, keys["hana"])
        assert r.status_code == 200 and "seven percent" in r.text, name
        assert _chat(url, None).status_code == 401
        assert "seven percent" not in _chat(url, keys["fred"]).text
    log = s.log.read_text()
    assert "Traceback" not in log, log
    assert "users file" in log and "damaged" in log  # one line each time, for the operator


def test_a_server_configured_with_accounts_but_none_yet_lets_nobody_in(root):
    with rag_chat(root, root / "ix", "--no-page",
                  RAG_USERS_FILE=str(root / "nobody-yet.json")) as s:
        assert httpx.get(s.url + "v1/models").status_code == 401
        assert _chat(s.url, None).status_code == 401
        assert "holds no accounts yet" in s.log.read_text()


def test_uploads_keep_their_uploaders_access(root, served, tmp_path):
    from gradio_client import Client

    s, keys = served
    Users(root / "users.json").add("erin", "erin-s3cret", ["eng"])
    hana = Client(s.url, auth=("hana", PASSWORDS["hana"]), verbose=False)
    erin = Client(s.url, auth=("erin", "erin-s3cret"), verbose=False)
    memo = tmp_path / "lease.txt"
    memo.write_text("Office memo. The Wellington office lease ends on 30 June 2031.\n")
    plan = tmp_path / "plan.txt"
    plan.write_text("Engineering plan. The build farm moves to the Auckland data centre.\n")
    result = _upload(hana, memo)
    assert "lease.txt: indexed" in result, result
    result = _upload(erin, plan)
    assert "plan.txt: indexed" in result, result
    lease, farm = "When does the Wellington office lease end?", \
        "Where does the build farm move to?"
    assert "30 June 2031" in hana.predict(question=lease, api_name="/answer")["answer"]
    assert "30 June 2031" not in json.dumps(erin.predict(question=lease, api_name="/answer"))
    assert "Auckland" in erin.predict(question=farm, api_name="/answer")["answer"]
    assert "Auckland" not in json.dumps(hana.predict(question=farm, api_name="/answer"))
    fred = Client(s.url, auth=("fred", PASSWORDS["fred"]), verbose=False)
    assert "30 June 2031" not in json.dumps(fred.predict(question=lease, api_name="/answer"))
    # The rule lies beside the file, so a rebuild keeps it.
    rules = sorted((root / "docs" / "uploads").glob("*/.access.toml"))
    assert [p.parent.name for p in rules] == ["eng", "hr"]
    # A wider audience only from one's own groups; the collection's readers on purpose.
    opened = tmp_path / "canteen.txt"
    opened.write_text("Canteen notice. The canteen serves soup on Fridays.\n")
    assert "only to groups you are in" in _upload(erin, opened, audience=["hr"])
    result = _upload(erin, opened, audience=["everyone who may read this collection"])
    assert "canteen.txt: indexed" in result, result
    assert "soup" in hana.predict(question="What does the canteen serve on Fridays?",
                                  api_name="/answer")["answer"]
    # Gradio's temporary copy of an upload is gone once it is indexed.
    temp = Path(os.environ.get("GRADIO_TEMP_DIR", Path(tempfile.gettempdir()) / "gradio"))
    assert list(temp.rglob("lease.txt")) == [] and list(temp.rglob("plan.txt")) == []


def _upload(client, path: Path, **extra) -> str:
    from gradio_client import handle_file

    return html.unescape(client.predict(files=[handle_file(str(path))], **extra,
                                        api_name="/upload")[0])


def test_the_same_bytes_uploaded_twice_are_saved_once(root, served, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    s, _ = served
    note = tmp_path / "evil.txt"
    note.write_text("Parking notice. Bays 1 to 9 are kept for visitors.\n")
    hana = [Client(s.url, auth=("hana", PASSWORDS["hana"]), verbose=False) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: _upload(c, note), hana))
    # Gradio keeps one temporary copy per content: a request that starts after the other
    # finished with it finds it gone and says so.
    assert any("evil.txt: indexed" in r for r in results), results
    assert all("evil.txt: indexed" in r or "already indexed" in r or "send it again" in r
               for r in results), results
    assert len(list((root / "docs" / "uploads").rglob("evil*.txt"))) == 1
    # Another file of the same name is saved beside it, and the reply says under which name.
    note.write_text("Parking notice. Bays 10 to 12 are for bicycles.\n")
    result = _upload(hana[0], note)
    assert "evil.txt: indexed as evil (2).txt" in result, result


def test_hostile_requests_get_one_4xx_line_never_a_500(served):
    s, keys = served
    url, auth = s.url, {"Authorization": f"Bearer {keys['hana']}"}
    deep = '{"model": "rag", "messages": ' + "[" * 1000 + "]" * 1000 + "}"
    r = httpx.post(url + "v1/chat/completions", content=deep, headers=auth, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(url + "api/answer", content='{"question": ' + "[" * 1000 + "]" * 1000 + "}",
                   headers={**auth, "content-type": "application/json"}, timeout=30)
    assert r.status_code == 400 and "error" in r.json()
    body = '{"model": "x\\ud800", "messages": [{"role": "user", "content": "Hi?"}]}'
    r = httpx.post(url + "v1/chat/completions", content=body, headers=auth, timeout=30)
    assert r.status_code == 400 and "Unicode" in r.json()["error"]["message"]
    r = httpx.post(url + "v1/chat/completions", headers=auth, timeout=120, json={
        "model": "rag", "stream": None, "k": None,
        "messages": [{"role": "user", "content": "How many countries belong to NATO?"}]})
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"
    # A client that hangs up mid-body.
    host, port = url.split("//")[1].rstrip("/").split(":")
    for path in ("/v1/chat/completions", "/api/answer"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         f"\r\nContent-Length: 5000\r\nAuthorization: Bearer {keys['hana']}"
                         f"\r\n\r\n{{\"messages\": [".encode())
    # A person's mistake on the page is one line in the log.
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    hana = Client(url, auth=("hana", PASSWORDS["hana"]), verbose=False)
    with pytest.raises(AppError, match="no collection 'vault' here"):
        hana.predict(question="Hi?", collection="vault", api_name="/answer")
    with pytest.raises(AppError, match="k must be"):
        hana.predict(question="Hi?", k=99, api_name="/answer")
    assert httpx.get(url + "v1/models", headers=auth).status_code == 200  # still serving
    log = s.log.read_text()
    assert "Traceback" not in log and "ClientDisconnect" not in log, log


def test_no_web_page_of_another_origin_may_read_answers(root, served):
    s, keys = served
    for origin in ("http://localhost:9999", "http://127.0.0.1:1234", "null",
                   "https://evil.example"):
        for path in ("v1/models", "api/collections", "config"):
            r = httpx.get(s.url + path, headers={"Origin": origin,
                                                 "Authorization": f"Bearer {keys['hana']}"})
            assert "access-control-allow-origin" not in r.headers, (origin, path)
        pre = httpx.options(s.url + "v1/chat/completions", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert "access-control-allow-origin" not in pre.headers, origin
    # A configured origin may.
    with rag_chat(root, root / "ix", "--no-page",
                  RAG_CORS_ORIGINS="https://app.example,https://b.example") as other:
        r = httpx.get(other.url + "v1/models", headers={"Origin": "https://b.example"})
        assert r.headers.get("access-control-allow-origin") == "https://b.example"
        r = httpx.get(other.url + "v1/models", headers={"Origin": "http://localhost:3000"})
        assert "access-control-allow-origin" not in r.headers


def test_an_upload_saved_by_a_stopped_server_is_indexed_at_the_next_start(tmp_path):
    """A server killed while indexing an upload leaves the file saved; the next `rag chat`
    indexes it before serving."""
    import shutil

    from rag.config import Settings
    from rag.pipeline import build

    from .conftest import SEEDS

    shutil.copytree(SEEDS, tmp_path / "docs")
    build([tmp_path / "docs"], settings=Settings(index_dir=str(tmp_path / "ix")))
    (tmp_path / "docs" / "uploads").mkdir()
    (tmp_path / "docs" / "uploads" / "kiwi.txt").write_text(
        "Kiwi notes. The kiwi lays the largest egg relative to its body of any bird.\n")
    with rag_chat(tmp_path, tmp_path / "ix", "--no-page") as s:
        r = _chat(s.url, None, "Which bird lays the largest egg relative to its body?")
        assert r.status_code == 200 and "kiwi" in r.json()["choices"][0]["message"]["content"]
        assert "indexed 1 upload(s) saved but not indexed: kiwi.txt" in s.log.read_text()
