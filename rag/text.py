"""Pure text utilities shared by chunking, indexing and answering.

Typography is folded one character for one character (non-breaking space to space, curly quotes
to straight ones), so anything computed on the folded copy maps back to exact offsets in the
original, which is what citations point into.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

# C0 and C1 control characters but tab and newline: a document's ESC/OSC sequences could drive
# a terminal, and in a question they mean nothing.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# Terminal escape sequences, whole: CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL or ST`),
# and the other escapes (`ESC c`, `ESC 7`, `ESC ( B`).
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
                     r"|[\x1b\x9d\x90\x9e\x9f\x98][\]P^_X]?[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
                     r"|\x1b[ -/]*[0-~]")


def strip_controls(text: str) -> str:
    """`text` without terminal escape sequences and control characters (tab and newline
    kept)."""
    return _CONTROL.sub("", _ESCAPE.sub("", text))

_FOLD = str.maketrans({
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
})
_WORD = re.compile(r"\w+", re.UNICODE)
_ALNUM = re.compile(r"\w", re.UNICODE)


def fold(text: str) -> str:
    """Same-length copy with typographic variants replaced by their ASCII forms."""
    return text.translate(_FOLD)


@lru_cache(maxsize=1)
def _segmenter():  # pysbd builds regex tables on construction; reuse one
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


_seg_lock = threading.Lock()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence, whitespace-trimmed; lines are hard boundaries.

    Headlines and one-line paragraphs are sentences of their own. Fragments without a letter
    or digit (a stray closing quote) join the sentence before them.
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        if not line.group().strip():
            continue
        spans.extend(_line_sentences(text, line.start(), line.end()))
    return spans


def _line_sentences(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    line = fold(text[lo:hi])
    with _seg_lock:  # pysbd keeps state on the segmenter while it works
        # The processor alone: `segment()` then re-finds every sentence with a freshly
        # compiled regex scanning from the start of the text (quadratic on long text, and most
        # of the time on short); we map the pieces back with `str.find` below.
        pieces = _segmenter().processor(line).process()
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        at = line.find(piece, cursor)
        if at < 0:  # pysbd changed the text: give up on finer splits for the rest of the line
            spans.append((cursor, len(line)))
            cursor = len(line)
            break
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    if cursor < len(line):
        spans.append((cursor, len(line)))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        s, e = _trim(line, s, e)
        if s >= e:
            continue
        if out and not _ALNUM.search(line[s:e]):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return [(lo + s, lo + e) for s, e in out]


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def words(text: str) -> list[str]:
    """Lower-cased word tokens of the folded text, stop words kept."""
    return [w.lower() for w in _WORD.findall(fold(text))]


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


_local = threading.local()


def stem(word: str) -> str:
    """Snowball's English stem. A stemmer object is not safe across threads: each thread has
    its own (with PyStemmer's own small cache of recent words)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWord(word)


def terms(text: str) -> list[str]:
    """BM25 terms: folded, lower-cased, NLTK English stop words dropped, Snowball-stemmed."""
    return terms_of(words(text))


def terms_of(ws: list[str]) -> list[str]:
    """`terms` of a text already split by `words`."""
    stop = _stopwords()
    return [stem(w) for w in ws if w not in stop]


def is_stopword(word: str) -> bool:
    return word.lower() in _stopwords()


@lru_cache(maxsize=1)
def token_encoding():
    """The tokenizer chunk sizes and prompt budgets are counted in (cl100k, bundled)."""
    import tiktoken

    from rag.config import TOKEN_ENCODING

    return tiktoken.get_encoding(TOKEN_ENCODING)


def count_tokens(text: str) -> int:
    """cl100k tokens; special-token strings in documents count as plain text."""
    return len(token_encoding().encode_ordinary(text))
