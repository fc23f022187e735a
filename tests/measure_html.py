"""How much of a web page's visible main text the HTML extractor keeps, on real pages:

    .venv/bin/python -m tests.measure_html [--rev GIT_REV] [--pages DIR] [--show PAGE]

For each page in `tests/data/html-pages/` (where each came from: its SOURCES.json) it prints
the share of the page's visible main text found in the extracted text ("kept"), the share of
the extracted text not in it ("extra": text from outside the main region let through), the
share of all the text of the page's body that was kept ("of body": the rest is the site's
chrome), the number of sections, and the date and title read. `--rev` measures
`rag/ingest/formats/html.py` as it was at a git revision (the "before" of a change: 238625a
read pages through trafilatura); `--show` prints what one page gives.

The reference is independent of the extractor's code and deliberately literal: every text
node of the main region (the first `<main>` or `[role=main]`, the innermost where one holds
another, else the page's only `<article>`, else `<body>`), less scripts, styles, navigation,
the page's own header and footer (not an article's or a section's), forms and their
controls, and elements marked `hidden` or `aria-hidden`. Texts are compared as multisets of
words and punctuation marks weighted by their length, so whitespace and the order of blocks
do not count, words do.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path

PAGES = Path(__file__).parent / "data" / "html-pages"

DROPPED = {"script", "style", "noscript", "template", "head", "title", "svg", "nav", "form",
           "button", "select", "textarea", "input"}
SECTIONING = {"article", "aside", "main", "nav", "section"}  # a header/footer inside is kept
SEPARATE = {"address", "article", "aside", "blockquote", "br", "caption", "dd", "details",
            "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5",
            "h6", "header", "hr", "li", "main", "ol", "p", "pre", "section", "summary", "table",
            "td", "th", "tr", "ul"}  # elements whose text is apart from the text around them
TOKEN = re.compile(r"\w+|[^\w\s]")


def _tag(el) -> str:
    return el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""


def _unseen(el) -> bool:
    return _tag(el) in ("", "script", "style", "noscript", "template", "head", "svg") or \
        el.get("hidden") is not None or (el.get("aria-hidden") or "").strip().lower() == "true"


def _dropped(el) -> bool:
    tag = _tag(el)
    if not tag or tag in DROPPED or el.get("hidden") is not None:
        return True
    if (el.get("aria-hidden") or "").strip().lower() == "true":
        return True
    if tag in ("header", "footer"):
        return not any(_tag(a) in SECTIONING for a in el.iterancestors())
    return False


def main_region(root):
    """The first `<main>` or `[role=main]` (the innermost, where one holds another), else the
    only `<article>`, else `<body>`."""
    found = root.xpath("//main | //*[@role='main']")
    if found:
        region = found[0]
        for inner in found[1:]:
            if any(a is region for a in inner.iterancestors()):
                region = inner
        return region
    articles = root.xpath("//article")
    if len(articles) == 1:
        return articles[0]
    body = root.find("body")
    return body if body is not None else root


def reference_text(raw: bytes, whole: bool = False) -> str:
    """The visible text of a page's main region (`whole`: of its body, less only scripts,
    styles and hidden elements), with a space between block elements."""
    import lxml.html

    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    root = lxml.html.document_fromstring(raw, parser=parser)
    out: list[str] = []

    def visit(el) -> None:
        for child in el:
            if not (_unseen(child) if whole else _dropped(child)):
                sep = " " if _tag(child) in SEPARATE else ""
                out.append(sep + (child.text or ""))
                visit(child)
                out.append(sep)
            out.append(child.tail or "")

    region = root.find("body") if whole else main_region(root)
    region = root if region is None else region
    out.append(region.text or "")
    visit(region)
    return " ".join("".join(out).split())


def tokens(text: str) -> Counter[str]:
    return Counter(TOKEN.findall(text))


def kept_share(reference: str, extracted: str) -> float:
    """The share of the reference's characters (not whitespace) whose words are in the
    extracted text, as many times as the reference has them."""
    ref, got = tokens(reference), tokens(extracted)
    total = sum(len(w) * n for w, n in ref.items())
    return sum(len(w) * min(n, got[w]) for w, n in ref.items()) / total if total else 1.0


def extra_share(reference: str, extracted: str) -> float:
    """The share of the extracted text's characters not in the reference (table cell bars
    and the like the extractor writes aside)."""
    ref, got = tokens(reference), tokens(extracted)
    got.pop("|", None)
    total = sum(len(w) * n for w, n in got.items())
    return sum(len(w) * max(0, n - ref[w]) for w, n in got.items()) / total if total else 0.0


def extractor(rev: str | None) -> Callable:
    """`extract_html` as it is, or as it was at git revision `rev`."""
    if rev is None:
        from rag.ingest.formats.html import extract_html

        return extract_html
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{rev}:rag/ingest/formats/html.py"], cwd=root,
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType(f"html_at_{rev}")
    exec(compile(source, f"html.py@{rev}", "exec"), module.__dict__)
    return module.extract_html


def measure(pages: Path, rev: str | None = None) -> list[dict]:
    from rag.ingest.formats import Unreadable

    extract = extractor(rev)
    rows = []
    for path in sorted(pages.glob("*.htm*")):
        raw = path.read_bytes()
        ref = reference_text(raw)
        try:
            doc = extract(raw)
            text, sections, title, date = doc.text, len(doc.sections), doc.title, doc.date
        except Unreadable as e:
            text, sections, title, date = "", 0, f"(unreadable: {e})", None
        rows.append({"page": path.name, "reference": len(ref), "chars": len(text),
                     "kept": kept_share(ref, text), "extra": extra_share(ref, text),
                     "body": kept_share(reference_text(raw, whole=True), text),
                     "sections": sections, "title": title, "date": date})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", help="measure rag/ingest/formats/html.py at this git revision")
    ap.add_argument("--pages", type=Path, default=PAGES)
    ap.add_argument("--show", help="print the text extracted from this page and stop")
    args = ap.parse_args(argv)
    if args.show:
        doc = extractor(args.rev)((args.pages / args.show).read_bytes())
        print(f"title: {doc.title}\ndate: {doc.date}\nurl: {doc.url}\nmeta: {doc.meta}")
        print("sections:", *[f"  {at}: {s}" for at, s in doc.sections], sep="\n")
        print(doc.text)
        return 0
    rows = measure(args.pages, args.rev)
    print(f"{'page':<58} {'ref chars':>9} {'kept':>6} {'extra':>6} {'of body':>7} {'sect':>5}"
          f"  date, title")
    for r in rows:
        print(f"{r['page'][:58]:<58} {r['reference']:>9,} {r['kept']:>6.1%} {r['extra']:>6.1%} "
              f"{r['body']:>7.1%} {r['sections']:>5}  {r['date'] or '-'}, {r['title'][:36]}")
    low = [r["page"] for r in rows if r["kept"] < 0.95]
    print(f"{len(rows)} pages; kept: min {min(r['kept'] for r in rows):.1%}, "
          f"{len(low)} below 95%{': ' + ', '.join(low) if low else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
