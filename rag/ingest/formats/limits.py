"""What one file may cost to read (`rag.types.Limits`): a zip package's directory checked
before anything is inflated, and a `Budget` of characters, blocks and seconds that the
extractors spend as they go. Past a limit the file is `Unreadable`, never cut short."""

from __future__ import annotations

import io
import time
import zipfile

from rag.ingest.formats import Unreadable
from rag.types import Limits

MB = 1_000_000
RATIO_FROM = MB  # smaller parts may pack as tightly as they like: they cost little


class Budget:
    """One file's spending against its limits, checked at every step: blocks (paragraphs,
    rows, slides, pages), characters written, and the wall clock since reading began."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.blocks = 0
        self.chars = 0
        self._deadline = time.monotonic() + self.limits.seconds

    def spend(self, blocks: int = 1, chars: int = 0) -> None:
        """Count `blocks` read and `chars` written; Unreadable past any limit."""
        self.blocks += blocks
        self.chars += chars
        if self.chars > self.limits.chars:
            raise Unreadable(f"over the {self.limits.chars:,}-character limit (setting "
                             f"max_file_chars)")
        self.check()

    def check(self, pending: int = 0) -> None:
        """Unreadable when the clock has run out, or `pending` blocks (rows read, not yet
        written) would pass the block limit."""
        if self.blocks + pending > self.limits.blocks:
            raise Unreadable(f"over the {self.limits.blocks:,}-block limit (paragraphs, rows, "
                             f"slides or pages; setting max_file_blocks)")
        if time.monotonic() > self._deadline:
            raise Unreadable(f"over the {self.limits.seconds:g}-second limit (still reading; "
                             f"setting max_file_seconds)")

    def left(self) -> float:
        """Seconds left on the clock (for a step that takes a timeout: Tesseract's)."""
        return self._deadline - time.monotonic()


def check_size(size: int, limits: Limits) -> None:
    """Unreadable when a file is bigger than it may unpack to, before it is read."""
    if size > limits.unpacked_mb * MB:
        raise Unreadable(f"over the {limits.unpacked_mb:,} MB size limit ({size / MB:,.0f} MB; "
                         f"setting max_unpacked_mb)")


def check_archive(raw: bytes, limits: Limits, what: str) -> None:
    """Refuse a zip package (Word, PowerPoint, Excel, EPUB) whose directory promises more than
    the limits allow: too many parts, a part or all parts too big unpacked, or a big part
    packed like a zip bomb. Only the directory is read; nothing is inflated. Its sizes hold:
    Python's zipfile stops a part at its declared size and fails its checksum."""
    declared = _declared_parts(raw)
    if declared is not None and declared > limits.parts:
        raise Unreadable(_too_many(declared, limits))
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            parts = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        raise Unreadable(f"damaged {what} ({str(e)[:120]})") from None
    if len(parts) > limits.parts:
        raise Unreadable(_too_many(len(parts), limits))
    total = 0
    for p in parts:
        if p.file_size > limits.part_mb * MB:
            raise Unreadable(f"over the {limits.part_mb:,} MB part limit ({p.filename} "
                             f"unpacks to {p.file_size / MB:,.0f} MB)")
        ratio = p.file_size / max(p.compress_size, 1)
        if p.file_size > RATIO_FROM and ratio > limits.ratio:
            raise Unreadable(f"over the {limits.ratio:g}x compression-ratio limit ({p.filename} "
                             f"unpacks {ratio:,.0f}x, to {p.file_size / MB:,.0f} MB: a zip bomb?)")
        total += p.file_size
    if total > limits.unpacked_mb * MB:
        raise Unreadable(f"over the {limits.unpacked_mb:,} MB unpacked limit ({total / MB:,.0f} "
                         f"MB unpacked; setting max_unpacked_mb)")


def _too_many(n: int, limits: Limits) -> str:
    return f"over the {limits.parts:,}-part limit ({n:,} parts in the package)"


def _declared_parts(raw: bytes) -> int | None:
    """The part count the end of a zip declares, read before zipfile builds a record per
    part; None when the end cannot be found (zipfile then reads it, or refuses it)."""
    end = raw.rfind(b"PK\x05\x06", max(0, len(raw) - 22 - 65_535))  # after a comment
    if end < 0 or len(raw) < end + 22:
        return None
    n = int.from_bytes(raw[end + 10:end + 12], "little")
    if n != 0xFFFF:
        return n
    # ZIP64: a locator just before the end record points at the 64-bit end record.
    locator = end - 20
    if locator < 0 or raw[locator:locator + 4] != b"PK\x06\x07":
        return None
    at = int.from_bytes(raw[locator + 8:locator + 16], "little")
    if raw[at:at + 4] != b"PK\x06\x06":
        return None
    return int.from_bytes(raw[at + 32:at + 40], "little")
