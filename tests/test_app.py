"""Rendering of answers for the page: markers, sources, highlighting, escaping, abstention."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.app.page import user_turns
from rag.app.people import parse_auth
from rag.app.render import answer_html, escape, passages_html
from rag.errors import RagError
from rag.types import Answer, Chunk, Citation, Passage, Sentence, render_sentences

HOSTILE = ('<script>alert(1)</script> <img src=x onerror="alert(2)"> '
           '[click](javascript:alert(3)) $$x$$ **bold**')


def _citation(**kw) -> Citation:
    base = dict(n=1, doc_id="a.txt", title="A title", url="https://example.org/a",
                date="2024-07-02", chunk_id="a.txt#0", text="Before. The quote here. After.",
                start=10, end=40, quote="The quote here.", score=0.5)
    base.update(kw)
    return Citation(**base)


def _answer(text="The quote here.", citations=None, abstained=False) -> Answer:
    """An answer of one sentence citing [1] (the text is rendered from the sentences)."""
    sentences = (Sentence(text, (1,)),)
    return Answer("q?", render_sentences(sentences), abstained,
                  tuple(citations if citations is not None else [_citation()]),
                  sentences=sentences)


def test_markers_become_superscripts_and_sources_are_listed():
    out = answer_html(_answer())
    assert "<sup>[1]</sup>" in out
    assert "[1] <b>A title</b> · 2024&#45;07&#45;02" in out
    assert 'href="https://example.org/a"' in out and 'rel="noopener noreferrer"' in out
    assert "<mark>The quote here&#46;</mark>" in out  # highlighted inside the passage
    assert "<details>" in out  # long passages collapse


def test_abstention_is_plain_and_has_no_sources():
    out = answer_html(Answer("q?", "The documents don't say.", True))
    assert "don&#39;t say" in out and "Sources" not in out and "<details>" not in out


def test_document_text_is_escaped_everywhere():
    out = answer_html(_answer(text=HOSTILE + " [1]", citations=[_citation(
        title=HOSTILE, text=HOSTILE, quote=HOSTILE, url="javascript:alert(4)")]))
    for bad in ("<script", "<img", "onerror=\"", "](javascript", "$$", "**bold**",
                'href="javascript'):
        assert bad not in out
    assert "javascript&#58;alert" in out  # shown as text, not as a link


def test_only_http_urls_become_links():
    out = answer_html(_answer(citations=[_citation(url="data:text/html,<b>x</b>")]))
    assert "href=" not in out


def test_escape_leaves_plain_words_alone():
    assert escape("Luxon met Biden") == "Luxon met Biden"
    assert escape("a<b") == "a&#60;b"


def test_passages_table_escapes_and_shows_scores():
    chunk = Chunk("h.txt#0", "h.txt", 0, HOSTILE, 0, len(HOSTILE))
    out = passages_html([Passage(chunk, 0.4321, 1, title="<b>T</b>")])
    assert "0.432" in out and "<script" not in out and "&#60;b&#62;T" in out


def test_user_turns_from_gradio_history():
    history = [{"role": "user", "content": "first"},
               {"role": "assistant", "content": "answer"},
               {"role": "user", "content": [{"type": "text", "text": "second"}]}]
    assert user_turns(history) == ["first", "second"]


def test_auth_is_parsed_or_refused():
    assert parse_auth(None) is None
    assert parse_auth("reader:pa:ss") == ("reader", "pa:ss")
    for bad in ("reader", ":secret", "reader:", ""):
        with pytest.raises(RagError, match="user:password"):
            parse_auth(bad)


def test_unsupported_sentences_are_marked_and_a_fallback_is_noted():
    sentences = (Sentence("Supported.", (1,)), Sentence("Made <up>.", (1,), False))
    ans = Answer("q?", render_sentences(sentences), False, (_citation(),), sentences=sentences,
                 generator="extractive", fallback="openai: http://x/v1 unreachable")
    out = answer_html(ans)
    assert '<span class="rag-unsupported"' in out and "⚠ unsupported" in out
    assert "Made &#60;up&#62;" in out  # escaped like everything else
    assert out.count("rag-unsupported") == 1
    assert f"could not answer ({escape('openai: http://x/v1 unreachable')})" in out


class _Settings:
    max_question_chars = 100


class _Rag:
    settings = _Settings()

    def generators(self):
        return ["extractive"]


@pytest.mark.parametrize("question, history, k, generator, why", [
    ("Why?", None, -3, "", "k must be"), ("Why?", None, 51, "", "k must be"),
    ("Why?", None, True, "", "k must be"), ("Why?", "abc", 0, "", "history must be a list"),
    ("Why?", [1, 2], 0, "", "history must be a list"), (None, None, 0, "", "question must be"),
    ("Why?", ["x" * 101], 0, "", "at most"), ("Why?", ["a"] * 51, 0, "", "at most 50 turns"),
    ("Why?", None, 0, "openai", "not configured"),
])
def test_api_requests_are_checked_like_the_command_line(question, history, k, generator, why):
    from rag.app.page import check_request

    with pytest.raises(RagError, match=why):
        check_request(_Rag(), question, history, k, generator)
    assert check_request(_Rag(), "Why?", ["Earlier?"], 3, "extractive") == ["Earlier?"]


# Tags and attributes the page's own rendering uses; anything else came from a document.
OWN_TAGS = {"div", "p", "sup", "span", "ol", "ul", "li", "a", "b", "i", "em", "mark",
            "details", "summary", "blockquote", "table", "thead", "tbody", "tr", "td", "th",
            "small", "br"}


def _tags(markup: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(markup)
    return found


_text = st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    [HOSTILE, "<svg onload=alert(1)>", "</div><script>x</script>", "<!--", "]]>", "&lt;b&gt;",
     "<a href='javascript:x'>y</a>", "`<b>`", "\\<b\\>"])


@settings(max_examples=150, deadline=None)
@given(text=_text, title=_text, quote=_text, url=st.one_of(st.none(), _text),
       date=st.one_of(st.none(), _text))
def test_no_markup_from_a_document_ever_reaches_the_page(text, title, quote, url, date):
    """Whatever a document holds, the page gets only its own tags, no event handlers and
    no links but http(s)."""
    body = f"{text} {quote} {text}"
    start = len(text) + 1
    c = _citation(title=title, text=body, quote=quote, start=start, end=start + len(quote),
                  url=url, date=date)
    passage = Passage(Chunk("a.txt#0", "a.txt", 0, body, 0, len(body)), 0.3, 1, title, date,
                      url)
    for markup in (answer_html(_answer(text=f"{quote} [1]", citations=[c])),
                   passages_html([passage])):
        for tag, attrs in _tags(markup):
            assert tag in OWN_TAGS, (tag, markup)
            for name, value in attrs:
                assert not name.startswith("on"), (name, markup)
                if name == "href":
                    assert value and value.startswith(("http://", "https://")), markup
