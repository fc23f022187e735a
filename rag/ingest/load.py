"""Folders to `Document`s: walks them, hands each file to its format's extractor
(`rag/ingest/formats/`), names each by its own title and labels it with the groups that may
read it; bad files are skipped with a warning.

Access rules: front matter `access: [group, ...]` for a text or Markdown file; for any file,
the nearest `.access.toml` (`groups = [...]`) in its folder or a folder above it, up to the
corpus root. No rule: every signed-in user may read it. A rule that cannot be read stops the
build rather than leave a document open to everyone."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from rag.errors import CorpusError
from rag.ingest.formats import KINDS, Extracted, Unreadable, extract
from rag.ingest.formats.blocks import (
    ATTRIBUTES,
    COMMENT,
    SEPARATOR,
    TITLE_CHARS,
    generic_heading,
    heading_like,
    readable_name,
    title_like,
    visible,
)
from rag.ingest.formats.limits import check_size
from rag.types import Document, DocumentInfo, Limits

log = logging.getLogger("rag")

SUFFIXES = frozenset(KINDS)
SHEETS = frozenset({"csv", "tsv", "xlsx"})  # their first row is a header, their sections sheets
RULES = ".access.toml"  # a folder's access rule (hidden: never indexed itself)


def load_documents(paths: Iterable[str | Path], ocr: bool = True,
                   limits: Limits | None = None,
                   known: Mapping[str, DocumentInfo] | None = None,
                   refused: dict[str, list] | None = None) -> list[Document]:
    """Load every supported file under `paths` (folders recurse; hidden entries are skipped);
    `ocr` reads scanned PDF pages with Tesseract; `limits` bound what each file may cost.

    A file that is binary, not UTF-8, empty, over a limit or that its parser fails on is
    skipped with a warning naming it; the rest load.
    Files of other types are counted and their types named in one line.
    Raises CorpusError when a path does not exist or nothing loadable is found.

    A file whose size and modification time match its record in `known` (what the index
    holds) is not read again: it comes back `unread`, from the record. `refused` (path ->
    [size, mtime_ns, why]) is what earlier loads skipped: an unchanged file there is skipped
    again unread, and the dict is replaced by what this load skipped. One slow or hostile
    file costs its time once, not at every sync.
    """
    paths = list(paths)
    docs: dict[str, Document] = {}
    seen_any = False
    other: Counter[str] = Counter()
    ocr_pages = ocr_files = 0
    rules = FolderRules()
    now_refused: dict[str, list] = {}
    for root in map(Path, paths):
        if not root.exists():
            raise CorpusError(f"corpus path {root} does not exist")
        top = root if root.is_dir() else root.parent
        for path, doc_id in _files(root, other):
            seen_any = True
            access = rules.groups(path.parent, top)
            try:
                st = path.stat()
            except OSError:
                st = None
            doc = _unchanged(doc_id, (known or {}).get(doc_id), path, st, access)
            where = str(path.resolve())
            before = (refused or {}).get(where)
            if doc is None and st is not None and before is not None \
                    and before[:2] == [st.st_size, st.st_mtime_ns]:
                log.warning("skipped %s: %s (unchanged since)", path, before[2])
                now_refused[where] = before
                continue
            if doc is None:
                got = _read(path, doc_id, ocr, access, limits)
                if isinstance(got, Skipped):
                    log.warning("skipped %s: %s", path, got.why)
                    if st is not None and got.lasting:
                        now_refused[where] = [st.st_size, st.st_mtime_ns, got.why]
                    continue
                doc = got
            if doc.meta.get("ocr_pages") and not doc.unread:
                ocr_pages += doc.meta["ocr_pages"]
                ocr_files += 1
            if doc_id in docs:
                raise CorpusError(f"two files map to the document id {doc_id!r}; "
                                  f"index their folders separately or rename one")
            docs[doc_id] = doc
    if other:
        n = sum(other.values())
        log.warning("skipped %d file%s of unsupported types: %s", n, "s" * (n != 1),
                    ", ".join(f"{ext} ({k})" if k > 1 else ext
                              for ext, k in sorted(other.items(), key=lambda x: (-x[1], x[0]))))
    if ocr_pages:
        log.info("read %d page%s by OCR in %d PDF%s", ocr_pages, "s" * (ocr_pages != 1),
                 ocr_files, "s" * (ocr_files != 1))
    if refused is not None:
        refused.clear()
        refused.update(now_refused)
    if not docs:
        what = "no readable documents" if seen_any else \
            f"no document files ({' '.join(sorted(SUFFIXES))})"
        raise CorpusError(f"{what} in {', '.join(map(str, paths))}")
    return [docs[k] for k in sorted(docs)]


def _files(root: Path, other: Counter[str] | None = None) -> Iterator[tuple[Path, str]]:
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
        if path.is_file() and path.suffix.lower() not in SUFFIXES and other is not None:
            other[path.suffix.lower() or "(no extension)"] += 1
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            # A link out of the corpus would let a shared folder quote any file on the machine.
            if not path.resolve().is_relative_to(inside):
                log.warning("skipped %s: a link to %s, outside the corpus %s", path,
                            path.resolve(), root)
                continue
            yield path, rel.as_posix()


class FolderRules:
    """The `.access.toml` rules of folders, each read once."""

    def __init__(self) -> None:
        self._read: dict[Path, tuple[str, ...] | None] = {}

    def groups(self, folder: Path, root: Path) -> tuple[str, ...] | None:
        """The groups of the nearest rule from `folder` up to `root`; None: no rule."""
        for at in (folder, *folder.parents):
            if at not in self._read:
                self._read[at] = _rule(at / RULES)
            if self._read[at] is not None or at == root or at == at.parent:
                return self._read[at]
        return None


def _rule(path: Path) -> tuple[str, ...] | None:
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise CorpusError(f"cannot read the access rule {path} ({e}); fix it, or remove it "
                          f"to open the folder to every user") from None
    groups = _groups(data.get("groups"))
    if groups is None:
        raise CorpusError(f'the access rule {path} needs groups = ["group", ...]')
    return groups


def _groups(value: object) -> tuple[str, ...] | None:
    """A list of group names (or one name) as a sorted tuple; None when it is not one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(g, str) and g.strip() for g in value):
        return None
    return tuple(sorted({g.strip() for g in value}))


def load_file(path: Path, doc_id: str, ocr: bool = True,
              access: tuple[str, ...] | None = None,
              limits: Limits | None = None) -> Document | None:
    """One file to a Document, or None (with a warning naming it and why) when it cannot be
    indexed. `access` is its folder's rule; front matter `access` overrides it. `limits`
    (default: `Limits()`) bound what the file may cost."""
    got = _read(path, doc_id, ocr, access, limits)
    if isinstance(got, Skipped):
        log.warning("skipped %s: %s", path, got.why)
        return None
    return got


class Skipped(NamedTuple):
    """Why a file is not indexed; `lasting` when that holds until its bytes or the limits
    change (not so for a file that could not be opened: its permissions may change)."""

    why: str
    lasting: bool = True


def _read(path: Path, doc_id: str, ocr: bool, access: tuple[str, ...] | None,
          limits: Limits | None) -> Document | Skipped:
    """One file to a Document, or why it cannot be indexed."""
    limits = limits or Limits()
    try:
        st = path.stat()
        check_size(st.st_size, limits)  # before the file is in memory
        raw = path.read_bytes()
        # Any parser's error on one odd file is Unreadable: it must not stop the build.
        got = extract(path, raw, ocr=ocr, limits=limits)
    except OSError as e:  # one unreadable file must not stop the whole build
        return Skipped(f"cannot read it ({e.strerror or e})", lasting=False)
    except Unreadable as e:
        return Skipped(str(e))
    if not got.text.strip():
        return Skipped("no text")
    if "access" in got.meta:
        access = _groups(got.meta["access"])
        if access is None:  # never open a document whose rule is unreadable
            return Skipped("front matter access must be a list of group names")
    return Document(
        doc_id=doc_id,
        text=got.text,
        title=title_of(got, path.stem),
        sha256=hashlib.sha256(raw).hexdigest(),
        path=str(path.resolve()),  # where the page finds a cited PDF, from any folder
        date=got.date or (None if got.kind in SHEETS else dateline(got.text)),
        url=got.url,
        meta=got.meta,
        kind=got.kind,
        pages=got.pages,
        sections=got.sections,
        tables=got.tables,
        rows=got.rows,
        access=access,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
    )


def _unchanged(doc_id: str, info: DocumentInfo | None, path: Path, st: os.stat_result | None,
               access: tuple[str, ...] | None) -> Document | None:
    """The indexed record of a file whose size and modification time have not changed, as an
    `unread` Document (its folder's rule read afresh), else None."""
    if info is None or st is None or info.size is None or info.path != str(path.resolve()) \
            or (info.size, info.mtime_ns) != (st.st_size, st.st_mtime_ns):
        return None
    if "access" in info.meta:  # front matter, kept in the record
        access = _groups(info.meta["access"])
    return Document(doc_id=doc_id, text="", title=info.title, sha256=info.sha256,
                    path=info.path, date=info.date, url=info.url, meta=dict(info.meta),
                    kind=info.kind, pages=tuple(range(info.pages or 0)), access=access,
                    size=info.size, mtime_ns=info.mtime_ns, unread=True)


_MONTHS = ("january february march april may june july august september october november "
           "december").split()
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATELINE = re.compile(
    rf"^(?:(?:published|updated|posted|date|dated|issued)[:\s]+|[A-Z][A-Za-z .]{{1,30}}[,:—–-]\s*)?"
    rf"(?:(?P<d1>\d{{1,2}})\s+(?P<m1>{_MONTH}),?\s+(?P<y1>(19|20)\d\d)"
    rf"|(?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}}),?\s+(?P<y2>(19|20)\d\d)"
    rf"|(?P<y3>(19|20)\d\d)-(?P<m3>\d\d)-(?P<d3>\d\d))\b", re.I)
DATELINE_LINES = 5  # a dateline sits among the first lines of a document
DATELINE_CHARS = 80  # and is short: a date in running text is no dateline


def dateline(text: str) -> str | None:
    """The ISO date of a dateline among the document's first lines ("2 July 2024", "Published:
    July 2, 2024", "WELLINGTON, 2 July 2024 —"), None when there is none."""
    import datetime as dt

    for line in [ln.strip() for ln in text[:3000].splitlines() if ln.strip()][:DATELINE_LINES]:
        m = _DATELINE.match(line)
        if not m or len(line) > DATELINE_CHARS:
            continue
        g = m.groupdict()
        try:
            if g["y3"]:
                day = dt.date(int(g["y3"]), int(g["m3"]), int(g["d3"]))
            else:
                month = (g["m1"] or g["m2"]).lower()[:3]
                number = next(i for i, name in enumerate(_MONTHS, 1) if name.startswith(month))
                day = dt.date(int(g["y1"] or g["y2"]), number, int(g["d1"] or g["d2"]))
        except (ValueError, StopIteration):
            continue
        return day.isoformat()
    return None


def title_of(got: Extracted, stem: str) -> str:
    """A document's own title: its metadata's when that is a title; else its first heading,
    when that opens the document (a heading after an opening paragraph names a section);
    else its first line when that reads as a title; else its file's name (`stem`, without
    the extension) made readable. A sheet's (CSV, TSV, workbook) is its metadata's or its
    name: its sheet names are sections, its first row a header. Never a table's row, never
    a sentence."""
    if title_like(got.title):
        return " ".join(visible(got.title).split())
    name = readable_name(stem)
    if got.kind in SHEETS or got.kind == "pptx":  # a slide's title came as `got.title`
        return name
    def part(text: str) -> bool:  # a Word document's "Introduction" heads a section of it
        return got.kind == "docx" and generic_heading(text)

    head = _first_heading(got)
    if head and heading_like(head) and not part(head) and _opens(got, got.sections[0][0]):
        return _short(head)
    line = _first_line(got)
    if line and heading_like(line, first_line=True) and not part(line):
        return _short(line)
    return name


OPENING_WORDS = 5  # words before a heading that opens the document: a label, a badge, no text
# A heading that ends on one of these words goes on in the next heading ("Onboarding
# Process for" / "[company] Limited"): the title was set on two lines as two headings.
_CONTINUED = {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the",
              "to", "with"}


def _opens(got: Extracted, at: int) -> bool:
    """Whether the heading at `at` opens the document: fewer than OPENING_WORDS words of
    text before it, a table there (a Word document's control box) not counted."""
    words, pos = 0, 0
    for start, end in sorted((s - len(h) - 1, e) for s, e, h in got.tables if s < at):
        words += len(COMMENT.sub("", got.text[pos:max(pos, start)]).split())
        pos = max(pos, end)
    words += len(COMMENT.sub("", got.text[pos:at]).split())
    return words < OPENING_WORDS


def _first_heading(got: Extracted) -> str:
    if not got.sections:
        return ""
    at, path = got.sections[0]
    head = path.split(SEPARATOR)[0]
    if head.rsplit(" ", 1)[-1].lower() in _CONTINUED and len(got.sections) > 1 \
            and got.sections[1][0] == at + len(head) + 2:
        head = f"{head} {got.sections[1][1].split(SEPARATOR)[-1]}"
    return head


_FIELD = re.compile(r"\s*[^\W\d][\w ]{0,30}:\s+\S")
CENTRED = 8  # spaces before a line of plain text set in the middle of the page


def _first_line(got: Extracted) -> str:
    """The first line outside HTML comments (without Markdown's `#` and a heading's `{#id}`),
    none when it is a table's row. Plain text's title set in the middle of the page on
    lines of their own is those lines ("The Apache Software Foundation" / "Board of
    Directors Meeting Minutes"), up to a dateline."""
    body = COMMENT.sub("", got.text) if "<!--" in got.text else got.text
    lines = body.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        return ""
    at = sum(len(ln) + 1 for ln in lines[:first]) if body is got.text else None
    if at is not None and any(start - len(head) - 1 <= at < end
                              for start, end, head in got.tables):
        return ""
    after = next((ln for ln in lines[first + 1:] if ln.strip()), "")
    if _FIELD.match(lines[first]) and _FIELD.match(after):
        return ""  # a block of fields ("Last reviewed: 2024-05-01") is metadata
    title = [lines[first]]
    if got.kind == "text" and lines[first].startswith(" " * CENTRED):
        for ln in lines[first + 1:first + 8]:
            if not ln.strip():
                continue
            if len(title) == 3 or not ln.startswith(" " * CENTRED) or dateline(ln) or \
                    not heading_like(ln, first_line=True):
                break
            title.append(ln)
    joined = [" ".join(ATTRIBUTES.sub("", ln.strip().lstrip("#").strip()) for ln in title[:n])
              for n in range(len(title), 0, -1)]
    return next((t for t in joined if heading_like(t, first_line=True)), joined[-1])


def _short(first: str) -> str:
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"
