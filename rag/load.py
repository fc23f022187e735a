"""Folders to `Document`s: walks them, hands each file to its format's extractor
(`rag/formats/`), reads the outline of structured text; bad files are skipped with a warning."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.errors import CorpusError
from rag.formats import KINDS, Unreadable, extract, kind_of
from rag.formats.outline import outline
from rag.types import Document

log = logging.getLogger("rag")

SUFFIXES = frozenset(KINDS)
STRUCTURED = frozenset({"markdown", "html", "docx"})  # text whose headings and tables we read
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
        what = "no readable documents" if seen_any else \
            "no document files (.txt .md .pdf .html .docx)"
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
    """One file to a Document, or None (with a warning naming it and why) when it cannot be
    indexed."""
    try:
        raw = path.read_bytes()
    except OSError as e:  # one unreadable file must not stop the whole build
        log.warning("skipped %s: cannot read it (%s)", path, e.strerror or e)
        return None
    try:
        got = extract(path, raw)
    except Unreadable as e:
        log.warning("skipped %s: %s", path, e)
        return None
    except Exception as e:  # a parser's bug on one odd file must not stop the build
        log.warning("skipped %s: could not read it as %s (%s: %s)", path, kind_of(path),
                    type(e).__name__, str(e).splitlines()[0][:120] if str(e) else "")
        return None
    if not got.text.strip():
        log.warning("skipped %s: no text", path)
        return None
    shape = outline(got.text) if got.kind in STRUCTURED else None
    return Document(
        doc_id=doc_id,
        text=got.text,
        title=got.title or _title_from(got.text) or path.stem,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=str(path.resolve()),  # where the page finds a cited PDF, from any folder
        date=got.date,
        url=got.url,
        meta=got.meta,
        kind=got.kind,
        pages=got.pages,
        sections=shape.sections if shape else (),
        tables=shape.tables if shape else (),
    )


_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.S)
_ATTRIBUTES = re.compile(r"\s*\{[#.][^{}]*\}\s*$")  # a heading's `{#intro}` or `{.class}`


def _title_from(body: str) -> str:
    """The first line outside HTML comments (without Markdown's `#` and a heading's `{#id}`),
    shortened at a word boundary."""
    lines = (_ATTRIBUTES.sub("", ln.strip().lstrip("#").strip())
             for ln in _COMMENT.sub("", body).splitlines())
    first = next((ln for ln in lines if ln), "")
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"
