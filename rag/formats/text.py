"""Plain text and Markdown: UTF-8 (or UTF-16 with a byte order mark), YAML front matter as
metadata."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from rag.formats import Extracted, Unreadable

log = logging.getLogger("rag")


def decode(raw: bytes) -> str:
    """Text from bytes, or Unreadable: binary, or neither UTF-8 nor UTF-16 with a BOM."""
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # has NUL bytes, yet is text
    if b"\x00" in raw[:8192] and not utf16:
        raise Unreadable("binary file")
    try:
        return raw.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as e:
        raise Unreadable(f"not {'UTF-16' if utf16 else 'UTF-8'} (byte {e.start}); convert it "
                         f"to UTF-8 to index it") from None


def extract_text(raw: bytes, path: Path, markdown: bool) -> Extracted:
    meta, body = split_front_matter(decode(raw), path)
    return Extracted(body, "markdown" if markdown else "text",
                     title=str(meta.pop("title", "") or "").strip(),
                     date=iso(meta.pop("date", None)), url=_url(meta.pop("url", None)),
                     meta=jsonable(meta))


def split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    import frontmatter

    if not text.startswith("---"):
        return {}, text
    try:
        meta, body = frontmatter.parse(text)
    except Exception as e:  # yaml raises many kinds; all mean the same to a user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.warning("%s: front matter is not valid YAML (%s); indexing the whole file as text",
                    path, first)
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return dict(meta), body


def iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _url(value: Any) -> str | None:
    return str(value) if value else None


def jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(meta, default=str))
