"""Writing files whole or not at all: every file the product writes for later readers (an
index's pointer, an upload, a trained model, a checkpoint) goes through `atomic_path`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A hidden temporary path beside `path` to write to (directly, or by a library that
    takes a path); on success it is fsynced and renamed over `path`, and the folder fsynced;
    on any error it is removed and `path` is untouched. Readers see the old file or the new
    one, never part of one; builds and watches skip the hidden name."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{uuid.uuid4().hex[:12]}-{target.name}"
    try:
        yield tmp
        fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync(target.parent)


def atomic_write(path: str | Path, data: str | bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` (text as UTF-8), whole or not at all; `mode` (0o600 for a
    secret) is set before the file gets its name, so it is never readable with another."""
    with atomic_path(path) as tmp:
        if mode is not None:
            tmp.touch(mode=mode)
            tmp.chmod(mode)  # whatever the umask made of it
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def write_synced(path: str | Path, text: str | bytes) -> None:
    """Write a new file (text as UTF-8) and flush it to disk (inside a folder that is itself
    swapped in whole, where a rename per file would buy nothing)."""
    with open(path, "wb") as fh:
        fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        fh.flush()
        os.fsync(fh.fileno())


def fsync(path: str | Path) -> None:
    """Flush a file's or a folder's entry to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
