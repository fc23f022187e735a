"""The structure of Markdown text (also what HTML and Word documents become): the heading
path in force at each offset, and the tables with their header rows. Read with markdown-it,
so a `#` inside a code block is no heading."""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = " › "


@dataclass(frozen=True)
class Outline:
    sections: tuple[tuple[int, str], ...] = ()  # (offset where it starts, "A › B › C")
    tables: tuple[tuple[int, int, str], ...] = ()  # (body start, body end, header lines)


def outline(text: str) -> Outline:
    from markdown_it import MarkdownIt

    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)
    line_starts.append(len(text) + 1)

    def at(line: int) -> int:
        return line_starts[min(line, len(line_starts) - 1)]

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sections: list[tuple[int, str]] = []
    tables: list[tuple[int, int, str]] = []
    path: list[tuple[int, str]] = []  # (level, heading) from the top down
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map:
            level = int(tok.tag[1])
            title = " ".join(tokens[i + 1].content.split())
            path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
            sections.append((at(tok.map[0]), SEPARATOR.join(t for _, t in path)))
        elif tok.type == "thead_open" and tok.map:
            head_start, head_end = tok.map
            body = next((t for t in tokens[i:] if t.type in ("tbody_open", "table_close")), None)
            if body is not None and body.type == "tbody_open" and body.map:
                # The header row and the |---| line under it.
                header = text[at(head_start):at(body.map[0])].rstrip("\n")
                end = min(at(body.map[1]), len(text))
                tables.append((at(body.map[0]), len(text[:end].rstrip("\n")), header))
    return Outline(tuple(sections), tuple(tables))
