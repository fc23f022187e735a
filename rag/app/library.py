"""The collections one page serves: a loaded `RAG` per collection, and who may read each and
add documents to it. Without configured collections the page serves its one index as the
collection "" (no picker)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from rag.config import Collection
from rag.errors import RagError
from rag.pipeline import RAG
from rag.types import DocumentInfo, Viewer

# How an original PDF is served, by the page and the API alike: shown inline, never sniffed
# as another type, and sandboxed (no script of it runs with this origin's rights).
PDF_HEADERS = {"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox"}


class Unserved(RagError):
    """A document that is not served, with the HTTP status to say so."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def readable(rag: RAG, viewer: Viewer | None) -> dict[str, DocumentInfo]:
    """The documents of `rag`'s index that `viewer` may read (all of them for None)."""
    return {d: info for d, info in rag.index.documents.items()
            if viewer is None or viewer.may_read(info)}


class Library:
    def __init__(self, rags: Mapping[str, RAG], specs: Mapping[str, Collection] | None = None
                 ) -> None:
        if not rags:
            raise RagError("no collection to serve")
        self.rags = dict(rags)
        self.specs = dict(specs or {})

    @classmethod
    def single(cls, rag: RAG) -> Library:
        return cls({"": rag})

    @property
    def named(self) -> bool:
        """Whether there are collections to choose from (a picker on the page)."""
        return list(self.rags) != [""]

    def names(self, viewer: Viewer | None) -> list[str]:
        """The collections `viewer` may read, in configured order (all of them for None)."""
        return [n for n in self.rags if self.may_read(n, viewer)]

    def may_read(self, name: str, viewer: Viewer | None) -> bool:
        spec = self.specs.get(name)
        return name in self.rags and (viewer is None or viewer.everything or spec is None
                                      or not spec.readers
                                      or not viewer.groups.isdisjoint(spec.readers))

    def get(self, name: str | None, viewer: Viewer | None) -> RAG:
        """The collection `name` ("" or None: the first `viewer` may read), or RagError:
        one they may not read is as absent as one that does not exist."""
        if not name:
            names = self.names(viewer)
            if not names:
                raise RagError("you may read no collection here; ask for a group that may")
            name = names[0]
        if not self.may_read(name, viewer):
            raise RagError(f"no collection {name!r} here")
        return self.rags[name]

    def pdf(self, name: str | None, doc_id: str, viewer: Viewer | None) -> bytes:
        """The original bytes of an indexed PDF that `viewer` may read, looked up by its id
        in the collection's index (never by a path from a request), or Unserved: one they may
        not read is as absent as one that does not exist (404), a file gone is 404, a file
        changed since it was indexed 409. Other formats are not served: a saved web page
        opened from this origin could run its scripts here."""
        try:
            info = self.get(name, viewer).index.documents.get(doc_id)
        except RagError:
            info = None
        if info is None or info.kind != "pdf" or (viewer is not None
                                                  and not viewer.may_read(info)):
            raise Unserved(404, "no such PDF in the index")
        try:
            raw = Path(info.path).read_bytes()
        except OSError:
            raise Unserved(404, "the file is gone; rebuild the index") from None
        if hashlib.sha256(raw).hexdigest() != info.sha256:
            raise Unserved(409, "the file changed since it was indexed; rebuild the index")
        return raw

    def may_write(self, name: str, viewer: Viewer | None) -> bool:
        """Whether `viewer` may add documents to the collection (its writers, else whoever
        may read it; without collections, the `writers` setting)."""
        if viewer is None or viewer.everything:
            return True
        spec = self.specs.get(name)
        writers = spec.writers if spec is not None else self.rags[name].settings.writers
        return self.may_read(name, viewer) and (not writers
                                                or not viewer.groups.isdisjoint(writers))
