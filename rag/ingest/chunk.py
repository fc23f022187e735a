"""Pure chunking: a `Document` to sentence-aligned, token-bounded, overlapping `Chunk`s.

A chunk never straddles a heading, and a table is chunked by rows, its header rows indexed with
every chunk of them; each chunk knows its page (PDF) and heading path."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rag.errors import ConfigError
from rag.text import count_tokens, sentence_spans, token_encoding
from rag.types import Chunk, Document

HEADER_TOKENS = 32  # cl100k tokens of a title put before each chunk
# A table's rows, dense with numbers and codes, hold about half the characters per token that
# prose does: their chunks get a quarter more tokens (mostly inside the embedder's window of
# 256 word pieces) and no overlap, so a big sheet takes about its share of the index.
TABLE_TOKENS = 1.25


@dataclass(frozen=True)
class Chunker:
    """Packs whole sentences into chunks of at most `max_tokens`, repeating up to `overlap`
    tokens of trailing sentences at the start of the next chunk. Only a sentence longer than
    `max_tokens` is cut, at word boundaries.

    With `headers`, what is embedded and BM25-indexed for a chunk starts with its document's
    title ("contextual chunk headers"); the chunk's text and offsets stay the document's."""

    max_tokens: int = 160
    overlap: int = 24
    headers: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.max_tokens:
            raise ConfigError(f"overlap must be smaller than chunk size "
                              f"(got {self.overlap} >= {self.max_tokens})")

    def index_text(self, chunk: Chunk, title: str) -> str:
        """What the index embeds and counts terms of for `chunk`: with `headers`, the title and
        heading path (at most `HEADER_TOKENS`, so chunk and header stay inside the embedder's
        window); a table's header rows always; then the text."""
        lines = []
        if self.headers:
            where = chunk.section if chunk.section.startswith(title.strip()) else \
                " › ".join(x for x in (title.strip(), chunk.section) if x)
            if where:
                lines.append(_clip(where, HEADER_TOKENS))
        if chunk.header:
            lines.append(_clip(chunk.header, HEADER_TOKENS))
        return "\n".join([*lines, chunk.text]) if lines else chunk.text

    def units(self, text: str) -> list[tuple[int, int]]:
        """Sentence spans, with over-long sentences cut into pieces that fit."""
        return self._fit(text, sentence_spans(text), self.max_tokens)

    def _fit(self, text: str, spans: list[tuple[int, int]], limit: int
             ) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for s, e in spans:
            if count_tokens(text[s:e]) <= limit:
                out.append((s, e))
            else:
                out.extend(self._cut(text, s, e, limit))
        return out

    def split(self, doc: Document) -> list[Chunk]:
        return [c for c, _ in self.segment(doc)]

    def segment(self, doc: Document) -> list[tuple[Chunk, list[tuple[int, int]]]]:
        """The chunks of `doc`, each with its sentences (or table rows) as spans of its text."""
        text = doc.text
        units, groups, limits = self._units(doc)
        sizes = [count_tokens(text[s:e]) for s, e in units]
        # Where each line of a sheet's table starts, to name a chunk's rows by bisection.
        lines = {t: [ts, *(ts + m.end() for m in re.finditer("\n", text[ts:te]))]
                 for t, (ts, te, _) in enumerate(doc.tables) if t < len(doc.rows) and doc.rows[t]}
        chunks: list[tuple[Chunk, list[tuple[int, int]]]] = []
        i = 0
        while i < len(units):
            g, limit = groups[i], limits[i]
            j = i + 1
            while j < len(units) and groups[j] == g and \
                    count_tokens(text[units[i][0]:units[j][1]]) <= limit:
                j += 1
            start, end = units[i][0], units[j - 1][1]
            chunks.append((self._chunk(doc, len(chunks), start, end, g, lines),
                           [(s - start, e - start) for s, e in units[i:j]]))
            if j >= len(units):
                break
            # Step back over trailing sentences that fit in the overlap, but always advance,
            # and never carry a sentence across a heading or out of a table.
            nxt, carried = j, 0
            if groups[j] == g and g[1] < 0:  # rows stand alone: no overlap in a table
                while nxt - 1 > i and carried + sizes[nxt - 1] <= self.overlap:
                    nxt -= 1
                    carried += sizes[nxt]
                if nxt < j and count_tokens(text[units[nxt][0]:units[j - 1][1]]) > self.overlap:
                    nxt = j
            i = nxt
        return chunks

    def _units(self, doc: Document) -> tuple[list[tuple[int, int]], list[tuple[int, int]],
                                              list[int]]:
        """Sentences, or rows inside a table; per unit its group (section, table) and the
        token budget of its chunk (a table's header rows take their share)."""
        text = doc.text
        spans = sentence_spans(text)
        units: list[tuple[int, int]] = []
        groups: list[tuple[int, int]] = []
        limits: list[int] = []
        section_starts = [at for at, _ in doc.sections]
        t = 0  # the next table
        k = 0  # the next sentence
        while k < len(spans) or t < len(doc.tables):
            if t < len(doc.tables) and (k >= len(spans) or spans[k][0] >= doc.tables[t][0]):
                ts, te, header = doc.tables[t]
                limit = max(16, int(TABLE_TOKENS * self.max_tokens)
                            - min(count_tokens(header), HEADER_TOKENS))
                rows = [(m.start() + ts, m.end() + ts) for m in
                        re.finditer(r"[^\n]*\S[^\n]*", text[ts:te])]
                for u in self._fit(text, rows, limit):
                    units.append(u)
                    groups.append((bisect.bisect_right(section_starts, ts), t))
                    limits.append(limit)
                while k < len(spans) and spans[k][0] < te:
                    k += 1
                t += 1
                continue
            for u in self._fit(text, [spans[k]], self.max_tokens):
                units.append(u)
                groups.append((bisect.bisect_right(section_starts, u[0]), -1))
                limits.append(self.max_tokens)
            k += 1
        return units, groups, limits

    def _chunk(self, doc: Document, n: int, start: int, end: int, group: tuple[int, int],
               lines: dict[int, list[int]]) -> Chunk:
        section, table = group
        page = bisect.bisect_right(doc.pages, start) if doc.pages else None
        where = doc.sections[section - 1][1] if section else ""
        if table in lines:
            # A sheet's rows are cited by their numbers in the sheet: "Budget › rows 5–9".
            numbers = doc.rows[table]
            first = numbers[min(bisect.bisect_right(lines[table], start) - 1, len(numbers) - 1)]
            last = numbers[min(bisect.bisect_right(lines[table], end - 1) - 1, len(numbers) - 1)]
            span = f"row {first}" if first == last else f"rows {first}–{last}"
            where = " › ".join(x for x in (where, span) if x)
        return Chunk(f"{doc.doc_id}#{n}", doc.doc_id, n, doc.text[start:end], start, end,
                     page=page, breaks=tuple(p - start for p in doc.pages if start < p < end),
                     section=where, header=doc.tables[table][2] if table >= 0 else "")

    def _cut(self, text: str, s: int, e: int, limit: int) -> list[tuple[int, int]]:
        """Cut one long sentence at word boundaries (or inside a giant word, if it must)."""
        pieces: list[tuple[int, int]] = []
        lo = s
        for m in re.finditer(r"\S+", text[s:e]):
            ws, we = s + m.start(), s + m.end()
            if count_tokens(text[lo:we]) <= limit:
                continue
            if ws > lo and count_tokens(text[lo:ws].rstrip()) <= limit:
                pieces.append((lo, len(text[:ws].rstrip())))
                lo = ws
            while count_tokens(text[lo:we]) > limit:  # a single giant word
                ok, bad = lo + 1, we  # binary search for the longest prefix that fits
                while bad - ok > 1:
                    mid = (ok + bad) // 2
                    if count_tokens(text[lo:mid]) <= limit:
                        ok = mid
                    else:
                        bad = mid
                pieces.append((lo, ok))
                lo = ok
        if lo < e:
            pieces.append((lo, e))
        return pieces


def _clip(text: str, tokens: int) -> str:
    ids = token_encoding().encode_ordinary(" ".join(text.split()))
    return token_encoding().decode(ids[:tokens])
