"""Rendering of answers for the page: markers, sources, highlighting, escaping, abstention."""

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.app.page import user_turns
from rag.app.people import parse_auth
from rag.app.render import answer_html, answer_markdown, escape, passages_html
from rag.errors import QuestionError, RagError
from rag.types import Answer, Chunk, Citation, Passage, Sentence, render_sentences

from .conftest import EVAL_SET

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


@pytest.mark.parametrize("question, history, k, generator, why, field", [
    ("Why?", None, -3, "", "k must be", "k"), ("Why?", None, 51, "", "k must be", "k"),
    ("Why?", None, True, "", "k must be", "k"),
    ("Why?", "abc", 0, "", "history must be a list", "history"),
    ("Why?", [1, 2], 0, "", "history must be a list", "history"),
    ("Why?", 7, 0, "", "history must be a list", "history"),
    (None, None, 0, "", "question must be", "question"),
    ("Why?", ["x" * 101], 0, "", "at most", "history"),
    ("Why?", ["a"] * 51, 0, "", "at most 50 turns", "history"),
    ("Why?", None, 0, 5, "generator must be a string", "generator"),
    ("Why?", None, 0, "openai", "not configured", "generator"),
])
def test_every_surfaces_request_is_one_ask_checked_like_the_command_line(
        question, history, k, generator, why, field):
    """The page's API, /v1 and /api parse into `Ask`; what depends on the index's settings
    (turn length, configured generators) is `RAG.check`'s. Each refusal names its field."""
    from rag.pipeline import RAG, Ask

    rag = _Rag()
    with pytest.raises(QuestionError, match=why) as e:
        RAG.check(rag, Ask.parse(question, history, k, generator))  # type: ignore[arg-type]
    assert e.value.param == field
    ask = Ask.parse("Why?", ["Earlier?", " "], 3, "extractive")
    assert ask == Ask("Why?", ("Earlier?",), 3, "extractive", "")
    RAG.check(rag, ask)  # type: ignore[arg-type]
    assert Ask.parse("Why?", k=0, generator="") == Ask("Why?")  # 0 and "": the defaults


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


# -- the content chat apps and plain-text clients get (`answer_markdown`) ---------------------

def _markdown(text: str = "The quote here.", **cite) -> str:
    return answer_markdown(_answer(text=text, citations=[_citation(**cite)]))


def _rendered(md: str) -> str:
    """What a Markdown chat app shows: CommonMark with raw HTML allowed, plus GFM's tables
    and strikethrough."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(md)


def _shown(markup: str) -> str:
    """The text a reader sees in rendered markup."""
    from html.parser import HTMLParser

    seen: list[str] = []

    class Collect(HTMLParser):
        def handle_data(self, data):
            seen.append(data)

    Collect().feed(markup)
    return "".join(seen)


def test_plain_text_reads_as_written():
    text = ("Luxon joins the Indo-Pacific 4 (IP-4) meeting (confidential), 9-12 July: a 10.5% "
            "rise! Costs $5 + GST {approx.} = 2 x 3 | a - b; C:\\Users, snake_case, 5 * 3, "
            "~5 km, see [2], a < b > c, R&D, #1 #hashtag.")
    out = _markdown(text, title="Budget (draft) - v2.1", quote=text)
    assert "\\(" not in out and "\\)" not in out and "\\." not in out and "\\-" not in out
    assert out.count("\\") == 2  # C:\Users, twice, as written
    assert out.startswith(text + " [1]\n")
    assert out.endswith("1. Budget (draft) - v2.1 (a.txt, 2024-07-02) — "
                        f"<https://example.org/a> — “{text}”")
    assert _shown(_rendered(out)).startswith(text + " [1]")


@pytest.mark.parametrize("quote, shown", [
    ("“At NATO, we will meet.”", "“At NATO, we will meet.”"),
    ('"Nevertheless, we did respond.', '"Nevertheless, we did respond."'),
    ("Patman says “no”.", "“Patman says “no”.”"),
    ("“The US is our partner,” Mr Luxon says.", "“The US is our partner,” Mr Luxon says."),
    ("we should have no illusions about that.”", "“we should have no illusions about that.”"),
    ("We met.", "“We met.”")])
def test_a_quote_with_its_own_quote_marks_is_not_doubled(quote, shown):
    out = _markdown(quote=quote)
    assert out.endswith(" — " + shown)
    assert not any(twice in out for twice in ("““", "””", '""', "“\"", "\"”"))


def test_every_source_names_its_document_and_where_in_it():
    ans = Answer("q?", "One. [1] Two. [2]", False, (
        _citation(doc_id="handbook/pay.docx", url=None, title="Rates of pay for hospital "
                  "staff in the 2024 salary review, with the tables of every grade and…",
                  section="Pay › Porters", date=None),
        _citation(n=2, doc_id="scans/rota.pdf", title="Rota", url=None, page=3)),
        sentences=(Sentence("One.", (1,)), Sentence("Two.", (2,))))
    first, second = answer_markdown(ans).splitlines()[-2:]
    assert first.startswith("1. Rates of pay for hospital staff in the 2024 salary review, with "
                            "the tables of every grade and… (handbook/pay.docx, § Pay › Porters)"
                            " — “")
    assert second.startswith("2. Rota (scans/rota.pdf, [p. 3](/api/documents/scans/rota.pdf"
                             "#page=3), 2024-07-02) — “")


def test_a_pdf_citation_links_to_the_file_through_the_api():
    ans = _answer(citations=[_citation(doc_id="hr/Pay memo (2024).pdf", page=2, url=None)])
    link = "/api/documents/hr/Pay%20memo%20%282024%29.pdf"
    assert f"[p. 2]({link}#page=2)" in answer_markdown(ans)
    out = answer_markdown(ans, "http://10.0.0.5:7860/", "hr team")
    assert f"[p. 2](http://10.0.0.5:7860{link}?collection=hr%20team#page=2)" in out
    assert f'<a href="http://10.0.0.5:7860{link}?collection=hr%20team#page=2">p. 2</a>' \
        in _rendered(out)
    for odd in ("javascript:alert(1)//", 'http://x/") onclick="', "http://x y/"):
        assert f"[p. 2]({link}#page=2)" in answer_markdown(ans, odd)  # relative instead


@pytest.mark.parametrize("start", ["# Heading", "###### Heading", "> quoted", "- item", "+ item",
                                   "* item", "1. item", "2024) item", "```js", "~~~", "<div>x",
                                   "<!-- x -->", "[a]: javascript:alert(1)", "    code"])
def test_what_starts_a_block_in_markdown_starts_nothing(start):
    """The answer's first sentence and each source's title begin a block."""
    out = _rendered(_markdown(f"{start} then text.", title=f"{start} title"))
    assert out.startswith("<p>") and f"{start.strip()} then text." in _shown(out)
    assert [tag for tag, _ in _tags(out)] == ["p", "p", "strong", "ol", "li", "a"]


def test_links_images_html_and_emphasis_from_a_document_stay_inert():
    hostile = ("[x](javascript:alert(1)) [y][1] ![i](http://e.example/i.png) "
               "<img src=x onerror=alert(2)> <https://e.example> *bold* __strong__ _it_ "
               "`code` ~~gone~~ &lt;b&gt; a\nnew line\n\n# heading")
    out = _markdown(hostile + ".", title=hostile, quote=hostile, section=hostile, date=hostile,
                    doc_id="d/" + hostile, url="javascript:alert(3)")
    rendered = _rendered(out)
    assert [tag for tag, _ in _tags(rendered)] == ["p", "p", "strong", "ol", "li"]
    flat = " ".join(hostile.split())
    assert _shown(rendered).count(flat) == 6  # the sentence, title, id, section, date, quote
    assert out.count("\n") == 4  # no line but ours


# Any text, and text made of what Markdown reads as syntax.
_plain = st.text(st.characters(codec="utf-8", exclude_characters="\0")
                 | st.sampled_from(list("*_`[]()<>!#&;=~\\-+.:|/\"“” \nax1")), max_size=60)


@settings(max_examples=200, deadline=None)
@given(text=_plain, title=_plain, quote=_plain)
def test_markdown_shows_exactly_the_document_text_and_nothing_more(text, title, quote):
    """Whatever a document holds, a Markdown renderer shows it as written (whitespace
    collapsed) and makes no element of it."""
    flat = " ".join(text.split())
    out = _markdown(text, title=title, quote=quote)
    rendered = _rendered(out)
    assert [tag for tag, _ in _tags(rendered)] == ["p", "p", "strong", "ol", "li", "a"]
    assert _shown(rendered).startswith(f"{flat} [1]" if flat else "[1]")
    assert " ".join(title.split()) in _shown(rendered)
    assert " ".join(quote.split()) in _shown(rendered)


@pytest.mark.slow
def test_seed_answers_read_as_plain_text(seed_rag):
    """Through the real model, every seed question: no backslash, no doubled quote mark,
    every source named by its document."""
    items = [json.loads(line) for line in EVAL_SET.read_text(encoding="utf-8").splitlines()]
    ip4 = "Which Japanese and South Korean leaders' meeting will Luxon take part in?"
    shown = []
    for item in [*items, {"question": ip4}]:
        ans = seed_rag.answer(item["question"], item.get("history", []))
        out = answer_markdown(ans)
        assert "\\" not in out, out
        assert not any(twice in out for twice in ("““", "””", '""', "“\"", "\"”")), out
        assert all(f"{c.n}. " in out and f"({c.doc_id}" in out for c in ans.citations), out
        shown.append(out)
    assert "Indo-Pacific 4 (IP-4) meeting" in shown[-1]


def test_a_note_on_the_question_is_shown_on_the_page_and_to_chat_apps():
    note = "Few of the question's words occur in the documents: they may be in another language."
    ans = Answer("Wer ist das?", "The documents don't say.", True, note=note)
    assert f'<p class="rag-note">{escape(note)}</p>' in answer_html(ans)
    assert answer_markdown(ans).endswith(f"*{note}*")
    assert "rag-note" not in answer_html(replace(ans, note=None))
    assert answer_markdown(replace(ans, note=None)) == "The documents don't say."
