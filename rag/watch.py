"""Keep an index in step with folders: sync once, then again whenever files change."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import RagError
from rag.ingest.formats import kind_of
from rag.ingest.load import RULES
from rag.pipeline import build, corpus_of
from rag.store import SyncReport

log = logging.getLogger("rag")

DEBOUNCE_MS = 800  # changes arriving together (an editor's save, a copied folder) sync once


def _relevant(change: object, path: str) -> bool:
    """Files the index would read, and access rules; editors' temporary and hidden files are
    not."""
    p = Path(path)
    if p.name == RULES:  # a folder's access rule: its documents are re-labelled
        return not any(part.startswith(".") for part in p.parent.parts)
    return not any(part.startswith(".") for part in p.parts) and (
        kind_of(p) is not None or p.is_dir() or not p.exists())


def watch(paths: Sequence[str | Path] | None, settings: Settings, embedder: Embedder,
          on_sync: Callable[[SyncReport], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Sync `paths` (None: the corpus the index records) into the configured index now and
    after every batch of changes, until `stop` is set. A sync that fails (a folder emptied,
    another build writing) is logged and the next change tried again; the last complete index
    stays live meanwhile."""
    from watchfiles import watch as changes

    asked = list(paths) if paths else None
    paths = asked or corpus_of(settings)

    def sync() -> None:
        try:
            report = build(asked, settings=settings, embedder=embedder)
        except RagError as e:
            log.warning("sync failed, the index is unchanged: %s", e)
            return
        if on_sync:
            on_sync(report)

    sync()
    for _ in changes(*paths, watch_filter=_relevant, debounce=DEBOUNCE_MS, stop_event=stop,
                     recursive=True, raise_interrupt=False):
        sync()


def watch_in_background(paths: Sequence[str | Path] | None, settings: Settings, embedder: Embedder,
                        on_sync: Callable[[SyncReport], None] | None = None
                        ) -> threading.Event:
    """`watch` on a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=watch, args=(paths, settings, embedder, on_sync, stop),
                     name="rag-watch", daemon=True).start()
    return stop
