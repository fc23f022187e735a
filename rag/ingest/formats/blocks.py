"""One writer for every structured format: Markdown, HTML, Word, reStructuredText, slides,
sheets and e-books arrive here as blocks (headings, paragraphs, code, tables) and leave as the
plain text a reader sees, with the heading path in force at each offset and every table's
header row and body recorded as they are written, so offsets are exact by construction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.ingest.formats.limits import Budget

SEPARATOR = " › "  # between the headings of a section path
CELL = " | "  # between the cells of a table row

COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.S)  # an HTML comment, or one left open
ATTRIBUTES = re.compile(r"\s*\{[#.][^{}]*\}\s*$")  # a heading's `{#intro}` or `{.class}`


def inline(text: str) -> str:
    """Running text as one line per hard break: runs of spaces, tabs and soft line ends are a
    space (the caller turns soft breaks into spaces or newlines into hard breaks)."""
    return "\n".join(" ".join(ln.split()) for ln in text.split("\n") if ln.strip())


@dataclass
class Blocks:
    """Text written block by block; `sections` and `tables` say where each starts. Every
    block offered (empty ones too) and every character written is spent from `budget`."""

    parts: list[str] = field(default_factory=list)
    size: int = 0
    sections: list[tuple[int, str]] = field(default_factory=list)
    tables: list[tuple[int, int, str]] = field(default_factory=list)
    preformatted: list[tuple[int, int]] = field(default_factory=list)  # preformatted blocks
    rows: list[tuple[int, ...]] = field(default_factory=list)  # per table: source row numbers
    path: list[tuple[int, str]] = field(default_factory=list)  # (level, heading), top down
    budget: Budget = field(default_factory=Budget, repr=False, compare=False)

    def _put(self, text: str) -> int:
        """Append a block after a blank line; returns where it starts."""
        self.budget.spend(0, len(text) + 2 * bool(self.parts))
        if self.parts:
            self.parts.append("\n\n")
            self.size += 2
        at = self.size
        self.parts.append(text)
        self.size += len(text)
        return at

    def heading(self, level: int, text: str) -> None:
        self.budget.spend()
        text = ATTRIBUTES.sub("", " ".join(text.split()))
        if not text:
            return
        at = self._put(text)
        self.path = [(lv, t) for lv, t in self.path if lv < level] + [(level, text)]
        self.sections.append((at, SEPARATOR.join(t for _, t in self.path)))

    def paragraph(self, text: str) -> None:
        """Running text: whitespace is a space, hard breaks (newlines) are kept."""
        self.budget.spend()
        text = inline(text)
        if text:
            self._put(text)

    def code(self, text: str) -> None:
        """Preformatted text, its lines as they are (trailing blank lines dropped)."""
        self.budget.spend()
        text = "\n".join(ln.rstrip() for ln in text.strip("\n").split("\n"))
        if text.strip():
            at = self._put(text)
            self.preformatted.append((at, at + len(text)))

    def table(self, rows: Sequence[Sequence[str]], header_rows: int = 1,
              numbers: Sequence[int] = ()) -> None:
        """Rows of cells, one line each; the first `header_rows` are indexed with every chunk
        of the rest. `numbers` are the rows' numbers in their sheet, for citations. A table
        without body rows is a paragraph per row."""
        self.budget.spend(max(len(rows), 1))
        kept = [(i, CELL.join(" ".join(c.split()) for c in row)) for i, row in enumerate(rows)
                if any(c.strip() for c in row)]
        lines = [ln for _, ln in kept]
        header_rows = min(header_rows, len(lines))
        head, body = lines[:header_rows], lines[header_rows:]
        if not body:
            for ln in head:
                self._put(ln)
            return
        at = self._put("\n".join(lines))
        start = at + sum(len(h) + 1 for h in head)
        self.tables.append((start, at + len("\n".join(lines)), "\n".join(head)))
        self.rows.append(tuple(numbers[i] for i, _ in kept[header_rows:]) if numbers else ())

    def text(self) -> str:
        return "".join(self.parts)


def title_like(value: str) -> bool:
    """Whether metadata's title is a title, not what a tool put there ("Microsoft Word -
    report.doc", "paper.dvi", "untitled", a file name)."""
    v = " ".join((value or "").split())
    if not v or not re.search(r"[^\W\d_]", v):
        return False
    low = v.lower()
    if low in {"untitled", "title", "no title", "document", "slide 1", "powerpoint presentation"}:
        return False
    if re.match(r"(microsoft (word|powerpoint|excel)|untitled)\b", low):
        return False
    return not re.search(r"\.(dvi|docx?|pptx?|xlsx?|tex|pdf|ps|eps|rtf|odt|indd|qxd|pages)$",
                         low)
