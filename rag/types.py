"""Frozen values that cross module borders: documents, chunks, what an index holds, filters,
passages, citations, answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Document:
    """One source file. `text` is the body (front matter removed); offsets point into it."""

    doc_id: str  # path under the corpus root, posix-style: stable across machines
    text: str
    title: str
    sha256: str  # of the raw file bytes; drives incremental sync
    path: str = ""
    date: str | None = None  # ISO 8601 when the front matter has one
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "text"  # text, markdown, pdf, html, docx, rst, pptx, xlsx, csv, tsv, epub
    pages: tuple[int, ...] = ()  # offset where each page starts (PDF), page 1 first
    sections: tuple[tuple[int, str], ...] = ()  # (offset, heading path) in text order
    tables: tuple[tuple[int, int, str], ...] = ()  # (body start, body end, header rows)
    rows: tuple[tuple[int, ...], ...] = ()  # per table (sheets): each body line's row number
    # The groups that may read it (front matter `access`, else the nearest `.access.toml`);
    # None: every signed-in user.
    access: tuple[str, ...] | None = None
    # The file's size and modification time when read: a later sync that finds both the same
    # takes the indexed record instead of reading the file again.
    size: int | None = None
    mtime_ns: int | None = None
    # Taken from the index's record for an unchanged file: no text was read, so a store that
    # must chunk it after all raises `Unread` and the caller reads the corpus whole.
    unread: bool = False


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences (or table rows) of one document; `doc.text[start:end] == text`.
    """

    chunk_id: str  # "{doc_id}#{n}"
    doc_id: str
    n: int
    text: str
    start: int
    end: int
    page: int | None = None  # the page the chunk starts on (PDF)
    breaks: tuple[int, ...] = ()  # offsets in `text` where a next page starts
    section: str = ""  # heading path, "Budget › Health"
    header: str = ""  # a table's header rows, indexed with every chunk of its rows

    def __post_init__(self) -> None:
        object.__setattr__(self, "breaks", tuple(self.breaks))  # from JSON: a list

    def page_at(self, offset: int) -> int | None:
        """The page of `text[offset]`."""
        if self.page is None:
            return None
        return self.page + sum(1 for b in self.breaks if b <= offset)


@dataclass(frozen=True)
class DocumentInfo:
    """What every store records of one indexed document (no text, no vectors)."""

    sha256: str
    title: str
    path: str = ""
    date: str | None = None
    url: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "text"
    pages: int | None = None
    indexed_at: str = ""  # when this content was first indexed (ISO 8601, UTC)
    chunks: tuple[str, ...] = ()  # chunk ids in document order
    access: tuple[str, ...] | None = None  # groups that may read it; None: everyone
    size: int | None = None  # the file's size and modification time when it was read
    mtime_ns: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunks", tuple(self.chunks))  # from JSON: a list
        if self.access is not None:
            object.__setattr__(self, "access", tuple(self.access))

    @classmethod
    def of(cls, d: Document, chunk_ids: Sequence[str], indexed_at: str) -> DocumentInfo:
        return cls(d.sha256, d.title, d.path, d.date, d.url, dict(d.meta), d.kind,
                   len(d.pages) or None, indexed_at, tuple(chunk_ids), d.access, d.size,
                   d.mtime_ns)

    def to_dict(self) -> dict[str, Any]:
        # Field by field, not `asdict`: its deep copy took 9 s for 100,000 documents.
        out = {f.name: getattr(self, f.name) for f in _INFO_FIELDS}
        out.update(meta=dict(self.meta), chunks=list(self.chunks),
                   access=None if self.access is None else list(self.access))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DocumentInfo:
        """From a manifest or a store row; keys it does not know (a store's own) are left."""
        return cls(**{f.name: d[f.name] for f in _INFO_FIELDS if f.name in d})



_INFO_FIELDS = fields(DocumentInfo)


@dataclass(frozen=True)
class Viewer:
    """Who is asking, for access rules: a signed-in user's groups. `everything` reads every
    document (no users configured, the command line, Python and evaluation runs)."""

    name: str = ""
    groups: frozenset[str] = frozenset()
    everything: bool = False

    def may_read(self, info: DocumentInfo) -> bool:
        return self.everything or info.access is None or not self.groups.isdisjoint(info.access)


@dataclass(frozen=True)
class Limits:
    """What reading one file may cost before it is skipped (settings `max_file_chars`,
    `max_file_blocks`, `max_file_seconds`, `max_unpacked_mb`): a hostile file costs bounded
    time and memory, while long manuals and big spreadsheets pass."""

    chars: int = 50_000_000  # text from one file: about 20,000 pages of prose
    blocks: int = 1_000_000  # paragraphs, headings, table rows, slides, pages
    # Wall clock to read one file, OCR included: about 130 scanned pages on 2 cores.
    seconds: float = 600.0
    unpacked_mb: int = 512  # a file's size, or a zip package's parts unpacked together
    part_mb: int = 128  # one part of a zip package unpacked (its XML is parsed whole)
    parts: int = 10_000  # members of a zip package
    # Unpacked over packed size of a part over 1 MB: Office XML packs 3 to 15 times, a zip
    # bomb hundreds to a thousand times.
    ratio: float = 100.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"the {f.name} limit must be positive "
                                 f"(got {getattr(self, f.name)!r})")


@dataclass(frozen=True)
class IndexInfo:
    """What an opened index holds and how it was built, whichever store holds it."""

    documents: Mapping[str, DocumentInfo]
    chunks: int
    built_at: str
    model: str  # the embedding model's name
    dim: int
    corpus: tuple[str, ...] = ()  # the folders and files it was built from (absolute paths)
    kind: str = "flat"  # how vectors are searched: flat, hnsw, ivfpq, milvus


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents. Dates are ISO strings compared as text."""

    doc_ids: tuple[str, ...] | None = None
    title: str | None = None  # case-insensitive substring of the title
    date_from: str | None = None
    date_to: str | None = None

    def __bool__(self) -> bool:
        return bool(self.doc_ids or self.title or self.date_from or self.date_to)

    def admits(self, doc_id: str, info: DocumentInfo) -> bool:
        """Whether the document may be searched."""
        if self.doc_ids and doc_id not in self.doc_ids:
            return False
        if self.title and self.title.lower() not in (info.title or "").lower():
            return False
        date = (info.date or "")[:10]
        if (self.date_from or self.date_to) and not date:
            return False
        if self.date_from and date < self.date_from[:10]:
            return False
        return not (self.date_to and date > self.date_to[:10])


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores for one query."""

    chunk: Chunk
    score: float  # cosine similarity of the chunk to the (history-aware) query
    rank: int  # 1-based rank of the passages returned (after fusion and re-ranking)
    title: str = ""
    date: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "text": c.text,
                "score": round(self.score, 4), "rank": self.rank, "page": c.page,
                "section": c.section or None}


@dataclass(frozen=True)
class Citation:
    """The evidence behind one answer sentence: `quote` is a substring of `text`."""

    n: int
    doc_id: str
    title: str
    url: str | None
    date: str | None
    chunk_id: str
    text: str
    start: int
    end: int
    quote: str
    score: float
    page: int | None = None  # the page the quote starts on (PDF, 1-based)
    section: str | None = None  # heading path of the passage ("Budget › Health")
    header: str | None = None  # the column names above a quoted table row

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(self.score, 4)
        return d


@dataclass(frozen=True)
class Sentence:
    """One answer sentence and the numbers of the citations behind it (the answer's data;
    `Answer.answer` is rendered from these)."""

    text: str
    citations: tuple[int, ...]
    supported: bool = True  # every cited quote supports the sentence

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "citations": list(self.citations), "supported": self.supported}


def render_sentences(sentences: Sequence[Sentence], unsupported: str = "") -> str:
    """Answer text with an inline `[n]` marker after each sentence, per citation, and
    `unsupported` after a sentence no cited passage supports."""
    return " ".join(s.text + "".join(f" [{n}]" for n in s.citations)
                    + ("" if s.supported else unsupported) for s in sentences)


BANDS = ("answer", "tentative", "abstain")  # an Answer's `band`, most confident first


@dataclass(frozen=True)
class Answer:
    """What every interface returns. An abstention has `abstained=True`, no sentences and no
    citations."""

    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Calibrated probability that the answer is right (compared with the abstention threshold).
    confidence: float = 0.0
    # Python-only: the short span (number, date, name) the generator considers the answer.
    core: str | None = None
    sentences: tuple[Sentence, ...] = ()  # what `answer` is rendered from
    generator: str = ""  # which generator answered
    # Why the configured LLM did not answer (unreachable, error, nothing it said was supported)
    # and the extractive generator answered instead; None when it did.
    fallback: str | None = None
    rewritten: str | None = None  # the follow-up as the standalone question that was searched
    # `answer` (confident), `tentative` (the closest quote, shown under a hedge) or `abstain`.
    band: str = ""
    # One line for people on why the answer may miss: most of the question's words are absent
    # from the documents (another language?). None when there is nothing to say.
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.band:  # built by hand: the band its abstention implies
            object.__setattr__(self, "band", "abstain" if self.abstained else "answer")

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "sentences": [x.to_dict() for x in self.sentences],
            "generator": self.generator,
            "fallback": self.fallback,
            "rewritten": self.rewritten,
            "confidence": round(self.confidence, 4),
            "band": self.band,
            "note": self.note,
        }
