"""The OpenAI-compatible endpoint and the REST face, through the official `openai` client and
raw HTTP against a real `rag chat` (real model, seed corpus plus a folder only group hr may
read), with API keys acting as their users."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from .conftest import HR_QUESTION, ROOT, rag_chat, team_corpus

pytestmark = pytest.mark.slow



def _key(root: Path, user: str) -> str:
    p = subprocess.run([sys.executable, "-m", "rag", "key", "add", "--user", user], cwd=ROOT,
                       capture_output=True, text=True,
                       env={"RAG_USERS_FILE": str(root / "users.json"), "PATH": "/usr/bin"})
    assert p.returncode == 0, p.stderr
    assert "shown this once" in p.stderr
    return p.stdout.strip()


def _weta(hr: Path) -> None:
    from .documents import make_pdf

    make_pdf(hr / "weta.pdf", ["The giant weta is an insect that lives on Little Barrier "
                               "Island.", "A giant weta can weigh 70 grams."])


@pytest.fixture(scope="module")
def api_root(tmp_path_factory) -> Path:
    return team_corpus(tmp_path_factory.mktemp("api"), _weta)  # hr/weta.pdf: hana's alone


@pytest.fixture(scope="module")
def api(api_root):
    keys = {name: _key(api_root, name) for name in ("hana", "fred")}
    with rag_chat(api_root, api_root / "ix",
                  RAG_USERS_FILE=str(api_root / "users.json")) as served:
        yield served.url, keys


def _client(url: str, key: str):
    from openai import OpenAI

    return OpenAI(base_url=url + "v1", api_key=key, max_retries=0, timeout=120)


def _ask(client, *messages: str, **extra):
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": m}
             for i, m in enumerate(messages)]
    return client.chat.completions.create(model="rag", messages=turns, **extra)


def test_a_cited_answer_through_the_official_client(api):
    url, keys = api
    client = _client(url, keys["hana"])
    assert [m.id for m in client.models.list()] == ["rag"]
    r = _ask(client, "How many countries belong to the NATO alliance?")
    content = r.choices[0].message.content
    assert "32" in content and "[1]" in content and "**Sources**" in content
    extra = r.model_extra
    assert extra["band"] in ("answer", "tentative") and 0 < extra["confidence"] <= 1
    cite = extra["citations"][0]
    assert {"doc_id", "title", "url", "date", "page", "section", "quote", "start", "end",
            "score"} <= set(cite)
    assert cite["quote"] in json.loads(r.model_dump_json())["citations"][0]["text"]
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens > 0


def test_a_stream_joins_to_the_answer_and_ends_with_its_citations(api):
    url, keys = api
    client = _client(url, keys["hana"])
    question = "On what dates will the Prime Minister visit the United States?"
    whole = _ask(client, question).choices[0].message.content
    pieces, last = [], None
    for chunk in _ask(client, question, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert "".join(pieces) == whole and len(pieces) > 3
    assert last.choices[0].finish_reason == "stop" and last.model_extra["citations"]


def test_the_wire_format_is_openais_server_sent_events(api):
    url, keys = api
    body = {"model": "rag", "stream": True, "messages": [
        {"role": "user", "content": "How many countries belong to the NATO alliance?"}]}
    with httpx.stream("POST", url + "v1/chat/completions", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {keys['hana']}"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(r.iter_bytes()).decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    datas = [json.loads(e[len("data: "):]) for e in events[:-2]]
    assert all(e.startswith("data: {") for e in events[:-2])
    assert datas[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(d["object"] == "chat.completion.chunk" and d["id"] == datas[0]["id"]
               for d in datas)
    assert datas[-1]["choices"][0]["finish_reason"] == "stop" and datas[-1]["citations"]


def test_follow_ups_abstentions_and_access_rules(api):
    url, keys = api
    hana, fred = _client(url, keys["hana"]), _client(url, keys["fred"])
    follow = _ask(hana, "Who died outside a mall in Newport Beach?", "It was Patricia McKay.",
                  "How old was she?")
    assert "68" in follow.choices[0].message.content
    none = _ask(hana, "How many seats did Labour win in the UK election?")
    assert none.choices[0].message.content == "The documents don't say."
    assert none.model_extra["citations"] == [] and none.model_extra["band"] == "abstain"
    assert "seven percent" in _ask(hana, HR_QUESTION).choices[0].message.content
    leaked = _ask(fred, HR_QUESTION).model_dump_json()
    assert "seven percent" not in leaked and "hr/" not in leaked


def test_errors_come_in_openais_shape(api):
    import openai

    url, keys = api
    with pytest.raises(openai.AuthenticationError):
        _client(url, "rag-not-a-key").models.list()
    r = httpx.get(url + "v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    client = _client(url, keys["hana"])
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4", messages=[
            {"role": "user", "content": "Hi?"}])
    with pytest.raises(openai.BadRequestError, match="non-empty list"):
        client.chat.completions.create(model="rag", messages=[])
    with pytest.raises(openai.BadRequestError, match="no user message|the question"):
        client.chat.completions.create(model="rag", messages=[
            {"role": "system", "content": "be brief"}])
    big = {"model": "rag", "messages": [{"role": "user", "content": "x" * 1_200_000}]}
    r = httpx.post(url + "v1/chat/completions", json=big, timeout=60,
                   headers={"Authorization": f"Bearer {keys['hana']}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_twenty_streams_at_once_each_get_their_own_answer(api):
    url, keys = api
    cases = [("How many countries belong to the NATO alliance?", "32"),
             ("Who died outside a mall in Newport Beach?", "Patricia McKay"),
             ("On what dates will the Prime Minister visit the United States?", "July"),
             ("What raise does every hospital porter get from the salary review?", "seven")]
    got: dict[int, str] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            client = _client(url, keys["hana"])
            question, _ = cases[i % len(cases)]
            got[i] = "".join(c.choices[0].delta.content or "" for c in
                             _ask(client, question, stream=True) if c.choices)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == [] and len(got) == 20
    for i, text in got.items():
        assert cases[i % len(cases)][1] in text, (i, text[:200])


def test_the_rest_face_and_its_schema(api):
    url, keys = api
    auth = {"Authorization": f"Bearer {keys['fred']}"}
    r = httpx.post(url + "api/answer", json={"question": "How many countries belong to the "
                                                         "NATO alliance?"}, headers=auth,
                   timeout=120)
    assert r.status_code == 200 and "32" in r.json()["answer"] and r.json()["citations"]
    # every key of the Answer object, as the schema declares it
    from rag.types import Answer

    assert set(r.json()) == set(Answer("q", "", True).to_dict())
    docs = httpx.get(url + "api/documents", headers=auth).json()
    assert {d["doc_id"] for d in docs} == {"beehive-pm-heads-to-us-for-nato.txt",
                                           "rnz-luxon-nato-summit-analysis.txt"}
    hana = httpx.get(url + "api/documents",
                     headers={"Authorization": f"Bearer {keys['hana']}"}).json()
    assert "hr/pay-memo.txt" in {d["doc_id"] for d in hana}
    assert httpx.get(url + "api/collections", headers=auth).json() == [
        {"name": "rag", "documents": 2}]
    assert httpx.get(url + "api/documents").status_code == 401
    bad = httpx.post(url + "api/answer", json={"question": "Why?", "k": 99}, headers=auth)
    assert bad.status_code == 400 and "k" in bad.json()["error"]["message"]
    bad = httpx.post(url + "api/answer", json={"question": "Why?", "generator": "nope"},
                     headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "generator"
    schema = httpx.get(url + "api/openapi.json").json()
    assert {"/answer", "/documents", "/collections"} <= set(schema["paths"])
    # the Answer is typed in the schema, citations and bands included
    ok = schema["paths"]["/answer"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/AnswerOut")
    out = schema["components"]["schemas"]["AnswerOut"]
    assert set(out["properties"]) == set(Answer("q", "", True).to_dict())
    assert set(schema["components"]["schemas"]["Citation"]["properties"]) >= {
        "quote", "start", "end", "doc_id", "chunk_id"}
    assert "openapi.json" in httpx.get(url + "api/docs").text


def test_a_pdf_citation_links_to_the_file_the_key_may_open(api_root, api):
    """The content reads as plain text, and its PDF link opens the cited file with the
    caller's key (`GET /api/documents/ID`), and for no one who may not read it."""
    url, keys = api
    hana, fred = ({"Authorization": f"Bearer {keys[who]}"} for who in ("hana", "fred"))
    quoted = _ask(_client(url, keys["hana"]), "Which countries' counterparts will join Luxon "
                                              "in the Indo-Pacific Four meeting?")
    content = quoted.choices[0].message.content
    assert "(beehive-pm-heads-to-us-for-nato.txt, 2024-07-02)" in content
    assert "\\" not in content and "““" not in content and "””" not in content
    r = _ask(_client(url, keys["hana"]), "How much can a giant weta weigh?")
    content, cite = r.choices[0].message.content, r.model_extra["citations"][0]
    assert "70 grams" in content and (cite["doc_id"], cite["page"]) == ("hr/weta.pdf", 2)
    link = re.search(r"\(hr/weta\.pdf, \[p\. 2\]\((\S+?)\)", content).group(1)
    assert link.endswith("/api/documents/hr/weta.pdf#page=2"), content
    pdf = httpx.get(httpx.URL(url).join(link), headers=hana)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == (api_root / "docs" / "hr" / "weta.pdf").read_bytes()
    assert (pdf.headers["content-disposition"], pdf.headers["x-content-type-options"],
            pdf.headers["content-security-policy"]) == ("inline", "nosniff", "sandbox")
    missing = httpx.get(url + "api/documents/hr/nothing.pdf", headers=hana)
    hidden = httpx.get(url + "api/documents/hr/weta.pdf", headers=fred)
    assert hidden.status_code == missing.status_code == 404 and hidden.json() == missing.json()
    for other in ("hr/pay-memo.txt", "%2E%2E%2Fusers.json", "..%2F..%2Fetc%2Fpasswd",
                  str(api_root / "docs" / "hr" / "weta.pdf"), "hr/weta.pdf?collection=x"):
        assert httpx.get(url + "api/documents/" + other, headers=hana).status_code == 404
    assert httpx.get(url + "api/documents/hr/weta.pdf").status_code == 401


def test_a_revoked_key_stops_working(api_root, api):
    import openai

    url, _ = api
    key = _key(api_root, "fred")
    assert [m.id for m in _client(url, key).models.list()] == ["rag"]
    listed = subprocess.run([sys.executable, "-m", "rag", "key", "list"], cwd=ROOT,
                            capture_output=True, text=True,
                            env={"RAG_USERS_FILE": str(api_root / "users.json"),
                                 "PATH": "/usr/bin"}).stdout.splitlines()
    assert len(listed) == 3 and all(line.split("\t")[1] in ("hana", "fred") for line in listed)
    assert key not in "".join(listed)  # never shown again
    newest = [line for line in listed if line.split("\t")[1] == "fred"][-1].split("\t")[0]
    p = subprocess.run([sys.executable, "-m", "rag", "key", "revoke", newest], cwd=ROOT,
                       capture_output=True, text=True,
                       env={"RAG_USERS_FILE": str(api_root / "users.json"), "PATH": "/usr/bin"})
    assert p.returncode == 0 and "revoked" in p.stdout
    with pytest.raises(openai.AuthenticationError):
        _client(url, key).models.list()


def test_the_api_alone_without_the_page(api_root):
    with rag_chat(api_root, api_root / "ix", "--no-page") as served:
        assert httpx.get(served.url + "v1/models").status_code == 200  # loopback, no accounts
        assert httpx.get(served.url).status_code == 404  # no page


def test_a_saturated_server_says_429_and_its_limit():
    from rag.api import WAITING, ApiError, Gate
    from rag.app.library import Library

    gate = Gate(Library({"": object()}), concurrency=2)
    for _ in range(2 + WAITING):
        gate.enter()
    with pytest.raises(ApiError, match=f"{2 + WAITING} requests already") as e:
        gate.enter()
    assert e.value.status == 429 and e.value.body()["error"]["type"] == "rate_limit_error"
    gate.leave()
    gate.enter()  # room again


def test_with_the_one_rag_auth_login_its_password_is_the_key(api_root):
    with rag_chat(api_root, api_root / "ix", "--no-page", RAG_AUTH="reader:s3cret-pass") as s:
        assert httpx.get(s.url + "v1/models").status_code == 401
        ok = httpx.get(s.url + "v1/models", headers={"Authorization": "Bearer s3cret-pass"})
        assert ok.status_code == 200 and ok.json()["data"][0]["id"] == "rag"
