"""Errors a user can fix; each message says how."""

from __future__ import annotations


class RagError(Exception):
    """Base class: the CLI prints the message on one line and exits 1."""


class QuestionError(RagError):
    """The question is empty or too long, or a request's field is malformed; `param` names
    the field for an API's error body."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class CorpusError(RagError):
    """The corpus path is missing or holds no readable documents."""


class IndexMissingError(RagError):
    """There is no index where one was expected."""


class IndexMismatchError(RagError):
    """The index was built with another model, chunker or format."""


class IndexBusyError(RagError):
    """Another build holds the index's write lock; waiting for it to finish is the fix."""


class ConfigError(RagError):
    """A setting has a value that cannot work."""


class LLMError(RagError):
    """The language model server failed, timed out or could not be reached."""


class AccessError(RagError):
    """Who is asking cannot be established (accounts that cannot be read): nobody is let in."""


class UnreadError(RagError):
    """A store had to chunk a document taken unread from the index's record (the index is
    being rebuilt): read the corpus again, whole."""
