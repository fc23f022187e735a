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
from rag.types import DocumentInfo, Reader

# How an original PDF is served, by the page and the API alike: shown inline, never sniffed
# as another type, and sandboxed (no script of it runs with this origin's rights).
PDF_HEADERS = {"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox"}


class Unserved(RagError):
    """A document that is not served, with the HTTP status to say so."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def readable(rag: RAG, reader: Reader | None) -> dict[str, DocumentInfo]:
    """The documents of `rag`'s index that `reader` may read (all of them for None)."""
    return {d: info for d, info in rag.index.documents.items()
            if reader is None or reader.may_read(info)}


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

    def names(self, reader: Reader | None) -> list[str]:
        """The collections `reader` may read, in configured order (all of them for None)."""
        return [n for n in self.rags if self.may_read(n, reader)]

    def may_read(self, name: str, reader: Reader | None) -> bool:
        spec = self.specs.get(name)
        return name in self.rags and (reader is None or reader.everything or spec is None
                                      or not spec.readers
                                      or not reader.groups.isdisjoint(spec.readers))

    def get(self, name: str | None, reader: Reader | None) -> RAG:
        """The collection `name` ("" or None: the first `reader` may read), or RagError:
        one they may not read is as absent as one that does not exist."""
        if not name:
            names = self.names(reader)
            if not names:
                raise RagError("you may read no collection here; ask for a group that may")
            name = names[0]
        if not self.may_read(name, reader):
            raise RagError(f"no collection {name!r} here")
        return self.rags[name]

    def pdf(self, name: str | None, doc_id: str, reader: Reader | None) -> bytes:
        """The original bytes of an indexed PDF that `reader` may read, looked up by its id
        in the collection's index (never by a path from a request), or Unserved: one they may
        not read is as absent as one that does not exist (404), a file gone is 404, a file
        changed since it was indexed 409. Other formats are not served: a saved web page
        opened from this origin could run its scripts here."""
        try:
            info = self.get(name, reader).index.documents.get(doc_id)
        except RagError:
            info = None
        if info is None or info.kind != "pdf" or (reader is not None
                                                  and not reader.may_read(info)):
            raise Unserved(404, "no such PDF in the index")
        try:
            raw = Path(info.path).read_bytes()
        except OSError:
            raise Unserved(404, "the file is gone; rebuild the index") from None
        if hashlib.sha256(raw).hexdigest() != info.sha256:
            raise Unserved(409, "the file changed since it was indexed; rebuild the index")
        return raw

    def may_write(self, name: str, reader: Reader | None) -> bool:
        """Whether `reader` may add documents to the collection (its writers, else whoever
        may read it; without collections, the `writers` setting)."""
        if reader is None or reader.everything:
            return True
        spec = self.specs.get(name)
        writers = spec.writers if spec is not None else self.rags[name].settings.writers
        return self.may_read(name, reader) and (not writers
                                                or not reader.groups.isdisjoint(writers))
