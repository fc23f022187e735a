"""Pure chunking: a `Document` to sentence-aligned, token-bounded, overlapping `Chunk`s."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.config import TOKEN_ENCODING
from rag.errors import ConfigError
from rag.text import sentence_spans
from rag.types import Chunk, Document

HEADER_TOKENS = 32  # cl100k tokens of a title put before each chunk


@lru_cache(maxsize=1)
def token_encoding():
    import tiktoken

    return tiktoken.get_encoding(TOKEN_ENCODING)


def count_tokens(text: str) -> int:
    """cl100k tokens; special-token strings in documents count as plain text."""
    return len(token_encoding().encode_ordinary(text))


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
        """What the index embeds and counts terms of for `chunk`: the title (at most
        `HEADER_TOKENS`, so chunk and header stay inside the embedder's window), then the text."""
        if not (self.headers and title.strip()):
            return chunk.text
        ids = token_encoding().encode_ordinary(" ".join(title.split()))
        return f"{token_encoding().decode(ids[:HEADER_TOKENS])}\n{chunk.text}"

    def units(self, text: str) -> list[tuple[int, int]]:
        """Sentence spans, with over-long sentences cut into pieces that fit."""
        out: list[tuple[int, int]] = []
        for s, e in sentence_spans(text):
            if count_tokens(text[s:e]) <= self.max_tokens:
                out.append((s, e))
            else:
                out.extend(self._cut(text, s, e))
        return out

    def split(self, doc: Document) -> list[Chunk]:
        text = doc.text
        units = self.units(text)
        sizes = [count_tokens(text[s:e]) for s, e in units]
        chunks: list[Chunk] = []
        i = 0
        while i < len(units):
            j = i + 1
            while j < len(units) and count_tokens(text[units[i][0]:units[j][1]]) <= self.max_tokens:
                j += 1
            start, end = units[i][0], units[j - 1][1]
            chunks.append(Chunk(f"{doc.doc_id}#{len(chunks)}", doc.doc_id, len(chunks),
                                text[start:end], start, end))
            if j >= len(units):
                break
            # Step back over trailing sentences that fit in the overlap, but always advance.
            nxt, carried = j, 0
            while nxt - 1 > i and carried + sizes[nxt - 1] <= self.overlap:
                nxt -= 1
                carried += sizes[nxt]
            if nxt < j and count_tokens(text[units[nxt][0]:units[j - 1][1]]) > self.overlap:
                nxt = j
            i = nxt
        return chunks

    def _cut(self, text: str, s: int, e: int) -> list[tuple[int, int]]:
        """Cut one long sentence at word boundaries (or inside a giant word, if it must)."""
        pieces: list[tuple[int, int]] = []
        lo = s
        for m in re.finditer(r"\S+", text[s:e]):
            ws, we = s + m.start(), s + m.end()
            if count_tokens(text[lo:we]) <= self.max_tokens:
                continue
            if ws > lo and count_tokens(text[lo:ws].rstrip()) <= self.max_tokens:
                pieces.append((lo, len(text[:ws].rstrip())))
                lo = ws
            while count_tokens(text[lo:we]) > self.max_tokens:  # a single giant word
                ok, bad = lo + 1, we  # binary search for the longest prefix that fits
                while bad - ok > 1:
                    mid = (ok + bad) // 2
                    if count_tokens(text[lo:mid]) <= self.max_tokens:
                        ok = mid
                    else:
                        bad = mid
                pieces.append((lo, ok))
                lo = ok
        if lo < e:
            pieces.append((lo, e))
        return pieces
