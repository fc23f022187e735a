"""Files added from the chat page: checked, saved whole (or not at all) into the corpus's
uploads folder, then synced into the index; one result line per file."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import IndexBusyError, RagError
from rag.files import atomic_write
from rag.ingest.formats import KINDS, Unreadable, extract, kind_of
from rag.ingest.load import RULES
from rag.pipeline import corpus_of, sync_corpus
from rag.store import indexed_documents
from rag.users.accounts import check_name

LOCK_WAIT = 120.0  # seconds to wait for a build already writing the index


def uploads_folder(s: Settings, corpus: list[str] | None = None) -> Path:
    """Where uploads go: `upload_dir`, else `uploads/` in the first folder of the corpus the
    index records (`corpus`, when the caller has read it already), so every later build and
    watch of that corpus includes them."""
    if s.upload_dir:
        return Path(s.upload_dir).resolve()
    roots = [Path(p) for p in (corpus if corpus is not None else corpus_of(s))]
    first = next((p for p in roots if p.is_dir()), roots[0].parent)
    return first / "uploads"


def safe_name(name: str) -> str:
    """A file name that stays in the folder: no directories (`../`, `C:\\`), no control
    characters, not hidden."""
    base = re.split(r"[\\\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".").strip()
    return base[:200] or "upload"


def audience_folder(folder: Path, audience: Iterable[str] | None) -> Path:
    """Where an upload readable by the groups `audience` goes: a folder of the uploads
    folder per audience, its `.access.toml` naming them, so every later build keeps the rule;
    None: the uploads folder itself (whoever may read the collection)."""
    if audience is None:
        return folder
    groups = sorted({check_name(g, "group name") for g in audience})
    if not groups:
        raise RagError("choose who may read the upload: at least one of your groups")
    name = "+".join(groups)  # '+' is in no group name
    if len(name) > 100:
        name = "groups-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    target = folder / name
    rule = target / RULES
    text = "groups = [" + ", ".join(f'"{g}"' for g in groups) + "]\n"
    if not rule.is_file() or rule.read_text(encoding="utf-8") != text:
        atomic_write(rule, text)  # the rule first: the file is never there without it
    return target


def add_files(files: Sequence[tuple[str, Path]], settings: Settings, embedder: Embedder,
              known: dict[str, str], audience: Iterable[str] | None = None
              ) -> list[tuple[str, str]]:
    """Save and index `files` ((name the user gave, where the bytes are)); `known` maps the
    content hash of each indexed document the uploader may read to its id; `audience`, the
    groups that may read the uploads (None: whoever may read the collection). Returns
    (name, result) per file; a file saved under another name says so."""
    corpus = corpus_of(settings)  # read once: each call reads the index's manifest
    uploads = uploads_folder(settings, corpus)
    folder = audience_folder(uploads, audience)
    results: dict[str, str] = {}
    saved: dict[str, str] = {}  # doc id -> name given
    limit = settings.max_upload_mb * 1_000_000
    for given, src in files:
        name = safe_name(given)
        kind = kind_of(Path(name))
        try:
            size = src.stat().st_size
        except OSError:  # the page's temporary copy, deleted by the same bytes sent just before
            results[name] = "skipped: its upload is gone; if it is not listed, send it again"
            continue
        if kind is None:
            results[name] = f"skipped: not a supported type (one of {', '.join(sorted(KINDS))})"
            continue
        if size == 0:
            results[name] = "skipped: empty file"
            continue
        if size > limit:
            results[name] = (f"skipped: {size / 1e6:,.1f} MB, over the "
                             f"{settings.max_upload_mb} MB limit")
            continue
        try:
            raw = src.read_bytes()
        except OSError:
            results[name] = "skipped: its upload is gone; if it is not listed, send it again"
            continue
        digest = hashlib.sha256(raw).hexdigest()
        if digest in known:
            results[name] = f"already indexed as {known[digest]}"
            continue
        try:
            got = extract(Path(name), raw, ocr=settings.ocr, limits=settings.limits)
        except Unreadable as e:
            results[name] = f"skipped: {e}"
            continue
        if not got.text.strip():
            results[name] = "skipped: no text"
            continue
        with _SAVING:  # one upload at a time looks for its twin and saves
            target = _twin(folder, raw, digest)
            if target is None:
                target = _free_path(folder, name)
                try:
                    _save(target, raw)
                except OSError as e:  # a full disk, say: nothing half-written is left behind
                    results[name] = f"not saved: {e.strerror or e}"
                    continue
        known[digest] = _doc_id(target, corpus, uploads)
        saved[known[digest]] = name
        results[name] = "saved" if target.name == name else f"saved as {target.name}"
    if saved:
        _sync(settings, embedder, corpus, uploads)
        documents = indexed_documents(settings)
        for doc_id, name in saved.items():
            info = documents.get(doc_id)
            as_ = "" if Path(doc_id).name == name else f" as {Path(doc_id).name}"
            results[name] = f"indexed{as_}, {len(info.chunks) if info else 0} chunks"
    return list(results.items())


# Uploads in this process look for an earlier copy of their bytes and save one at a time, so
# the same file sent twice while the first is still being indexed is saved and indexed once.
_SAVING = threading.Lock()


def _twin(folder: Path, raw: bytes, digest: str) -> Path | None:
    """A file in `folder` holding exactly `raw` (saved by an upload whose indexing has not
    finished, or was stopped), or None."""
    if not folder.is_dir():
        return None
    for p in folder.iterdir():
        if p.is_file() and not p.name.startswith(".") and p.stat().st_size == len(raw) \
                and hashlib.sha256(p.read_bytes()).hexdigest() == digest:
            return p
    return None


def index_pending(settings: Settings, embedder: Embedder, documents: Iterable[str]
                  ) -> list[str]:
    """Index the uploads a stopped server saved but did not index (`documents`: the ids the
    index holds); returns their names."""
    corpus = corpus_of(settings)  # read once: each call reads the index's record
    folder = uploads_folder(settings, corpus)
    pending = unindexed_uploads(folder, corpus, documents)
    if pending:
        _sync(settings, embedder, corpus, folder)
    return [p.name for p in pending]


def unindexed_uploads(folder: Path, corpus: list[str], documents: Iterable[str]
                      ) -> list[Path]:
    """Files in the uploads `folder` that the index of `corpus` does not hold (an upload
    whose indexing was stopped); hidden files aside."""
    if not folder.is_dir():
        return []
    held = set(documents)
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and kind_of(p) is not None
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
            and _doc_id(p, corpus, folder) not in held]


def _free_path(folder: Path, name: str) -> Path:
    """`name` in `folder`, numbered "(2)", "(3)"… when another file has it."""
    target, stem, n = folder / name, Path(name).stem, 2
    while target.exists():
        target = folder / f"{stem} ({n}){Path(name).suffix}"
        n += 1
    return target


def _save(target: Path, raw: bytes) -> None:
    """Write whole or not at all (a hidden temporary file, ignored by builds and watches)."""
    atomic_write(target, raw)


def _doc_id(path: Path, corpus: list[str], uploads: Path | None = None) -> str:
    """The id a build gives `path`: its place under the corpus folder holding it, else under
    the uploads folder (which joins the corpus when it lies outside)."""
    for root in [*map(Path, corpus), *([uploads] if uploads else [])]:
        if root.is_dir() and path.resolve().is_relative_to(root.resolve()):
            return path.resolve().relative_to(root.resolve()).as_posix()
    return path.name


def _sync(s: Settings, embedder: Embedder, corpus: list[str], folder: Path) -> None:
    """An incremental build of the recorded corpus (with the uploads folder, which joins the
    record when it lies outside), waiting for a build that is already writing."""
    paths = list(corpus)
    if not any(folder.is_relative_to(Path(p)) for p in paths if Path(p).is_dir()):
        paths.append(str(folder))
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            sync_corpus(paths, s, embedder=embedder)
            return
        except IndexBusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)

