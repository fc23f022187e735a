"""Accounts: the users file, the `rag user` commands, and the guard against guessing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from rag.config import Settings
from rag.errors import RagError
from rag.users import LoginGuard, Users
from rag.users.accounts import hash_password, verify_password

from .conftest import ROOT


def test_passwords_are_salted_scrypt_hashes_checked_in_constant_time():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$16384$8$1$")  # a salt of its own
    assert verify_password("correct horse", a) and not verify_password("correct hors", a)
    assert not verify_password("x", "md5$abc") and not verify_password("x", "garbage")


def test_the_users_file_is_written_whole_with_mode_0600_and_read_again_when_it_changes(
        tmp_path):
    users = Users(tmp_path / "cfg" / "users.json")
    assert users.all() == {}
    users.add("hana", "s3cret-pass", ["hr", "leads"])
    assert stat.S_IMODE(os.stat(users.path).st_mode) == 0o600
    assert "s3cret" not in users.path.read_text()
    assert users.check("hana", "s3cret-pass").groups == {"hr", "leads"}
    assert users.check("hana", "wrong-pass") is None and users.check("nobody", "x") is None
    other = Users(users.path)  # another process's view: sees each change
    users.set_groups("hana", ["finance"])
    assert other.get("hana").groups == {"finance"}
    users.passwd("hana", "new-secret")
    assert other.check("hana", "new-secret") and not other.check("hana", "s3cret-pass")
    users.remove("hana")
    assert other.get("hana") is None
    assert not [p for p in users.path.parent.iterdir() if p.name != "users.json"]


@pytest.mark.parametrize("call, message", [
    (lambda u: u.add("bad name", "longenough"), "user name 'bad name' must be"),
    (lambda u: u.add("ok", "short"), "at least 8 characters"),
    (lambda u: u.add("ok", "longenough", ["hr", "no way"]), "group name 'no way'"),
    (lambda u: u.remove("ghost"), "no user ghost"),
    (lambda u: u.passwd("ghost", "longenough"), "no user ghost"),
])
def test_bad_account_changes_are_refused_and_change_nothing(tmp_path, call, message):
    users = Users(tmp_path / "users.json")
    users.add("hana", "s3cret-pass")
    before = users.path.read_bytes()
    with pytest.raises(RagError, match=message):
        call(users)
    assert users.path.read_bytes() == before


def test_a_damaged_users_file_is_named_not_ignored(tmp_path):
    (tmp_path / "users.json").write_text("{not json")
    with pytest.raises(RagError, match="users file .* is damaged"):
        Users(tmp_path / "users.json").all()


def _rag(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag", *args], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, env={**os.environ, **env})


def test_the_user_commands_take_the_password_from_standard_input(tmp_path):
    env = {"RAG_USERS_FILE": str(tmp_path / "users.json")}
    p = _rag("user", "add", "hana", "--groups", "hr,leads", stdin="s3cret-pass\n", **env)
    assert p.returncode == 0, p.stderr
    assert _rag("user", "add", "fred", stdin="s3cret-pass\n", **env).returncode == 0
    assert _rag("user", "list", **env).stdout == "fred\t\nhana\thr,leads\n"
    p = _rag("user", "add", "hana", stdin="another-one\n", **env)
    assert p.returncode == 1 and p.stderr == "error: user hana already exists; use " \
        "`rag user passwd` or `rag user groups`\n"
    assert _rag("user", "passwd", "hana", stdin="changed-pass\n", **env).returncode == 0
    assert Users(tmp_path / "users.json").check("hana", "changed-pass")
    assert _rag("user", "groups", "fred", "finance", **env).returncode == 0
    assert _rag("user", "remove", "hana", **env).returncode == 0
    data = json.loads((tmp_path / "users.json").read_text())
    assert data == {"users": {"fred": {"password": data["users"]["fred"]["password"],
                                       "groups": ["finance"]}}}
    p = _rag("user", "list", RAG_USERS_FILE="")
    assert p.returncode == 1 and "set users_file in rag.toml or RAG_USERS_FILE" in p.stderr


def test_the_guard_makes_each_guess_after_five_wait_longer():
    now = [1000.0]
    guard = LoginGuard(clock=lambda: now[0])
    for _ in range(5):
        assert guard.wait("user:hana") == 0
        guard.failed("user:hana", "address:10.0.0.1")
    assert guard.wait("user:hana") == 15 and guard.wait("address:10.0.0.1") == 15
    assert guard.wait("user:fred", "address:10.0.0.2") == 0  # others are not slowed
    now[0] += 15
    guard.failed("user:hana")
    assert guard.wait("user:hana") == 30  # doubles with each failure
    now[0] += 30
    guard.succeeded("user:hana")
    assert guard.wait("user:hana") == 0 and guard.wait("address:10.0.0.1") == 0
    now[0] += 901  # failures older than the window are forgotten
    for _ in range(4):
        guard.failed("address:10.0.0.1")
    assert guard.wait("address:10.0.0.1") == 0


def test_paths_in_a_rag_toml_elsewhere_are_read_from_its_folder(tmp_path, monkeypatch):
    """`rag user list` run in another folder reads the users file beside the rag.toml."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "rag.toml").write_text('users_file = "people.json"\nindex_dir = "ix"\n'
                                   'corpus = ["docs", "/abs/elsewhere"]\n'
                                   'llm_model_path = "smollm2"\n'
                                   '[collections.hr]\ncorpus = ["hr"]\nindex_dir = "hr-ix"\n')
    Users(site / "people.json").add("ada", "ada-s3cret-pw", ["hr"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = Settings.load(site / "rag.toml")
    assert s.users_file == str(site / "people.json") and s.index_dir == str(site / "ix")
    assert s.corpus == (str(site / "docs"), "/abs/elsewhere")
    assert s.llm_model_path == "smollm2"  # a bundled model's name stays a name
    assert s.collection("hr").corpus == (str(site / "hr"),)
    out = subprocess.run([sys.executable, "-m", "rag", "user", "list"], cwd=elsewhere,
                         env={"RAG_CONFIG": str(site / "rag.toml"), "PATH": "/usr/bin"},
                         capture_output=True, text=True)
    assert out.returncode == 0 and "ada" in out.stdout, out.stderr
    monkeypatch.chdir(site)  # beside it, paths stay as written
    assert Settings.load(site / "rag.toml").users_file == "people.json"
