"""The model bundle: every file answering loads, and one manifest that vouches for them.

    embedder.onnx            all-MiniLM-L6-v2 as int8 ONNX (`rag models export-embedder`)
    embedder-tokenizer.json  its word pieces
    reader.onnx, reader-tokenizer.json, reader.json   the reader and its model card
    selector.json            the answer selector's weights and thresholds (`rag train-selector`)
    verifier.json            the citation verifier's thresholds (`rag train-verifier`)
    manifest.json            each file's SHA-256 and size, and how each model was made

Answering reads the shipped bundle (this folder), or the folder the `models` setting names, and
refuses a file whose bytes are not the manifest's, or a selector fitted on another reader.
Training never writes here: each trainer writes into a candidate bundle (default
`build/models/`, begun as a copy of the shipped one, so it is always whole and can be asked
questions with `RAG_MODELS=build/models`), and `rag models promote` checks a candidate as
loading would and copies it over the shipped files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, RagError
from rag.files import atomic_path, atomic_write

SHIPPED = Path(__file__).resolve().parent
CANDIDATE = Path("build") / "models"
MANIFEST = "manifest.json"
FORMAT = 1
# Each file and the model it belongs to.
FILES = {
    "embedder.onnx": "embedder", "embedder-tokenizer.json": "embedder",
    "reader.onnx": "reader", "reader-tokenizer.json": "reader", "reader.json": "reader",
    "selector.json": "selector", "verifier.json": "verifier",
}
# How each model is made again on this kind of machine.
COMMANDS = {
    "embedder": "rag models export-embedder build/models",
    "reader": "make reader",
    "selector": "make selector",
    "verifier": "make verifier",
}
FIX = ("reinstall the package (git checkout rag/models), or retrain and run "
       "`rag models promote build/models`")


class Bundle:
    """An opened bundle folder: its manifest, and its files, each checked against the
    manifest the first time it is asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        path = folder / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            self.files: dict[str, dict[str, Any]] = dict(manifest["files"])
        except FileNotFoundError:
            raise ConfigError(f"no model bundle at {folder} (its {MANIFEST} is missing); "
                              f"{FIX}") from None
        except (ValueError, TypeError, KeyError) as e:
            raise ConfigError(f"the model bundle's {path} is damaged ({e}); {FIX}") from None
        self.manifest = manifest
        self._checked: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        """The file `name`, once its SHA-256 is the manifest's (checked again only when the
        file's size or modification time changes)."""
        p = self.folder / name
        want = self.files.get(name)
        if want is None:
            raise ConfigError(f"the model bundle {self.folder} lists no {name}; {FIX}")
        try:
            st = p.stat()
        except FileNotFoundError:
            raise ConfigError(f"the model bundle {self.folder} lacks {name}; {FIX}") from None
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._checked.get(name) == stamp:
                return p
            if st.st_size != want["bytes"] or sha256(p) != want["sha256"]:
                raise ConfigError(f"{p} is not the file its bundle's manifest lists (another "
                                  f"SHA-256); {FIX}")
            self._checked[name] = stamp
        return p

    def problems(self) -> list[str]:
        """Everything loading would refuse, each as one line (none: the bundle is sound)."""
        out = []
        for name in FILES:
            try:
                self.path(name)
            except ConfigError as e:
                out.append(str(e))
        if not out:
            meta = json.loads((self.folder / "selector.json").read_text("utf-8")).get("meta", {})
            mismatch = self.selector_mismatch(meta)
            if mismatch:
                out.append(mismatch)
        return out

    def selector_mismatch(self, meta: dict[str, Any]) -> str | None:
        """Why a selector whose metadata is `meta` cannot work with this bundle's reader (it
        was fitted on another reader's logits), or None."""
        want = meta.get("reader_sha256")
        if want and want != self.files["reader.onnx"]["sha256"]:
            return (f"the answer selector was fitted with another reader than "
                    f"{self.folder / 'reader.onnx'}; run `make selector` (rag train-selector) "
                    f"after `make reader`, or reinstall the package")
        return None


@lru_cache(maxsize=4)
def _opened(folder: str) -> Bundle:
    return Bundle(Path(folder))


def bundle(folder: str | Path = "") -> Bundle:
    """The bundle in `folder` ("": the shipped one), opened once per process."""
    return _opened(str(Path(folder).resolve() if folder else SHIPPED))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def describe(folder: Path, embedder: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of the files in `folder` as they are now: hashes, sizes, and each model's
    provenance as its own card records it (the embedder's as `embedder` says, else as the
    folder's manifest said)."""
    files = {n: {"sha256": sha256(folder / n), "bytes": (folder / n).stat().st_size}
             for n in FILES if (folder / n).is_file()}
    cards = {n: json.loads((folder / n).read_text("utf-8"))
             for n in ("reader.json", "selector.json", "verifier.json")
             if (folder / n).is_file()}
    reader = cards.get("reader.json", {})
    meta = cards.get("selector.json", {}).get("meta", {})
    verifier = cards.get("verifier.json", {})
    if embedder is None:
        embedder = json.loads((folder / MANIFEST).read_text("utf-8")).get(
            "models", {}).get("embedder", {}) if (folder / MANIFEST).is_file() else {}
    return {
        "format": FORMAT,
        "files": files,
        "models": {
            "embedder": embedder,
            "reader": {"command": reader.get("command"), "data_sha256": reader.get(
                "data_sha256"), "second_phase": bool(reader.get("second_phase"))},
            "selector": {"data_sha256": meta.get("data_sha256"),
                         "unanswerable_sha256": meta.get("unanswerable_sha256"),
                         "bank": {k: v for k, v in meta.get("bank", {}).items()
                                  if k.endswith("_sha256")} or None,
                         "reader_sha256": meta.get("reader_sha256")},
            "verifier": {"data_sha256": verifier.get("data_sha256")},
        },
        # The settings the selector's weights and thresholds were fitted under: answering
        # under others works, but its figures were measured under these.
        "settings": meta.get("settings"),
        "commands": COMMANDS,
    }


def seal(folder: str | Path, embedder: dict[str, Any] | None = None) -> Path:
    """Write `folder`'s manifest for the files in it now (after a trainer wrote its files)."""
    folder = Path(folder)
    atomic_write(folder / MANIFEST, json.dumps(describe(folder, embedder), indent=1) + "\n")
    _opened.cache_clear()
    return folder / MANIFEST


def candidate(folder: str | Path = CANDIDATE) -> Path:
    """A candidate bundle in `folder` for a trainer to write into: the shipped files are
    copied in where it has none, so it is whole whichever models are retrained."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if not (folder / name).is_file():
            with atomic_path(folder / name) as tmp:
                shutil.copyfile(SHIPPED / name, tmp)
    if not (folder / MANIFEST).is_file():
        shutil.copyfile(SHIPPED / MANIFEST, folder / MANIFEST)
    return folder


def promote(source: str | Path = CANDIDATE, dest: Path = SHIPPED) -> list[str]:
    """Copy a sound candidate bundle over `dest` (the shipped one): the files that differ,
    then the manifest, which is what loading trusts. Returns the files replaced."""
    src = Path(source)
    candidate = Bundle(src)
    problems = candidate.problems()
    if problems:
        raise RagError(f"not promoting {src}: " + "; ".join(problems))
    old = Bundle(dest).files if (dest / MANIFEST).is_file() else {}
    changed = [n for n in FILES if old.get(n) != candidate.files[n]]
    for name in changed:
        with atomic_path(dest / name) as tmp:
            shutil.copyfile(src / name, tmp)
    with atomic_path(dest / MANIFEST) as tmp:
        shutil.copyfile(src / MANIFEST, tmp)
    _opened.cache_clear()
    return changed
