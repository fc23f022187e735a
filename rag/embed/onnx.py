"""The model through ONNX Runtime and Hugging Face `tokenizers` (no torch): the query and
build path. The int8 graph ships in the model bundle (`rag/models/embedder.onnx`); fp32 is
exported from the installed model once and cached (`rag.embed.export`, which needs torch)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from rag.config import EMBED_PRECISIONS
from rag.embed.base import MAX_WORD_PIECES, CachedEmbedder, model_name

BATCH_TOKENS = 1024  # padded word pieces per ONNX batch (measured: 4 chunks beat 32 by 2x)


class OnnxEmbedder(CachedEmbedder):
    """The model through ONNX Runtime: mean of the last hidden states, then unit length.

    Documents are encoded longest first in batches of about `BATCH_TOKENS` padded word
    pieces: little padding, and small matrices that stay in cache."""

    def __init__(self, precision: str = "fp32", batch_size: int = 32,
                 cache_dir: str = "", threads: int = 0, models: str = "") -> None:
        super().__init__(batch_size)
        if precision not in EMBED_PRECISIONS:
            raise ValueError(f"precision must be one of {EMBED_PRECISIONS}")
        self.precision = precision
        self.name = model_name(precision)
        self.cache_dir = cache_dir
        self.threads = threads  # 0: ONNX Runtime's choice (one per core)
        self.models = models  # the model bundle's folder ("": the shipped one)
        self._session = None
        self._tokenizer = None
        self._load_lock = threading.Lock()

    def _load(self):
        with self._load_lock:  # two first requests at once must not load two sessions
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                graph, tokenizer = self._files()
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.log_severity_level = 3  # warnings about unused initializers are noise
                tok = Tokenizer.from_file(str(tokenizer))
                tok.enable_truncation(MAX_WORD_PIECES)
                tok.no_padding()
                self._tokenizer = tok
                self._session = ort.InferenceSession(str(graph), opts,
                                                     providers=["CPUExecutionProvider"])
            return self._session, self._tokenizer

    def _files(self):
        if self.precision == "int8":
            from rag.models import bundle

            b = bundle(self.models)
            return b.path("embedder.onnx"), b.path("embedder-tokenizer.json")
        from rag.embed.export import exported

        return exported(self.precision, self.cache_dir)

    def count_word_pieces(self, text: str) -> int:
        """Word pieces the model sees for `text`, without the [CLS]/[SEP] markers."""
        _, tok = self._load()
        return len(tok.encode(text, add_special_tokens=False).ids)

    def _batches(self, texts: Sequence[str]) -> list[list[int]]:
        _, tok = self._load()
        lengths = [len(e.ids) for e in tok.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        for i in order:  # longest first: the first of a batch sets its padded width
            if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= BATCH_TOKENS \
                    and len(batches[-1]) < self.batch_size:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def _encode(self, texts: list[str]) -> np.ndarray:
        session, tok = self._load()
        enc = tok.encode_batch(texts)
        width = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), width), dtype=np.int64)
        mask = np.zeros((len(enc), width), dtype=np.int64)
        for row, e in enumerate(enc):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        vecs = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs.astype(np.float32)
