"""Cited answers from a folder of documents."""

from rag.errors import RagError
from rag.pipeline import RAG, answer, build
from rag.query import Query
from rag.types import Answer, Chunk, Citation, Document, Filters, Passage, Reader, Sentence

__all__ = ["RAG", "Answer", "Chunk", "Citation", "Document", "Filters", "Passage", "Query",
           "RagError", "Reader", "Sentence", "answer", "build"]
