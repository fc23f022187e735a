"""Evidence to citation objects, and checking that a sentence is supported by what it cites."""

from __future__ import annotations

import re

from rag.text import terms
from rag.types import Citation, Passage

_MARKER = re.compile(r"\s*\[(\d+)\]")


def citation(n: int, passage: Passage, quote_start: int, quote_end: int) -> Citation:
    """Cite `passage`, quoting `passage.chunk.text[quote_start:quote_end]`."""
    c = passage.chunk
    return Citation(n=n, doc_id=c.doc_id, title=passage.title, url=passage.url,
                    date=passage.date, chunk_id=c.chunk_id, text=c.text, start=c.start,
                    end=c.end, quote=c.text[quote_start:quote_end], score=passage.score,
                    page=c.page_at(quote_start), section=c.section or None,
                    header=c.header or None)


def locator(c: Citation) -> str:
    """Where in its document a citation sits, for people: "p. 4", "§ Budget › Health"."""
    return " · ".join(x for x in (f"p. {c.page}" if c.page else "",
                                  f"§ {c.section}" if c.section else "") if x)


def support(sentence: str, evidence: str) -> float:
    """Share of the sentence's content terms found in the evidence (0..1).

    A string-overlap stand-in for an entailment model: 1.0 for a verbatim quote.
    """
    claim = set(terms(strip_markers(sentence)))
    if not claim:
        return 1.0
    return len(claim & set(terms(evidence))) / len(claim)


def evidence(c: Citation) -> str:
    """What a citation shows in support: its quote, under its column names for a table row."""
    return f"{c.header}\n{c.quote}" if c.header else c.quote


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()
