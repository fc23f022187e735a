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

# Invisible format characters (Unicode's Cf but the visible Arabic, Syriac and Kaithi number
# marks): zero-width spaces and joiners, the word joiner, byte order marks, bidirectional
# controls, tags. A reader never sees them, a search never types them.
INVISIBLE = ("\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
             "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
             "\U000e0020-\U000e007f")
PRIVATE_USE = "\ue000-\uf8ff"  # where Word and PDF fonts put symbol-font glyphs (U+F020-F0FF)
_HIDDEN = re.compile(f"[{INVISIBLE}{PRIVATE_USE}]")

# Symbol fonts: what a character in a Wingdings or Symbol run (a byte, or that byte at U+F0xx)
# shows, for the glyphs whose meaning is known; other glyphs of a picture font are dropped.
WINGDINGS = {0x6C: "●", 0x6E: "■", 0x6F: "□", 0x71: "❑", 0x76: "❖", 0x9F: "•", 0xA7: "▪",
             0xA8: "◻", 0xD8: "➢", 0xDF: "←", 0xE0: "→", 0xE1: "↑", 0xE2: "↓", 0xE7: "←",
             0xE8: "→", 0xE9: "↑", 0xEA: "↓", 0xEF: "⇦", 0xF0: "⇨", 0xF1: "⇧", 0xF2: "⇩",
             0xFB: "✗", 0xFC: "✓", 0xFD: "☒", 0xFE: "☑"}
WINGDINGS_2 = {0x4F: "✗", 0x50: "✓", 0x52: "☑", 0x54: "☒", 0xA3: "□"}
SYMBOL = {
    **dict(zip(range(0x41, 0x5B), "ΑΒΧΔΕΦΓΗΙϑΚΛΜΝΟΠΘΡΣΤΥςΩΞΨΖ", strict=True)),
    **dict(zip(range(0x61, 0x7B), "αβχδεφγηιϕκλμνοπθρστυϖωξψζ", strict=True)),
    0x22: "∀", 0x24: "∃", 0x27: "∋", 0x2A: "∗", 0x2D: "−", 0x40: "≅", 0x5C: "∴", 0x5E: "⊥",
    0x7E: "∼", 0xA1: "ϒ", 0xA2: "′", 0xA3: "≤", 0xA4: "⁄", 0xA5: "∞", 0xA6: "ƒ", 0xA7: "♣",
    0xA8: "♦", 0xA9: "♥", 0xAA: "♠", 0xAB: "↔", 0xAC: "←", 0xAD: "↑", 0xAE: "→", 0xAF: "↓",
    0xB0: "°", 0xB1: "±", 0xB2: "″", 0xB3: "≥", 0xB4: "×", 0xB5: "∝", 0xB6: "∂", 0xB7: "•",
    0xB8: "÷", 0xB9: "≠", 0xBA: "≡", 0xBB: "≈", 0xBC: "…", 0xC0: "ℵ", 0xC4: "⊗", 0xC5: "⊕",
    0xC6: "∅", 0xC7: "∩", 0xC8: "∪", 0xC9: "⊃", 0xCA: "⊇", 0xCB: "⊄", 0xCC: "⊂", 0xCD: "⊆",
    0xCE: "∈", 0xCF: "∉", 0xD0: "∠", 0xD1: "∇", 0xD5: "∏", 0xD6: "√", 0xD7: "⋅", 0xD8: "¬",
    0xD9: "∧", 0xDA: "∨", 0xDB: "⇔", 0xDC: "⇐", 0xDD: "⇑", 0xDE: "⇒", 0xDF: "⇓", 0xE0: "◊",
    0xE5: "∑", 0xF2: "∫"}
SYMBOL_FONTS = {"wingdings": WINGDINGS, "wingdings 2": WINGDINGS_2, "symbol": SYMBOL}
# U+F0xx with no font known: Wingdings' marks and arrows, and Symbol's bullet (U+F0B7, the
# bullet of most Word lists saved as PDF).
_FONTLESS = {0xF000 + k: v for k, v in {**WINGDINGS, 0xB7: "•"}.items()
             if k >= 0xA7 or k == 0x9F}
_VISIBLE = {**dict.fromkeys(range(0xE000, 0xF900)), **_FONTLESS}
_HIDDEN_BUT_SOFT_HYPHENS = re.compile(f"[{INVISIBLE[1:]}{PRIVATE_USE}]")  # U+00AD first


def visible(text: str, soft_hyphens: bool = True) -> str:
    """`text` as a reader sees it: invisible format characters gone, a symbol-font glyph at
    U+F0xx as the character it shows (✓ ✗ → •) where that is known, other private-use
    characters gone. `soft_hyphens=False` keeps U+00AD, for a caller that mends words with
    it. Done as text is extracted, so every offset points into what is kept."""
    hidden = _HIDDEN if soft_hyphens else _HIDDEN_BUT_SOFT_HYPHENS
    if not hidden.search(text):
        return text
    return hidden.sub(lambda m: _VISIBLE.get(ord(m.group()), ""), text)


def symbol_text(text: str, font: str) -> str:
    """What `text` set in `font` shows when that is a symbol font ("ü" in Wingdings is ✓),
    with "" for a glyph whose meaning is not known; else `text` as it is."""
    table = SYMBOL_FONTS.get(" ".join(font.lower().split()))
    if table is None:
        return text
    out = []
    for ch in text:
        code = ord(ch) - 0xF000 if 0xF020 <= ord(ch) <= 0xF0FF else ord(ch)
        if ch.isspace():
            out.append(ch)
        elif table is SYMBOL and code < 0x80 and not ch.isalpha():
            out.append(table.get(code, chr(code)))  # Symbol's digits and most punctuation
        else:
            out.append(table.get(code, ""))
    return "".join(out)


_BREAK = re.compile(r"[ \t]*[\v\n][ \t]*")


def soft_breaks(text: str) -> str:
    """A paragraph's line breaks (newlines, or a slide's vertical tabs) as a space where they
    break a sentence (set where the line looked full: after a word, a comma or a closing
    bracket, on a line of three words or more, before a lower-case word or an opening
    bracket), else as a newline, a hard break."""
    if "\v" not in text and "\n" not in text:
        return text
    lines = _BREAK.split(text)
    out = lines[0]
    for line in lines[1:]:
        before = out[out.rfind("\n") + 1:]
        soft = (line[:1].islower() or line[:1] == "(") and len(before.split()) >= 3 and \
            (before[-1].isalpha() or before[-1] in ",)]\"'”’")
        out += (" " if soft else "\n") + line
    return out


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
        text = ATTRIBUTES.sub("", " ".join(visible(text).split()))
        if not text:
            return
        at = self._put(text)
        self.path = [(lv, t) for lv, t in self.path if lv < level] + [(level, text)]
        self.sections.append((at, SEPARATOR.join(t for _, t in self.path)))

    def paragraph(self, text: str) -> None:
        """Running text: whitespace is a space, hard breaks (newlines) are kept."""
        self.budget.spend()
        text = inline(visible(text))
        if text:
            self._put(text)

    def code(self, text: str) -> None:
        """Preformatted text, its lines as they are (trailing blank lines dropped)."""
        self.budget.spend()
        text = "\n".join(ln.rstrip() for ln in visible(text).strip("\n").split("\n"))
        if text.strip():
            at = self._put(text)
            self.preformatted.append((at, at + len(text)))

    def table(self, rows: Sequence[Sequence[str]], header_rows: int = 1,
              numbers: Sequence[int] = ()) -> None:
        """Rows of cells, one line each; the first `header_rows` are indexed with every chunk
        of the rest. `numbers` are the rows' numbers in their sheet, for citations. A table
        without body rows is a paragraph per row."""
        self.budget.spend(max(len(rows), 1))
        kept = [(i, CELL.join(" ".join(visible(c).split()) for c in row))
                for i, row in enumerate(rows) if any(visible(c).strip() for c in row)]
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
    if low in {"untitled", "title", "no title", "document", "slide 1", "powerpoint presentation",
               "word document", "presentation", "workbook", "sheet1"}:
        return False
    if re.match(r"(microsoft (word|powerpoint|excel)|untitled)\b", low):
        return False
    return not re.search(r"\.(dvi|docx?|pptx?|xlsx?|tex|pdf|ps|eps|rtf|odt|indd|qxd|pages)$",
                         low)


# Section names that head a part of a Word document, never the document (whose title is on its
# cover); in Markdown the first heading names the page, whatever it says.
GENERIC_HEADINGS = {"introduction", "contents", "table of contents", "overview", "abstract",
                    "summary", "executive summary", "preface", "foreword", "background",
                    "purpose", "scope", "definitions", "index", "notes", "appendix"}
_SALUTATION = re.compile(r"(dear|hi|hello|hey|greetings|to whom|good (morning|afternoon|"
                         r"evening))\b", re.I)
TITLE_WORDS = 12  # a first line of more words than this is a sentence, not a title
TITLE_CHARS = 80


def heading_like(text: str, first_line: bool = False) -> bool:
    """Whether a heading (or, with `first_line`, a document's first line) reads as the
    document's title: words, not a sentence (no closing full stop, colon or comma; a question
    is a title), not a salutation, not a table row or a link. A first line is also short:
    TITLE_CHARS characters, TITLE_WORDS words."""
    t = " ".join(text.split())
    if sum(ch.isalpha() for ch in t) < 2 or t[-1] in ".!,;:" or CELL in t or "://" in t:
        return False
    if _SALUTATION.match(t):
        return False
    return not first_line or (len(t) <= TITLE_CHARS and len(t.split()) <= TITLE_WORDS
                              and not re.match(r"[-*•>#|]", t))


def generic_heading(text: str) -> bool:
    """Whether a heading names a part of a document ("Introduction", "1. Scope")."""
    return re.sub(r"^[\d.\s]+", "", " ".join(text.split())).lower() in GENERIC_HEADINGS


def readable_name(stem: str) -> str:
    """A file's name (without its extension) as a title: "airline-safety" is "Airline
    safety", "V02 - Authentication" stays as it is."""
    words = re.sub(r"(?<! )-(?! )|_+", " ", stem)
    words = " ".join(words.split())
    return words[:1].upper() + words[1:]
