"""Files to `Document`s: text and Markdown, YAML front matter as metadata, bad files skipped."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rag.errors import CorpusError
from rag.types import Document

log = logging.getLogger("rag")

SUFFIXES = frozenset({".txt", ".md", ".markdown"})
TITLE_CHARS = 80


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    """Load every supported file under `paths` (folders recurse; hidden entries are skipped).

    A file that is binary, not UTF-8 or empty is skipped with a warning naming it; the rest load.
    Raises CorpusError when a path does not exist or nothing loadable is found.
    """
    docs: dict[str, Document] = {}
    seen_any = False
    for root in map(Path, paths):
        if not root.exists():
            raise CorpusError(f"corpus path {root} does not exist")
        for path, doc_id in _files(root):
            seen_any = True
            doc = load_file(path, doc_id)
            if doc is None:
                continue
            if doc_id in docs:
                raise CorpusError(f"two files map to the document id {doc_id!r}; "
                                  f"index their folders separately or rename one")
            docs[doc_id] = doc
    if not docs:
        what = "no readable documents" if seen_any else "no .txt or .md files"
        raise CorpusError(f"{what} in {', '.join(map(str, paths))}")
    return [docs[k] for k in sorted(docs)]


def _files(root: Path) -> Iterator[tuple[Path, str]]:
    if root.is_file():
        yield root, root.name
        return
    inside = root.resolve()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in SUFFIXES and path.is_symlink() and not path.exists():
            log.warning("skipped %s: a link that leads nowhere (broken, or a loop)", path)
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            # A link out of the corpus would let a shared folder quote any file on the machine.
            if not path.resolve().is_relative_to(inside):
                log.warning("skipped %s: a link to %s, outside the corpus %s", path,
                            path.resolve(), root)
                continue
            yield path, rel.as_posix()


def load_file(path: Path, doc_id: str) -> Document | None:
    """One file to a Document, or None (with a warning) when it cannot be indexed."""
    try:
        raw = path.read_bytes()
    except OSError as e:  # one unreadable file must not stop the whole build
        log.warning("skipped %s: cannot read it (%s)", path, e.strerror or e)
        return None
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # has NUL bytes, yet is text
    if b"\x00" in raw[:8192] and not utf16:
        log.warning("skipped %s: binary file", path)
        return None
    try:
        text = raw.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as e:
        log.warning("skipped %s: not %s (byte %d); convert it to UTF-8 to index it",
                    path, "UTF-16" if utf16 else "UTF-8", e.start)
        return None
    meta, body = _split_front_matter(text, path)
    if not body.strip():
        log.warning("skipped %s: no text", path)
        return None
    title = str(meta.pop("title", "") or "").strip() or _title_from(body) or path.stem
    date = meta.pop("date", None)
    url = meta.pop("url", None)
    return Document(
        doc_id=doc_id,
        text=body,
        title=title,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=str(path),
        date=_iso(date),
        url=str(url) if url else None,
        meta=_jsonable(meta),
    )


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    import frontmatter

    if not text.startswith("---"):
        return {}, text
    try:
        meta, body = frontmatter.parse(text)
    except Exception as e:  # yaml raises many kinds; all mean the same to a user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.warning("%s: front matter is not valid YAML (%s); indexing the whole file as text",
                    path, first)
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return dict(meta), body


def _title_from(body: str) -> str:
    """The first line, shortened at a word boundary."""
    first = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(meta, default=str))
