"""Documents in: files to `Document`s (`load`, one extractor per format in `formats/`), and
`Document`s to `Chunk`s (`chunk`). Imports nothing above it."""

from rag.ingest.chunk import Chunker
from rag.ingest.formats import KINDS, Unreadable, extract, kind_of
from rag.ingest.load import load_documents

__all__ = ["KINDS", "Chunker", "Unreadable", "extract", "kind_of", "load_documents"]
