"""`RAG`: load an index once, then answer questions; `answer()` for one-off calls."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.config import MAX_K, Settings
from rag.embed import Embedder, embedder_for
from rag.errors import CorpusError, QuestionError, RagError, UnreadError
from rag.files import atomic_write
from rag.generate import Draft, Generator, available, make_generator
from rag.generate.features import FeatureExtractor
from rag.generate.rerank import Reranker
from rag.generate.scoring import Scorer, reader_for
from rag.generate.selector import load_selector
from rag.ingest.chunk import Chunker
from rag.ingest.load import load_documents
from rag.query import Query
from rag.retrieve import Retriever
from rag.store import (
    Store,
    SyncReport,
    has_index,
    indexed_documents,
    open_index,
    recorded_corpus,
    sync_store,
)
from rag.text import strip_controls
from rag.types import Answer, DocumentInfo, Filters, Passage, Viewer

log = logging.getLogger("rag")

HISTORY_TURNS = 4  # earlier user turns that may inform retrieval


def chunker(s: Settings) -> Chunker:
    return Chunker(s.chunk_tokens, s.chunk_overlap, s.chunk_headers)


def build(paths: Sequence[str | Path] | None = None, settings: Settings | None = None,
          rebuild: bool = False, progress: bool = False,
          embedder: Embedder | None = None) -> SyncReport:
    """Index `paths` into the configured index; without `paths`, the corpus the index records
    (else the `corpus` setting). Other paths than the recorded ones need `rebuild`: a build
    never silently drops the documents of the folders it was not given."""
    s = settings or Settings.load()
    recorded = recorded_corpus(s)
    if not paths:
        return sync_corpus(recorded or s.corpus, s, rebuild, progress, embedder)
    asked = _absolute(paths)
    if recorded and not rebuild and asked != recorded:
        raise CorpusError(
            f"the index in {s.index_dir if s.store == 'local' else s.milvus_collection} was "
            f"built from {', '.join(recorded)}, not {', '.join(asked)}; "
            f"run `rag build` alone to update it, add --rebuild to replace it, or use another "
            f"--index")
    return sync_corpus(paths, s, rebuild, progress, embedder)


def corpus_of(s: Settings) -> list[str]:
    """The folders and files the index in `s` is built from: its record, else the setting."""
    return recorded_corpus(s) or _absolute(s.corpus)


def sync_corpus(paths: Sequence[str | Path], s: Settings, rebuild: bool = False,
                progress: bool = False, embedder: Embedder | None = None) -> SyncReport:
    """Index exactly `paths` and record them as the index's corpus (no check against the
    record: `build` is the door for people)."""
    t = time.perf_counter()
    known = {} if rebuild else _indexed(s)
    refusals = Path(s.index_dir) / REFUSED
    refused = _refused(refusals, s)
    docs = load_documents(paths, ocr=s.ocr, limits=s.limits, known=known, refused=refused)
    loaded = time.perf_counter() - t
    embedder = embedder or embedder_for(s)
    try:
        report = sync_store(s, docs, embedder, chunker(s), rebuild, progress,
                            corpus=_absolute(paths))
    except UnreadError:  # the store rebuilds (settings changed): every file is read after all
        t = time.perf_counter()
        docs = load_documents(paths, ocr=s.ocr, limits=s.limits, refused=refused)
        loaded += time.perf_counter() - t
        report = sync_store(s, docs, embedder, chunker(s), rebuild, progress,
                            corpus=_absolute(paths))
    refusals.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(refusals, json.dumps({"read_with": _read_with(s), "files": refused}))
    report.timings = {"load": loaded, **report.timings}
    report.seconds += loaded
    return report


REFUSED = ".refused.json"  # in the index folder: files skipped, by size and modification time


def _indexed(s: Settings) -> dict[str, DocumentInfo]:
    """What the index records per document; none when there is no index to read."""
    try:
        return indexed_documents(s) if has_index(s) else {}
    except (RagError, OSError, ValueError):  # no index yet, or one to rebuild
        return {}


def _read_with(s: Settings) -> str:
    """What a refusal depends on besides the file: a raised limit reads the file again."""
    return f"ocr={s.ocr} {s.limits!r}"


def _refused(path: Path, s: Settings) -> dict[str, list]:
    """The files earlier syncs skipped (path -> [size, mtime_ns, why]), read under the same
    limits; none otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("read_with") != _read_with(s) \
            or not isinstance(data.get("files"), dict):
        return {}
    return {p: v for p, v in data["files"].items() if isinstance(v, list) and len(v) == 3}


def _absolute(paths: Sequence[str | Path]) -> list[str]:
    return list(dict.fromkeys(str(Path(p).resolve()) for p in paths))


def check_question(question: str, limit: int) -> str:
    """The cleaned question, or QuestionError when it is not text, empty, or longer than
    `limit`. Control characters go; so do lone surrogates (undecodable bytes in a command
    line arrive as those)."""
    if question is not None and not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    q = _clean(question or "")
    if not q:
        raise QuestionError("the question is empty; type a question about the documents")
    if len(q) > limit:
        raise QuestionError(f"the question is {len(q):,} characters long; the limit is "
                            f"{limit:,} (setting max_question_chars)")
    return q


def check_history(history: Sequence[str] | None) -> list[str]:
    """Earlier user turns as a list of text, or QuestionError."""
    if history is None:
        return []
    if not isinstance(history, list | tuple) or not all(isinstance(h, str) for h in history):
        raise QuestionError("history must be a list of earlier questions (text)")
    return [turn for turn in map(_clean, history) if turn]


MAX_TURNS = 50  # earlier turns one request may carry


@dataclass(frozen=True)
class Ask:
    """One question as the page's API, `/v1/chat/completions` and `/api/answer` receive it,
    parsed once from untyped input (`Ask.parse`); `RAG.ask` checks what depends on the
    index's settings and answers it."""

    question: str
    history: tuple[str, ...] = ()
    k: int | None = None  # passages to read (None: the settings' k)
    generator: str | None = None  # None: the settings' generator
    collection: str = ""  # "": the first collection the caller may read

    @classmethod
    def parse(cls, question: Any, history: Any = None, k: Any = None, generator: Any = None,
              collection: Any = "") -> Ask:
        """From JSON-ish values, or QuestionError naming the field that is wrong."""
        if not isinstance(question, str):
            raise QuestionError("question must be a string", "question")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int)
                              or not 0 <= k <= MAX_K):
            raise QuestionError(f"k must be a whole number from 1 to {MAX_K} (0: the default)",
                                "k")
        for name, value in (("generator", generator), ("collection", collection)):
            if value is not None and not isinstance(value, str):
                raise QuestionError(f"{name} must be a string", name)
        try:
            turns = check_history(history)
        except QuestionError as e:
            raise QuestionError(str(e), "history") from None
        if len(turns) > MAX_TURNS:
            raise QuestionError(f"history holds at most {MAX_TURNS} turns", "history")
        return cls(question, tuple(turns), k or None, generator or None, collection or "")


def _clean(text: str) -> str:
    """Without control characters and lone surrogates, trimmed."""
    return strip_controls(text).encode("utf-8", "replace").decode("utf-8").strip()


class RAG:
    """A loaded index plus the retriever and generators that answer from it."""

    def __init__(self, index: Store, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.features, self.retriever = self._answering(index)
        self._generators: dict[str, Generator] = {}
        self._chats: dict[str, Any] = {}  # LLM clients (a loaded model) outlive index swaps
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._skipped = ""  # a version that failed to load, not tried again

    @classmethod
    def load(cls, index_dir: str | Path | None = None, *, settings: Settings | None = None,
             embedder: Embedder | None = None, build_missing: bool = False,
             **overrides: Any) -> RAG:
        """Open the index in `index_dir`; with `build_missing`, build it from the corpus first."""
        s = (settings or Settings.load()).with_(index_dir=str(index_dir) if index_dir else None,
                                                **overrides)
        emb = embedder or embedder_for(s)
        if build_missing and not has_index(s):
            missing = [p for p in corpus_of(s) if not Path(p).exists()]
            if missing:  # a newcomer's first run in a folder with neither: say what to run
                raise CorpusError(f"no index in {s.index_dir} and no documents at "
                                  f"{', '.join(map(str, missing))}: run `rag build FOLDER` to "
                                  f"index your documents, or give --index DIR")
            build(settings=s, embedder=emb, progress=True)
        index = open_index(s, emb, chunker(s))
        return cls(index, emb, s)

    def _answering(self, index: Store) -> tuple[FeatureExtractor, Retriever]:
        """The candidate-sentence features of `index` and a retriever of it that re-ranks
        with the answer selector; the extractive generator reads the same features (one
        sentence-vector cache)."""
        s = self.settings
        features = FeatureExtractor(self.embedder, index.idf, sentences=index.sentences_of)
        rerank = None
        if s.rerank_depth:  # the models load only when asked for (training runs without)
            selector = load_selector(s.selector or None, s.models)
            rerank = Reranker(Scorer(features, selector, reader_for(selector, s.models)))
        return features, Retriever(index, self.embedder, s, rerank)

    def generator(self, name: str | None = None) -> Generator:
        with self._lock:
            return self._generator(name or self.settings.generator)

    def _generator(self, name: str) -> Generator:
        if "extractive" not in self._generators:
            self._generators["extractive"] = make_generator(
                "extractive", self.settings, self.embedder, self.index.idf,
                features=self.features)
        if name not in self._generators:
            # LLM generators gate on the extractive one and fall back to it: one instance,
            # one cache of sentence vectors.
            gen = make_generator(name, self.settings, self.embedder, self.index.idf,
                                 self._generators["extractive"], self._chats.get(name))
            self._chats[name] = getattr(gen, "chat", None)
            self._generators[name] = gen
        return self._generators[name]

    def refresh(self) -> bool:
        """Switch to the newer complete index a build has written to the same folder, if any.

        Questions already running finish on the index they started with; a version that
        fails to load is logged once and the loaded one kept."""
        live = self.index.live()
        if live in (None, self.index.version, self._skipped):
            return False
        with self._reload_lock:  # one reader loads it; the others keep answering meanwhile
            if self.index.live() in (None, self.index.version, self._skipped):
                return False
            try:
                index = self.index.reopen(self.embedder, chunker(self.settings))
            except RagError as e:
                log.warning("keeping the loaded index: %s", e)
                self._skipped = live or ""
                return False
            features, retriever = self._answering(index)
            with self._lock:
                self.index, self.features, self.retriever = index, features, retriever
                self._generators = {}
        log.info("now answering from %s (%s)", index.path, index.version)
        return True

    def generators(self) -> list[str]:
        """The generators these settings can run (an LLM once one is configured)."""
        return available(self.settings)

    def answer(self, question: str, history: Sequence[str] | None = None, *,
               k: int | None = None, generator: str | None = None,
               filters: Filters | None = None, threshold: float | None = None,
               viewer: Viewer | None = None) -> Answer:
        """Answer from the documents only, citing each sentence, or abstain.

        `threshold` overrides the least confidence needed to answer (0 always answers);
        `viewer` (a signed-in user's groups) restricts every step to what they may read
        (None: every document)."""
        *_, last = self.stream(question, history, k=k, generator=generator, filters=filters,
                               threshold=threshold, viewer=viewer)
        assert isinstance(last, Answer)
        return last

    def ask(self, ask: Ask, viewer: Viewer | None = None) -> Answer:
        """`answer` for a parsed request, once its history and generator suit these settings
        (QuestionError naming the field otherwise)."""
        self.check(ask)
        return self.answer(ask.question, ask.history, k=ask.k, generator=ask.generator,
                           viewer=viewer)

    def check(self, ask: Ask) -> None:
        """QuestionError (with the field) unless these settings can answer `ask`."""
        limit = self.settings.max_question_chars
        if any(len(h) > limit for h in ask.history):
            raise QuestionError(f"history holds turns of at most {limit:,} characters",
                                "history")
        if ask.generator and ask.generator not in self.generators():
            raise QuestionError(f"generator {ask.generator!r} is not configured here; "
                                f"available: {', '.join(self.generators())}", "generator")

    def query(self, question: str, history: Sequence[str] | None = None) -> Query:
        """The checked question and its last `HISTORY_TURNS` turns, analysed once."""
        q = check_question(question, self.settings.max_question_chars)
        turns = check_history(history)[-HISTORY_TURNS:]
        return Query.parse(q, turns)

    def search(self, question: str, history: Sequence[str] | None = None, *,
               k: int | None = None, filters: Filters | None = None,
               rewritten: str | None = None, viewer: Viewer | None = None) -> list[Passage]:
        """The passages `question` retrieves, to any depth: what `answer` reads. `rewritten`
        is the standalone question an LLM made of a follow-up (`Answer.rewritten`), so the
        search is the one that answer was given."""
        query = self.query(question, history)
        if rewritten:
            query = replace(query, text=rewritten)
        with self._lock:
            retriever = self.retriever
        return retriever.search(query, k=k, filters=filters, viewer=viewer)

    def stream(self, question: str, history: Sequence[str] | None = None, *,
               k: int | None = None, generator: str | None = None,
               filters: Filters | None = None, threshold: float | None = None,
               viewer: Viewer | None = None) -> Iterator[str | Answer]:
        """Yield the answer text in pieces as it is written, then the complete `Answer`.

        An LLM's pieces are its raw reply; the final `Answer` holds the checked sentences and
        their citations (a generator that composes at once releases its text word by word)."""
        t0 = time.perf_counter()
        query = self.query(question, history)
        self.refresh()
        with self._lock:  # one consistent pair, even if an index swap happens meanwhile
            retriever, gen = self.retriever, self._generator(generator or self.settings.generator)
            features = self.features
        standalone = gen.rewrite(query)  # an LLM makes a follow-up self-contained
        if standalone:
            query = replace(query, text=standalone)
        t_rewrite = time.perf_counter()
        passages = retriever.search(query, k=k, filters=filters, viewer=viewer)
        t1 = time.perf_counter()
        first = None
        for piece in gen.stream(query, passages, threshold):
            if isinstance(piece, Draft):
                draft = piece
                break
            first = first or time.perf_counter()
            yield piece
        t2 = time.perf_counter()
        timings = {"retrieve": (t1 - t0) * 1e3, "generate": (t2 - t1) * 1e3,
                   "total": (t2 - t0) * 1e3}
        if standalone:
            timings["rewrite"] = (t_rewrite - t0) * 1e3
        if first is not None:
            timings["first_token"] = (first - t0) * 1e3
        yield Answer(question=query.question, answer=draft.text, abstained=draft.abstained,
                     citations=draft.citations, passages=tuple(passages), timings_ms=timings,
                     sentences=draft.sentences, generator=draft.generator or gen.name,
                     fallback=draft.fallback, confidence=draft.confidence, core=draft.core,
                     rewritten=standalone, band=draft.band,
                     note=UNSEEN_NOTE if features.unseen_share(query) > UNSEEN_SHARE else None)


# Most of a question's words absent from every document: say so, beside whatever band it got.
UNSEEN_SHARE = 0.5
UNSEEN_NOTE = ("Few of the question's words occur in the documents: they may be in another "
               "language, or use other words for this.")


# `answer()`'s loaded pipelines, keyed on the complete settings they were loaded with (rag.toml,
# RAG_* variables and the call's options, read again on every call): a changed setting loads
# another, and the least recently used goes beyond DEFAULTS_KEPT.
_default: dict[Settings, RAG] = {}
_default_lock = threading.Lock()
DEFAULTS_KEPT = 2


def answer(question: str, history: Sequence[str] | None = None, **options: Any) -> Answer:
    """One-off answer from the default index (built from the corpus if missing).

    Options: `index_dir`, `k`, `generator`, `filters`, and any other `Settings` field. The
    loaded index is kept for the next call with the same settings; use `RAG.load` to hold one
    yourself."""
    call = {key: options.pop(key) for key in ("k", "generator", "filters") if key in options}
    s = Settings.load(**options)
    with _default_lock:
        rag = _default.pop(s, None) or RAG.load(settings=s, build_missing=True)
        _default[s] = rag  # now the most recently used
        while len(_default) > DEFAULTS_KEPT:
            del _default[next(iter(_default))]
    return rag.answer(question, history, **call)
