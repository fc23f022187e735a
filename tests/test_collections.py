"""Collections: several named corpora, each its own index, served by one `rag chat`; a person
sees only the collections their groups may read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.app.library import Library
from rag.config import Collection, Settings
from rag.errors import ConfigError, RagError
from rag.types import Viewer

from .conftest import ROOT, SEEDS, rag_chat

CONFIG = """
[collections.news]
corpus = ["{root}/news"]
index_dir = "{root}/ix-news"

[collections.hr]
corpus = ["{root}/hr"]
index_dir = "{root}/ix-hr"
readers = ["hr"]
writers = ["hr-leads"]
"""
HR_TEXT = "Memo on pay. The salary review gives every hospital porter a raise of seven percent.\n"
PASSWORDS = {"hana": "hana-s3cret", "fred": "fred-s3cret"}


def test_collections_are_read_from_rag_toml_and_checked(tmp_path):
    (tmp_path / "rag.toml").write_text(CONFIG.format(root=tmp_path))
    s = Settings.load(tmp_path / "rag.toml")
    assert [c.name for c in s.collections] == ["news", "hr"]
    hr = s.collection("hr")
    assert hr.index_dir == f"{tmp_path}/ix-hr" and hr.corpus == (f"{tmp_path}/hr",)
    assert hr.writers == ("hr-leads",) and hr.collections == ()
    with pytest.raises(ConfigError, match="no collection 'legal'.*news, hr"):
        s.collection("legal")
    for table, why in (('corpus = "x"', "needs index_dir"), ('index_dir = "i"', "needs corpus"),
                       ('corpus = "x"\nindex_dir = "i"\nreaders = "hr"', "readers must be a list"),
                       ('corpus = "x"\nindex_dir = "i"\nowner = "me"', "unknown key.*owner")):
        (tmp_path / "bad.toml").write_text(f"[collections.legal]\n{table}\n")
        with pytest.raises(ConfigError, match=why):
            Settings.load(tmp_path / "bad.toml")


def test_a_library_shows_each_reader_only_the_collections_they_may_read():
    lib = Library({"news": object(), "hr": object()},  # what is served does not matter here
                  {"news": Collection("news", ("n",), "i"),
                   "hr": Collection("hr", ("h",), "j", readers=("hr",), writers=("leads",))})
    hana, lead, fred = (Viewer("hana", frozenset({"hr"})),
                        Viewer("lea", frozenset({"hr", "leads"})), Viewer("fred"))
    assert lib.names(hana) == ["news", "hr"] and lib.names(fred) == ["news"]
    assert lib.names(None) == ["news", "hr"]  # no accounts: everything
    with pytest.raises(RagError, match="no collection 'hr' here"):
        lib.get("hr", fred)
    with pytest.raises(RagError, match="no collection 'legal' here"):
        lib.get("legal", hana)
    assert lib.get("", fred) is lib.rags["news"]
    assert not lib.may_write("hr", hana) and lib.may_write("hr", lead)
    assert lib.may_write("news", fred) and not lib.may_write("hr", fred)


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collections")
    shutil.copytree(SEEDS, root / "news")
    (root / "hr").mkdir()
    (root / "hr" / "pay-memo.txt").write_text(HR_TEXT)
    (root / "rag.toml").write_text(CONFIG.format(root=root))
    from rag.users import Users

    users = Users(root / "users.json")
    users.add("hana", PASSWORDS["hana"], ["hr"])
    users.add("fred", PASSWORDS["fred"], ["finance"])
    for name in ("news", "hr"):  # as a person would: rag build --collection NAME
        p = subprocess.run([sys.executable, "-m", "rag", "build", "--collection", name],
                           cwd=root, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    return root


@pytest.mark.slow
def test_one_server_answers_from_each_collection_a_person_may_read(two_collections):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    root = two_collections
    env = {"RAG_USERS_FILE": str(root / "users.json")}
    with rag_chat(root, None, **env) as s:
        hana = Client(s.url, auth=("hana", PASSWORDS["hana"]), verbose=False)
        ans = hana.predict(question="What raise does every hospital porter get?",
                           collection="hr", api_name="/answer")
        assert "seven percent" in ans["answer"]
        news = hana.predict(question="How many countries belong to the NATO alliance?",
                            collection="news", api_name="/answer")
        assert "32" in news["answer"]
        fred = Client(s.url, auth=("fred", PASSWORDS["fred"]), verbose=False)
        with pytest.raises(AppError, match="no collection 'hr' here"):
            fred.predict(question="What raise does every hospital porter get?",
                         collection="hr", api_name="/answer")
        default = fred.predict(question="What raise does every hospital porter get?",
                               api_name="/answer")
        assert "seven percent" not in json.dumps(default)  # the news collection answered
        from gradio_client import handle_file

        (root / "new.txt").write_text("Night porters get a meal allowance of twelve dollars.\n")
        result, _, _ = hana.predict(files=[handle_file(str(root / "new.txt"))],
                                    collection="hr", api_name="/upload")
        assert "may not add documents to this collection" in result  # hr-leads only
        assert not (root / "hr" / "uploads").exists()
        from playwright.sync_api import sync_playwright

        from .test_people_server import ARGS, CHROMIUM

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name, expected in (("hana", ["news", "hr"]), ("fred", ["news"])):
                page = browser.new_page()
                page.goto(s.url)
                page.get_by_label("User name").fill(name)
                page.get_by_label("Password").fill(PASSWORDS[name])
                page.get_by_role("button", name="Log in").click()
                picker = page.locator("#collection")
                picker.wait_for(timeout=60_000)
                picker.locator("input").click()
                options = page.get_by_role("option")
                options.first.wait_for(timeout=30_000)
                assert [t.split("\n")[-1] for t in options.all_inner_texts()] == expected
                page.close()
            browser.close()


def test_a_collection_or_an_index_not_both(tmp_path):
    (tmp_path / "rag.toml").write_text(CONFIG.format(root=tmp_path))
    p = subprocess.run([sys.executable, "-m", "rag", "build", "--collection", "hr", "--index",
                        "x"], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr == "error: name a collection or an index folder, " \
        "not both\n"
    p = subprocess.run([sys.executable, "-m", "rag", "build", "--collection", "legal"],
                       cwd=tmp_path, capture_output=True, text=True,
                       env={"PATH": "/usr/bin", "PYTHONPATH": str(ROOT)})
    assert p.returncode == 1 and "no collection 'legal'" in p.stderr
