from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.errors import ConfigError
from rag.ingest.chunk import HEADER_TOKENS, Chunker
from rag.ingest.load import load_documents
from rag.text import count_tokens, sentence_spans
from rag.types import Document

from .conftest import SEEDS

WORDS = ["NATO", "summit", "Mr", "Luxon", "said", "the", "6", "July.", "DC", "Washington,",
         "“quoted”", "it's", "\u00a0", "a", "very-long-hyphenated-word", "\n", "\n\n", ".", "?"]


def _doc(text: str) -> Document:
    return Document(doc_id="d.txt", text=text, title="t", sha256="x")


@settings(max_examples=150, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=400),
       size=st.integers(min_value=16, max_value=120), frac=st.floats(0, 0.5))
def test_offsets_exact_text_covered_size_and_overlap_respected(words, size, frac):
    text = " ".join(words)
    overlap = int(size * frac)
    chunker = Chunker(size, overlap)
    chunks = chunker.split(_doc(text))
    covered = [False] * len(text)
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert count_tokens(c.text) <= size
        for i in range(c.start, c.end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start > a.start  # always advances
        if b.start < a.end:
            assert count_tokens(text[b.start:a.end]) <= overlap


def test_chunks_never_cut_inside_a_sentence_that_fits():
    doc = load_documents([SEEDS])[1]
    spans = sentence_spans(doc.text)
    starts = {s for s, _ in spans}
    ends = {e for _, e in spans}
    for c in Chunker(160, 24).split(doc):
        assert c.start in starts and c.end in ends


def test_a_sentence_longer_than_the_limit_is_cut_at_words():
    text = "word " * 300 + "end."
    chunks = Chunker(50, 0).split(_doc(text))
    assert len(chunks) > 1
    assert all(count_tokens(c.text) <= 50 for c in chunks)
    assert all(not c.text.startswith(" ") for c in chunks)


def test_a_giant_token_run_is_cut_too():
    text = "x" * 5000
    chunks = Chunker(32, 0).split(_doc(text))
    assert "".join(c.text for c in chunks) == text
    assert all(count_tokens(c.text) <= 32 for c in chunks)


def test_bad_settings_are_refused_up_front():
    with pytest.raises(ConfigError, match="overlap must be smaller than chunk size"):
        Chunker(100, 100)


@pytest.mark.slow
def test_default_chunks_of_the_seeds_fit_the_embedder_window():
    """all-MiniLM-L6-v2 reads 256 word pieces; a longer chunk would lose its tail."""
    from rag.config import Settings
    from rag.embed import default_embedder

    s = Settings()
    emb = default_embedder(precision="fp32")
    chunker = Chunker(s.chunk_tokens, s.chunk_overlap, s.chunk_headers)
    long_title = "A headline that goes on and on " * 12  # cut to HEADER_TOKENS
    texts = [chunker.index_text(c, title) for d in load_documents([SEEDS])
             for c in chunker.split(d) for title in (d.title, long_title)]
    longest = max(emb.count_word_pieces(t) for t in texts)
    assert longest + 2 <= emb.max_seq_length  # +2 for [CLS] and [SEP]


def test_chunk_headers_put_the_title_first_and_keep_the_text():
    chunk = Chunker(160, 24, headers=True).split(_doc("One sentence. Two sentences."))[0]
    assert Chunker(160, 24, headers=True).index_text(chunk, "My  title") == \
        "My title\nOne sentence. Two sentences."
    assert Chunker(160, 24).index_text(chunk, "My title") == chunk.text
    assert Chunker(160, 24, headers=True).index_text(chunk, " ") == chunk.text
    long = Chunker(160, 24, headers=True).index_text(chunk, "word " * 100)
    assert count_tokens(long.split("\n")[0]) <= HEADER_TOKENS


BANK = Path(__file__).resolve().parents[1] / "evals" / "bank"


def test_a_big_real_sheet_takes_about_its_share_of_the_index_and_fits_the_window():
    """The country-codes folder (a README and two CSVs of public data, 250 columns wide):
    each document's share of the chunks stays near its share of the text, and every table
    chunk, header rows and title included, fits all-MiniLM-L6-v2's 256 word pieces."""
    from rag.config import Settings
    from rag.embed import default_embedder

    s = Settings()
    chunker = Chunker(s.chunk_tokens, s.chunk_overlap, s.chunk_headers)
    docs = [d for d in load_documents([BANK / "c-country-codes" / "docs"])
            if d.doc_id != "LICENSE"]
    chunks = {d.doc_id: chunker.split(d) for d in docs}
    text = sum(len(d.text) for d in docs)
    total = sum(map(len, chunks.values()))
    for d in docs:
        share, text_share = len(chunks[d.doc_id]) / total, len(d.text) / text
        assert share <= max(0.25, 1.15 * text_share), (d.doc_id, share, text_share)
    emb = default_embedder(precision="fp32")
    for d in docs:
        rows = [c for c in chunks[d.doc_id] if c.header]
        for a, b in zip(rows, rows[1:], strict=False):
            assert b.start >= a.end  # a table's chunks do not overlap
        assert all(emb.count_word_pieces(chunker.index_text(c, d.title)) + 2
                   <= emb.max_seq_length for c in rows[:200])
