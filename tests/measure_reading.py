"""How documents read once extracted, on real folders:

    .venv/bin/python -m tests.measure_reading evals/docs/eng-practices evals/docs/peps

Per folder: sentence units, how many end without closing punctuation (all of them, and those
of running text: not headings or table rows), soft hyphens left in any text, markup left in
the text (`**`, `](`, a line starting with `#`, `<!--`), and each file's title and date."""

from __future__ import annotations

import argparse
import bisect
import re
from pathlib import Path

from rag.ingest.formats.blocks import Blocks
from rag.ingest.load import load_documents
from rag.text import sentence_spans

CLOSING = tuple('.!?:;…)"\'”’]')
MARKUP = re.compile(r"\*\*|\]\(|^#+ |<!--|\{#", re.M)


def measure(folder: str) -> None:
    docs = load_documents([folder])
    units = open_all = prose = open_prose = 0
    hyphens = markup = 0
    for d in docs:
        heads = {at for at, _ in d.sections}
        starts = [t[0] for t in d.tables]
        code = _code(d)
        for s, e in sentence_spans(d.text):
            units += 1
            ended = d.text[s:e].rstrip().endswith(CLOSING)
            open_all += not ended
            i = bisect.bisect_right(starts, s) - 1
            in_table = i >= 0 and d.tables[i][0] <= s < d.tables[i][1]
            line_start = d.text.rfind("\n", 0, s) + 1
            if line_start in heads or in_table or any(a <= s < b for a, b in code):
                continue
            prose += 1
            open_prose += not ended
        hyphens += sum(d.text.count(ch) for ch in "\ufffe\u00ad")
        markup += sum(1 for m in MARKUP.finditer(d.text)
                      if not any(a <= m.start() < b for a, b in code))  # code may hold `#`
    print(f"{folder}: {len(docs)} files, {units:,} sentence units, {open_all:,} "
          f"({open_all / units:.1%}) end without closing punctuation; of running text "
          f"{open_prose:,} of {prose:,} ({open_prose / max(prose, 1):.1%}); soft hyphens "
          f"{hyphens}; markup {markup}")
    for d in docs:
        print(f"  {d.doc_id}: {d.title!r}" + (f" ({d.date})" if d.date else ""))


def _code(doc) -> list[tuple[int, int]]:
    """Where a document's preformatted blocks are (the block writer knows; documents don't)."""
    raw = Path(doc.path).read_bytes()
    b = Blocks()
    if doc.kind == "markdown":
        from rag.ingest.formats.markdown import render
        from rag.ingest.formats.text import decode, split_front_matter

        b = render(split_front_matter(decode(raw), Path(doc.path))[1])
    elif doc.kind == "html":
        from rag.ingest.formats.html import html_blocks
        from rag.ingest.formats.text import decode

        b = html_blocks(decode(raw))
    elif doc.kind == "rst":
        from rag.ingest.formats.rst import _header, _parse, _walk
        from rag.ingest.formats.text import decode

        _walk(_parse(_header(decode(raw).replace("\r\n", "\n"))[1]), b, 1)
    if b.parts:
        assert b.text() == doc.text
    return b.preformatted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+")
    for folder in ap.parse_args().folders:
        measure(folder)


if __name__ == "__main__":
    main()
