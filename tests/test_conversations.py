"""Saved conversations and feedback in SQLite, and feedback exported as an evaluation set."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from rag.errors import RagError
from rag.users.conversations import Conversations, export_feedback

from .conftest import ROOT


def _answer(text: str = "It flows 338 km. [1]", doc: str = "rivers/clutha.txt",
            abstained: bool = False) -> dict:
    citations = [] if abstained else [{"n": 1, "doc_id": doc, "quote": text}]
    return {"question": "q", "answer": text, "abstained": abstained, "citations": citations,
            "band": "abstain" if abstained else "answer"}


def test_conversations_belong_to_their_user(tmp_path):
    db = Conversations(tmp_path / "c.sqlite")
    cid = db.start("hana", "How long is the Clutha?  It is a river\nin Otago")
    db.add_turn("hana", cid, "How long is the Clutha?", "<p>338 km</p>", _answer(), "338 km")
    db.add_turn("hana", cid, "And where does it flow?", "<p>to the sea</p>", _answer())
    other = db.start("fred", "Budget?")
    assert [c.title for c in db.list("hana")] == ["How long is the Clutha? It is a river in Otago"]
    assert [t.question for t in db.turns("hana", cid)] == ["How long is the Clutha?",
                                                           "And where does it flow?"]
    for call in (lambda: db.turns("fred", cid), lambda: db.rename("fred", cid, "mine"),
                 lambda: db.delete("fred", cid),
                 lambda: db.add_turn("fred", cid, "q", "s", _answer()),
                 lambda: db.rate("fred", db.turns("hana", cid)[0].id, -1)):
        with pytest.raises(RagError, match="no such"):
            call()
    db.rename("hana", cid, "The Clutha")
    assert db.list("hana")[0].title == "The Clutha" and db.list("fred")[0].id == other
    db.rate("hana", db.turns("hana", cid)[0].id, 1)
    db.delete("hana", cid)
    assert db.list("hana") == [] and db.feedback() == []
    with pytest.raises(RagError, match="no such conversation"):
        db.turns("hana", cid)


def test_a_second_rating_replaces_the_first_and_keeps_what_was_asked(tmp_path):
    db = Conversations(tmp_path / "c.sqlite")
    cid = db.start("hana", "first")
    db.add_turn("hana", cid, "How long is the Clutha?", "s", _answer())
    t2 = db.add_turn("hana", cid, "And how wide?", "s", _answer("It is wide. [1]"), None, "v-1")
    db.rate("hana", t2, 1)
    db.rate("hana", t2, -1, "about 100 metres", wrong_source=True)
    (row,) = db.feedback()
    assert (row["rating"], row["correction"], row["wrong_source"]) == (-1, "about 100 metres",
                                                                      True)
    assert row["history"] == ["How long is the Clutha?"] and row["index_version"] == "v-1"
    with pytest.raises(RagError, match="1 .right. or -1"):
        db.rate("hana", t2, 0)


def test_feedback_becomes_evaluation_items_or_says_what_is_missing():
    rows = [
        {"id": 1, "rating": -1, "correction": "338 kilometres", "wrong_source": False,
         "question": "How long?", "history": ["Clutha?"], "answer": _answer(), "core": None},
        {"id": 2, "rating": 1, "correction": "", "wrong_source": False, "question": "How long?",
         "history": [], "answer": _answer(), "core": "338 km"},
        {"id": 3, "rating": 1, "correction": "", "wrong_source": False, "question": "Cost?",
         "history": [], "answer": _answer("The documents don't say.", abstained=True),
         "core": None},
        {"id": 4, "rating": -1, "correction": "", "wrong_source": True, "question": "Who?",
         "history": [], "answer": _answer(), "core": "Luxon"},
        {"id": 5, "rating": -1, "correction": "Peters", "wrong_source": True,
         "question": "Who?", "history": [], "answer": _answer(), "core": "Luxon"},
    ]
    items, incomplete = export_feedback(rows)
    assert items == [
        {"id": "feedback-1", "question": "How long?", "history": ["Clutha?"],
         "answers": ["338 kilometres"], "sources": ["clutha"]},
        {"id": "feedback-2", "question": "How long?", "answers": ["338 km"],
         "sources": ["clutha"]},
        {"id": "feedback-3", "question": "Cost?", "answerable": False},
        {"id": "feedback-5", "question": "Who?", "answers": ["Peters"], "sources": []}]
    assert [r["id"] for r in incomplete] == ["feedback-4"]
    assert incomplete[0]["wrong_source"] and incomplete[0]["cited"] == ["clutha"]


def test_four_writers_at_once_lose_nothing(tmp_path):
    db = Conversations(tmp_path / "c.sqlite")
    errors: list[BaseException] = []

    def writer(user: str) -> None:
        try:
            cid = db.start(user, "many")
            for i in range(25):
                turn = db.add_turn(user, cid, f"question {i}", "s", _answer())
                db.rate(user, turn, 1 if i % 2 else -1)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"u{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(db.turns(f"u{n}", db.list(f"u{n}")[0].id)) == 25 for n in range(4))
    assert len(db.feedback()) == 100


WRITER = """
import sys
sys.path.insert(0, {root!r})
from rag.users.conversations import Conversations
db = Conversations({path!r})
cid = db.start("hana", "kill")
i = 0
while True:
    db.add_turn("hana", cid, "question %d" % i, "shown " * 200, {{"answer": "x" * 2000}})
    print(i, flush=True)
    i += 1
"""


def test_a_kill_during_writes_loses_at_most_the_turn_being_written(tmp_path):
    path = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), path=str(path))],
                            stdout=subprocess.PIPE, text=True)
    done = -1
    deadline = time.monotonic() + 30
    while done < 30 and time.monotonic() < deadline:
        done = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db = Conversations(path)
    kept = db.turns("hana", db.list("hana")[0].id)
    assert len(kept) >= done + 1  # every turn it reported written is there
    assert [t.question for t in kept] == [f"question {i}" for i in range(len(kept))]


@pytest.mark.slow
def test_exported_feedback_runs_in_rag_eval_as_it_is(seed_rag, tmp_path):
    db = Conversations(tmp_path / "ix" / "conversations.sqlite")
    cid = db.start("hana", "NATO")
    q1 = "How many countries belong to the NATO alliance?"
    a1 = seed_rag.answer(q1)
    t1 = db.add_turn("hana", cid, q1, "s", a1.to_dict(), a1.core)
    q2 = "What is the cost of the trip?"
    a2 = seed_rag.answer(q2, [q1])
    t2 = db.add_turn("hana", cid, q2, "s", a2.to_dict(), a2.core)
    db.rate("hana", t1, -1, "32")
    db.rate("hana", t2, -1)  # wrong, and no more said: not enough to score by
    out = tmp_path / "feedback.jsonl"
    run = [sys.executable, "-m", "rag"]
    p = subprocess.run([*run, "feedback", "export", "--out", str(out), "--index",
                        str(tmp_path / "ix")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "wrote 1 evaluation items" in p.stdout
    (item,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert item["answers"] == ["32"] and item["question"] == q1
    assert len((tmp_path / "feedback-incomplete.jsonl").read_text().splitlines()) == 1
    index = seed_rag.index.path
    p = subprocess.run([*run, "eval", str(out), "--index", str(index), "--out",
                        str(tmp_path / "report"), "--json"], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["n"] == 1 and summary["answer_correct"] == 1.0
