"""The page's login (`rag.app.login`) on a bare Starlette app: the form, sessions, logging out,
expiry and the guard against guessing. The real page behind it is tested in
test_people_server.py (Chromium, gradio_client)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from rag.app.login import COOKIE, SESSION_SECONDS, Login
from rag.app.people import one_login
from rag.users import LoginGuard

BROWSER = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def site():
    now = [1_000.0]
    login = Login(one_login("reader:s3cret"), LoginGuard(clock=lambda: now[0]),
                  clock=lambda: now[0])

    async def page(request):
        return PlainTextResponse(f"hello {login.user(request)}")

    app = Starlette(routes=[*login.routes(), Route("/", page)],
                    middleware=[login.middleware()])
    return TestClient(app, follow_redirects=False), now


def test_the_page_sends_a_stranger_to_the_form(site):
    client, _ = site
    r = client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "login"
    form = client.get("/login")
    assert form.status_code == 200 and 'name="password"' in form.text


def test_a_browser_signs_in_reaches_the_page_and_logs_out(site):
    client, _ = site
    r = client.post("/login", data={"username": "reader", "password": "s3cret"},
                    headers=BROWSER)
    assert r.status_code == 303 and r.headers["location"] == "./"
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert client.get("/").text == "hello reader"
    stolen = client.cookies[COOKIE]
    assert client.get("/logout").headers["location"] == "login"
    assert client.get("/").status_code == 303
    # The copied cookie is dead too: the session ended on the server, not just in the browser.
    client.cookies.set(COOKIE, stolen)
    assert client.get("/").status_code == 303


def test_a_program_gets_200_and_the_cookie(site):
    client, _ = site
    r = client.post("/login", data={"username": "reader", "password": "s3cret"})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert client.get("/").text == "hello reader"


@pytest.mark.parametrize("name,password", [("reader", "wrong"), ("other", "s3cret"),
                                           ("", ""), ("reader", "")])
def test_a_wrong_login_is_refused_and_sets_nothing(site, name, password):
    client, _ = site
    r = client.post("/login", data={"username": name, "password": password}, headers=BROWSER)
    assert r.status_code == 401 and "Wrong name or password" in r.text
    assert COOKIE not in r.headers.get("set-cookie", "")
    assert client.get("/").status_code == 303


def test_a_forged_or_expired_session_is_nobody(site):
    client, now = site
    client.cookies.set(COOKIE, "made-up")
    assert client.get("/").status_code == 303
    client.post("/login", data={"username": "reader", "password": "s3cret"})
    assert client.get("/").status_code == 200
    now[0] += SESSION_SECONDS + 1
    assert client.get("/").status_code == 303


def test_guessing_from_one_address_is_slowed_down(site):
    client, now = site
    for _ in range(5):
        client.post("/login", data={"username": "reader", "password": "guess"})
    r = client.post("/login", data={"username": "reader", "password": "s3cret"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 14
    assert COOKIE not in r.headers.get("set-cookie", "")
    now[0] += 16
    assert client.post("/login", data={"username": "reader",
                                       "password": "s3cret"}).status_code == 200


def test_one_login_checks_both_name_and_password():
    check = one_login("reader:pa:ss")
    assert check("reader", "pa:ss")
    assert not check("reader", "pa") and not check("Reader", "pa:ss")
    assert one_login(None) is None
