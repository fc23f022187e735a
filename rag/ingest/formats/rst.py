"""reStructuredText through docutils' parser (no file inclusion, no raw HTML): sections as
headings, paragraphs with their wrapped lines joined, literal blocks as code, tables by rows. A
leading block of `Key: value` lines (the header of a PEP or an RFC-822-style note) is metadata:
its Title and Created or Date fields name and date the document."""

from __future__ import annotations

import io
import re
from datetime import datetime
from functools import lru_cache

from rag.ingest.formats import Extracted, Unreadable
from rag.ingest.formats.blocks import Blocks
from rag.ingest.formats.limits import Budget
from rag.ingest.formats.text import decode

_FIELD = re.compile(r"([A-Z][\w-]*):[ \t]*(.*)")
SKIP = {"system_message", "comment", "substitution_definition", "target", "raw", "footnote",
        "citation", "pending", "problematic"}
LISTS = {"bullet_list", "enumerated_list", "definition_list", "field_list", "option_list"}
CONTAINERS = {"block_quote", "note", "warning", "tip", "important", "caution", "attention",
              "danger", "error", "hint", "admonition", "topic", "sidebar", "compound",
              "container", "list_item", "definition_list_item", "definition", "field",
              "field_body", "line_block", "legend", "figure"}


def extract_rst(raw: bytes, budget: Budget | None = None) -> Extracted:
    text = decode(raw).replace("\r\n", "\n")
    meta, body = _header(text)
    out = Blocks(budget=budget or Budget())
    out.budget.check(body.count("\n") + 1)  # each line a block at most, before parsing
    _walk(_parse(body), out, 1)
    if not out.text().strip():
        raise Unreadable("no text")
    title = meta.pop("title", "")
    date = _date(meta.pop("created", "") or meta.pop("date", ""))
    return Extracted(out.text(), "rst", title=title, date=date, meta=meta,
                     sections=tuple(out.sections), tables=tuple(out.tables))


def _header(text: str) -> tuple[dict[str, str], str]:
    """`Key: value` lines (with indented continuations) up to the first blank line, when
    there are at least two and one is a Title."""
    lines = text.lstrip("\ufeff").split("\n")
    fields: dict[str, str] = {}
    key = None
    for n, line in enumerate(lines):
        if not line.strip():
            if len(fields) >= 2 and "title" in fields:
                return fields, "\n" * n + "\n".join(lines[n:])  # lines keep their numbers
            break
        m = _FIELD.fullmatch(line)
        if m:
            key = m.group(1).lower()
            fields[key] = m.group(2).strip()
        elif key and line[:1] in " \t":
            fields[key] = f"{fields[key]} {line.strip()}".strip()
        else:
            break
    return {}, text


# Sphinx's roles and directives, which plain docutils does not know: a role shows its title
# (`title <target>`) or its text; a code block is code; a note-like directive its content.
SPHINX_ROLES = ("pep", "rfc", "ref", "doc", "term", "class", "func", "meth", "mod", "attr",
                "data", "const", "exc", "obj", "program", "option", "envvar", "file", "samp",
                "kbd", "abbr", "command", "dfn", "guilabel", "menuselection", "mimetype",
                "keyword", "token", "download", "numref", "any", "py:class", "py:func",
                "py:meth", "py:mod", "py:attr", "py:data", "py:const", "py:exc", "py:obj",
                "c:func", "c:macro", "c:type", "c:data", "c:member", "source", "issue", "gh")
CODE_DIRECTIVES = ("code-block", "sourcecode", "literalinclude-text")
PROSE_DIRECTIVES = ("versionadded", "versionchanged", "deprecated", "seealso", "only",
                    "centered", "hlist", "glossary", "productionlist", "index", "toctree",
                    "highlight", "autosummary", "tabularcolumns", "literalinclude")


@lru_cache(maxsize=1)
def _register() -> None:
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives, roles

    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        m = re.fullmatch(r"\s*(.*?)\s*<[^<>]*>\s*", text, re.S)
        shown = m.group(1) if m and m.group(1) else text
        if name.lower() in ("pep", "rfc") and shown.strip().isdigit():
            shown = f"{name.upper()} {shown.strip()}"
        return [nodes.inline(rawtext, shown.lstrip("~!"))], []

    class Code(Directive):
        optional_arguments, final_argument_whitespace, has_content = 1, True, True
        option_spec = None  # any option

        def run(self):
            return [nodes.literal_block("\n".join(self.content), "\n".join(self.content))]

    class Prose(Directive):
        optional_arguments, final_argument_whitespace, has_content = 3, True, True
        option_spec = None

        def run(self):
            box = nodes.container()
            if self.content and self.name not in ("toctree", "index", "highlight",
                                                  "literalinclude", "tabularcolumns"):
                self.state.nested_parse(self.content, self.content_offset, box)
            return [box]

    for name in SPHINX_ROLES:
        roles.register_local_role(name, role)
    for name in CODE_DIRECTIVES:
        directives.register_directive(name, Code)
    for name in PROSE_DIRECTIVES:
        directives.register_directive(name, Prose)


def _parse(source: str):
    from docutils.core import publish_doctree
    from docutils.utils import SystemMessage

    _register()
    overrides = {"report_level": 5, "halt_level": 5, "warning_stream": io.StringIO(),
                 "file_insertion_enabled": False, "raw_enabled": False,
                 "doctitle_xform": False, "sectsubtitle_xform": False,
                 "input_encoding": "unicode"}
    try:
        return publish_doctree(source, settings_overrides=overrides)
    except (SystemMessage, ValueError, IndexError, AttributeError) as e:
        raise Unreadable(f"not valid reStructuredText ({str(e).splitlines()[0][:120]})") \
            from None


def _walk(node, out: Blocks, level: int) -> None:
    for child in node.children:
        out.budget.check()
        name = child.tagname
        if name in SKIP:
            continue
        if name == "section":
            title = next((c for c in child.children if c.tagname == "title"), None)
            if title is not None:
                out.heading(level, title.astext())
            _walk(child, out, level + 1)
        elif name in ("title", "subtitle", "rubric"):
            if node.tagname != "section":
                out.heading(level, child.astext())
        elif name in ("literal_block", "doctest_block"):
            out.code(child.astext())
        elif name == "table":
            rows, heads = [], 0
            for part in child.findall(lambda n: n.tagname in ("thead", "tbody")):
                for row in part.children:
                    if row.tagname == "row":
                        rows.append([" ".join(e.astext().split()) for e in row.children])
                        heads += part.tagname == "thead"
            out.table(rows, heads or 1)
        elif name == "line":
            out.paragraph(child.astext())
        elif name in ("term", "field_name"):
            out.paragraph(" ".join(child.astext().split()))
        elif name in LISTS or name in CONTAINERS or name == "document":
            _walk(child, out, level)
        else:  # paragraph and any other leaf: its lines are one line
            out.paragraph(" ".join(child.astext().split()))


def _date(value: str) -> str | None:
    value = value.strip()
    for fmt in ("%d-%b-%Y", "%Y-%m-%d", "%d %B %Y", "%B %d, %Y", "%d-%B-%Y"):
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            pass
    return value or None
