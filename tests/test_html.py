"""Web pages: every visible block of the main content kept in reading order (definition lists,
nested lists, notes, captions, tables, code), headings as sections, the site's chrome dropped,
and a date only where the page states one; measured on real pages from five sites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.ingest.chunk import Chunker
from rag.ingest.formats import Unreadable
from rag.ingest.formats.html import extract_html
from rag.ingest.load import load_file

from .measure_html import PAGES, extra_share, kept_share, reference_text


def _page(body: str, head: str = "<title>Kea field notes</title>") -> bytes:
    return f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{body}" \
           f"</body></html>".encode()


def _order(text: str, *parts: str) -> bool:
    """Whether each part is in `text`, after the one before it."""
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def test_definition_lists_nested_lists_notes_and_captions_are_kept_in_order():
    doc = extract_html(_page("""<main><h1>Kea field notes</h1>
      <p>The kea is an alpine parrot of the South Island.</p>
      <dl><dt>Kea</dt><dd>Nestor notabilis, the only alpine parrot.</dd>
          <dt>Kaka</dt><dd>Its forest cousin, Nestor meridionalis.</dd></dl>
      <ul><li>Diet<ul><li>roots and berries</li><li>insects
            <ol><li>weta</li><li>beetle larvae</li></ol></li></ul></li>
          <li>Range: the Southern Alps</li></ul>
      <aside class="note"><p>Note: never feed a kea.</p></aside>
      <div class="admonition warning"><p class="admonition-title">Warning</p>
           <p>Kea take car wipers apart.</p></div>
      <figure><img src="kea.jpg" alt="a kea"><figcaption>A kea at Arthur's Pass.</figcaption>
      </figure>
      <blockquote>Text straight in a quote, no paragraph.</blockquote>
      <section>Text straight in a section <em>with emphasis</em>.</section></main>"""))
    text = doc.text
    assert _order(text, "alpine parrot of the South", "\n\nKea\n\n", "Nestor notabilis", "Kaka",
                  "Its forest cousin", "Diet", "roots and berries", "insects", "weta",
                  "beetle larvae", "Range: the Southern Alps", "Note: never feed a kea.",
                  "Warning", "Kea take car wipers apart.", "A kea at Arthur's Pass.",
                  "Text straight in a quote, no paragraph.",
                  "Text straight in a section with emphasis.")
    assert "\n\nweta\n\nbeetle larvae\n\n" in text  # each item a block of its own
    assert "a kea\n" not in text  # an image's alt text is not shown text


def test_a_table_cell_holding_an_anchor_keeps_its_text():
    doc = extract_html(_page("""<main><h2>Fixed Fields</h2><table>
      <thead><tr><th>Field Name</th><th>Type</th><th>Description</th></tr></thead>
      <tbody><tr><td><span id="oasOpenapi"></span>openapi</td><td><code>string</code></td>
               <td><strong>REQUIRED</strong>. The version <a href="#v">number</a>.</td></tr>
             <tr><td><a name="oasInfo"></a><span id="x">info</span></td><td>Info Object</td>
               <td><p>Metadata about the API.</p><p>It may be used by tools.</p></td></tr>
      </tbody></table></main>"""))
    assert "openapi | string | REQUIRED. The version number." in doc.text
    assert "info | Info Object | Metadata about the API. It may be used by tools." in doc.text
    assert doc.tables and doc.tables[0][2] == "Field Name | Type | Description"


def test_h2_headings_are_sections_of_the_document_and_its_chunks(tmp_path):
    path = tmp_path / "birds.html"
    path.write_bytes(_page("""<main><h1>Birds of the islands</h1><p>An overview.</p>
      <h2>Kea</h2><p>The kea is an alpine parrot known for its curiosity.</p>
      <h3>Diet</h3><p>Kea eat roots, berries and insects in the alpine scrub.</p>
      <h2>Kakapo</h2><p>The kakapo is a flightless nocturnal parrot.</p></main>"""))
    doc = load_file(path, "birds.html")
    assert [s for _, s in doc.sections] == [
        "Birds of the islands", "Birds of the islands › Kea", "Birds of the islands › Kea › Diet",
        "Birds of the islands › Kakapo"]
    chunks = Chunker(40, 8, headers=True).split(doc)
    kakapo = next(c for c in chunks if "flightless" in c.text)
    assert kakapo.section == "Birds of the islands › Kakapo" and "roots" not in kakapo.text


def test_navigation_banners_footers_scripts_and_chrome_are_dropped():
    doc = extract_html(_page("""
      <div class="cookie-banner"><p>We use cookies. Accept all cookies?</p></div>
      <header><a href="/">Kea Trust</a><p>Subscribe to our newsletter</p></header>
      <nav><ul><li><a href="/">Home</a></li><li><a href="/donate">Donate</a></li></ul></nav>
      <aside class="sidebar"><h3>Popular posts</h3><p>Ten facts about weka</p></aside>
      <main><article>
        <header><h1>Kea field notes</h1><p class="byline">By the ranger team</p></header>
        <nav aria-label="Breadcrumb"><a href="/">Home</a> › <a href="/notes">Notes</a></nav>
        <p>The kea is an alpine parrot.</p>
        <script>var tracking = "do not index this script";</script>
        <style>p { font-family: serif; }</style><noscript>Enable JavaScript</noscript>
        <p hidden>A hidden paragraph.</p><p aria-hidden="true">Decorative text.</p>
        <p style="display: none">Shown only on click.</p>
        <form><label>Email <input name="e"></label><button>Sign up</button></form>
        <footer><p>Filed under birds.</p></footer>
      </article></main>
      <footer><p>Copyright 2024 Kea Trust. Privacy policy.</p></footer>"""))
    text = doc.text
    assert "The kea is an alpine parrot." in text
    assert "By the ranger team" in text and "Filed under birds." in text  # the article's own
    for chrome in ("cookies", "Subscribe", "Home", "Donate", "Popular posts", "weka",
                   "tracking", "font-family", "JavaScript", "hidden paragraph", "Decorative",
                   "Shown only", "Email", "Sign up", "Copyright", "Notes"):
        assert chrome not in text, chrome


def test_a_page_without_main_drops_its_banner_and_footer_but_not_a_sections_header():
    doc = extract_html(_page("""<nav><a href="/">Rust</a> <a href="/learn">Learn</a></nav>
      <header><p>Site banner text</p></header>
      <section><header><h2>Announcing Kea 1.0</h2></header>
        <p>The kea team is happy to announce version 1.0.</p></section>
      <footer><p>Maintained by the kea team. Site footer text.</p></footer>"""))
    assert doc.text == "Announcing Kea 1.0\n\nThe kea team is happy to announce version 1.0."
    assert [s for _, s in doc.sections] == ["Announcing Kea 1.0"]


def test_code_blocks_keep_their_lines_and_a_br_is_a_line_break():
    doc = extract_html(_page("""<main><p>Run:</p><pre><code><span class="k">def</span> kea():
    <span class="k">return</span> 1
</code></pre><p>Kea Trust<br>12 Alpine Road<br>Arthur's Pass</p></main>"""))
    assert "def kea():\n    return 1" in doc.text
    assert "Kea Trust\n12 Alpine Road\nArthur's Pass" in doc.text


def test_no_date_is_guessed_from_the_text_or_the_links(tmp_path):
    body = """<main><h1>Kea field notes</h1>
      <p>The survey of 1 April 2011 counted 5,000 kea; see the
      <a href="https://example.org/2019/05/01/kea">report of 2019-05-01</a>.</p>
      <p>The next count starts on <time datetime="2025-03-01">1 March 2025</time>, weather
      permitting, with volunteers from the trust.</p>
      <p>Counts since 2024-01-05 are kept by the trust and shared with the department.</p>
      </main>"""
    assert extract_html(_page(body)).date is None
    path = tmp_path / "notes.html"
    path.write_bytes(_page(body))
    assert load_file(path, "notes.html").date is None


@pytest.mark.parametrize("head, body, date", [
    ("<meta property='article:published_time' content='2024-07-02T09:00:00+12:00'>"
     "<meta property='article:modified_time' content='2024-08-01'>", "", "2024-07-02"),
    ("<meta name='citation_publication_date' content='2019/05/01'>", "", "2019-05-01"),
    ("<meta name='DC.date' content='2020-02-29'>", "", "2020-02-29"),
    ("<script type='application/ld+json'>{\"@context\": \"https://schema.org\", \"@graph\": ["
     "{\"@type\": \"BlogPosting\", \"datePublished\": \"2023-11-05T10:00:00Z\"}]}</script>",
     "", "2023-11-05"),
    ("", "<article><header><h1>Kea</h1><time datetime='2022-06-30'>30 June</time></header>"
     "<p>Text.</p></article>", "2022-06-30"),
    ("<meta property='article:modified_time' content='Tue, 02 Jul 2024 10:00:00 GMT'>", "",
     "2024-07-02"),
    ("<meta name='date' content='sometime in spring'>", "", None),
])
def test_the_date_is_the_one_the_page_states(head, body, date):
    raw = _page(body or "<main><h1>Kea</h1><p>The kea is an alpine parrot.</p></main>",
                head="<title>Kea</title>" + head)
    assert extract_html(raw).date == date


def test_title_url_and_author_come_from_the_pages_metadata():
    doc = extract_html(_page(
        "<main><h1>Kea field notes</h1><p>Text.</p></main>",
        head="<title>Kea field notes | Kea Trust</title><meta property='og:site_name' "
             "content='Kea Trust'><meta name='author' content='A. Ranger'>"
             "<link rel='canonical' href='https://kea.example/notes'>"))
    assert (doc.title, doc.url) == ("Kea field notes", "https://kea.example/notes")
    assert doc.meta == {"author": "A. Ranger", "sitename": "Kea Trust"}
    untitled = extract_html(_page("<h1>Kakapo recovery</h1><p>Text.</p>",
                                  head="<title>Untitled</title>"))
    assert untitled.title == "Kakapo recovery"
    with pytest.raises(Unreadable, match="no main text"):
        extract_html(_page("<nav><a href='/'>Home</a></nav>"))


# -- real pages ---------------------------------------------------------------------------------

REAL = sorted(PAGES.glob("*.html"))


def test_the_real_pages_are_named_in_their_sources():
    sources = json.loads((PAGES / "SOURCES.json").read_text(encoding="utf-8"))["pages"]
    assert sorted(s["file"] for s in sources) == [p.name for p in REAL]
    assert all(s["repo"] and len(s["commit"]) == 40 and s["path"] and s["licence"]
               for s in sources)
    assert len(REAL) >= 12 and len({s["site"] for s in sources}) >= 3
    assert sum(p.stat().st_size for p in PAGES.iterdir()) < 3_000_000


@pytest.mark.parametrize("page", REAL, ids=lambda p: p.stem)
def test_a_real_page_keeps_its_visible_main_text_and_its_headings(page: Path):
    raw = page.read_bytes()
    doc = extract_html(raw)
    reference = reference_text(raw)
    assert kept_share(reference, doc.text) >= 0.95
    assert extra_share(reference, doc.text) <= 0.01  # nothing from outside the main region
    assert doc.sections  # every one of these pages has headings
    assert doc.title


def test_real_pages_lose_their_chrome_and_their_guessed_dates():
    def page(name: str):
        return extract_html((PAGES / name).read_bytes())

    quickstart = page("httpx--quickstart.html")
    assert quickstart.text.startswith("QuickStart\n\nFirst, start by importing HTTPX:")
    assert "Initializing search" not in quickstart.text  # the site's header
    assert "Made with" not in quickstart.text  # its footer
    load_test = page("govuk-dev-docs--manual-load-test.html")
    assert "Skip to main content" not in load_test.text and "View source" not in load_test.text
    spec = page("openapi-spec--v3.1.0.html")
    assert "Table of Contents" not in spec.text  # the navigation
    assert len(spec.text) > 100_000 and "OpenAPI Specification v3.1.0 › 4. Specification" in [
        s for _, s in spec.sections]
    assert spec.date == "2021-02-15"  # ReSpec's <time class="dt-published">
    assert page("tz--theory.html").date is None  # was 2015-12-17, a citation in the text
