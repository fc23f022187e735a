"""Saved conversations and feedback, per user, in one SQLite file (WAL).

Every answered turn is one transaction (the question, the answer as shown and as data), so a
kill loses at most the turn being written; readers never wait for writers (WAL), and writers
wait for each other up to `BUSY_MS`. Every call names its user: a conversation id of someone
else's is as absent as one that does not exist.

Feedback (thumbs up or down on an answer, an optional "the right answer is ...", a "wrong
source" flag) is stored with the question, the earlier turns, the answer, its citations and
band, and the index version it came from; `export_feedback` turns it into an evaluation set.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rag.config import Settings
from rag.errors import RagError

BUSY_MS = 10_000
TITLE_CHARS = 80
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL,
    collection TEXT NOT NULL DEFAULT '', created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_by_user ON conversations (user, updated);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    question TEXT NOT NULL, shown TEXT NOT NULL, answer TEXT NOT NULL, core TEXT,
    index_version TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation, id);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, turn INTEGER NOT NULL,
    rating INTEGER NOT NULL, correction TEXT NOT NULL DEFAULT '',
    wrong_source INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    UNIQUE (user, turn));
"""


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    updated: float
    collection: str = ""  # the collection it asks ("" : the one index)


@dataclass(frozen=True)
class Turn:
    id: int
    question: str
    shown: str  # the answer as the page drew it
    answer: dict[str, Any]  # the Answer object (`Answer.to_dict()`)


class Conversations:
    """The conversations and feedback in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_MS / 1000)
            try:
                db.execute("PRAGMA journal_mode=WAL")  # kept by the file from now on
                db.executescript(SCHEMA)
            finally:
                db.close()
        except (OSError, sqlite3.Error) as e:
            raise RagError(f"cannot open the conversations database {self.path} ({e})") \
                from None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One connection per call (threads never share one), one transaction."""
        db = sqlite3.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash loses no committed turn
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # -- conversations ------------------------------------------------------------------------
    def start(self, user: str, title: str, collection: str = "") -> str:
        """A new conversation of `user` with a collection, titled by its first question."""
        cid = uuid.uuid4().hex
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO conversations (id, user, title, collection, created, "
                       "updated) VALUES (?, ?, ?, ?, ?, ?)",
                       (cid, user, _title(title), collection, now, now))
        return cid

    def list(self, user: str) -> list[Conversation]:
        """`user`'s conversations, the latest first."""
        with self._db() as db:
            rows = db.execute("SELECT id, title, updated, collection FROM conversations "
                              "WHERE user = ? ORDER BY updated DESC, id", (user,)).fetchall()
        return [Conversation(*r) for r in rows]

    def turns(self, user: str, cid: str) -> list[Turn]:
        with self._db() as db:
            self._own(db, user, cid)
            rows = db.execute("SELECT id, question, shown, answer FROM turns "
                              "WHERE conversation = ? ORDER BY id", (cid,)).fetchall()
        return [Turn(i, q, s, json.loads(a)) for i, q, s, a in rows]

    def add_turn(self, user: str, cid: str, question: str, shown: str, answer: dict[str, Any],
                 core: str | None = None, index_version: str = "") -> int:
        """Record one answered question; returns the turn's id (what feedback names)."""
        now = time.time()
        with self._db() as db:
            self._own(db, user, cid)
            cur = db.execute("INSERT INTO turns (conversation, question, shown, answer, core, "
                             "index_version, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (cid, question, shown, json.dumps(answer, ensure_ascii=False),
                              core, index_version, now))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, cid))
            return int(cur.lastrowid)

    def rename(self, user: str, cid: str, title: str) -> None:
        if not title.strip():
            raise RagError("a conversation needs a title")
        with self._db() as db:
            self._own(db, user, cid)
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (_title(title), cid))

    def delete(self, user: str, cid: str) -> None:
        with self._db() as db:
            self._own(db, user, cid)
            db.execute("DELETE FROM feedback WHERE turn IN "
                       "(SELECT id FROM turns WHERE conversation = ?)", (cid,))
            db.execute("DELETE FROM conversations WHERE id = ?", (cid,))

    @staticmethod
    def _own(db: sqlite3.Connection, user: str, cid: str) -> None:
        row = db.execute("SELECT user FROM conversations WHERE id = ?", (cid,)).fetchone()
        if row is None or row[0] != user:  # someone else's is as absent as a missing one
            raise RagError("no such conversation")

    # -- feedback -----------------------------------------------------------------------------
    def rate(self, user: str, turn: int, rating: int, correction: str = "",
             wrong_source: bool = False) -> None:
        """Thumbs up (1) or down (-1) on one of `user`'s answers; a second rating replaces
        the first."""
        if rating not in (1, -1):
            raise RagError("a rating is 1 (right) or -1 (wrong)")
        with self._db() as db:
            row = db.execute("SELECT c.user FROM turns t JOIN conversations c "
                             "ON c.id = t.conversation WHERE t.id = ?", (turn,)).fetchone()
            if row is None or row[0] != user:
                raise RagError("no such answer")
            db.execute("INSERT INTO feedback (user, turn, rating, correction, wrong_source, "
                       "created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user, turn) DO UPDATE "
                       "SET rating = excluded.rating, correction = excluded.correction, "
                       "wrong_source = excluded.wrong_source, created = excluded.created",
                       (user, turn, rating, correction.strip(), int(wrong_source), time.time()))

    def feedback(self) -> list[dict[str, Any]]:
        """Every rating with its turn, the conversation's earlier questions, and the answer."""
        with self._db() as db:
            rows = db.execute(
                "SELECT f.id, f.user, f.rating, f.correction, f.wrong_source, t.id, "
                "t.conversation, t.question, t.answer, t.core, t.index_version FROM feedback f "
                "JOIN turns t ON t.id = f.turn ORDER BY f.id").fetchall()
            out = []
            for fid, user, rating, correction, wrong, tid, cid, question, answer, core, \
                    version in rows:
                earlier = [q for (q,) in db.execute(
                    "SELECT question FROM turns WHERE conversation = ? AND id < ? ORDER BY id",
                    (cid, tid))]
                out.append({"id": fid, "user": user, "rating": rating, "correction": correction,
                            "wrong_source": bool(wrong), "question": question,
                            "history": earlier, "answer": json.loads(answer), "core": core,
                            "index_version": version})
        return out


def conversations_path(s: Settings) -> Path:
    """Where the conversations of the index `s` names are kept."""
    return Path(s.conversations_db or Path(s.index_dir) / "conversations.sqlite")


def _title(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TITLE_CHARS else flat[:TITLE_CHARS - 1].rstrip() + "…"


def export_feedback(rows: Sequence[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Feedback as evaluation items (the `evals/` format) and the rest, which says too little
    to score an answer by:

    - a correction ("the right answer is ...") is the accepted answer; the sources are the
      cited documents unless a wrong source was flagged (then none are listed);
    - a thumbs up on an answer accepts its core span (the number, date or name it gave) and
      its cited documents; on an abstention it makes an unanswerable item;
    - a thumbs down without a correction, or a thumbs up on an answer without a core span,
      goes to the second list with what is known."""
    items, incomplete = [], []
    for r in rows:
        ans = r["answer"]
        cited = sorted({PurePosixPath(c["doc_id"]).stem for c in ans.get("citations", [])})
        item: dict[str, Any] = {"id": f"feedback-{r['id']}", "question": r["question"]}
        if r["history"]:
            item["history"] = r["history"]
        if r["correction"]:
            item |= {"answers": [r["correction"]],
                     "sources": [] if r["wrong_source"] else cited}
        elif r["rating"] > 0 and ans.get("abstained"):
            item["answerable"] = False
        elif r["rating"] > 0 and r["core"] and not r["wrong_source"]:
            item |= {"answers": [r["core"]], "sources": cited}
        else:
            incomplete.append({**item, "rating": r["rating"], "wrong_source": r["wrong_source"],
                               "answer": ans.get("answer", ""), "cited": cited})
            continue
        items.append(item)
    return items, incomplete
