"""Files added from the chat page: checked, saved whole (or not at all) into the corpus's
uploads folder, then synced into the index; one result line per file."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from pathlib import Path

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import RagError
from rag.files import atomic_write
from rag.ingest.formats import KINDS, Unreadable, extract, kind_of
from rag.pipeline import corpus_of, sync_corpus
from rag.store import indexed_documents

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


def add_files(files: Sequence[tuple[str, Path]], settings: Settings, embedder: Embedder,
              known: dict[str, str]) -> list[tuple[str, str]]:
    """Save and index `files` ((name the user gave, where the bytes are)); `known` maps the
    content hash of each indexed document to its id. Returns (name, result) per file."""
    corpus = corpus_of(settings)  # read once: each call reads the index's manifest
    folder = uploads_folder(settings, corpus)
    results: dict[str, str] = {}
    saved: dict[str, str] = {}  # doc id -> name given
    limit = settings.max_upload_mb * 1_000_000
    for given, src in files:
        name = safe_name(given)
        kind = kind_of(Path(name))
        size = src.stat().st_size
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
        raw = src.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest in known:
            results[name] = f"already indexed as {known[digest]}"
            continue
        try:
            got = extract(Path(name), raw, ocr=settings.ocr)
        except Unreadable as e:
            results[name] = f"skipped: {e}"
            continue
        if not got.text.strip():
            results[name] = "skipped: no text"
            continue
        target = _free_path(folder, name)
        try:
            _save(target, raw)
        except OSError as e:  # a full disk, say: nothing half-written is left behind
            results[name] = f"not saved: {e.strerror or e}"
            continue
        known[digest] = _doc_id(target, corpus)
        saved[known[digest]] = name
        results[name] = "saved"
    if saved:
        _sync(settings, embedder, corpus, folder)
        documents = indexed_documents(settings)
        for doc_id, name in saved.items():
            info = documents.get(doc_id)
            results[name] = f"indexed, {len(info.chunks) if info else 0} chunks"
    return list(results.items())


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


def _doc_id(path: Path, corpus: list[str]) -> str:
    for root in map(Path, corpus):
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
        except RagError as e:
            if "another build is writing" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)

