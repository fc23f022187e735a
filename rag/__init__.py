"""Cited answers from a folder of documents."""

from rag.errors import RagError
from rag.pipeline import RAG, answer, build
from rag.query import Query
from rag.types import Answer, Chunk, Citation, Document, Filters, Passage, Sentence, Viewer

__all__ = ["RAG", "Answer", "Chunk", "Citation", "Document", "Filters", "Passage", "Query",
           "RagError", "Viewer", "Sentence", "answer", "build"]
